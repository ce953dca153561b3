//! `crm bench pages`: every web app page over a generated log, beside the API calls
//! it makes.
//!
//! A fresh database gets a generated company (`crm seed`), its read models built then
//! rebuilt (as `crm rebuild --all` leaves them), and its feed sealed; then the real server (`crm_api::server::app`, the API and the web
//! app) on a loopback port, asked over HTTP/1.1 with real bearer tokens (a director's,
//! and a manager's for his home), as `crm bench api` and `crm bench projections` ask
//! it. Each page and each API call it makes (its figures' source: the report, list or
//! entity the page shows) is asked in turn, one request at a time, `samples` rounds;
//! the table gives each one's p50/p99 and, beside a page, the sum of its calls' p50.

use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{NaiveDate, Utc};
use crm_api::state::AppState;
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use uuid::Uuid;

use super::api::HttpClient;
use super::measure::{new_histogram, record};
use super::web::Served;

/// The p99 a page should stay under.
const TARGET_P99: Duration = Duration::from_millis(100);

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The generated log.
    pub log: super::Generated,
    /// Rounds of requests (each page and each of its API calls once a round).
    pub samples: usize,
    /// Rounds for `/ui/audit` and the `GET /audit/verify` beside it, which walks the
    /// whole log (the page shows the result the background verifier kept).
    pub audit_samples: usize,
}

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, opts: &Options) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_pages", |target| measure(target, opts)).await
}

/// One page to measure: who asks, the page, and the API calls it makes.
struct Page {
    /// Whose token asks.
    who: Who,
    /// The page's path and query.
    path: String,
    /// The API calls that page makes, as a program would make them.
    calls: Vec<String>,
    /// Rounds of requests.
    samples: usize,
}

/// Whose bearer token a page is asked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The company's director (reach: every manager).
    Director,
    /// A manager (reach: himself).
    Manager,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Director => "director",
            Who::Manager => "manager",
        }
    }
}

/// The server asked, with a token per person.
struct Server {
    http: HttpClient,
    base: String,
    director: String,
    manager: String,
}

impl Server {
    fn token(&self, who: Who) -> &str {
        match who {
            Who::Director => &self.director,
            Who::Manager => &self.manager,
        }
    }

    /// `GET path` with `who`'s token: the status and the body's bytes.
    async fn get(&self, who: Who, path: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let request = Request::builder()
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token(who)))
            .body(Body::empty())?;
        let response = self.http.request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes.to_vec()))
    }

    /// `GET path` as JSON, failing unless a success.
    async fn json(&self, who: Who, path: &str) -> anyhow::Result<Value> {
        let (status, bytes) = self.get(who, path).await?;
        anyhow::ensure!(
            status.is_success(),
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes)?)
    }
}

async fn measure(target: PgConnectOptions, opts: &Options) -> anyhow::Result<String> {
    let (pool, log, total) = super::generated_log(target, 48, &opts.log).await?;

    // The read models built, as a server that has run for a while has them.
    let (running, took) =
        super::build_read_models(&log, crm_projections::RunnerConfig::default()).await?;
    eprintln!("read models built in {:.1} s", took.as_secs_f64());
    // The first build of a log this long is made beside the live tables, as a
    // rebuild is: each table filled without its query indexes, vacuumed, indexed once
    // and swapped in (no separate rebuild is needed to undo a row-by-row build's
    // bloated indexes).
    // The feed sealed, as `crm serve`'s sealer keeps it.
    let sealed = log
        .seal(crm_eventlog::DEFAULT_SEAL_SIZE)
        .await
        .context("sealing the feed")?;
    eprintln!("sealed {} events in {} seals", sealed.events, sealed.seals);

    let state = AppState::new(log.clone(), None).with_projections(crm_projections::builtin());
    let served = Served::start(crm_api::server::app(state)).await?;
    let base = served.base.clone();
    let director = director(&pool).await?;
    let mut web = Server {
        http: Client::builder(TokioExecutor::new()).build_http(),
        base,
        director: token(&pool, director, "director").await?,
        manager: String::new(),
    };
    // The manager of the first open deal, as `crm bench projections` picks him.
    let deals = web
        .json(Who::Director, "/deals?status=open&limit=1")
        .await?;
    let manager: Uuid = deals["items"][0]["manager_id"]
        .as_str()
        .context("no open deal")?
        .parse()?;
    web.manager = token(&pool, manager, "manager").await?;

    let (pages, names) = pages(&web, manager, opts).await?;
    let mut table = format!(
        "Log of {total} generated events (`--seed {}`, year ending {}); read models built \
         (a first build made beside the live tables, indexes last), the feed sealed. Each page and each API call it makes asked in turn over HTTP \
         with a bearer token, one request at a time, {} rounds ({} for `/ui/audit`); ids \
         shown by name.\n\n\
         | page (as) / the API calls it makes | p50 ms | p99 ms | Σ calls' p50 ms | target p99 < {} ms |\n\
         |---|---:|---:|---:|---|\n",
        opts.log.seed,
        opts.log.until(),
        opts.samples,
        opts.audit_samples,
        TARGET_P99.as_millis(),
    );
    for page in &pages {
        let rows = rows(&web, page, &names).await?;
        eprint!("{rows}");
        table.push_str(&rows);
    }

    served.stop().await?;
    running.shutdown().await;
    log.close().await;
    Ok(table)
}

