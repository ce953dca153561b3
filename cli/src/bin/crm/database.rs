//! The database a command works on: the one `--database-url` names, else the private
//! cluster in the data folder, started (or joined) for the command.

use anyhow::Context;
use crm_cli::embedded::EmbeddedPostgres;
use crm_eventlog::EventLog;

use crate::Cli;

/// The database the command works on, and the private cluster if one was started for it.
pub struct Database {
    /// Its URL.
    pub url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// The database of `cli`'s flags.
    pub async fn open(cli: &Cli) -> anyhow::Result<Self> {
        if let Some(url) = &cli.database_url {
            return Ok(Database {
                url: url.clone(),
                embedded: None,
            });
        }
        let pg = EmbeddedPostgres::start(&cli.data_dir, cli.cluster_dir.as_deref())
            .await
            .context("starting the private PostgreSQL cluster")?;
        let elsewhere = if pg.cluster_dir() == pg.data_dir() {
            String::new()
        } else {
            format!(
                " (the data folder {} points there)",
                pg.data_dir().display()
            )
        };
        tracing::info!(
            "the CRM's data lives in the PostgreSQL cluster at {}{elsewhere}, on 127.0.0.1:{}",
            pg.cluster_dir().display(),
            pg.port()
        );
        Ok(Database {
            url: pg.database_url(),
            embedded: Some(pg),
        })
    }

    /// A migrated log whose pool fails fast (so requests get a 503) while PostgreSQL is down.
    pub async fn log(&self, connections: u32) -> anyhow::Result<EventLog> {
        let pool = crm_api::connect_pool(&self.url, connections)
            .await
            .context("connecting to PostgreSQL")?;
        crm_api::migrate(&pool)
            .await
            .context("applying migrations")?;
        Ok(EventLog::new(pool))
    }

    /// Ends this process's use of the private cluster: the last `crm` process using it
    /// stops it if crm started it.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(pg) = self.embedded {
            pg.release().await?;
        }
        Ok(())
    }
}
