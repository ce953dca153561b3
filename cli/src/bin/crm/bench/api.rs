//! `crm bench api`: commands per second through HTTP beside the log's raw append rate.
//!
//! A fresh database, the real server on a loopback port, real bearer tokens, and
//! clients sending one command at a time each: a stage change on the client's own
//! deal (back and forth between two stages), and a call logged. The baseline is
//! `EventLog::append` of one event per call at the same concurrency, same run.

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

use super::measure::{run_for, Measurement, Table};
use super::web::Served;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds each measurement runs.
    pub seconds: u64,
    /// Concurrent clients, one measurement each.
    pub clients: Vec<usize>,
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
    let request = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?;
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
    let pool = crm_api::connect_pool_with(target, u32::try_from(max_clients + 8)?).await?;
    crm_api::migrate(&pool).await?;
    let log = EventLog::new(pool);
    let state = AppState::new(log.clone(), None);
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
    let mut table = Table::new("log append");

    for &clients in &opts.clients {
        // Each client moves a deal of its own, new for this measurement, from stage A.
        let mut deals = Vec::with_capacity(clients);
        for _ in 0..clients {
            let body = json!({"client_id": client, "pipeline_id": pipeline, "stage_id": a, "title": "Bench", "amount": 1000, "manager_id": manager});
            let deal = ok(&http, &base, &token, "/deals", body).await?;
            deals.push(deal["id"].as_str().unwrap_or_default().to_owned());
        }
        let raw = raw_appends(&log, clients, seconds).await?;
        let stage = {
            let (http, base, token, deals) =
                (http.clone(), base.clone(), token.clone(), deals.clone());
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
            .await?
        };
        let target = (clients == 16).then_some(0.4);
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
            let calls = {
                let (http, base, token, manager) =
                    (http.clone(), base.clone(), token.clone(), manager.clone());
                run_for(clients, seconds, move |_, _| {
                    let (http, base, token) = (http.clone(), base.clone(), token.clone());
                    let body = json!({"kind": "call", "direction": "outbound", "manager_id": manager, "client_id": client, "duration_s": 95});
                    async move {
                        ok(&http, &base, &token, "/interactions", body).await?;
                        Ok(1)
                    }
                })
                .await?
            };
            table.row(
                &format!("call logged via HTTP, {clients} clients"),
                &calls,
                &raw,
                target,
            );
            eprintln!("calls logged at {clients} clients: {:.0}/s", calls.rate());
        }
    }

    served.stop().await?;
    log.close().await;
    Ok(table.render())
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