/// A bearer token acting for `manager` with `role`.
async fn token(pool: &PgPool, manager: Uuid, role: &str) -> anyhow::Result<String> {
    crm_api::auth::create_token(pool, Some(manager), role, Some("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The company's director.
async fn director(pool: &PgPool) -> anyhow::Result<Uuid> {
    let team = crm_projections::managers::list_team(
        pool,
        &crm_projections::managers::TeamFilter::default(),
        None,
        10_000,
    )
    .await?;
    Ok(team
        .iter()
        .find(|m| m.role == "director" && m.active)
        .context("the generated company has no director")?
        .manager_id)
}

/// Every page of the web app, each with the API calls it makes; the ids they name.
async fn pages(web: &Server, manager: Uuid, opts: &Options) -> anyhow::Result<(Vec<Page>, Names)> {
    use Who::{Director, Manager};
    let today = Utc::now().date_naive();
    let presets = crm_api::webapp::page::presets(today);
    let this_month = presets
        .iter()
        .find(|(name, _, _)| *name == "this_month")
        .map(|&(_, from, to)| (from, to))
        .context("the this_month preset")?;
    let period = |(from, to): (NaiveDate, NaiveDate)| format!("from={from}&to={to}");

    let pipelines = web.json(Director, "/pipelines?limit=200").await?;
    let pipeline = pipelines["items"][0]["id"]
        .as_str()
        .context("no pipeline")?
        .to_owned();
    // A deal of the manager, with its client: the deal and client pages.
    let deals = web
        .json(
            Director,
            &format!("/deals?manager_id={manager}&status=open&limit=1"),
        )
        .await?;
    let deal = &deals["items"][0];
    let deal_id = deal["id"].as_str().context("no open deal")?.to_owned();
    let client = deal["client_id"]
        .as_str()
        .context("a deal's client")?
        .to_owned();

    let team = "/managers?limit=200".to_owned();
    let all_pipelines = "/pipelines?limit=200".to_owned();
    // Overdue as of now: the API's whole lists, which the pages count and page in SQL
    // (50 rows a list on `/ui/overdue`, 10 on the home) instead of reading.
    let overdue = [
        "/reports/overdue/tasks".to_owned(),
        "/reports/overdue/deals".to_owned(),
        "/reports/overdue/leads".to_owned(),
    ];
    // Home: the first pipeline's funnel and the overdue lists, in the person's reach.
    let mut home = vec![
        all_pipelines.clone(),
        team.clone(),
        format!("/reports/funnel?pipeline_id={pipeline}"),
    ];
    home.extend(overdue.iter().cloned());
    let page = |who, path: String, calls: Vec<String>| Page {
        who,
        path,
        calls,
        samples: opts.samples,
    };
    let mut all = vec![
        page(Manager, "/ui".into(), home.clone()),
        page(Director, "/ui".into(), home),
        page(
            Director,
            "/ui/funnel".into(),
            vec![
                all_pipelines.clone(),
                team.clone(),
                format!("/reports/funnel?pipeline_id={pipeline}"),
            ],
        ),
        page(
            Director,
            "/ui/conversion".into(),
            vec![
                all_pipelines.clone(),
                team.clone(),
                format!(
                    "/reports/conversion?pipeline_id={pipeline}&{}",
                    period(this_month)
                ),
            ],
        ),
    ];
    for &(name, from, to) in &presets {
        all.push(page(
            Director,
            format!("/ui/managers?preset={name}"),
            vec![
                format!("/reports/managers?{}", period((from, to))),
                team.clone(),
            ],
        ));
    }
    let mut overdue_calls = vec![team.clone()];
    overdue_calls.extend(overdue.iter().cloned());
    all.extend([
        page(Director, "/ui/overdue".into(), overdue_calls),
        page(
            Director,
            "/ui/loss-reasons".into(),
            vec![
                all_pipelines.clone(),
                format!("/reports/loss-reasons?{}", period(this_month)),
            ],
        ),
        page(
            Director,
            "/ui/forecast".into(),
            vec![all_pipelines.clone(), "/reports/forecast".into()],
        ),
        page(
            Director,
            "/ui/revenue".into(),
            vec![
                format!("/reports/revenue?by=manager&{}", period(this_month)),
                team.clone(),
            ],
        ),
        page(
            Director,
            "/ui/deals".into(),
            vec!["/deals?limit=100".into()],
        ),
        page(
            Director,
            format!("/ui/deals/{deal_id}"),
            vec![
                format!("/deals/{deal_id}"),
                format!("/streams/deal-{deal_id}/events"),
                format!("/pipelines/{pipeline}"),
                format!("/managers/{manager}"),
                format!("/clients/{client}"),
            ],
        ),
        page(
            Director,
            "/ui/clients".into(),
            vec!["/clients?limit=50".into()],
        ),
        page(
            Director,
            format!("/ui/clients/{client}"),
            vec![
                format!("/clients/{client}"),
                format!("/deals?client_id={client}&limit=200"),
                format!("/clients/{client}/timeline?limit=500"),
            ],
        ),
        page(
            Director,
            "/ui/leads".into(),
            vec!["/leads?limit=100".into()],
        ),
        page(
            Director,
            "/ui/tasks".into(),
            vec!["/tasks?limit=100".into()],
        ),
        page(
            Director,
            "/ui/projections".into(),
            vec!["/projections".into()],
        ),
        Page {
            who: Director,
            path: "/ui/audit".into(),
            calls: vec!["/audit/verify".into()],
            samples: opts.audit_samples,
        },
    ]);
    let names = Names(vec![
        (pipeline, "{pipeline}"),
        (deal_id, "{deal}"),
        (client, "{client}"),
        (manager.to_string(), "{manager}"),
    ]);
    Ok((all, names))
}

/// The ids of the run, shown by name in the table.
struct Names(Vec<(String, &'static str)>);

impl Names {
    /// `path` with each id replaced by its name.
    fn show(&self, path: &str) -> String {
        self.0
            .iter()
            .fold(path.to_owned(), |shown, (id, name)| shown.replace(id, name))
    }
}

/// The timings of one address: its latencies and the last failure seen, if any.
struct Timed {
    hist: Histogram<u64>,
    failure: Option<StatusCode>,
}

impl Timed {
    fn new() -> anyhow::Result<Self> {
        Ok(Timed {
            hist: new_histogram()?,
            failure: None,
        })
    }

    fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    /// Asks `path` once as `who` and records the time.
    async fn ask(&mut self, web: &Server, who: Who, path: &str) -> anyhow::Result<()> {
        let began = Instant::now();
        let (status, _) = web.get(who, path).await?;
        record(&mut self.hist, began.elapsed());
        if !status.is_success() {
            self.failure = Some(status);
        }
        Ok(())
    }
}

/// The page's row and its calls' rows, after a warm-up round and `page.samples`
/// rounds of the page then each call.
async fn rows(web: &Server, page: &Page, names: &Names) -> anyhow::Result<String> {
    let mut timed_page = Timed::new()?;
    let mut calls = Vec::with_capacity(page.calls.len());
    for _ in &page.calls {
        calls.push(Timed::new()?);
    }
    // A warm-up round, not counted. A page or call that fails is measured all the
    // same and marked with its status (`/ui/audit` can outlast the server's time limit).
    let (status, body) = web.get(page.who, &page.path).await?;
    if status != StatusCode::OK {
        eprintln!(
            "GET {} as the {}: {status} {}",
            page.path,
            page.who.name(),
            String::from_utf8_lossy(&body)
        );
    }
    for call in &page.calls {
        let (status, body) = web.get(page.who, call).await?;
        if !status.is_success() {
            eprintln!(
                "GET {call} as the {}: {status} {}",
                page.who.name(),
                String::from_utf8_lossy(&body)
            );
        }
    }
    for _ in 0..page.samples.max(1) {
        timed_page.ask(web, page.who, &page.path).await?;
        for (call, timed) in page.calls.iter().zip(&mut calls) {
            timed.ask(web, page.who, call).await?;
        }
    }
    let p99 = timed_page.ms(0.99);
    let sum: f64 = calls.iter().map(|c| c.ms(0.5)).sum();
    let verdict = match timed_page.failure {
        Some(status) => format!("✗ ({status})"),
        None if p99 < TARGET_P99.as_secs_f64() * 1000.0 => "✓".to_owned(),
        None => "✗".to_owned(),
    };
    let mut out = format!(
        "| **`{}`** ({}) | {:.2} | {p99:.2} | {sum:.2} | {verdict} |\n",
        names.show(&page.path),
        page.who.name(),
        timed_page.ms(0.5),
    );
    for (call, timed) in page.calls.iter().zip(&calls) {
        let failed = timed
            .failure
            .map_or_else(String::new, |status| format!("✗ ({status})"));
        out.push_str(&format!(
            "| ↳ `{}` | {:.2} | {:.2} | | {failed} |\n",
            names.show(call),
            timed.ms(0.5),
            timed.ms(0.99),
        ));
    }
    Ok(out)
}
