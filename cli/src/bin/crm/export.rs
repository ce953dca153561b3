//! `crm export`: the log to standard output, chunk by chunk, recorded as an export
//! like the API's.

use std::io::Write;

use anyhow::Context;

use crm_api::export::{export, ExportFilter, Format};
use crm_eventlog::EventLog;
use futures::TryStreamExt;

/// The flags of `crm export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// `ndjson` or `csv`.
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
    pub format: String,
    /// Only these event types, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Only the streams of this kind (`deal`, `client`, `lead`, `task`, …).
    #[arg(long)]
    pub stream_kind: Option<String>,
    /// Only events that occurred at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events that occurred before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Records the export (as an admin named `cli:<user>`), then writes it.
pub async fn command(log: &EventLog, args: &ExportArgs) -> anyhow::Result<()> {
    let format = Format::parse(&args.format).context("format")?;
    let filter = ExportFilter {
        types: (!args.types.is_empty()).then(|| args.types.clone()),
        stream_kind: args.stream_kind.clone(),
        from: args.from,
        to: args.to,
    };
    // The operator exports as an admin would, named `cli:<user>` in the record.
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let admin = crm_api::access::Actor {
        manager_id: None,
        role: crm_api::access::Role::Admin,
    };
    let mut ctx = crm_api::commands::CommandContext::new(admin, crm_eventlog::Source::Api);
    ctx.actor_label = Some(format!("cli:{who}"));
    let commands = crm_api::commands::Commands::new(log.clone());
    crm_api::export::record_export(&commands, &ctx, format, &filter, "cli").await?;
    run(log.clone(), format, filter).await
}

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
