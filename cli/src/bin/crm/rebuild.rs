//! `crm rebuild`: rebuilds read models beside their live tables, with a progress bar.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crm_eventlog::EventLog;
use crm_projections::{Projection, ProjectorSet, RebuildRequest};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Requests a rebuild of each of `chosen`, runs their projectors here (standbys if a
/// server already runs them: then the server does the work) and shows each rebuild's
/// progress until every rebuilt copy has been swapped in.
pub async fn run(log: &EventLog, chosen: Vec<Arc<dyn Projection>>) -> anyhow::Result<()> {
    let style = ProgressStyle::with_template(
        "{prefix:>14} [{wide_bar}] {human_pos}/{human_len} events · {per_sec} · {eta} left",
    )
    .context("progress bar template")?
    .progress_chars("=> ");
    let bars = MultiProgress::new();
    let mut watched = Vec::new();
    let mut in_place = Vec::new();
    let per_type = log.count_by_type().await?;
    for projection in &chosen {
        let name = projection.name().to_owned();
        let total: i64 = match projection.event_types() {
            None => per_type.values().sum(),
            Some(types) => types.iter().filter_map(|t| per_type.get(t)).sum(),
        };
        let mode = crm_projections::rebuild(log.pool(), projection.as_ref())
            .await
            .with_context(|| format!("rebuilding {name}"))?;
        if mode == RebuildRequest::InPlace {
            bars.println(format!("{name}: built in place from the start of the log"))?;
            in_place.push(name);
            continue;
        }
        let bar = bars.add(ProgressBar::new(u64::try_from(total).unwrap_or(0)));
        bar.set_style(style.clone());
        bar.set_prefix(name.clone());
        watched.push((name, bar));
    }
    let mut set = ProjectorSet::new(log.clone());
    for projection in chosen {
        set = set.with(projection);
    }
    let running = set.spawn()?;
    let started = std::time::Instant::now();
    while !watched.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut still = Vec::new();
        for (name, bar) in watched {
            match crm_projections::rebuild_progress(log.pool(), &name).await? {
                Some(done) => {
                    let done = u64::try_from(done).unwrap_or(0);
                    if done > bar.length().unwrap_or(0) {
                        bar.set_length(done);
                    }
                    bar.set_position(done);
                    still.push((name, bar));
                }
                None => {
                    let length = bar.length().unwrap_or(0);
                    bar.set_position(length);
                    bar.finish();
                    let seconds = started.elapsed().as_secs_f64();
                    bars.println(format!(
                        "{name}: rebuilt and swapped in ({length} events, {seconds:.1} s)"
                    ))?;
                }
            }
        }
        watched = still;
    }
    if let Some(last) = log.last_position().await? {
        for name in in_place {
            crm_projections::wait_until_reflects(log, &name, last, Duration::from_secs(86_400))
                .await?;
            bars.println(format!("{name}: caught up with the log"))?;
        }
    }
    running.shutdown().await;
    Ok(())
}
