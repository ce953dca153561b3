//! `crm serve` and `crm project`: the server's wiring (flags, state, projectors,
//! sealer, verifier, sweeper, webhooks' deliverer, limits) and what starting and
//! stopping it needs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use crm_api::state::AppState;
use crm_eventlog::EventLog;

use crate::{logins, Cli, Database, DEFAULT_DATA_DIR};

/// The flags of `crm serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A token accepted as an admin's (for setting up the first managers).
    #[arg(long, env = "CRM_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// Database connections in the pool.
    #[arg(long, env = "CRM_DB_CONNECTIONS", default_value_t = 32)]
    pub db_connections: u32,
    /// Do not run the projectors here (when `crm project` runs them apart).
    #[arg(long)]
    pub no_projectors: bool,
    /// Do not run the automation runner here (another server on the database runs
    /// it; only one of them is active at a time anyway).
    #[arg(long)]
    pub no_automation: bool,
    /// On an empty log, first seed a demo company (20,000 events, as `crm seed`);
    /// a log with events is reused as it is.
    #[arg(long)]
    pub demo: bool,
    /// Seconds between two rounds of the background sealer (0: no sealer here).
    #[arg(long, env = "CRM_SEAL_INTERVAL", default_value_t = 5)]
    pub seal_interval: u64,
    /// Seconds between two looks of the background verifier, which walks the log's
    /// chains and seals at start, then when new events came or its last run is an
    /// hour old, and stores the result for the audit page (0: no verifier here).
    #[arg(long, env = "CRM_VERIFY_INTERVAL", default_value_t = 300)]
    pub verify_interval: u64,
    /// A JSON file naming the client and lead fields each role may not see, e.g.
    /// `{"manager": {"client": ["industry"], "lead": ["email"]}}` (analysts never
    /// see personal data, whatever it says).
    #[arg(long, env = "CRM_HIDDEN_FIELDS")]
    pub hidden_fields: Option<PathBuf>,
    /// Requests handled at once; more wait up to 1 s, then get 503 `overloaded`
    /// (default: twice --db-connections; 0: no limit).
    #[arg(long, env = "CRM_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<usize>,
    /// Requests handled at once for one client (bearer token, else address); more
    /// get 429 `too_many_requests` (default: 3/4 of --max-concurrent-requests; 0: no limit).
    #[arg(long, env = "CRM_MAX_REQUESTS_PER_CLIENT")]
    pub max_requests_per_client: Option<usize>,
    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, env = "CRM_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Custom projections defined at once; `POST /projections` beyond gets 422
    /// `too_many_projections`.
    #[arg(long, env = "CRM_MAX_CUSTOM_PROJECTIONS", default_value_t = crm_api::state::DEFAULT_MAX_CUSTOM_PROJECTIONS)]
    pub max_custom_projections: usize,
    /// Hours an Idempotency-Key is remembered (then swept; a request with it runs anew).
    #[arg(long, env = "CRM_IDEMPOTENCY_KEY_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub idempotency_key_hours: u64,
    /// Idempotency keys one actor holds; a new one beyond evicts the actor's oldest.
    #[arg(long, env = "CRM_IDEMPOTENCY_KEYS_PER_ACTOR", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub idempotency_keys_per_actor: u32,
    /// Unknown bearer tokens one address may send a minute; beyond, its requests
    /// with a token get 429 until the minute is over (0: no limit).
    #[arg(long, env = "CRM_MAX_FAILED_AUTH_PER_MINUTE", default_value_t = 20)]
    pub max_failed_auth_per_minute: u32,
    /// The currency the web app writes amounts in (they are its minor units): an ISO
    /// 4217 code, 3 letters (`UAH`, `USD`, `EUR`, …).
    #[arg(long, env = "CRM_CURRENCY", default_value = crm_api::webapp::DEFAULT_CURRENCY, value_parser = crm_api::webapp::currency)]
    pub currency: String,
    /// How the web app writes numbers and money: `uk` (1 234,56 ₴) or `en`
    /// (₴1,234.56); a region may follow (`en-US`).
    #[arg(long, env = "CRM_LOCALE", default_value = crm_api::webapp::DEFAULT_LOCALE, value_parser = crm_api::webapp::locale)]
    pub locale: String,
    /// Refuse webhook targets that are or resolve to loopback, private, link-local
    /// or other internal addresses, when a webhook is defined and at every delivery
    /// (off by default: on premises, receivers are often on the local network).
    #[arg(long, env = "CRM_WEBHOOK_DENY_PRIVATE")]
    pub webhook_deny_private: bool,
    /// Logins and sessions.
    #[command(flatten)]
    pub logins: logins::LoginArgs,
}

/// What is checked before anything starts (no database yet): a weak bootstrap
/// token is refused outright.
pub fn check(args: &ServeArgs) -> anyhow::Result<()> {
    if let Some(token) = &args.bootstrap_token {
        crm_api::auth::check_bootstrap_token(token)?;
    }
    Ok(())
}

