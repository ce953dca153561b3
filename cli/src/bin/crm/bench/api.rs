//! `crm bench api`: commands per second through HTTP beside the log's raw append rate.
//!
//! A fresh database, the real server on a loopback port, real bearer tokens, and
//! clients sending one command at a time each: a stage change on the client's own
//! deal (back and forth between two stages), and a call logged. The baseline is
//! `EventLog::append` of one event per call at the same concurrency, same run.
//! Then hot deals: 16 clients on 10 deals, each change sent with `If-Match` and
//! sent again after a 409 version conflict, the conflicts counted. Each phase's peak
//! memory of this process (the server runs in it) is reported beside. Last, the
//! server's own memory: the real `crm serve` as a child process on the same database,
//! idle, then under the same stage changes and calls ([`super::server`]).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crm_api::state::AppState;
use crm_eventlog::{EventLog, ExpectedVersion, NewEvent};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;

use uuid::Uuid;

use super::measure::{mib, peak_mib, reset_peak, run_for, Measurement, Table};
use super::server::ChildServer;
use super::web::Served;

/// Clients of the hot-deal measurement.
const HOT_CLIENTS: usize = 16;

/// Deals they share.
const HOT_DEALS: usize = 10;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds each measurement runs.
    pub seconds: u64,
    /// Concurrent clients, one measurement each.
    pub clients: Vec<usize>,
    /// Decide every command on states read from the log (`Commands::reading_every_state`).
    pub read_states: bool,
}

pub(super) type HttpClient = Client<HttpConnector, Body>;

/// Sends one JSON command and returns the answer's status and body.
pub(super) async fn call(
    http: &HttpClient,
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    call_at(http, base, token, method, path, body, None).await
}

/// [`call`] with `If-Match: version` when given.
async fn call_at(
    http: &HttpClient,
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
    if_match: Option<i64>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(version) = if_match {
        request = request.header("if-match", version.to_string());
    }
    let request = request.body(Body::from(body.to_string()))?;
    let response = http.request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, value))
}

/// Fails unless the answer is a success; returns its body.
async fn ok(
    http: &HttpClient,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let (status, value) = call(http, base, token, Method::POST, path, &body).await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {value}");
    Ok(value)
}

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, opts: &Options) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_api", |target| measure(target, opts)).await
}

