//! `crm`: the CRM's command line. Until the HTTP server lands, `crm demo` shows the
//! event log at work; `crm bench log` measures it.

mod bench;
mod demo;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use crm_api::embedded::EmbeddedPostgres;
use crm_eventlog::EventLog;
use tracing_subscriber::EnvFilter;

/// The event-sourced CRM core.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about)]
struct Cli {
    /// The PostgreSQL database. Without it, a private cluster is started (and reused)
    /// in the data folder with the installed initdb/pg_ctl.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// The folder of the private PostgreSQL cluster used when no DATABASE_URL is given.
    #[arg(long, env = "CRM_DATA_DIR", default_value = ".crm", global = true)]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Appends a short story to the log, reads it back and verifies its hash chains.
    Demo,
    /// Applies the database migrations.
    Migrate,
    /// Walks every stream's hash chain and reports the first bad event of each.
    Verify,
    /// Runs a benchmark and prints a Markdown table of its figures beside raw SQL.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Appends (single and batched) and feed reading of the event log.
    Log {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrent writers of single-event appends, one measurement each.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        writers: Vec<usize>,
        /// Concurrent writers of batched appends.
        #[arg(long, default_value_t = 4)]
        batch_writers: usize,
        /// Events per batched append.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
}

/// The database the command works on, and the private cluster if one was started for it.
struct Database {
    url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    async fn open(cli: &Cli) -> anyhow::Result<Self> {
        if let Some(url) = &cli.database_url {
            return Ok(Database {
                url: url.clone(),
                embedded: None,
            });
        }
        let pg = EmbeddedPostgres::start(&cli.data_dir)
            .await
            .context("starting the private PostgreSQL cluster")?;
        tracing::info!(data_dir = %pg.data_dir().display(), port = pg.port(), "private PostgreSQL cluster running");
        Ok(Database {
            url: pg.database_url(),
            embedded: Some(pg),
        })
    }

    async fn log(&self, connections: u32) -> anyhow::Result<EventLog> {
        let log = EventLog::connect(&self.url, connections)
            .await
            .context("connecting to PostgreSQL")?;
        log.migrate().await?;
        Ok(log)
    }

    async fn close(self) -> anyhow::Result<()> {
        if let Some(pg) = self.embedded {
            pg.stop().await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let db = Database::open(&cli).await?;
    let result = run(&cli, &db).await;
    db.close().await?;
    result
}

async fn run(cli: &Cli, db: &Database) -> anyhow::Result<()> {
    match &cli.command {
        Command::Demo => {
            let log = db.log(4).await?;
            demo::run(&log).await?;
            log.close().await;
        }
        Command::Migrate => {
            let log = db.log(1).await?;
            log.close().await;
            println!("migrations applied");
        }
        Command::Verify => {
            let log = db.log(2).await?;
            let report = log.verify().await?;
            log.close().await;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.is_intact() {
                anyhow::bail!("{} broken stream(s)", report.breaks.len());
            }
        }
        Command::Bench {
            which:
                BenchCommand::Log {
                    seconds,
                    writers,
                    batch_writers,
                    batch_size,
                },
        } => {
            let opts = bench::eventlog::Options {
                seconds: *seconds,
                writers: writers.clone(),
                batch_writers: *batch_writers,
                batch_size: *batch_size,
            };
            let table = bench::eventlog::run(&db.url, &opts).await?;
            println!("{table}");
        }
    }
    Ok(())
}
