//! `crm bench export`: the log exported as NDJSON and CSV, beside the raw read.
//!
//! A fresh database gets a generated company (`crm seed`); then, in one run on the same
//! PostgreSQL: the raw rate of reading the whole log with plain SQL (the baseline) and
//! each export format consumed to the end, with events per second, bytes and the
//! process's peak memory for each.

use std::time::Instant;

use crm_api::export::{export, ExportFilter, Format};
use futures::TryStreamExt;
use sqlx::postgres::PgConnectOptions;

use super::measure::{mib, peak_mib, raw_read, reset_peak};

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, generated: &super::Generated) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_export", |target| {
        measure(target, generated)
    })
    .await
}

async fn measure(target: PgConnectOptions, generated: &super::Generated) -> anyhow::Result<String> {
    let (pool, log, total) = super::generated_log(target, 8, generated).await?;

    reset_peak();
    let started = Instant::now();
    let read = raw_read(&pool).await?;
    let raw_rate = read as f64 / started.elapsed().as_secs_f64();
    let raw_peak = peak_mib();
    anyhow::ensure!(read == total, "raw read saw {read} of {total} events");

    let mut out = format!(
        "Log of {total} generated events (`--seed {}`, year ending {}); raw read with plain \
         SQL in the same run: {raw_rate:.0} events/s, peak {}.\n\n\
         | export | events/s | ratio to raw read | bytes | peak memory (this process) |\n\
         |---|---:|---:|---:|---:|\n",
        generated.seed,
        generated.until(),
        mib(raw_peak),
    );
    for (name, format) in [("NDJSON", Format::Ndjson), ("CSV", Format::Csv)] {
        reset_peak();
        let started = Instant::now();
        let chunks = export(
            log.clone(),
            format,
            ExportFilter::default(),
            Default::default(),
        );
        futures::pin_mut!(chunks);
        let (mut bytes, mut lines) = (0usize, 0usize);
        while let Some(chunk) = chunks.try_next().await? {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        let header = usize::from(format == Format::Csv);
        anyhow::ensure!(
            lines == usize::try_from(total)? + header,
            "{name}: {lines} lines for {total} events"
        );
        eprintln!("{name}: {rate:.0} events/s");
        out.push_str(&format!(
            "| {name} | {rate:.0} | {:.0}% | {bytes} | {} |\n",
            100.0 * rate / raw_rate,
            mib(peak_mib())
        ));
    }
    log.close().await;
    Ok(out)
}
