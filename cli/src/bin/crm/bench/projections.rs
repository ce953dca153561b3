//! `crm bench projections`: read models over a generated log of N events.
//!
//! A fresh database gets a generated company (`crm seed`). Then, in one run on the
//! same PostgreSQL: the raw rate of reading the whole log with plain SQL (the
//! baseline); the first build of every read model and a rebuild beside the live
//! tables (events per second, peak memory of this process); each report's latency
//! through the real HTTP server beside a `SELECT 1` round trip; and freshness: the
//! time from a command's answer to its effect being visible in the funnel, under a
//! steady load of commands, quiet and while every read model is rebuilt beside. Last,
//! the server's own memory: the real `crm serve` as a child process on the same
//! database, idle, then under the same report queries ([`super::server`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crm_api::state::AppState;
use crm_projections::RunnerConfig;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use super::measure::{
    mib, millis, new_histogram, peak_mib, raw_read, record, reset_peak, Measurement,
};
use super::server::ChildServer;
use super::web::{Served, Web};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The generated log.
    pub log: super::Generated,
    /// Events per projection batch.
    pub batch_size: usize,
    /// Requests per report for its latency.
    pub samples: usize,
    /// Seconds of steady command load for freshness.
    pub freshness_seconds: u64,
    /// Also measure freshness while every read model is rebuilt beside its live tables.
    pub rebuild_freshness: bool,
}

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, opts: &Options) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_projections", |target| {
        measure(target, opts)
    })
    .await
}

async fn measure(target: PgConnectOptions, opts: &Options) -> anyhow::Result<String> {
    let (pool, log, total) = super::generated_log(target.clone(), 48, &opts.log).await?;
    let until = opts.log.until();
    let mut out = String::new();

    // The baseline: every event read with plain SQL in pages, in feed order.
    reset_peak();
    let started = Instant::now();
    let read = raw_read(&pool).await?;
    let raw_time = started.elapsed();
    let raw_peak = peak_mib();
    anyhow::ensure!(read == total, "raw read saw {read} of {total} events");
    let raw_rate = total as f64 / raw_time.as_secs_f64();
    eprintln!("raw read: {raw_rate:.0} events/s");

    // The first build: every read model from an empty start, all at once.
    let config = RunnerConfig {
        batch_size: opts.batch_size,
        ..RunnerConfig::default()
    };
    reset_peak();
    let (running, build_time) = super::build_read_models(&log, config).await?;
    let build_peak = peak_mib();
    eprintln!("first build: {:.1} s", build_time.as_secs_f64());

    // A rebuild beside the live tables, while they keep answering.
    reset_peak();
    let started = Instant::now();
    for projection in crm_projections::builtin() {
        crm_projections::rebuild(&pool, projection.as_ref()).await?;
    }
    rebuilt(&pool).await?;
    let rebuild_time = started.elapsed();
    let rebuild_peak = peak_mib();
    eprintln!("rebuild beside: {:.1} s", rebuild_time.as_secs_f64());

    let rate = |t: Duration| total as f64 / t.as_secs_f64();
    out.push_str(&format!(
        "Log of {total} generated events (`--seed {}`, year ending {}).\n\n\
         | rebuild of all read models | events/s | wall time | peak memory (this process) | raw read events/s | raw read peak memory | ratio | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n\
         | first build (empty start) | {:.0} | {:.1} s | {} | {raw_rate:.0} | {} | {:.0}% | ≥ 50,000/s {} |\n\
         | rebuild beside the live tables | {:.0} | {:.1} s | {} | {raw_rate:.0} | {} | {:.0}% | ≥ 50,000/s {} |\n\n",
        opts.log.seed,
        until,
        rate(build_time),
        build_time.as_secs_f64(),
        mib(build_peak),
        mib(raw_peak),
        100.0 * rate(build_time) / raw_rate,
        verdict(rate(build_time) >= 50_000.0),
        rate(rebuild_time),
        rebuild_time.as_secs_f64(),
        mib(rebuild_peak),
        mib(raw_peak),
        100.0 * rate(rebuild_time) / raw_rate,
        verdict(rate(rebuild_time) >= 50_000.0),
    ));

    // The real server, with the projectors still running.
    // No answer cache: every request computes its answer (with one, each repeat of a
    // query would be a kept answer; `crm bench dashboards` measures that).
    let state = AppState::new(log.clone(), None)
        .with_projections(crm_projections::builtin())
        .with_answer_cache(0);
    let served = Served::start(crm_api::server::app(state)).await?;
    let web = Web::admin(&pool, &served.base).await?;

    out.push_str(&reports(&web, &pool, opts).await?);
    out.push_str(&reports_as_head(&web, &pool, opts).await?);
    out.push_str(&freshness(&web, &pool, opts).await?);

    served.stop().await?;
    running.shutdown().await;

    // The server alone: `crm serve` as a child (it keeps answers, as by default), its
    // projectors taking over, asked the same report queries the same way.
    let http = web.http.clone();
    let mut child = ChildServer::start(&target, &[], &http).await?;
    child.settle(&log).await?;
    let (pool, samples) = (&pool, opts.samples);
    let memory = child
        .memory_under(1, move |_, base| async move {
            let web = Web::admin(pool, &base).await?;
            let (queries, _) = report_queries(&web, opts).await?;
            let measured = read_all(&web, &queries, samples).await?;
            eprintln!("crm serve, the report queries: {:.0}/s", measured.rate());
            Ok((
                format!(
                    "the {} report queries, {samples} sequential requests each",
                    queries.len()
                ),
                measured,
            ))
        })
        .await?;
    out.push('\n');
    out.push_str(&memory.render());
    log.close().await;
    Ok(out)
}

