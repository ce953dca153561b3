//! `crm bench dashboards`: many dashboards refreshing the same reports at once
//! (issue 19), beside `GET /health/live` in the same run.
//!
//! A fresh database gets a generated company, its read models built; then the real
//! server (`crm_api::server::app`) on a loopback port, asked over HTTP/1.1 by
//! `connections` concurrent clients with the director's bearer token, each for
//! `seconds`: `/health/live` (the baseline: what the server answers when an answer
//! costs nothing), then the first pipeline's funnel and the month's managers report,
//! each without and with `If-None-Match` (the tag of the answer fetched just before),
//! then the same reports from a second server that keeps no answers (each request
//! computed, concurrent identical ones still sharing one computation). No command runs
//! meanwhile: every read model stays at one position, as between two refreshes.
//! Last, the server's own memory: the real `crm serve` as a child process on the same
//! database, idle, then under each report read by `connections` clients (answers
//! kept, as it keeps them by default) for `seconds` ([`super::server`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Datelike, Utc};
use crm_api::state::AppState;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

use super::api::HttpClient;
use super::measure::{run_for, Measurement, Table};
use super::server::ChildServer;
use super::web::Served;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The generated log.
    pub log: super::Generated,
    /// Concurrent HTTP clients.
    pub connections: usize,
    /// Seconds each measurement runs.
    pub seconds: u64,
}

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, opts: &Options) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_dashboards", |target| {
        measure(target, opts)
    })
    .await
}

/// Serves `state` on a loopback port (stopped when dropped).
async fn serve(state: AppState) -> anyhow::Result<Served> {
    Served::start(crm_api::server::app(state)).await
}

/// `GET url` with `token` (and `If-None-Match: tag`): the status and the `ETag`.
async fn get(
    http: &HttpClient,
    url: &str,
    token: &str,
    tag: Option<&str>,
) -> anyhow::Result<(StatusCode, Option<String>)> {
    let mut request = Request::builder()
        .uri(url)
        .header("authorization", format!("Bearer {token}"));
    if let Some(tag) = tag {
        request = request.header("if-none-match", tag);
    }
    let response = http.request(request.body(Body::empty())?).await?;
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    response.into_body().collect().await?;
    Ok((status, etag))
}

/// `connections` clients asking `url` for `seconds`; every answer must be `expect`.
async fn hammer(
    http: &HttpClient,
    url: String,
    token: &str,
    tag: Option<String>,
    expect: StatusCode,
    opts: &Options,
) -> anyhow::Result<Measurement> {
    let shared = Arc::new((http.clone(), url, token.to_owned(), tag));
    run_for(
        opts.connections,
        Duration::from_secs(opts.seconds),
        move |_, _| {
            let shared = Arc::clone(&shared);
            async move {
                let (http, url, token, tag) = &*shared;
                let (status, _) = get(http, url, token, tag.as_deref()).await?;
                anyhow::ensure!(status == expect, "GET {url}: {status}, not {expect}");
                Ok(1)
            }
        },
    )
    .await
}

async fn measure(target: PgConnectOptions, opts: &Options) -> anyhow::Result<String> {
    let (pool, log, total) = super::generated_log(target.clone(), 48, &opts.log).await?;
    let (running, took) =
        super::build_read_models(&log, crm_projections::RunnerConfig::default()).await?;
    eprintln!("read models built in {:.1} s", took.as_secs_f64());

    let kept = serve(AppState::new(log.clone(), None).with_projections(crm_projections::builtin()))
        .await?;
    let unkept = serve(
        AppState::new(log.clone(), None)
            .with_projections(crm_projections::builtin())
            .with_answer_cache(0),
    )
    .await?;
    let team = crm_projections::managers::list_team(
        &pool,
        &crm_projections::managers::TeamFilter::default(),
        None,
        10_000,
    )
    .await?;
    let director: Uuid = team
        .iter()
        .find(|m| m.role == "director" && m.active)
        .context("the generated company has no director")?
        .manager_id;
    let token = crm_api::auth::create_token(&pool, Some(director), "director", Some("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    // The first pipeline, as the web app's funnel page shows it.
    let pipeline = crm_projections::deals::list_pipelines(&pool, None, 1)
        .await?
        .first()
        .context("no pipeline")?
        .pipeline_id;
    let today = Utc::now().date_naive();
    let month = today.with_day(1).context("the month's first day")?;
    let reports = [
        (
            "the funnel",
            format!("/reports/funnel?pipeline_id={pipeline}"),
        ),
        (
            "the month's managers report",
            format!(
                "/reports/managers?from={month}&to={}",
                today + chrono::Days::new(1)
            ),
        ),
    ];

    let live = hammer(
        &http,
        format!("{}/health/live", kept.base),
        &token,
        None,
        StatusCode::OK,
        opts,
    )
    .await?;
    eprintln!("/health/live: {:.0}/s", live.rate());
    let mut table = Table::new("GET /health/live");
    for (name, path) in &reports {
        let url = format!("{}{path}", kept.base);
        let (status, tag) = get(&http, &url, &token, None).await?;
        anyhow::ensure!(status == StatusCode::OK, "GET {path}: {status}");
        let tag = tag.context("no ETag")?;
        let whole = hammer(&http, url.clone(), &token, None, StatusCode::OK, opts).await?;
        table.row(&format!("{name}, answers kept"), &whole, &live, None);
        let held = hammer(
            &http,
            url,
            &token,
            Some(tag),
            StatusCode::NOT_MODIFIED,
            opts,
        )
        .await?;
        table.row(
            &format!("{name}, `If-None-Match` → 304"),
            &held,
            &live,
            None,
        );
        let computed = hammer(
            &http,
            format!("{}{path}", unkept.base),
            &token,
            None,
            StatusCode::OK,
            opts,
        )
        .await?;
        table.row(
            &format!("{name}, no answer kept (computed)"),
            &computed,
            &live,
            None,
        );
        eprintln!(
            "{name}: kept {:.0}/s, 304 {:.0}/s, computed {:.0}/s",
            whole.rate(),
            held.rate(),
            computed.rate()
        );
    }
    drop(kept);
    drop(unkept);
    running.shutdown().await;

    // The server alone: `crm serve` as a child, its projectors taking over.
    let mut child = ChildServer::start(&target, &[], &http).await?;
    child.settle(&log).await?;
    let (http, token, reports) = (&http, &token, &reports);
    let memory = child
        .memory_under(reports.len(), move |phase, base| {
            let (name, path) = &reports[phase];
            async move {
                let url = format!("{base}{path}");
                let measured = hammer(http, url, token, None, StatusCode::OK, opts).await?;
                eprintln!("crm serve, {name}: {:.0}/s", measured.rate());
                Ok((format!("{name}, {} clients", opts.connections), measured))
            }
        })
        .await?;
    log.close().await;
    Ok(format!(
        "Log of {total} generated events (`--seed {}`, year ending {}); read models built, no \
         command running. {} concurrent HTTP/1.1 clients with the director's token, {} s \
         each, beside `GET /health/live` asked the same way in the same run.\n\n{}\n{}",
        opts.log.seed,
        opts.log.until(),
        opts.connections,
        opts.seconds,
        table.render(),
        memory.render()
    ))
}
