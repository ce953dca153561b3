//! `crm export`: the log to standard output, chunk by chunk.

use std::io::Write;

use crm_api::export::{export, ExportFilter, Format};
use crm_eventlog::EventLog;
use futures::TryStreamExt;

/// Writes the export to standard output as it is read.
pub async fn run(log: EventLog, format: Format, filter: ExportFilter) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let chunks = export(log, format, filter, Default::default());
    futures::pin_mut!(chunks);
    while let Some(chunk) = chunks.try_next().await? {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(())
}
