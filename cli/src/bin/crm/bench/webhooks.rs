//! `crm bench webhooks`: webhook deliveries to a receiver on a loopback port, beside
//! plain HTTP POSTs of the same bodies to the same receiver.
//!
//! A fresh database gets the generated company's setup, then eleven webhooks of every
//! event type (`POST /webhooks` through the real server, all but the first disabled),
//! then the year (`crm seed`): a backlog of about N events each webhook is to deliver.
//! Then, in one run on the same PostgreSQL: the deliverer `crm serve` runs, from its
//! start until the receiver has every event of the backlog, with the first webhook
//! alone and then with the ten others at once (deliveries per second); beside it, a
//! loop of POSTs of the same signed bodies with the same HTTP client, one at a time
//! per hook (the raw cost of one POST per event). The receiver counts every event of
//! every hook: each must arrive, at least once. Then [`latency`]: the time from a
//! command's answer to its delivery.

mod latency;
mod receiver;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_api::webhooks::delivery::Sender;
use crm_api::webhooks::{Deliverer, WebhookSettings};
use crm_eventlog::{Cursor, EventLog};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

use super::feed::FeedTo;
use super::web::{as_admin, Web};
use receiver::Receiver;

/// The webhooks' secret.
const SECRET: &str = "bench-webhook-secret";

/// How long a backlog may take to arrive.
const WITHIN: Duration = Duration::from_secs(3_600);

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The generated log: the backlog.
    pub log: super::Generated,
    /// Seconds of steady commands for the latency.
    pub seconds: u64,
    /// Commands per second meanwhile.
    pub rate: u32,
}

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, opts: &Options) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_webhooks", |target| {
        measure(target, opts)
    })
    .await
}

/// The eleven webhooks: the one measured alone, then the ten measured together.
struct Hooks {
    ids: Vec<Uuid>,
}

impl Hooks {
    fn name(n: usize) -> String {
        format!("w{n}")
    }

    fn alone(&self) -> Vec<String> {
        vec![Self::name(0)]
    }

    fn ten(&self) -> Vec<String> {
        (1..self.ids.len()).map(Self::name).collect()
    }

    /// Enables the webhooks `on` and disables the others.
    async fn only(&self, web: &Web, on: &[String]) -> anyhow::Result<()> {
        for (n, id) in self.ids.iter().enumerate() {
            let verb = if on.contains(&Self::name(n)) {
                "enable"
            } else {
                "disable"
            };
            web.post(&format!("/webhooks/{id}/{verb}"), &json!({}))
                .await?;
        }
        Ok(())
    }
}

