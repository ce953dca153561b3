//! `crm projection`: an operator's view of the read models, and the repair of one
//! stopped by an event it cannot apply (skip it, or apply it with its NULs replaced),
//! recorded for good in `projections.event_repairs`.

use crm_eventlog::EventLog;
use crm_projections::RepairAction;

use crate::RepairArgs;

/// Records a repair of a read model and prints what it did.
pub async fn repair(log: &EventLog, args: &RepairArgs, action: RepairAction) -> anyhow::Result<()> {
    let by = match &args.by {
        Some(by) => by.clone(),
        None => format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
    };
    let (name, position) = (&args.name, args.position);
    let repair = crm_projections::repair(log, name, position, action, &args.reason, &by).await?;
    let verb = match action {
        RepairAction::Skip => "skips",
        RepairAction::Sanitize => "applies with its NUL characters replaced",
    };
    println!(
        "{name} {verb} the event at position {position} ({} {} on {}), now and in every \
         rebuild; recorded by {} at {}",
        repair.event_type, repair.event_id, repair.stream, repair.repaired_by, repair.repaired_at
    );
    Ok(())
}

/// Prints each read model's state (one JSON object a line), then each repair.
pub async fn status(log: &EventLog, only: Option<&str>) -> anyhow::Result<()> {
    for s in crm_projections::status(log.pool(), log).await? {
        if only.is_none_or(|n| n == s.name) {
            println!("{}", serde_json::to_string(&s)?);
        }
    }
    for r in crm_projections::repairs::repairs(log.pool(), only).await? {
        println!("{}", serde_json::json!({ "repair": r }));
    }
    Ok(())
}
