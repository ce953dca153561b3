//! `crm audit seal` and `crm audit verify`: seals the feed; checks every chain and
//! seal with a progress bar.

use anyhow::Context;
use crm_eventlog::EventLog;
use indicatif::{ProgressBar, ProgressStyle};

/// Seals every settled event not sealed yet and prints what was written.
pub async fn seal(log: &EventLog, max_per_seal: usize) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let report = log.seal(max_per_seal).await?;
    println!(
        "sealed {} events in {} seals in {:.1} s; the last seal is #{}",
        report.events,
        report.seals,
        started.elapsed().as_secs_f64(),
        report.last_seq
    );
    Ok(())
}

/// Verifies the log showing progress, prints the JSON report, and fails when the log
/// does not verify (naming the first bad event or seal).
pub async fn verify(log: &EventLog) -> anyhow::Result<()> {
    let total: i64 = log.count_by_type().await?.values().sum();
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "verifying [{wide_bar}] {human_pos}/{human_len} events · {per_sec} · {eta} left",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    let report = log
        .verify_with_progress(|checked| {
            if checked > bar.length().unwrap_or(0) {
                bar.set_length(checked);
            }
            bar.set_position(checked);
        })
        .await?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(bad) = &report.first_bad {
        anyhow::bail!(
            "the log fails verification: event {} at position {} ({}{}) was {:?} (found by its {})",
            bad.event_id,
            bad.position,
            bad.stream.as_deref().unwrap_or("stream unknown"),
            bad.version.map(|v| format!(" v{v}")).unwrap_or_default(),
            bad.kind,
            bad.found_by,
        );
    }
    if let Some(seal) = &report.bad_seal {
        anyhow::bail!(
            "the log fails verification: seal #{}: {}",
            seal.seq,
            seal.detail
        );
    }
    eprintln!(
        "verified: {} events in {} streams; {} sealed in {} seals, {} after the last seal (chains only)",
        report.events, report.streams, report.events_sealed, report.seals, report.unsealed_events
    );
    Ok(())
}
