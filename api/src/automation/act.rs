//! Running a rule's planned command through the one command path: the aggregate's
//! command for each [`Action`], as an automation actor, seeded with the command's
//! deterministic id (so a second run appends nothing new) and with metadata
//! `source: automation`, `rule_id`, `causation_id`.

use crm_domain::automation::{Action, NewTask, Planned};
use crm_domain::lead::{LeadCommand, LeadState};
use crm_domain::task::{TaskCommand, TaskState};
use crm_domain::{Aggregate, EntityKind};
use crm_eventlog::{EventLogError, Source};
use uuid::Uuid;

use crate::access::{Actor, Role};
use crate::commands::{
    assign, execute, schedule_task, CommandContext, CommandError, Commands, Decision, IdSeed,
    TaskToSchedule,
};

/// How a planned command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    /// Appended, or found appended already (a replay): the position of its last event.
    Appended(i64),
    /// Refused by the domain or found done in another form: nothing appended.
    Skipped,
}

/// How automation is named in the events' metadata (`actor`).
pub const ACTOR: &str = "automation";

/// The context a planned command runs in: an admin-reach actor named
/// [`ACTOR`], its id as the seed of the ids it makes up, its rule and cause.
pub fn context(planned: &Planned, correlation_id: Option<Uuid>) -> CommandContext {
    let actor = Actor {
        manager_id: None,
        role: Role::Admin,
    };
    let mut ctx = CommandContext::new(actor, Source::Automation);
    ctx.actor_label = Some(ACTOR.to_owned());
    ctx.correlation_id = correlation_id.unwrap_or(planned.causation_id);
    ctx.seed = Some(IdSeed(planned.id));
    ctx.causation_id = Some(planned.causation_id);
    ctx.rule_id = Some(planned.rule_id);
    ctx
}

/// The id of the first event a planned command appends (its seed's first event id).
pub fn first_event_id(planned_id: Uuid) -> Uuid {
    IdSeed(planned_id).id("event", 0)
}

/// Runs `planned`. A refusal (the lead assigned since, the task existing already, a
/// manager deactivated) or a replay that differs (the same event ids, other data)
/// is a skip; the log's and the read models' failures are errors, to retry.
pub async fn act(
    commands: &Commands,
    planned: &Planned,
    correlation_id: Option<Uuid>,
) -> Result<Acted, CommandError> {
    let ctx = context(planned, correlation_id);
    let at = Some(planned.occurred_at);
    let result = match &planned.action {
        Action::AssignLead {
            lead_id,
            manager_id,
        } => {
            assign::<LeadState>(
                commands,
                &ctx,
                (EntityKind::Lead, *lead_id),
                *manager_id,
                at,
                |lead_id, manager| LeadCommand::Assign { lead_id, manager },
            )
            .await
        }
        Action::ScheduleTask(task) => schedule(commands, &ctx, task, planned).await,
        Action::BreachLeadSla { lead_id, minutes } => {
            let (lead_id, minutes) = (*lead_id, *minutes);
            execute(
                commands,
                &ctx,
                (EntityKind::Lead, lead_id),
                at,
                |mut loader| async move {
                    let lead: LeadState = loader.load(EntityKind::Lead, lead_id).await?;
                    let events = lead.decide(LeadCommand::BreachSla { lead_id, minutes })?;
                    Ok(Decision::new(loader, events))
                },
            )
            .await
        }
        Action::RemindTask { task_id, due_at } => {
            let (task_id, due_at) = (*task_id, *due_at);
            execute(
                commands,
                &ctx,
                (EntityKind::Task, task_id),
                at,
                |mut loader| async move {
                    let task: TaskState = loader.load(EntityKind::Task, task_id).await?;
                    let events = task.decide(TaskCommand::Remind { task_id, due_at })?;
                    Ok(Decision::new(loader, events))
                },
            )
            .await
        }
    };
    match result {
        Ok(response) if response.position > 0 => Ok(Acted::Appended(response.position)),
        Ok(_) => Ok(Acted::Skipped),
        Err(err) => skipped(err, planned),
    }
}

/// `TaskCommand::Schedule` of a rule's task, through the one [`schedule_task`].
async fn schedule(
    commands: &Commands,
    ctx: &CommandContext,
    task: &NewTask,
    planned: &Planned,
) -> Result<crate::commands::CommandResponse, CommandError> {
    let task = TaskToSchedule {
        task_id: task.task_id,
        title: task.title.clone(),
        kind: task.kind.clone(),
        assignee_id: task.assignee_id,
        due_at: task.due_at,
        client_id: task.client_id,
        deal_id: task.deal_id,
        co_executor_ids: Vec::new(),
        observer_ids: Vec::new(),
    };
    schedule_task(commands, ctx, task, Some(planned.occurred_at)).await
}

/// A command's failure: a skip when running it again could not succeed, else the
/// error.
fn skipped(err: CommandError, planned: &Planned) -> Result<Acted, CommandError> {
    match err {
        CommandError::Domain(refusal) => {
            tracing::info!(rule = %planned.rule_id, command = %planned.id, code = refusal.code(),
                "automation command refused; nothing appended");
            Ok(Acted::Skipped)
        }
        CommandError::Log(EventLogError::Duplicate { .. }) => {
            tracing::info!(rule = %planned.rule_id, command = %planned.id,
                "automation command appended already");
            Ok(Acted::Skipped)
        }
        CommandError::Log(ref e) if e.is_unavailable() => Err(err),
        CommandError::Log(EventLogError::Conflict { .. } | EventLogError::Database(_))
        | CommandError::Projection(_) => Err(err),
        other => {
            tracing::warn!(rule = %planned.rule_id, command = %planned.id, error = %other,
                "automation command failed; skipped");
            Ok(Acted::Skipped)
        }
    }
}