async fn measure(target: PgConnectOptions, opts: &Options) -> anyhow::Result<String> {
    let receiver = Receiver::start().await?;
    let hooks = Hooks {
        ids: (0..11).map(|_| Uuid::new_v4()).collect(),
    };
    let setup_events = AtomicUsize::new(0);
    let defined = &hooks;
    let define = |log: EventLog, setup: crm_cli::seed::Batch| {
        setup_events.store(setup.events, Ordering::SeqCst);
        let urls: Vec<(Uuid, String)> = (hooks.ids.iter().enumerate())
            .map(|(n, id)| (*id, receiver.url(&Hooks::name(n))))
            .collect();
        let alone = hooks.alone();
        async move {
            as_admin(&log, |web| async move {
                for (id, url) in urls {
                    let body = json!({"id": id, "url": url, "event_types": [], "secret": SECRET});
                    web.post("/webhooks", &body).await?;
                }
                defined.only(&web, &alone).await
            })
            .await
        }
    };
    let (pool, log, seeded) =
        super::generated_log_after_setup(target, 16, &opts.log, define).await?;
    let backlog = usize::try_from(seeded)? - setup_events.load(Ordering::SeqCst);
    let bodies = Arc::new(bodies(&log, backlog).await?);
    let settings = WebhookSettings {
        rescan: Duration::from_millis(100),
        ..WebhookSettings::default()
    };
    let state = crm_api::state::AppState::new(log.clone(), None).with_webhooks(settings);
    let served = super::web::Served::start(crm_api::server::app(state.clone())).await?;
    let web = Web::admin(&pool, &served.base).await?;

    let mut out = format!(
        "Backlog of {backlog} events (a generated log of {seeded}, `--seed {}`, after the \
         setup) for each webhook of every event type; receiver on a loopback port answering \
         200 at once. Baseline: the same signed bodies POSTed one at a time per hook with \
         the deliverer's HTTP client, no database.\n\n\
         | webhooks | deliveries/s | wall time | raw POSTs/s | ratio | every event received (duplicates) |\n\
         |---|---:|---:|---:|---:|---|\n",
        opts.log.seed
    );
    for (label, on) in [("1", hooks.alone()), ("10 at once", hooks.ten())] {
        hooks.only(&web, &on).await?;
        let started = Instant::now();
        let deliverer = Deliverer::spawn(log.clone(), Arc::clone(&state.hidden), settings);
        let last = receiver.wait_for(&on, backlog, WITHIN).await?;
        deliverer.shutdown().await;
        let rate = (on.len() * backlog) as f64 / (last - started).as_secs_f64();
        let received = check_received(&receiver, &on, backlog)?;
        let raw_hooks: Vec<String> = on.iter().map(|h| format!("raw-{h}")).collect();
        let raw = raw_posts(&receiver, &raw_hooks, &bodies).await?;
        check_received(&receiver, &raw_hooks, backlog)?;
        eprintln!("{label} webhook(s): {rate:.0} deliveries/s, raw {raw:.0} POSTs/s");
        out.push_str(&format!(
            "| {label} | {rate:.0} | {:.1} s | {raw:.0} | {:.0}% | {received} |\n",
            (last - started).as_secs_f64(),
            100.0 * rate / raw
        ));
    }

    hooks.only(&web, &hooks.alone()).await?;
    let deliverer = Deliverer::spawn(log.clone(), Arc::clone(&state.hidden), settings);
    out.push('\n');
    out.push_str(&latency::measure(&web, &log, &receiver, &Hooks::name(0), opts).await?);
    deliverer.shutdown().await;
    served.stop().await?;
    receiver.stop().await?;
    log.close().await;
    Ok(out)
}

/// The webhooks' bodies of the backlog's events (the `backlog` last of the log),
/// with their ids, as the deliverer makes them.
async fn bodies(log: &EventLog, backlog: usize) -> anyhow::Result<Vec<(Uuid, Vec<u8>)>> {
    let last = log.last_position().await?.unwrap_or_default();
    let mut feed = FeedTo::new(log, Cursor::start(), last);
    let mut bodies = Vec::new();
    while let Some(mut events) = feed.next_page().await? {
        crm_projections::personal::reveal_current(log, &mut events).await?;
        for event in &events {
            bodies.push((event.event_id, crm_api::webhooks::delivery::body(event)?));
        }
    }
    anyhow::ensure!(
        bodies.len() >= backlog,
        "a backlog of {backlog} in a log of {}",
        bodies.len()
    );
    Ok(bodies.split_off(bodies.len() - backlog))
}

/// POSTs every body to each hook of `hooks`, one at a time per hook, the hooks at
/// once; POSTs per second.
async fn raw_posts(
    receiver: &Receiver,
    hooks: &[String],
    bodies: &Arc<Vec<(Uuid, Vec<u8>)>>,
) -> anyhow::Result<f64> {
    let sender = Sender::new(WebhookSettings::default().timeout, false);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for hook in hooks {
        let (sender, bodies, url) = (sender.clone(), Arc::clone(bodies), receiver.url(hook));
        tasks.push(tokio::spawn(async move {
            for (id, body) in bodies.iter() {
                let outcome = sender.post(&url, SECRET, *id, body.clone()).await;
                anyhow::ensure!(outcome.succeeded(), "{url}: {:?}", outcome.error);
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((hooks.len() * bodies.len()) as f64 / started.elapsed().as_secs_f64())
}

/// Checks that every hook received exactly `backlog` distinct events; says how many
/// came more than once.
fn check_received(receiver: &Receiver, hooks: &[String], backlog: usize) -> anyhow::Result<String> {
    let mut duplicates = 0u64;
    for hook in hooks {
        let arrivals = receiver.arrivals(hook);
        anyhow::ensure!(
            arrivals.len() == backlog,
            "{hook} received {} distinct events of {backlog}",
            arrivals.len()
        );
        duplicates += arrivals
            .values()
            .map(|a| u64::from(a.count - 1))
            .sum::<u64>();
    }
    Ok(format!("yes, {} × {backlog} ({duplicates})", hooks.len()))
}
