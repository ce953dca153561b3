//! Benchmarks run by `crm bench`: each prints its figure beside the raw-SQL
//! baseline measured in the same run on the same PostgreSQL.

pub mod api;
pub mod custom;
pub mod eventlog;
pub mod export;
mod measure;
pub mod projections;

use std::future::Future;
use std::str::FromStr;

use anyhow::Context;
use chrono::NaiveDate;
use crm_cli::seed::SeedOptions;
use crm_eventlog::EventLog;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// The generated company a benchmark runs on (`crm seed`).
#[derive(Debug, Clone, clap::Args)]
pub struct Generated {
    /// Events in the generated log.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The end of the generated year (`YYYY-MM-DD`); default: today.
    #[arg(long)]
    pub until: Option<NaiveDate>,
}

impl Generated {
    /// The end of the generated year.
    pub fn until(&self) -> NaiveDate {
        self.until
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }
}

/// Migrates the fresh database `target`, fills it with the generated company and
/// vacuums the log; returns a pool of `connections`, the log and how many events.
pub async fn generated_log(
    target: PgConnectOptions,
    connections: u32,
    generated: &Generated,
) -> anyhow::Result<(PgPool, EventLog, u64)> {
    let pool = crm_api::connect_pool_with(target, connections).await?;
    crm_api::migrate(&pool).await?;
    let log = EventLog::new(pool.clone());
    let options = SeedOptions::new(generated.events, generated.seed, generated.until());
    let seeding = crm_cli::seed::seed(&log, &options, |_| {}).await?;
    eprintln!(
        "seeded {} events in {:.1} s ({:.0} events/s)",
        seeding.events,
        seeding.elapsed.as_secs_f64(),
        seeding.rate()
    );
    crm_eventlog::baseline::vacuum_analyze(&pool).await?;
    Ok((pool, log, seeding.events))
}

/// Runs `measure` on a database created for it on the server of `admin_url`
/// (named `<prefix>_<time>`), and drops the database afterwards, whatever happened.
pub async fn in_fresh_database<F, Fut>(
    admin_url: &str,
    prefix: &str,
    measure: F,
) -> anyhow::Result<String>
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let admin = PgConnectOptions::from_str(admin_url).context("parsing the database URL")?;
    let db = format!("{prefix}_{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let mut conn = PgConnection::connect_with(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut conn)
        .await?;
    let result = measure(admin.clone().database(&db)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    result
}
