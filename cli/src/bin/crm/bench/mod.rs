//! Benchmarks run by `crm bench`: each prints its figure beside the raw-SQL
//! baseline measured in the same run on the same PostgreSQL.

pub mod api;
pub mod custom;
pub mod dashboards;
pub mod eventlog;
pub mod export;
mod feed;
mod measure;
pub mod pages;
pub mod projections;
pub mod rules;
mod server;
mod web;
pub mod webhooks;

use std::future::Future;
use std::str::FromStr;

use anyhow::Context;
use chrono::NaiveDate;
use crm_cli::seed::{Batch, SeedOptions};
use crm_eventlog::EventLog;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// The `crm bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Custom projections built from a generated log (events/s) beside the raw read.
    Custom {
        #[command(flatten)]
        log: Generated,
    },
    /// The log exported as NDJSON and CSV (events/s, peak memory) beside the raw read.
    Export {
        #[command(flatten)]
        log: Generated,
    },
    /// Read models over a generated log: rebuild rate and peak memory beside the raw
    /// read rate, each report's latency, and freshness under load.
    Projections {
        #[command(flatten)]
        log: Generated,
        /// Events per projection batch (and per shared page while catching up).
        #[arg(long, default_value_t = 10_000)]
        batch_size: usize,
        /// Requests per report for its latency percentiles.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Seconds of steady command load for freshness.
        #[arg(long, default_value_t = 10)]
        freshness_seconds: u64,
        /// Skip the second freshness figure, measured while every read model is
        /// rebuilt beside its live tables (about as long as one rebuild).
        #[arg(long)]
        no_rebuild_freshness: bool,
    },
    /// Every web app page over a generated log: its time through HTTP (p50/p99) beside
    /// the API calls it makes, asked the same way in the same run.
    Pages {
        #[command(flatten)]
        log: Generated,
        /// Requests per page (and per API call) for the percentiles.
        #[arg(long, default_value_t = 100)]
        samples: usize,
        /// Requests of `/ui/audit` and its `GET /audit/verify`, which walk the whole log.
        #[arg(long, default_value_t = 3)]
        audit_samples: usize,
    },
    /// Many dashboards refreshing the funnel and the month's managers report at once
    /// (answers/s, p50/p99; kept, 304, computed) beside `GET /health/live`.
    Dashboards {
        #[command(flatten)]
        log: Generated,
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The automation runner with one rule of each kind following a generated log
    /// (events/s, commands, events appended) beside the raw read.
    Rules {
        #[command(flatten)]
        log: Generated,
    },
    /// Webhook deliveries of a backlog (1 and 10 webhooks, deliveries/s) beside plain
    /// POSTs of the same bodies, and the time from a command's answer to its delivery.
    Webhooks {
        /// Events in the generated backlog.
        #[arg(long, default_value_t = 20_000)]
        events: u64,
        /// The generator's seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The end of the generated year (`YYYY-MM-DD`); default: today.
        #[arg(long)]
        until: Option<NaiveDate>,
        /// Seconds of steady commands for the delivery latency.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Commands per second meanwhile.
        #[arg(long, default_value_t = 20)]
        rate: u32,
    },
    /// Commands per second through HTTP beside the log's raw append rate.
    Api {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrent HTTP clients, one measurement each.
        #[arg(long, value_delimiter = ',', default_value = "16,64")]
        clients: Vec<usize>,
        /// Decide every command on states read from the log, as before commands
        /// trusted the states they remember (for a before/after in one build).
        #[arg(long)]
        read_states: bool,
    },
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

/// Runs the benchmark `which` on the server of `admin_url`; returns its Markdown.
pub async fn run(admin_url: &str, which: &BenchCommand) -> anyhow::Result<String> {
    match which {
        BenchCommand::Api {
            seconds,
            clients,
            read_states,
        } => {
            let opts = api::Options {
                seconds: *seconds,
                clients: clients.clone(),
                read_states: *read_states,
            };
            api::run(admin_url, &opts).await
        }
        BenchCommand::Log {
            seconds,
            writers,
            batch_writers,
            batch_size,
        } => {
            let opts = eventlog::Options {
                seconds: *seconds,
                writers: writers.clone(),
                batch_writers: *batch_writers,
                batch_size: *batch_size,
            };
            eventlog::run(admin_url, &opts).await
        }
        BenchCommand::Custom { log } => custom::run(admin_url, log).await,
        BenchCommand::Dashboards {
            log,
            connections,
            seconds,
        } => {
            let opts = dashboards::Options {
                log: log.clone(),
                connections: *connections,
                seconds: *seconds,
            };
            dashboards::run(admin_url, &opts).await
        }
        BenchCommand::Export { log } => export::run(admin_url, log).await,
        BenchCommand::Rules { log } => rules::run(admin_url, log).await,
        BenchCommand::Webhooks {
            events,
            seed,
            until,
            seconds,
            rate,
        } => {
            let opts = webhooks::Options {
                log: Generated {
                    events: *events,
                    seed: *seed,
                    until: *until,
                },
                seconds: *seconds,
                rate: *rate,
            };
            webhooks::run(admin_url, &opts).await
        }
        BenchCommand::Projections {
            log,
            batch_size,
            samples,
            freshness_seconds,
            no_rebuild_freshness,
        } => {
            let opts = projections::Options {
                log: log.clone(),
                batch_size: *batch_size,
                samples: *samples,
                freshness_seconds: *freshness_seconds,
                rebuild_freshness: !no_rebuild_freshness,
            };
            projections::run(admin_url, &opts).await
        }
        BenchCommand::Pages {
            log,
            samples,
            audit_samples,
        } => {
            let opts = pages::Options {
                log: log.clone(),
                samples: *samples,
                audit_samples: *audit_samples,
            };
            pages::run(admin_url, &opts).await
        }
    }
}

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
    generated_log_after_setup(target, connections, generated, |_, _| async { Ok(()) }).await
}