/// `crm serve`: the API and the web app on `args.listen` until SIGINT or SIGTERM, with
/// the projectors, the automation runner, the sealer, the verifier and the idempotency
/// sweeper unless told otherwise.
pub async fn run(cli: &Cli, db: &Database, args: &ServeArgs) -> anyhow::Result<()> {
    let hidden = hidden_fields(args.hidden_fields.as_deref())?;
    let web = crm_api::webapp::WebSettings::new(&args.currency, &args.locale)?;
    let log = db.log(args.db_connections).await?;
    if args.demo {
        seed_demo(&log).await?;
    }
    let projectors = if args.no_projectors {
        None
    } else {
        Some(start_projectors(&log)?)
    };
    let automation =
        (!args.no_automation).then(|| crm_api::automation::Runner::new(log.clone()).spawn());
    let sealer = (args.seal_interval > 0).then(|| {
        crm_eventlog::Sealer::spawn(
            log.clone(),
            crm_eventlog::SealerOptions {
                interval: std::time::Duration::from_secs(args.seal_interval),
                ..Default::default()
            },
        )
    });
    let verifier = (args.verify_interval > 0).then(|| {
        crm_eventlog::Verifier::spawn(
            log.clone(),
            crm_eventlog::VerifierOptions {
                interval: std::time::Duration::from_secs(args.verify_interval),
                ..Default::default()
            },
        )
    });
    if args.bootstrap_token.is_none() {
        first_admin_token(&log, cli).await?;
    }
    let idempotency = crm_api::idempotency::IdempotencySettings {
        ttl: std::time::Duration::from_secs(args.idempotency_key_hours * 3600),
        per_actor: args.idempotency_keys_per_actor,
    };
    let sweeper = crm_api::idempotency::Sweeper::spawn(
        log.pool().clone(),
        idempotency.ttl,
        std::time::Duration::from_secs(600),
    );
    tracing::info!(currency = %web.currency, locale = %web.locale, "the web app's money");
    let state = AppState::new(log.clone(), args.bootstrap_token.clone())
        .with_hidden_fields(hidden)
        .with_idempotency(idempotency)
        .with_max_custom_projections(args.max_custom_projections)
        .with_failed_auth(crm_api::failed_auth::FailedAuthSettings {
            max_failures: args.max_failed_auth_per_minute,
            window: std::time::Duration::from_secs(60),
        })
        .with_logins(args.logins.settings())
        .with_web_settings(web)
        .with_webhooks(crm_api::webhooks::WebhookSettings {
            deny_private: args.webhook_deny_private,
            ..Default::default()
        });
    let deliverer = crm_api::webhooks::Deliverer::spawn(
        log.clone(),
        std::sync::Arc::clone(&state.hidden),
        state.webhooks,
    );
    tracing::info!(
        deny_private = args.webhook_deny_private,
        "delivering webhooks"
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving the CRM API");
    let limits = limits(args);
    let options = crm_api::server::ServeOptions {
        max_connections: args.max_connections,
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
    if let Some(automation) = automation {
        automation.shutdown().await;
    }
    if let Some(projectors) = projectors {
        projectors.shutdown().await;
    }
    if let Some(sealer) = sealer {
        sealer.shutdown().await;
    }
    if let Some(verifier) = verifier {
        verifier.shutdown().await;
    }
    sweeper.shutdown().await;
    deliverer.shutdown().await;
    log.close().await;
    Ok(())
}

/// `crm project`: the projectors alone until SIGINT or SIGTERM.
pub async fn project(db: &Database) -> anyhow::Result<()> {
    let log = db.log(8).await?;
    let projectors = start_projectors(&log)?;
    shutdown_signal().await;
    projectors.shutdown().await;
    log.close().await;
    Ok(())
}

/// The fields hidden from each role: none, or those of the JSON file at `path`.
fn hidden_fields(path: Option<&Path>) -> anyhow::Result<crm_api::hidden::HiddenFields> {
    let Some(path) = path else {
        return Ok(crm_api::hidden::HiddenFields::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    crm_api::hidden::HiddenFields::parse(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("in {}", path.display()))
}

/// The limits on requests in flight the flags ask for, logged.
fn limits(args: &ServeArgs) -> crm_api::limits::Limits {
    let mut limits = crm_api::limits::Limits::new(
        args.max_concurrent_requests
            .unwrap_or_else(|| crm_api::limits::default_max_concurrent(args.db_connections)),
    );
    if let Some(per_client) = args.max_requests_per_client {
        limits.per_client = per_client;
    }
    tracing::info!(
        max_concurrent_requests = limits.max_concurrent,
        max_requests_per_client = limits.per_client,
        max_connections = args.max_connections,
        "request limits"
    );
    limits
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
