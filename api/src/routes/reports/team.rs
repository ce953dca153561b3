//! Reports on the team's work: overdue tasks and each manager's figures over a period.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::report_reach;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::read_model::{projection_error, ReadYourWrites};
use crate::routes::doc_types::TimeOrDate;
use crate::routes::report_rows;
use crate::state::AppState;
use crm_projections::managers::{figure_positions, Figure, FIGURES};

use super::period::{period, Bound};

/// Which overdue tasks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OverdueTasksQuery {
    /// The moment tasks are judged overdue at; default: the server's clock.
    now: Option<DateTime<Utc>>,
    /// Only tasks assigned to this manager.
    manager_id: Option<Uuid>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Overdue tasks of one manager.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueByManager {
    /// The assignee.
    manager_id: Uuid,
    /// The listed overdue tasks assigned to him.
    overdue: i64,
}

/// Open tasks past their due time.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueTasksView {
    /// The moment judged at (the query's `now`, or the server's clock).
    now: DateTime<Utc>,
    /// By `due_at`, then `task_id`.
    #[schema(value_type = Vec<report_rows::OverdueTask>)]
    tasks: Vec<crm_projections::tasks::OverdueTask>,
    /// The listed tasks counted per assignee: most overdue tasks first, then manager id.
    by_manager: Vec<OverdueByManager>,
}

/// Overdue tasks: open tasks past their due time.
///
/// Open tasks (neither completed nor cancelled) with `due_at < now` (the due time in
/// force now), by `due_at`, then `task_id`; and their count per assignee. Reach: a
/// task whose assignee, co-executor or observer is reached. Read model `tasks`.
#[utoipa::path(get, path = "/reports/overdue/tasks", tag = "reports", operation_id = "overdue_tasks_report",
    params(OverdueTasksQuery), responses((status = 200, body = OverdueTasksView, description = "The overdue tasks."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn overdue_tasks(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OverdueTasksQuery>,
) -> Result<Json<OverdueTasksView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    reach.narrow(query.manager_id)?;
    query
        .read
        .read_model(&state, crm_projections::tasks::NAME)
        .await?;
    let now = query.now.unwrap_or_else(Utc::now);
    let tasks = crm_projections::tasks::overdue_tasks(
        state.log.pool(),
        now,
        query.manager_id,
        reach.managers(),
    )
    .await
    .map_err(projection_error)?;
    let mut counts = std::collections::BTreeMap::<Uuid, i64>::new();
    for task in &tasks {
        *counts.entry(task.assignee_id).or_default() += 1;
    }
    let mut by_manager: Vec<OverdueByManager> = counts
        .into_iter()
        .map(|(manager_id, overdue)| OverdueByManager {
            manager_id,
            overdue,
        })
        .collect();
    by_manager.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then(a.manager_id.cmp(&b.manager_id))
    });
    Ok(Json(OverdueTasksView {
        now,
        tasks,
        by_manager,
    }))
}

/// Which managers, over which period.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ManagersQuery {
    /// Period start (inclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    from: Bound,
    /// Period end (exclusive, after `from`): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    to: Bound,
    /// Only this manager.
    manager_id: Option<Uuid>,
    /// Only managers of this department (exact match).
    department: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// The read models the managers report reads: the figures, and the clients' merges.
pub(in crate::routes) const MANAGERS_MODELS: &[&str] = &[
    crm_projections::managers::NAME,
    crm_projections::clients::NAME,
];

/// Every registered manager's figures over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManagersView {
    /// The period's start (inclusive), as a time.
    from: DateTime<Utc>,
    /// The period's end (exclusive), as a time.
    to: DateTime<Utc>,
    /// One row per registered manager in reach (and of `manager_id`, `department`), by
    /// name (code point order), then id.
    #[schema(value_type = Vec<report_rows::ManagerKpis>)]
    managers: Vec<crm_projections::managers::ManagerKpis>,
}