async fn measure(target: PgConnectOptions, opts: &Options) -> anyhow::Result<String> {
    let max_clients = opts.clients.iter().copied().max().unwrap_or(16);
    let pool = crm_api::connect_pool_with(target.clone(), u32::try_from(max_clients + 8)?).await?;
    crm_api::migrate(&pool).await?;
    let log = EventLog::new(pool);
    let mut state = AppState::new(log.clone(), None);
    if opts.read_states {
        state.commands = state.commands.clone().reading_every_state();
    }
    // Limits sized to the benchmark's clients (all on one token), so that they
    // measure the commands, not the wait for a slot.
    let served = Served::start(crm_api::server::app_with(
        state,
        crm_api::limits::Limits {
            per_client: 0,
            ..crm_api::limits::Limits::new(max_clients * 2)
        },
    ))
    .await?;
    let base = served.base.clone();

    let http: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_clients * 2)
        .build_http();
    let token = crm_api::auth::create_token(log.pool(), None, "admin", Some("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // A manager, a pipeline of two stages, a client, and a deal per client.
    let manager = ok(
        &http,
        &base,
        &token,
        "/managers",
        json!({"name": "Bench", "department": "Sales", "role": "manager"}),
    )
    .await?;
    let manager = manager["id"].as_str().unwrap_or_default().to_owned();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let pipeline = ok(
        &http,
        &base,
        &token,
        "/pipelines",
        json!({"name": "Bench", "stages": [
        {"id": a, "name": "A", "probability": 0.3}, {"id": b, "name": "B", "probability": 0.6}]}),
    )
    .await?;
    let pipeline = pipeline["id"].as_str().unwrap_or_default().to_owned();
    let client = ok(
        &http,
        &base,
        &token,
        "/clients",
        json!({"name": "Acme", "kind": "company", "manager_id": manager, "contacts": []}),
    )
    .await?;
    let client: Uuid = client["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_default();
    let seconds = Duration::from_secs(opts.seconds);
    let setup = Setup {
        client,
        pipeline: pipeline.clone(),
        manager: manager.clone(),
        stages: (a, b),
    };
    let mut table = Table::new("log append");
    // Each phase's peak memory of this process, server included.
    let mut peaks: Vec<(String, Option<f64>)> = Vec::new();
    let mut raw_at_16 = None;

    for &clients in &opts.clients {
        // Each client moves a deal of its own, new for this measurement, from stage A.
        let deals = open_deals(&http, &base, &token, &setup, clients).await?;
        reset_peak();
        let raw = raw_appends(&log, clients, seconds).await?;
        peaks.push((format!("log append, {clients} clients"), peak_mib()));
        if clients == HOT_CLIENTS {
            raw_at_16 = Some(raw.clone());
        }
        reset_peak();
        let stage = stage_changes(&http, &base, &token, deals, (a, b), clients, seconds).await?;
        peaks.push((
            format!("deal stage change via HTTP, {clients} clients"),
            peak_mib(),
        ));
        let target = (clients == 16).then_some(0.5); // issue 19 (issue 3 asked 40%)
        table.row(
            &format!("deal stage change via HTTP, {clients} clients"),
            &stage,
            &raw,
            target,
        );
        eprintln!(
            "stage changes at {clients} clients: {:.0}/s vs raw appends {:.0}/s",
            stage.rate(),
            raw.rate()
        );
        {
            reset_peak();
            let calls =
                calls_logged(&http, &base, &token, &manager, client, clients, seconds).await?;
            peaks.push((
                format!("call logged via HTTP, {clients} clients"),
                peak_mib(),
            ));
            table.row(
                &format!("call logged via HTTP, {clients} clients"),
                &calls,
                &raw,
                target,
            );
            eprintln!("calls logged at {clients} clients: {:.0}/s", calls.rate());
        }
    }

    // Hot deals: several clients on each deal, against the raw rate at 16 clients.
    let raw = match raw_at_16 {
        Some(raw) => raw,
        None => {
            reset_peak();
            let raw = raw_appends(&log, HOT_CLIENTS, seconds).await?;
            peaks.push((format!("log append, {HOT_CLIENTS} clients"), peak_mib()));
            raw
        }
    };
    let hot = Hot {
        http: http.clone(),
        base: base.clone(),
        token: token.clone(),
        stages: (a, b),
    };
    reset_peak();
    let Retries {
        measured: changes,
        conflicts,
        same_stage,
    } = hot.run(client, &pipeline, &manager, seconds).await?;
    peaks.push((
        format!("hot deals via HTTP, {HOT_CLIENTS} clients on {HOT_DEALS} deals"),
        peak_mib(),
    ));
    table.row(
        &format!("hot deal stage change via HTTP, {HOT_CLIENTS} clients on {HOT_DEALS} deals"),
        &changes,
        &raw,
        None,
    );
    let per_change = |n: u64| n as f64 / changes.items.max(1) as f64;
    eprintln!(
        "hot deals: {:.0} changes/s; sent again after {conflicts} version conflicts ({:.2} per change) and {same_stage} stale views ({:.2})",
        changes.rate(),
        per_change(conflicts),
        per_change(same_stage)
    );

    served.stop().await?;

    // The server alone: `crm serve` as a child, limits sized as above, the same
    // commands at each number of clients.
    let flags = [
        format!("--db-connections={}", max_clients + 8),
        format!("--max-concurrent-requests={}", max_clients * 2),
        "--max-requests-per-client=0".to_owned(),
    ];
    let mut child = ChildServer::start(&target, &flags, &http).await?;
    child.settle(&log).await?;
    let (http, token, setup, counts) = (&http, &token, &setup, &opts.clients);
    let memory = child
        .memory_under(2 * counts.len(), move |phase, base| async move {
            let clients = counts[phase / 2];
            let (name, measured) = if phase % 2 == 0 {
                let deals = open_deals(http, &base, token, setup, clients).await?;
                let measured =
                    stage_changes(http, &base, token, deals, setup.stages, clients, seconds)
                        .await?;
                ("deal stage changes", measured)
            } else {
                let measured = calls_logged(
                    http,
                    &base,
                    token,
                    &setup.manager,
                    setup.client,
                    clients,
                    seconds,
                )
                .await?;
                ("calls logged", measured)
            };
            eprintln!(
                "crm serve, {name} at {clients} clients: {:.0}/s",
                measured.rate()
            );
            Ok((format!("{name}, {clients} clients"), measured))
        })
        .await?;
    log.close().await;
    let mut out = table.render();
    out.push_str(&format!(
        "\nHot deals: {} stage changes, sent again after {conflicts} version conflicts \
         (409, {:.2} per change) and {same_stage} stale views (422 `same_stage`, {:.2} per \
         change).\n\n\
         | phase | peak memory (this process, server in it) |\n|---|---:|\n",
        changes.items,
        per_change(conflicts),
        per_change(same_stage)
    ));
    for (phase, peak) in &peaks {
        out.push_str(&format!("| {phase} | {} |\n", mib(*peak)));
    }
    out.push('\n');
    out.push_str(&memory.render());
    Ok(out)
}

/// What the commands of a run act on: a client, a pipeline of two stages, a manager.
struct Setup {
    client: Uuid,
    pipeline: String,
    manager: String,
    stages: (Uuid, Uuid),
}

/// Opens a deal per client at the pipeline's first stage; their ids.
async fn open_deals(
    http: &HttpClient,
    base: &str,
    token: &str,
    setup: &Setup,
    clients: usize,
) -> anyhow::Result<Vec<String>> {
    let mut deals = Vec::with_capacity(clients);
    for _ in 0..clients {
        let body = json!({"client_id": setup.client, "pipeline_id": setup.pipeline, "stage_id": setup.stages.0, "title": "Bench", "amount": 1000, "manager_id": setup.manager});
        let deal = ok(http, base, token, "/deals", body).await?;
        deals.push(deal["id"].as_str().unwrap_or_default().to_owned());
    }
    Ok(deals)
}

/// `clients` clients each moving its own deal of `deals` back and forth between the
/// two `stages` for `seconds`.
async fn stage_changes(
    http: &HttpClient,
    base: &str,
    token: &str,
    deals: Vec<String>,
    (a, b): (Uuid, Uuid),
    clients: usize,
    seconds: Duration,
) -> anyhow::Result<Measurement> {
    let (http, base, token) = (http.clone(), base.to_owned(), token.to_owned());
    run_for(clients, seconds, move |worker, iteration| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let deal = deals[worker].clone();
        // Even iterations move to B, odd ones back to A.
        let to = if iteration % 2 == 0 { b } else { a };
        async move {
            ok(
                &http,
                &base,
                &token,
                &format!("/deals/{deal}/stage"),
                json!({"stage_id": to}),
            )
            .await?;
            Ok(1)
        }
    })
    .await
}

/// `clients` clients each logging calls of `manager` with `client` for `seconds`.
async fn calls_logged(
    http: &HttpClient,
    base: &str,
    token: &str,
    manager: &str,
    client: Uuid,
    clients: usize,
    seconds: Duration,
) -> anyhow::Result<Measurement> {
    let (http, base, token, manager) = (
        http.clone(),
        base.to_owned(),
        token.to_owned(),
        manager.to_owned(),
    );
    run_for(clients, seconds, move |_, _| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let body = json!({"kind": "call", "direction": "outbound", "manager_id": manager, "client_id": client, "duration_s": 95});
        async move {
            ok(&http, &base, &token, "/interactions", body).await?;
            Ok(1)
        }
    })
    .await
}