/// `samples` sequential GETs of each path, all in one measurement.
async fn read_all(web: &Web, paths: &[String], samples: usize) -> anyhow::Result<Measurement> {
    let mut hist = new_histogram()?;
    let started = Instant::now();
    for path in paths {
        for _ in 0..samples {
            let began = Instant::now();
            web.get(path).await?;
            record(&mut hist, began.elapsed());
        }
    }
    Ok(Measurement {
        items: hist.len(),
        elapsed: started.elapsed(),
        p50: Duration::from_micros(hist.value_at_quantile(0.5)),
        p99: Duration::from_micros(hist.value_at_quantile(0.99)),
    })
}

fn verdict(met: bool) -> &'static str {
    if met {
        "✓"
    } else {
        "✗"
    }
}

/// The report queries asked of the server (ids of the first open deal's pipeline,
/// manager and client), and those ids.
async fn report_queries(web: &Web, opts: &Options) -> anyhow::Result<(Vec<String>, [String; 3])> {
    let deals = web.get("/deals?status=open&limit=1").await?;
    let deal = &deals["items"][0];
    let (pipeline, manager, client) = (
        deal["pipeline_id"].as_str().unwrap_or_default().to_owned(),
        deal["manager_id"].as_str().unwrap_or_default().to_owned(),
        deal["client_id"].as_str().unwrap_or_default().to_owned(),
    );
    let until = opts.log.until().format("%Y-%m-%d").to_string();
    let month = (opts.log.until() - chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let year = (opts.log.until() - chrono::Duration::days(365))
        .format("%Y-%m-%d")
        .to_string();
    let as_of = (opts.log.until() - chrono::Duration::days(90))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let now = format!("{until}T00:00:00Z");
    let queries = [
        format!("/reports/funnel?pipeline_id={pipeline}"),
        format!("/reports/funnel?pipeline_id={pipeline}&as_of={as_of}"),
        format!("/reports/conversion?pipeline_id={pipeline}&from={year}&to={until}"),
        format!("/reports/managers?from={month}&to={until}"),
        format!("/reports/managers?from={year}&to={until}"),
        format!("/reports/overdue/tasks?now={now}"),
        format!("/reports/overdue/deals?now={now}"),
        format!("/reports/overdue/leads?now={now}"),
        format!("/reports/loss-reasons?from={year}&to={until}"),
        "/reports/forecast".to_owned(),
        format!("/reports/revenue?by=manager&from={year}&to={until}"),
        format!("/reports/leads?by=source&from={year}&to={until}"),
        format!("/reports/revenue?by=product&from={year}&to={until}"),
        format!("/reports/revenue?by=category&from={year}&to={until}"),
        format!("/reports/revenue?by=novelty&from={year}&to={until}"),
        format!("/reports/revenue?by=first_contact&from={year}&to={until}"),
        format!("/reports/invoices?by=manager&from={year}&to={until}&now={now}"),
        format!("/reports/invoices?by=client&from={year}&to={until}&now={now}"),
        format!("/reports/plans?month={}", &until[..7]),
        "/products?limit=100".to_owned(),
        format!("/clients?segment=active&now={now}&limit=100"),
        format!("/clients?manager_id={manager}&limit=100"),
        format!("/clients/{client}?now={now}"),
        format!("/clients/{client}/timeline?limit=100"),
        format!("/deals?pipeline_id={pipeline}&status=open&limit=100"),
        format!("/tasks?assignee_id={manager}&status=open&limit=100"),
        format!("/reports/revenue?by=client&from={year}&to={until}"),
        format!("/managers/{manager}/day?date={until}"),
        "/reports/tasks/people".to_owned(),
        "/clients/duplicates".to_owned(),
    ];
    Ok((queries.into(), [pipeline, manager, client]))
}

/// p50/p99 of each report query, beside a `SELECT 1` round trip on the same pool.
async fn reports(web: &Web, pool: &PgPool, opts: &Options) -> anyhow::Result<String> {
    let (queries, [pipeline, manager, client]) = report_queries(web, opts).await?;
    let mut floor = new_histogram()?;
    for _ in 0..opts.samples {
        let began = Instant::now();
        sqlx::query("SELECT 1").execute(pool).await?;
        record(&mut floor, began.elapsed());
    }
    let mut table = format!(
        "Query latency through the HTTP server to the answer's last byte (read, not \
         parsed), {} sequential requests each; baseline: \
         `SELECT 1` round trip on the same pool, p50 {:.2} ms / p99 {:.2} ms.\n\n\
         | query | p50 ms | p99 ms | target p99 < 50 ms |\n|---|---:|---:|---|\n",
        opts.samples,
        millis(&floor, 0.5),
        millis(&floor, 0.99)
    );
    let names = [
        (pipeline.as_str(), "{pipeline}"),
        (&manager, "{manager}"),
        (&client, "{client}"),
    ];
    table.push_str(&latencies(web, &queries, &names, opts.samples).await?);
    Ok(table)
}

/// p50/p99 of `samples` sequential GETs of each path, as table rows (ids shown by
/// the names given).
async fn latencies(
    web: &Web,
    paths: &[String],
    names: &[(&str, &str)],
    samples: usize,
) -> anyhow::Result<String> {
    let mut table = String::new();
    for path in paths {
        // The answer's size, shown beside its latency: a list costs what it returns.
        let first = web.get(path).await?;
        let bytes = first.to_string().len();
        let rows = first
            .as_object()
            .into_iter()
            .flat_map(|o| o.values())
            .filter_map(Value::as_array)
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        let mut hist = new_histogram()?;
        for _ in 0..samples {
            let began = Instant::now();
            web.fetch(path).await?;
            record(&mut hist, began.elapsed());
        }
        let p99 = millis(&hist, 0.99);
        let shown = names
            .iter()
            .fold(path.clone(), |shown, (id, name)| shown.replace(id, name));
        table.push_str(&format!(
            "| `{shown}` | {:.2} | {p99:.2} | {} |\n",
            millis(&hist, 0.5),
            verdict(p99 < 50.0)
        ));
        eprintln!("{shown}: p99 {p99:.2} ms ({rows} rows, {bytes} bytes)");
    }
    table.push('\n');
    Ok(table)
}

/// The same reports asked by a head: every figure limited in SQL to his department's
/// managers (`manager_id = ANY(…)`), beside the admin's unlimited ones above.
async fn reports_as_head(web: &Web, pool: &PgPool, opts: &Options) -> anyhow::Result<String> {
    let deals = web.get("/deals?status=open&limit=1").await?;
    let deal = &deals["items"][0];
    let pipeline = deal["pipeline_id"].as_str().unwrap_or_default().to_owned();
    let manager: uuid::Uuid = deal["manager_id"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .context("a deal's manager")?;
    // A head of that manager's department (a token acting for him with the role).
    let token = crm_api::auth::create_token(pool, Some(manager), "head", Some("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let head = Web {
        token,
        ..web.clone()
    };
    let members = crm_projections::managers::department_members(pool, manager).await?;
    let until = opts.log.until().format("%Y-%m-%d").to_string();
    let year = (opts.log.until() - chrono::Duration::days(365))
        .format("%Y-%m-%d")
        .to_string();
    let now = format!("{until}T00:00:00Z");
    let queries = [
        format!("/reports/funnel?pipeline_id={pipeline}"),
        format!("/reports/conversion?pipeline_id={pipeline}&from={year}&to={until}"),
        format!("/reports/managers?from={year}&to={until}"),
        format!("/reports/overdue/tasks?now={now}"),
        format!("/reports/revenue?by=source&from={year}&to={until}"),
        format!("/reports/leads?by=source&from={year}&to={until}"),
        format!("/clients?segment=active&now={now}&limit=100"),
        "/deals?status=open&limit=100".to_owned(),
        "/tasks?status=open&limit=100".to_owned(),
    ];
    let mut table = format!(
        "The same through a head's token (his department: {} of the company's managers; \
         each query limited to them in SQL):\n\n\
         | query (as a head) | p50 ms | p99 ms | target p99 < 50 ms |\n|---|---:|---:|---|\n",
        members.len()
    );
    let names = [(pipeline.as_str(), "{pipeline}")];
    table.push_str(&latencies(&head, &queries, &names, opts.samples).await?);
    Ok(table)
}

/// The deals the freshness workers move, and the stages they move them between.
struct Movers {
    pipeline: String,
    deals: Vec<String>,
    stages: Vec<String>,
}

impl Movers {
    /// Up to 4 open deals of one pipeline and that pipeline's stages.
    async fn find(web: &Web) -> anyhow::Result<Self> {
        let open = web.get("/deals?status=open&limit=200").await?;
        let items = open["items"].as_array().cloned().unwrap_or_default();
        let first = items.first().context("no open deal")?;
        let pipeline = first["pipeline_id"].as_str().unwrap_or_default().to_owned();
        let deals: Vec<String> = items
            .iter()
            .filter(|d| d["pipeline_id"] == first["pipeline_id"])
            .filter_map(|d| d["id"].as_str().map(str::to_owned))
            .take(4)
            .collect();
        let funnel = web
            .get(&format!("/reports/funnel?pipeline_id={pipeline}"))
            .await?;
        let stages: Vec<String> = funnel["stages"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x["stage_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        anyhow::ensure!(stages.len() >= 2 && !deals.is_empty(), "nothing to move");
        Ok(Movers {
            pipeline,
            deals,
            stages,
        })
    }
}

/// What one freshness run measured.
struct Freshness {
    /// Command answer → visible in the funnel.
    fresh: Histogram<u64>,
    /// The funnel asked without waiting.
    plain: Histogram<u64>,
    /// Commands per second.
    rate: f64,
}

impl Freshness {
    /// A table row: p50, p99 and max of `hist`.
    fn row(label: &str, hist: &Histogram<u64>, target: &str) -> String {
        format!(
            "| {label} | {:.2} | {:.2} | {:.2} | {target} |\n",
            millis(hist, 0.5),
            millis(hist, 0.99),
            hist.max() as f64 / 1000.0,
        )
    }
}

/// Freshness under a steady load until `stop` turns true: a worker per deal moves it
/// to the next stage, pausing 20 ms between commands; after each answer the funnel is
/// asked with `min_position` of that answer, and the time from the answer to the
/// funnel reflecting it is recorded, beside the funnel's own latency without waiting.
async fn load(web: &Web, movers: &Movers, stop: &Arc<AtomicBool>) -> anyhow::Result<Freshness> {
    let mut fresh = new_histogram()?;
    let mut plain = new_histogram()?;
    let mut commands = 0u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for deal in &movers.deals {
        let (web, deal, stop) = (web.clone(), deal.clone(), stop.clone());
        let (stages, pipeline) = (movers.stages.clone(), movers.pipeline.clone());
        tasks.push(tokio::spawn(async move {
            let mut fresh = new_histogram()?;
            let mut plain = new_histogram()?;
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let to = &stages[n % stages.len()];
                n += 1;
                let answer = web
                    .post(&format!("/deals/{deal}/stage"), &json!({"stage_id": to}))
                    .await;
                // A move to the stage it stands at is refused: go on with the next.
                let Ok(answer) = answer else { continue };
                let position = answer["position"].as_i64().unwrap_or_default();
                let answered = Instant::now();
                web.get(&format!(
                    "/reports/funnel?pipeline_id={pipeline}&min_position={position}"
                ))
                .await?;
                record(&mut fresh, answered.elapsed());
                let began = Instant::now();
                web.get(&format!("/reports/funnel?pipeline_id={pipeline}"))
                    .await?;
                record(&mut plain, began.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, anyhow::Error>((fresh, plain))
        }));
    }
    for task in tasks {
        let (f, p) = task.await??;
        commands += f.len();
        fresh.add(&f)?;
        plain.add(&p)?;
    }
    Ok(Freshness {
        fresh,
        plain,
        rate: commands as f64 / started.elapsed().as_secs_f64(),
    })
}

/// Freshness for `freshness_seconds` with nothing else running (the baseline), then,
/// unless switched off, while a rebuild of every read model runs beside the live
/// tables, started as `crm rebuild --all` starts one, until every copy is swapped in.
async fn freshness(web: &Web, pool: &PgPool, opts: &Options) -> anyhow::Result<String> {
    let movers = Movers::find(web).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let (stop, seconds) = (stop.clone(), opts.freshness_seconds);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let quiet = load(web, &movers, &stop).await?;
    timer.abort();
    let mut out = format!(
        "Freshness: {} clients moving deals ({:.0} commands/s for {} s); time from a \
         command's answer to the funnel reflecting it (`min_position`), beside the funnel's own \
         latency in the same run.\n\n\
         | measure | p50 ms | p99 ms | max ms | target |\n|---|---:|---:|---:|---|\n",
        movers.deals.len(),
        quiet.rate,
        opts.freshness_seconds,
    );
    let target = |h: &Histogram<u64>| format!("p99 < 50 ms {}", verdict(millis(h, 0.99) < 50.0));
    out.push_str(&Freshness::row(
        "answer → visible in the funnel",
        &quiet.fresh,
        &target(&quiet.fresh),
    ));
    out.push_str(&Freshness::row(
        "funnel query alone (baseline)",
        &quiet.plain,
        "–",
    ));
    eprintln!(
        "freshness: p99 {:.2} ms, max {:.2} ms",
        millis(&quiet.fresh, 0.99),
        quiet.fresh.max() as f64 / 1000.0
    );
    if !opts.rebuild_freshness {
        return Ok(out);
    }

    // The same load while every read model is rebuilt beside its live tables.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    for projection in crm_projections::builtin() {
        crm_projections::rebuild(pool, projection.as_ref()).await?;
    }
    // The load stops when every copy is swapped in, or at the latest after
    // `REBUILD_LOAD_CAP` freshness periods (a rebuild that cannot finish under load
    // still gives its figures; its time then says so).
    let cap = Duration::from_secs(opts.freshness_seconds.saturating_mul(REBUILD_LOAD_CAP));
    let watcher = {
        let (stop, pool) = (stop.clone(), pool.clone());
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(cap, rebuilt(&pool)).await;
            stop.store(true, Ordering::Relaxed);
            match outcome {
                Ok(done) => done.map(|()| (started.elapsed(), true)),
                Err(_) => rebuilt(&pool).await.map(|()| (started.elapsed(), false)),
            }
        })
    };
    let busy = load(web, &movers, &stop).await;
    stop.store(true, Ordering::Relaxed);
    let (rebuild_time, under_load) = watcher.await??;
    let busy = busy?;
    let took = if under_load {
        format!("{:.1} s", rebuild_time.as_secs_f64())
    } else {
        format!(
            "{:.1} s: not done after {} s of load, which then stopped",
            rebuild_time.as_secs_f64(),
            cap.as_secs()
        )
    };
    eprintln!(
        "freshness during a rebuild of everything ({took}): p99 {:.2} ms, max {:.2} ms",
        millis(&busy.fresh, 0.99),
        busy.fresh.max() as f64 / 1000.0
    );
    out.push_str(&Freshness::row(
        &format!(
            "answer → visible, during a rebuild of every read model ({took}, {:.0} commands/s)",
            busy.rate
        ),
        &busy.fresh,
        &target(&busy.fresh),
    ));
    out.push_str(&Freshness::row(
        "funnel query alone, during the rebuild",
        &busy.plain,
        "–",
    ));
    Ok(out)
}

/// The most freshness periods (`--freshness-seconds`) the load runs during the rebuild.
const REBUILD_LOAD_CAP: u64 = 10;

/// Waits until no built-in read model is being rebuilt any more (every copy swapped in).
async fn rebuilt(pool: &PgPool) -> anyhow::Result<()> {
    for projection in crm_projections::builtin() {
        while crm_projections::rebuild_progress(pool, projection.name())
            .await?
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
