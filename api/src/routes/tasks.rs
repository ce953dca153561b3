//! Commands on tasks: schedule, reschedule, assign, complete, cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::task::{TaskCommand, TaskState};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{
    assign as assign_to, execute, schedule_task, CommandContext, CommandResponse, Decision,
    TaskToSchedule,
};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath};
use crate::routes::created;
use crate::state::AppState;

/// `POST /tasks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTaskBody {
    /// The new task's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// What to do, not blank.
    #[schema(max_length = 200)]
    title: String,
    /// Kind of task, free text; default: `task`.
    #[schema(max_length = 200)]
    kind: Option<String>,
    /// The manager who must do it: must exist and be active.
    assignee_id: Uuid,
    /// When it is due.
    due_at: DateTime<Utc>,
    /// The client it is about: must exist.
    client_id: Option<Uuid>,
    /// The deal it is about: must exist, and be the client's when both are given.
    deal_id: Option<Uuid>,
    /// Managers who help: each must exist and be active.
    #[schema(max_items = 100)]
    co_executor_ids: Option<Vec<Uuid>>,
    /// Managers who watch: each must exist and be active.
    #[schema(max_items = 100)]
    observer_ids: Option<Vec<Uuid>>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Schedules a task for a manager.
#[utoipa::path(post, path = "/tasks", operation_id = "schedule_task", tag = "tasks", request_body = ScheduleTaskBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn schedule(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<ScheduleTaskBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let task = TaskToSchedule {
        task_id: body.id.unwrap_or_else(|| ctx.new_id()),
        title: body.title,
        kind: body.kind,
        assignee_id: body.assignee_id,
        due_at: body.due_at,
        client_id: body.client_id,
        deal_id: body.deal_id,
        co_executor_ids: body.co_executor_ids.unwrap_or_default(),
        observer_ids: body.observer_ids.unwrap_or_default(),
    };
    let response = schedule_task(&state.commands, &ctx, task, body.occurred_at).await?;
    Ok(created(response))
}

/// `POST /tasks/{id}/reschedule`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleTaskBody {
    /// The new due time.
    due_at: DateTime<Utc>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Moves a task's due time.
#[utoipa::path(post, path = "/tasks/{id}/reschedule", operation_id = "reschedule_task", tag = "tasks", request_body = RescheduleTaskBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn reschedule(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RescheduleTaskBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let due_at = body.due_at;
    let (target, at) = ((EntityKind::Task, id), body.occurred_at);
    let response = execute(&state.commands, &ctx, target, at, |mut loader| async move {
        let task: TaskState = loader.load(EntityKind::Task, id).await?;
        let events = task.decide(TaskCommand::Reschedule {
            task_id: id,
            due_at,
        })?;
        Ok(Decision::new(loader, events))
    })
    .await?;
    Ok(Json(response))
}

/// `POST /tasks/{id}/assign`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTaskBody {
    /// The new assignee: must exist and be active.
    assignee_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Gives a task to another manager.
#[utoipa::path(post, path = "/tasks/{id}/assign", operation_id = "assign_task", tag = "tasks", request_body = AssignTaskBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn assign(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignTaskBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Task, id);
    let response = assign_to::<TaskState>(
        &state.commands,
        &ctx,
        target,
        body.assignee_id,
        body.occurred_at,
        |task_id, assignee| TaskCommand::Reassign { task_id, assignee },
    )
    .await?;
    Ok(Json(response))
}

/// `POST /tasks/{id}/complete` (the body may be left out).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTaskBody {
    /// What came of it.
    #[schema(max_length = 10000)]
    result: Option<String>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Marks a task done (at most once).
#[utoipa::path(post, path = "/tasks/{id}/complete", operation_id = "complete_task", tag = "tasks", request_body = Option<CompleteTaskBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<CompleteTaskBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Task, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let result = body.result.clone();
            async move {
                let task: TaskState = loader.load(EntityKind::Task, id).await?;
                let events = task.decide(TaskCommand::Complete {
                    task_id: id,
                    result,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}

/// `POST /tasks/{id}/cancel` (the body may be left out).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelTaskBody {
    /// Why.
    #[schema(max_length = 200)]
    reason: Option<String>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Calls a task off (at most once).
#[utoipa::path(post, path = "/tasks/{id}/cancel", operation_id = "cancel_task", tag = "tasks", request_body = Option<CancelTaskBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<CancelTaskBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Task, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let reason = body.reason.clone();
            async move {
                let task: TaskState = loader.load(EntityKind::Task, id).await?;
                let events = task.decide(TaskCommand::Cancel {
                    task_id: id,
                    reason,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}