/// What the hot deals measured: the stage changes made, and the changes sent
/// again after a 409 version conflict or a 422 `same_stage` (a stale view).
struct Retries {
    measured: Measurement,
    conflicts: u64,
    same_stage: u64,
}

/// The hot-deal measurement: [`HOT_CLIENTS`] clients moving [`HOT_DEALS`] deals
/// back and forth between two stages, each change sent with `If-Match` at the
/// version the client last knew; a 409 tells the current version, and the change
/// is sent again from there.
struct Hot {
    http: HttpClient,
    base: String,
    token: String,
    /// The pipeline's two stages: a deal opens at the first.
    stages: (Uuid, Uuid),
}

impl Hot {
    /// Opens the deals and runs the clients: the changes made, and the retries.
    async fn run(
        &self,
        client: Uuid,
        pipeline: &str,
        manager: &str,
        seconds: Duration,
    ) -> anyhow::Result<Retries> {
        let mut deals = Vec::with_capacity(HOT_DEALS);
        for _ in 0..HOT_DEALS {
            let body = json!({"client_id": client, "pipeline_id": pipeline, "stage_id": self.stages.0,
                "title": "Hot", "amount": 1000, "manager_id": manager});
            let deal = ok(&self.http, &self.base, &self.token, "/deals", body).await?;
            let version = deal["version"].as_i64().unwrap_or(1);
            deals.push(deal["id"].as_str().unwrap_or_default().to_owned());
            anyhow::ensure!(version == 1, "a new deal at version {version}");
        }
        let deals = Arc::new(deals);
        // The version each client last saw of its deal.
        let known: Arc<Vec<AtomicI64>> =
            Arc::new((0..HOT_CLIENTS).map(|_| AtomicI64::new(1)).collect());
        let conflicts = Arc::new(AtomicU64::new(0));
        let stale_views = Arc::new(AtomicU64::new(0));
        let (http, base, token, stages) = (
            self.http.clone(),
            self.base.clone(),
            self.token.clone(),
            self.stages,
        );
        let (counted, stale_counted) = (Arc::clone(&conflicts), Arc::clone(&stale_views));
        let measured = run_for(HOT_CLIENTS, seconds, move |worker, _| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let (deals, known) = (deals.clone(), known.clone());
            let (conflicts, stale) = (counted.clone(), stale_counted.clone());
            async move {
                let deal = &deals[worker % HOT_DEALS];
                let path = format!("/deals/{deal}/stage");
                loop {
                    let version = known[worker].load(Ordering::Relaxed);
                    // Only stage changes touch these deals, each one flipping the
                    // stage: at an odd version a deal is at the first stage.
                    let to = if version % 2 == 1 { stages.1 } else { stages.0 };
                    let body = json!({"stage_id": to});
                    let (status, answer) = call_at(
                        &http,
                        &base,
                        &token,
                        Method::POST,
                        &path,
                        &body,
                        Some(version),
                    )
                    .await?;
                    if status.is_success() {
                        let now = answer["version"].as_i64().unwrap_or(version + 1);
                        known[worker].store(now, Ordering::Relaxed);
                        return Ok(1);
                    }
                    // The command path decides before it compares `If-Match`: a
                    // client whose view is stale may hear that the deal is at the
                    // stage it asked for already (422 `same_stage`) rather than 409.
                    // The deal is then a version further than it thought, at least.
                    if status == StatusCode::UNPROCESSABLE_ENTITY && answer["code"] == "same_stage"
                    {
                        stale.fetch_add(1, Ordering::Relaxed);
                        known[worker].store(version + 1, Ordering::Relaxed);
                        continue;
                    }
                    anyhow::ensure!(status == StatusCode::CONFLICT, "{path}: {status} {answer}");
                    let current = answer["current_version"].as_i64().ok_or_else(|| {
                        anyhow::anyhow!("a 409 without current_version: {answer}")
                    })?;
                    conflicts.fetch_add(1, Ordering::Relaxed);
                    known[worker].store(current, Ordering::Relaxed);
                }
            }
        })
        .await?;
        Ok(Retries {
            measured,
            conflicts: conflicts.load(Ordering::Relaxed),
            same_stage: stale_views.load(Ordering::Relaxed),
        })
    }
}

/// The log alone: one event per append to a stream of each client's own, at the same concurrency.
async fn raw_appends(
    log: &EventLog,
    clients: usize,
    time: Duration,
) -> anyhow::Result<Measurement> {
    let log = log.clone();
    let run = Uuid::new_v4();
    run_for(clients, time, move |worker, iteration| {
        let log = log.clone();
        async move {
            let expected = if iteration == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(i64::try_from(iteration)?)
            };
            let event = NewEvent::new(
                "DealStageChanged",
                json!({"deal_id": run, "from_stage_id": run, "to_stage_id": run}),
            );
            log.append(&format!("raw-{run}-{worker}"), expected, vec![event])
                .await?;
            Ok(1)
        }
    })
    .await
}
