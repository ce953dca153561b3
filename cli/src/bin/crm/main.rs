//! `crm`: the CRM's command line: `crm serve` runs the HTTP API and the web app; `crm
//! seed` fills the log with a believable company's year; `crm demo` shows the event
//! log at work; `crm bench` measures; `crm token create` makes tokens; `crm audit
//! seal` and `crm audit verify` seal the feed and check the log; `crm password set`
//! sets a manager's password; `crm projection` shows the read models and gets one
//! past an event it cannot apply.
//!
//! This file holds the flags and dispatches each subcommand to its module (the
//! server's wiring is `serve.rs`, the database `database.rs`).

mod audit;
mod bench;
mod database;
mod demo;
mod export;
mod logins;
mod projection;
mod rebuild;
mod serve;
mod token;

use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use crm_projections::RepairAction;
use futures::FutureExt;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

use database::Database;

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
    /// Runs the HTTP API and the web app until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
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
    Export(export::ExportArgs),
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
        which: token::TokenCommand,
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
        which: bench::BenchCommand,
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
enum PasswordCommand {
    /// Sets a manager's password, read from the first line of standard input (at least
    /// 10 characters); his sessions end.
    Set {
        /// The manager (registered, active, with an email).
        #[arg(long)]
        manager: Uuid,
    },
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
    if let Command::Serve(args) = &cli.command {
        serve::check(args)?;
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

/// Runs the command of `cli` on `db`.
async fn run(cli: &Cli, db: &Database) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => serve::run(cli, db, args).await,
        Command::Project => serve::project(db).await,
        Command::Token { which } => {
            let log = db.log(2).await?;
            let result = token::run(&log, which).await;
            log.close().await;
            result
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
            Ok(())
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
            result
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
            Ok(())
        }
        Command::Export(args) => {
            let log = db.log(2).await?;
            export::command(&log, args).await?;
            log.close().await;
            Ok(())
        }
        Command::Seed {
            events,
            seed,
            until,
        } => seed_company(db, *events, *seed, *until).await,
        Command::Demo => {
            let log = db.log(4).await?;
            demo::run(&log).await?;
            log.close().await;
            Ok(())
        }
        Command::Migrate => {
            let log = db.log(1).await?;
            log.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Audit {
            which: AuditCommand::Seal { max_per_seal },
        } => {
            let log = db.log(2).await?;
            let result = audit::seal(&log, *max_per_seal).await;
            log.close().await;
            result
        }
        Command::Audit {
            which: AuditCommand::Verify,
        }
        | Command::Verify => {
            let log = db.log(2).await?;
            let result = audit::verify(&log).await;
            log.close().await;
            result
        }
        Command::Bench { which } => {
            println!("{}", bench::run(&db.url, which).await?);
            Ok(())
        }
    }
}

/// `crm seed`: appends the generated company's events and says how it went.
async fn seed_company(
    db: &Database,
    events: u64,
    seed: u64,
    until: Option<chrono::NaiveDate>,
) -> anyhow::Result<()> {
    let log = db.log(4).await?;
    let until = until.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let options = crm_cli::seed::SeedOptions::new(events, seed, until);
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
    Ok(())
}