/// Manager KPIs: each manager's activity and results over a period.
///
/// One row per registered manager (of `manager_id`, of `department`), by name, then id,
/// with the events that occurred in `[from, to)`: interactions for their `manager_id`,
/// the rest for the lead's, deal's or task's manager at the time of the event.
/// `calls_per_client`: calls with a client / distinct clients among them, 2 decimals;
/// `win_rate`: won / (won + lost), 4 decimals; null when undefined.
/// `tasks_completed_late`: completed after the `due_at` then in force. Distinct clients
/// count a merged client as its survivor. Reach: the rows of the managers reached.
/// Read models `manager_kpis` and `clients` (merges).
#[utoipa::path(get, path = "/reports/managers", tag = "reports", operation_id = "managers_report",
    params(ManagersQuery), responses((status = 200, body = ManagersView, description = "The managers' figures."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn managers(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ManagersQuery>,
) -> Result<Json<ManagersView>, ApiError> {
    let (from, to) = period(query.from, query.to)?;
    query.read.read_models(&state, MANAGERS_MODELS).await?;
    let filter = crm_projections::managers::ManagerKpisFilter {
        managers: report_reach(&state, &actor)
            .await?
            .narrow(query.manager_id)?,
        department: query.department,
    };
    let managers = crm_projections::managers::manager_kpis(state.log.pool(), from, to, &filter)
        .await
        .map_err(projection_error)?;
    Ok(Json(ManagersView { from, to, managers }))
}

/// Which of a manager's counted events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FigureEventsQuery {
    /// The figure of `GET /reports/managers` whose events to list.
    #[param(value_type = crate::routes::doc_types::ManagerFigureDoc, inline)]
    figure: String,
    /// Period start (inclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    from: Bound,
    /// Period end (exclusive, after `from`): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    to: Bound,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size (default 100, at most 1000; 200 for managers and heads).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of the events behind one figure of one manager.
#[derive(Debug, Serialize, ToSchema)]
pub struct FigureEventsView {
    /// The manager.
    manager_id: Uuid,
    /// The figure.
    figure: &'static str,
    /// The period's start (inclusive), as a time.
    from: DateTime<Utc>,
    /// The period's end (exclusive), as a time.
    to: DateTime<Utc>,
    /// The events, as `GET /events` shows them, by position.
    items: Vec<crate::event_view::EventView>,
    /// Where the next page starts (the last event's position); null at the end.
    next_cursor: Option<String>,
}

/// The events behind a figure: what makes one count of the manager KPIs report.
///
/// The events that the figure `figure` of `GET /reports/managers` counts for the
/// manager over `[from, to)` (the same period, the same attribution: interactions by
/// their `manager_id`, the rest by the manager responsible at the time), by position:
/// as many as the count (for `call_seconds` the calls whose durations it sums, for
/// `won_amount` the wins whose amounts it sums; `clients_contacted`: the period's first
/// interaction with each distinct client; `calls_per_client`: the calls with a client;
/// `win_rate`: the wins and losses; a merged client counts as its survivor, as in the
/// report). Reach: a manager reached. Read models `manager_kpis` and `clients`.
#[utoipa::path(get, path = "/managers/{id}/events", tag = "reports", operation_id = "manager_figure_events",
    params(("id" = Uuid, Path), FigureEventsQuery),
    responses((status = 200, body = FigureEventsView, description = "The events behind the figure."), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn figure_events(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<FigureEventsQuery>,
) -> Result<Json<FigureEventsView>, ApiError> {
    report_reach(&state, &actor).await?.narrow(Some(id))?;
    let figure = Figure::parse(&query.figure).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "figure must be one of {}, not {:?}",
                FIGURES.map(|(n, _)| n).join(", "),
                query.figure
            ),
        )
    })?;
    let (from, to) = period(query.from, query.to)?;
    let limit = crate::access::list_limit(&actor, query.limit)?;
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| crate::paging::invalid_cursor(c))?,
    };
    query.read.read_models(&state, MANAGERS_MODELS).await?;
    let pool = state.log.pool();
    if crm_projections::managers::team_member(pool, id)
        .await
        .map_err(projection_error)?
        .is_none()
    {
        return Err(ApiError::NotFound {
            what: format!("manager {id}"),
        });
    }
    // One more than a page: whether there is a next one.
    let mut positions = figure_positions(pool, id, figure, (from, to), after, limit + 1)
        .await
        .map_err(projection_error)?;
    let more = positions.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    positions.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut events = state.log.events_at(&positions).await?;
    crm_projections::personal::reveal_current(&state.log, &mut events).await?;
    let next_cursor = more.then(|| positions.last().map(i64::to_string)).flatten();
    Ok(Json(FigureEventsView {
        manager_id: id,
        figure: figure.name(),
        from,
        to,
        items: crate::routes::log::views(state.hidden.of(&actor), events),
        next_cursor,
    }))
}

/// Read-your-writes only.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskPeopleQuery {
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Each manager's part in the open tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPeopleView {
    /// One row per registered manager in reach, by name, then id.
    #[schema(value_type = Vec<report_rows::TaskPeople>)]
    managers: Vec<crm_projections::tasks::TaskPeople>,
}

/// The read models the task people report reads.
pub(in crate::routes) const TASK_PEOPLE_MODELS: &[&str] = &[
    crm_projections::tasks::NAME,
    crm_projections::managers::NAME,
];

/// Task people: who scheduled, does, helps with and watches the open tasks.
///
/// Per registered manager (those in reach), the open tasks (neither completed nor
/// cancelled) he scheduled (the actor of their TaskScheduled: `assigned`), is the
/// assignee of (`doing`), a co-executor of (`helping`), an observer of
/// (`observing`); by name, then id. Read models `tasks` and `manager_kpis`.
#[utoipa::path(get, path = "/reports/tasks/people", tag = "reports", operation_id = "task_people_report",
    params(TaskPeopleQuery), responses((status = 200, body = TaskPeopleView, description = "Each manager's part in the open tasks."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn task_people(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TaskPeopleQuery>,
) -> Result<Json<TaskPeopleView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query.read.read_models(&state, TASK_PEOPLE_MODELS).await?;
    let managers = crm_projections::tasks::task_people(state.log.pool(), reach.managers())
        .await
        .map_err(projection_error)?;
    Ok(Json(TaskPeopleView { managers }))
}
