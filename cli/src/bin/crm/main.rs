//! `crm`: the CRM's command line: `crm serve` runs the HTTP API; `crm seed` fills the
//! log with a believable company's year; `crm demo` shows the event log at work;
//! `crm bench log` measures it; `crm token create` makes tokens; `crm audit seal` and
//! `crm audit verify` seal the feed and check the log; `crm password set` sets a
//! manager's password; `crm projection` shows the read
//! models and gets one past an event it cannot apply.

mod audit;
mod bench;
mod demo;
mod export;
mod logins;
mod projection;
mod rebuild;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use crm_api::state::AppState;
use crm_cli::embedded::EmbeddedPostgres;
use crm_eventlog::EventLog;
use crm_projections::RepairAction;
use futures::FutureExt;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

/// mimalloc instead of glibc's malloc: reading the log allocates and frees millions of
/// small JSON nodes, where glibc spends a quarter of a rebuild's time (perf, `crm bench
/// custom`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The data folder when none is given.
const DEFAULT_DATA_DIR: &str = ".crm";

/// The event-sourced CRM core.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about)]
struct Cli {
    /// The PostgreSQL database. Without it, a private cluster is started (and reused)
    /// in the data folder with the installed initdb/pg_ctl.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// The folder of the private PostgreSQL cluster used when no DATABASE_URL is given.
    #[arg(long, env = "CRM_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    data_dir: PathBuf,