/// [`generated_log`], running `after_setup` on the log once the company's setup (the
/// team and the pipelines: the first append, handed to it) is stored, before any
/// business event; the events it appends are not counted.
pub async fn generated_log_after_setup<F, Fut>(
    target: PgConnectOptions,
    connections: u32,
    generated: &Generated,
    after_setup: F,
) -> anyhow::Result<(PgPool, EventLog, u64)>
where
    F: FnOnce(EventLog, Batch) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let pool = crm_api::connect_pool_with(target, connections).await?;
    crm_api::migrate(&pool).await?;
    let log = EventLog::new(pool.clone());
    let options = SeedOptions::new(generated.events, generated.seed, generated.until());
    let step = |setup| {
        let done = after_setup(log.clone(), setup);
        async move { done.await.map_err(Into::into) }
    };
    let seeding = crm_cli::seed::seed_after_setup(&log, &options, |_| {}, step).await?;
    eprintln!(
        "seeded {} events in {:.1} s ({:.0} events/s)",
        seeding.events,
        seeding.elapsed.as_secs_f64(),
        seeding.rate()
    );
    crm_eventlog::baseline::vacuum_analyze(&pool).await?;
    Ok((pool, log, seeding.events))
}

/// Starts the built-in read models' projectors on `log` with `config` and waits until
/// every one reflects the whole log: the running projectors and how long that took.
pub async fn build_read_models(
    log: &EventLog,
    config: crm_projections::RunnerConfig,
) -> anyhow::Result<(crm_projections::RunningProjectors, std::time::Duration)> {
    let set = crm_projections::builtin().into_iter().fold(
        crm_projections::ProjectorSet::new(log.clone()).with_config(config),
        |set, projection| set.with(projection),
    );
    let started = std::time::Instant::now();
    let running = set.spawn()?;
    let last = log.last_position().await?.context("an empty log")?;
    for projection in crm_projections::builtin() {
        crm_projections::wait_until_reflects(
            log,
            projection.name(),
            last,
            std::time::Duration::from_secs(3_600),
        )
        .await
        .with_context(|| format!("building {}", projection.name()))?;
    }
    Ok((running, started.elapsed()))
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
