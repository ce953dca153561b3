//! Tasks, from the `tasks` read model (their clients' names from `clients`, their
//! deals' titles from `deals`): `GET /tasks` and `GET /tasks/{id}`, for those who
//! are assignee, co-executor or observer within the reader's reach. The commands on
//! tasks are in `tasks.rs`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_projections::tasks::{list_tasks, task, TaskRow, NAME as TASKS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{entity_reach, list_limit, within_reach};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::hidden::Hidden;
use crate::paging::{after_id, next_page};
use crate::read_model::{projection_error, OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;

/// The read models a task answer draws from.
pub(super) const MODELS: &[&str] = &[
    TASKS,
    crm_projections::clients::NAME,
    crm_projections::deals::NAME,
];

/// A task as it stands.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `TaskRow` as served; never built itself.
pub struct TaskView {
    id: Uuid,
    title: String,
    kind: String,
    /// Who must do it.
    assignee_id: Uuid,
    due_at: DateTime<Utc>,
    /// `open`, `completed` or `cancelled`.
    #[schema(value_type = super::doc_types::TaskStatusDoc, inline)]
    status: String,
    client_id: Option<Uuid>,
    /// The client's name: absent when hidden from the token's role, null when the
    /// client is outside the token's reach.
    client_name: Option<String>,
    deal_id: Option<Uuid>,
    /// The deal's title: null when the deal is outside the token's reach.
    deal_title: Option<String>,
    co_executor_ids: Vec<Uuid>,
    observer_ids: Vec<Uuid>,
    /// When it was completed (business time); null unless completed.
    completed_at: Option<DateTime<Utc>>,
    /// What came of it.
    result: Option<String>,
    /// The task stream's version.
    version: i64,
}

/// A task as `hidden` lets it be seen.
fn shown(hidden: &Hidden, row: TaskRow) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    hidden.strip_client_name(&mut value);
    value
}

/// Which tasks to list, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskListQuery {
    assignee_id: Option<Uuid>,
    /// `open`, `completed` or `cancelled`.
    #[param(value_type = Option<super::doc_types::TaskStatusDoc>, inline)]
    status: Option<String>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    /// The tasks (without the fields hidden from the token's role).
    #[schema(value_type = Vec<TaskView>)]
    items: Vec<Value>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// Tasks, of an assignee and in a status if given, by id, a page at a time.
#[utoipa::path(get, path = "/tasks", tag = "tasks", operation_id = "list_tasks", params(TaskListQuery),
    responses((status = 200, body = TaskPage), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TaskListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    // An assignee out of reach is no 403: the list shows the tasks of his that the
    // actor co-executes or observes.
    let limit = list_limit(&actor, query.limit)?;
    let status = crate::extract::status_filter(query.status.as_deref())?;
    let after = after_id(query.cursor.as_deref())?;
    query.read.read_models(&state, MODELS).await?;
    let mut rows = list_tasks(
        state.log.pool(),
        query.assignee_id,
        reach.managers(),
        status,
        after,
        limit + 1,
    )
    .await
    .map_err(projection_error)?;
    let next_cursor = next_page(&mut rows, limit, |t| t.task_id);
    let hidden = state.hidden.of(&actor);
    Ok(Json(TaskPage {
        items: rows.into_iter().map(|t| shown(hidden, t)).collect(),
        next_cursor,
    }))
}

/// A task as it stands.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", operation_id = "get_task",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TaskView), (status = 400), (status = 403), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OnlyMinPosition>,
) -> Result<Json<Value>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    query.read.read_models(&state, MODELS).await?;
    let row = task(state.log.pool(), id, reach.managers())
        .await
        .map_err(projection_error)?;
    let row = within_reach(&reach, &format!("task {id}"), row, |t| {
        std::iter::once(t.assignee_id)
            .chain(t.co_executor_ids.iter().copied())
            .chain(t.observer_ids.iter().copied())
            .collect()
    })?;
    Ok(Json(shown(state.hidden.of(&actor), row)))
}