    /// Where a new private cluster keeps its files, if not in the data folder (or, as
    /// root when the `postgres` OS user cannot reach the data folder, under
    /// /var/lib/crm); the data folder remembers it.
    #[arg(long, env = "CRM_CLUSTER_DIR", global = true)]
    cluster_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP API until SIGINT or SIGTERM.
    Serve {
        /// The address to listen on.
        #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// A token accepted as an admin's (for setting up the first managers).
        #[arg(long, env = "CRM_BOOTSTRAP_TOKEN", hide_env_values = true)]
        bootstrap_token: Option<String>,
        /// Database connections in the pool.
        #[arg(long, env = "CRM_DB_CONNECTIONS", default_value_t = 32)]
        db_connections: u32,
        /// Do not run the projectors here (when `crm project` runs them apart).
        #[arg(long)]
        no_projectors: bool,
        /// On an empty log, first seed a demo company (20,000 events, as `crm seed`);
        /// a log with events is reused as it is.
        #[arg(long)]
        demo: bool,
        /// Seconds between two rounds of the background sealer (0: no sealer here).
        #[arg(long, env = "CRM_SEAL_INTERVAL", default_value_t = 5)]
        seal_interval: u64,
        /// A JSON file naming the client and lead fields each role may not see, e.g.
        /// `{"manager": {"client": ["industry"], "lead": ["email"]}}` (analysts never
        /// see personal data, whatever it says).
        #[arg(long, env = "CRM_HIDDEN_FIELDS")]
        hidden_fields: Option<std::path::PathBuf>,
        /// Requests handled at once; more wait up to 1 s, then get 503 `overloaded`
        /// (default: twice --db-connections; 0: no limit).
        #[arg(long, env = "CRM_MAX_CONCURRENT_REQUESTS")]
        max_concurrent_requests: Option<usize>,
        /// Requests handled at once for one client (bearer token, else address); more
        /// get 429 `too_many_requests` (default: 3/4 of --max-concurrent-requests; 0: no limit).
        #[arg(long, env = "CRM_MAX_REQUESTS_PER_CLIENT")]
        max_requests_per_client: Option<usize>,
        /// Connections open at once; more wait in the listen backlog.
        #[arg(long, env = "CRM_MAX_CONNECTIONS", default_value_t = 1024)]
        max_connections: usize,
        /// Custom projections defined at once; `POST /projections` beyond gets 422
        /// `too_many_projections`.
        #[arg(long, env = "CRM_MAX_CUSTOM_PROJECTIONS", default_value_t = crm_api::state::DEFAULT_MAX_CUSTOM_PROJECTIONS)]
        max_custom_projections: usize,
        /// Hours an Idempotency-Key is remembered (then swept; a request with it runs anew).
        #[arg(long, env = "CRM_IDEMPOTENCY_KEY_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8760))]
        idempotency_key_hours: u64,
        /// Idempotency keys one actor holds; a new one beyond evicts the actor's oldest.
        #[arg(long, env = "CRM_IDEMPOTENCY_KEYS_PER_ACTOR", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
        idempotency_keys_per_actor: u32,
        /// Unknown bearer tokens one address may send a minute; beyond, its requests
        /// with a token get 429 until the minute is over (0: no limit).
        #[arg(long, env = "CRM_MAX_FAILED_AUTH_PER_MINUTE", default_value_t = 20)]
        max_failed_auth_per_minute: u32,
        /// Logins and sessions.
        #[command(flatten)]
        logins: logins::LoginArgs,
    },
    /// Appends a believable company's year of events (deterministic for a seed).
    Seed {
        /// How many events: exactly this many are appended.
        #[arg(long)]
        events: u64,
        /// The seed of everything random: the same seed and --until give the same log.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The end of the year the events span, `YYYY-MM-DD` (midnight UTC); default: today.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
    },
    /// Writes the log to standard output as NDJSON or CSV, in feed order, in constant
    /// memory (what `GET /export/events` answers).
    Export {
        /// `ndjson` or `csv`.
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
        format: String,
        /// Only these event types, comma-separated.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Only the streams of this kind (`deal`, `client`, `lead`, `task`, …).
        #[arg(long)]
        stream_kind: Option<String>,
        /// Only events that occurred at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events that occurred before this time (RFC 3339).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Runs the projectors alone, keeping every read model live, until SIGINT or SIGTERM.
    Project,
    /// Rebuilds read models from the whole log beside their live tables and swaps
    /// each in when caught up, showing progress (a running server's projectors do the
    /// work if it runs them; else this command does).
    Rebuild {
        /// The read model to rebuild.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Rebuild every read model.
        #[arg(long)]
        all: bool,
    },
    /// Shows the read models, and repairs one stopped by an event it cannot apply.
    Projection {
        #[command(subcommand)]
        which: ProjectionCommand,
    },
    /// Makes and manages bearer tokens.
    Token {
        #[command(subcommand)]
        which: TokenCommand,
    },
    /// Sets managers' passwords (they log in with their email).
    Password {
        #[command(subcommand)]
        which: PasswordCommand,
    },
    /// Appends a short story to the log, reads it back and verifies its hash chains.
    Demo,
    /// Applies the database migrations.
    Migrate,
    /// Seals the global feed and verifies the log (hash chains and seals).
    Audit {
        #[command(subcommand)]
        which: AuditCommand,
    },
    /// The former name of `crm audit verify`.
    #[command(hide = true)]
    Verify,
    /// Runs a benchmark and prints a Markdown table of its figures beside raw SQL.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Seals every settled event of the feed not sealed yet (what `crm serve` does
    /// every few seconds).
    Seal {
        /// The most events one seal covers.
        #[arg(long, default_value_t = crm_eventlog::DEFAULT_SEAL_SIZE)]
        max_per_seal: usize,
    },
    /// Checks every stream's hash chain and every seal in one walk of the feed, with a
    /// progress bar; prints a JSON report and exits non-zero naming the first event
    /// altered, deleted, inserted or reordered.
    Verify,
}

#[derive(Debug, Subcommand)]
enum ProjectionCommand {
    /// Prints each read model's state as JSON lines (status, lag, the position and
    /// error of the event a failed one stopped on), then every repair recorded.
    Status {
        /// Only this read model (its checkpoint name, as `status` prints it).
        name: Option<String>,
    },
    /// The read model applies nothing of the event at --position, now and in every
    /// rebuild (recorded, with who and why, in projections.event_repairs).
    Skip {
        #[command(flatten)]
        repair: RepairArgs,
    },
    /// The read model applies the event at --position with every NUL character of
    /// its text replaced by U+FFFD, now and in every rebuild (recorded like skip).
    Sanitize {
        #[command(flatten)]
        repair: RepairArgs,
    },
}

/// Which event of which read model, and why.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The read model (its checkpoint name: `clients`, `leads`, or
    /// `custom.<name>.<generation>` for a custom projection).
    pub name: String,
    /// The event's position in the log (the `failed_position` of a failed read model).
    #[arg(long)]
    pub position: i64,
    /// Why (kept with the repair).
    #[arg(long)]
    pub reason: String,
    /// Who (default: cli:$USER).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Creates a token and prints it (it is stored hashed and cannot be shown again).
    Create {
        /// The manager the token acts for; its role is the manager's.
        #[arg(long, conflicts_with = "role", required_unless_present = "role")]
        manager: Option<Uuid>,
        /// A token without a manager, with this role (e.g. `admin`, `auditor`).
        #[arg(long)]
        role: Option<String>,
        /// A note on what the token is for.
        #[arg(long)]
        label: Option<String>,
        /// The token stops working after this many days (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revokes tokens: the one given, or every token with a label or of a manager.
    Revoke {
        /// The token itself.
        #[arg(conflicts_with_all = ["label", "manager"], required_unless_present_any = ["label", "manager"])]
        token: Option<String>,
        /// Every token with this label.
        #[arg(long, conflicts_with = "manager")]
        label: Option<String>,
        /// Every token of this manager (a manager who left, say).
        #[arg(long)]
        manager: Option<Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum PasswordCommand {
    /// Sets a manager's password, read from the first line of standard input (at least
    /// 10 characters); his sessions end.
    Set {
        /// The manager (registered, active, with an email).
        #[arg(long)]
        manager: Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Custom projections built from a generated log (events/s) beside the raw read.
    Custom {
        #[command(flatten)]
        log: bench::Generated,
    },
    /// The log exported as NDJSON and CSV (events/s, peak memory) beside the raw read.
    Export {
        #[command(flatten)]
        log: bench::Generated,
    },
    /// Read models over a generated log: rebuild rate and peak memory beside the raw
    /// read rate, each report's latency, and freshness under load.
    Projections {
        #[command(flatten)]
        log: bench::Generated,
        /// Events per projection batch (and per shared page while catching up).
        #[arg(long, default_value_t = 10_000)]
        batch_size: usize,
        /// Requests per report for its latency percentiles.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Seconds of steady command load for freshness.
        #[arg(long, default_value_t = 10)]
        freshness_seconds: u64,
    },
    /// Commands per second through HTTP beside the log's raw append rate.
    Api {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrent HTTP clients, one measurement each.
        #[arg(long, value_delimiter = ',', default_value = "16,64")]
        clients: Vec<usize>,
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
    async fn log(&self, connections: u32) -> anyhow::Result<EventLog> {
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
    async fn close(self) -> anyhow::Result<()> {
        if let Some(pg) = self.embedded {
            pg.release().await?;
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
        // Colours only for a person at a terminal, never into a file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    if let Command::Serve {
        bootstrap_token: Some(token),
        ..
    } = &cli.command
    {
        // Before anything starts: a weak admin password is refused outright.
        crm_api::auth::check_bootstrap_token(token)?;
    }
    let db = Database::open(&cli).await?;
    // Also when the command panics (say, printing to a pipe already closed), this
    // process's use of the private cluster ends, so that the cluster is not left running.
    let result = AssertUnwindSafe(run(&cli, &db)).catch_unwind().await;
    db.close().await?;
    match result {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn run(cli: &Cli, db: &Database) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve {
            listen,
            bootstrap_token,
            db_connections,
            no_projectors,
            demo,
            seal_interval,
            hidden_fields,
            max_concurrent_requests,
            max_requests_per_client,
            max_connections,
            max_custom_projections,
            idempotency_key_hours,
            idempotency_keys_per_actor,
            max_failed_auth_per_minute,
            logins,
        } => {
            let hidden = match hidden_fields {
                None => crm_api::hidden::HiddenFields::default(),
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    crm_api::hidden::HiddenFields::parse(&text)
                        .map_err(anyhow::Error::msg)
                        .with_context(|| format!("in {}", path.display()))?
                }
            };
            let log = db.log(*db_connections).await?;
            if *demo {
                seed_demo(&log).await?;
            }
            let projectors = if *no_projectors {
                None
            } else {
                Some(start_projectors(&log)?)
            };
            let sealer = (*seal_interval > 0).then(|| {
                crm_eventlog::Sealer::spawn(
                    log.clone(),
                    crm_eventlog::SealerOptions {
                        interval: std::time::Duration::from_secs(*seal_interval),
                        ..Default::default()
                    },
                )
            });
            if bootstrap_token.is_none() {
                first_admin_token(&log, cli).await?;
            }
            let idempotency = crm_api::idempotency::IdempotencySettings {
                ttl: std::time::Duration::from_secs(idempotency_key_hours * 3600),
                per_actor: *idempotency_keys_per_actor,
            };
            let sweeper = crm_api::idempotency::Sweeper::spawn(
                log.pool().clone(),
                idempotency.ttl,
                std::time::Duration::from_secs(600),
            );
            let state = AppState::new(log.clone(), bootstrap_token.clone())
                .with_hidden_fields(hidden)
                .with_idempotency(idempotency)
                .with_max_custom_projections(*max_custom_projections)
                .with_failed_auth(crm_api::failed_auth::FailedAuthSettings {
                    max_failures: *max_failed_auth_per_minute,
                    window: std::time::Duration::from_secs(60),
                })
                .with_logins(logins.settings());
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving the CRM API");
            let mut limits = crm_api::limits::Limits::new(
                max_concurrent_requests
                    .unwrap_or_else(|| crm_api::limits::default_max_concurrent(*db_connections)),
            );
            if let Some(per_client) = max_requests_per_client {
                limits.per_client = *per_client;
            }
            tracing::info!(
                max_concurrent_requests = limits.max_concurrent,
                max_requests_per_client = limits.per_client,
                max_connections,
                "request limits"
            );
            let options = crm_api::server::ServeOptions {
                max_connections: *max_connections,
                ..Default::default()
            };
            crm_api::server::serve_with(
                listener,
                crm_api::server::app_with(state, limits),
                shutdown_signal(),
                &options,
            )
            .await?;
            tracing::info!("stopped serving; requests in flight have finished");
            if let Some(projectors) = projectors {
                projectors.shutdown().await;
            }
            if let Some(sealer) = sealer {
                sealer.shutdown().await;
            }
            sweeper.shutdown().await;
            log.close().await;
        }
        Command::Token {
            which:
                TokenCommand::Create {
                    manager,
                    role,
                    label,
                    expires_in_days,
                },
        } => {
            let log = db.log(2).await?;
            let role = match (manager, role) {
                (Some(id), _) => manager_role(&log, *id).await?,
                (None, Some(role)) => role.clone(),
                (None, None) => anyhow::bail!("give --manager or --role"),
            };
            if crm_api::access::Role::parse(&role).is_none() {
                anyhow::bail!(
                    "unknown role {role:?}: manager, head, director, admin, auditor or analyst"
                );
            }
            let expires_at = expires_in_days
                .map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
            let token = crm_api::auth::create_expiring_token(
                log.pool(),
                *manager,
                &role,
                label.as_deref(),
                expires_at,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            log.close().await;
            println!("{token}");
        }
        Command::Token {
            which:
                TokenCommand::Revoke {
                    token,
                    label,
                    manager,
                },
        } => {
            let which = match (token, label, manager) {
                (Some(token), _, _) => crm_api::auth::Revoke::Token(token.clone()),
                (None, Some(label), _) => crm_api::auth::Revoke::Label(label.clone()),
                (None, None, Some(id)) => crm_api::auth::Revoke::Manager(*id),
                (None, None, None) => anyhow::bail!("give a token, --label or --manager"),
            };
            let log = db.log(2).await?;
            let revoked = crm_api::auth::revoke_tokens(log.pool(), &which)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            log.close().await;
            println!("revoked {revoked} token(s)");
        }
        Command::Password {
            which: PasswordCommand::Set { manager },
        } => {
            let log = db.log(2).await?;
            let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let result = crm_api::login::password::set_from_reader(
                &log,
                *manager,
                std::io::stdin().lock(),
                &format!("cli:{who}"),
            )
            .await;
            log.close().await;
            result?;
            println!("password set for manager {manager}; his sessions ended");
        }
        Command::Projection { which } => {
            let log = db.log(2).await?;
            let result = match which {
                ProjectionCommand::Status { name } => {
                    projection::status(&log, name.as_deref()).await
                }
                ProjectionCommand::Skip { repair } => {
                    projection::repair(&log, repair, RepairAction::Skip).await
                }
                ProjectionCommand::Sanitize { repair } => {
                    projection::repair(&log, repair, RepairAction::Sanitize).await
                }
            };
            log.close().await;
            result?;
        }
        Command::Project => {
            let log = db.log(8).await?;
            let projectors = start_projectors(&log)?;
            shutdown_signal().await;
            projectors.shutdown().await;
            log.close().await;
        }
        Command::Rebuild { name, all } => {
            let log = db.log(16).await?;
            let chosen: Vec<_> = crm_projections::builtin()
                .into_iter()
                .filter(|p| *all || name.as_deref() == Some(p.name()))
                .collect();
            if chosen.is_empty() {
                anyhow::bail!(
                    "no read model named {}",
                    name.as_deref().unwrap_or("(none registered)")
                );
            }
            rebuild::run(&log, chosen).await?;
            log.close().await;
        }
        Command::Export {
            format,
            types,
            stream_kind,
            from,
            to,
        } => {
            let log = db.log(2).await?;
            let format = crm_api::export::Format::parse(format).context("format")?;
            let filter = crm_api::export::ExportFilter {
                types: (!types.is_empty()).then(|| types.clone()),
                stream_kind: stream_kind.clone(),
                from: *from,
                to: *to,
            };
            // The operator exports as an admin would, named `cli:<user>` in the record.
            let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let admin = crm_api::access::Actor {
                manager_id: None,
                role: crm_api::access::Role::Admin,
            };
            let mut ctx = crm_api::commands::CommandContext::new(admin, crm_eventlog::Source::Api);
            ctx.actor_label = Some(format!("cli:{who}"));
            let commands = crm_api::commands::Commands::new(log.clone());
            crm_api::export::record_export(&commands, &ctx, format, &filter, "cli").await?;
            export::run(log.clone(), format, filter).await?;
            log.close().await;
        }
        Command::Seed {
            events,
            seed,
            until,
        } => {
            let log = db.log(4).await?;
            let until = until.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let options = crm_cli::seed::SeedOptions::new(*events, *seed, until);
            let report = crm_cli::seed::seed_with_progress(&log, &options).await?;
            log.close().await;
            println!(
                "seeded {} events (seed {seed}, year until {until}) in {:.1} s: {:.0} events/s in {} appends{}",
                report.events,
                report.elapsed.as_secs_f64(),
                report.rate(),
                report.batches,
                if report.replayed > 0 {
                    format!(", {} of them stored already", report.replayed)
                } else {
                    String::new()
                }
            );
        }
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
        Command::Audit {
            which: AuditCommand::Seal { max_per_seal },
        } => {
            let log = db.log(2).await?;
            let result = audit::seal(&log, *max_per_seal).await;
            log.close().await;
            result?;
        }
        Command::Audit {
            which: AuditCommand::Verify,
        }
        | Command::Verify => {
            let log = db.log(2).await?;
            let result = audit::verify(&log).await;
            log.close().await;
            result?;
        }
        Command::Bench {
            which: BenchCommand::Api { seconds, clients },
        } => {
            let opts = bench::api::Options {
                seconds: *seconds,
                clients: clients.clone(),
            };
            println!("{}", bench::api::run(&db.url, &opts).await?);
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
        Command::Bench {
            which: BenchCommand::Custom { log },
        } => {
            println!("{}", bench::custom::run(&db.url, log).await?);
        }
        Command::Bench {
            which: BenchCommand::Export { log },
        } => {
            println!("{}", bench::export::run(&db.url, log).await?);
        }
        Command::Bench {
            which:
                BenchCommand::Projections {
                    log,
                    batch_size,
                    samples,
                    freshness_seconds,
                },
        } => {
            let opts = bench::projections::Options {
                log: log.clone(),
                batch_size: *batch_size,
                samples: *samples,
                freshness_seconds: *freshness_seconds,
            };
            println!("{}", bench::projections::run(&db.url, &opts).await?);
        }
    }
    Ok(())
}

/// `serve --demo`: seeds a demo company into an empty log, else reuses the log.
async fn seed_demo(log: &EventLog) -> anyhow::Result<()> {
    if !crm_cli::seed::log_is_empty(log).await? {
        tracing::info!("the log holds events already: reusing the data, not seeding");
        return Ok(());
    }
    let today = chrono::Utc::now().date_naive();
    let options = crm_cli::seed::SeedOptions::new(20_000, 42, today);
    let report = crm_cli::seed::seed_with_progress(log, &options).await?;
    tracing::info!(
        events = report.events,
        seconds = report.elapsed.as_secs_f64(),
        "seeded a demo company"
    );
    Ok(())
}

/// Starts a runner for every built-in read model, and the custom projections' supervisor.
fn start_projectors(log: &EventLog) -> anyhow::Result<crm_projections::RunningProjectors> {
    let set = crm_projections::builtin()
        .into_iter()
        .fold(crm_projections::ProjectorSet::new(log.clone()), |set, p| {
            set.with(p)
        })
        .with_custom_projections();
    let running = set.spawn()?;
    tracing::info!(projections = ?running.names(), "projectors running");
    Ok(running)
}

/// On a database without any token (and no bootstrap token given), makes one admin
/// token and prints it once, so that a fresh install can be used at once.
async fn first_admin_token(log: &EventLog, cli: &Cli) -> anyhow::Result<()> {
    let tokens = crm_api::auth::count_tokens(log.pool())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if tokens == 0 {
        let token = crm_api::auth::create_token(log.pool(), None, "admin", Some("first admin"))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("No tokens yet: created an admin token (shown only now):\n\n    {token}\n");
        println!(
            "Use it as `Authorization: Bearer {token}`; make more from this folder{} with\n\n    {} token create --role admin\n",
            if cli.database_url.is_some() {
                " (and the same --database-url or DATABASE_URL)"
            } else {
                ""
            },
            this_program(cli)
        );
    }
    Ok(())
}

/// How to run `crm` again from the current folder on the same data: this binary's path
/// (relative when under the current folder), with the data folder unless the default.
fn this_program(cli: &Cli) -> String {
    let exe = std::env::current_exe().ok();
    let here = std::env::current_dir().ok();
    let mut words = vec![match (exe, here) {
        (Some(exe), Some(here)) => match exe.strip_prefix(&here) {
            Ok(inside) => Path::new(".").join(inside),
            Err(_) => exe,
        },
        (Some(exe), None) => exe,
        (None, _) => PathBuf::from("crm"),
    }];
    if cli.database_url.is_none() && cli.data_dir != Path::new(DEFAULT_DATA_DIR) {
        words.extend([PathBuf::from("--data-dir"), cli.data_dir.clone()]);
    }
    words
        .iter()
        .map(|word| shell_word(&word.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` as a POSIX shell reads it: as it is when plain, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The role a manager was registered with, read from the log; refused when the log
/// does not register him or he was deactivated (a token acting for him could never
/// authenticate).
async fn manager_role(log: &EventLog, id: Uuid) -> anyhow::Result<String> {
    use crm_domain::manager::ManagerState;
    use crm_domain::{Aggregate, DomainEvent, EntityKind};
    let stream = EntityKind::Manager.stream(id);
    let stored = log
        .read_stream_after(&stream, 0)
        .await
        .with_context(|| format!("manager {id}"))?;
    let mut events = Vec::with_capacity(stored.len());
    for e in stored {
        let event = DomainEvent::from_stored(&e.event_type, e.schema_version, e.data)
            .with_context(|| format!("event at position {} of {stream}", e.position))?;
        events.push(event);
    }
    match ManagerState::fold(&events).manager {
        None => anyhow::bail!(
            "manager {id} is not registered: register him first (POST /managers); no token made"
        ),
        Some(m) if !m.active => anyhow::bail!(
            "manager {id} ({}) is deactivated: a token acting for him could never authenticate; no token made",
            m.name
        ),
        Some(m) => Ok(m.role.name().to_owned()),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
