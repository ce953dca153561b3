//! Custom projections: analysts define, redefine and drop them (each change an event),
//! and query their rows.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use crm_domain::custom_projection::{self, CustomProjectionCommand, CustomProjectionState};
use crm_domain::{Aggregate, EntityKind};
use crm_projections::custom::{self, Cmp, CustomStatus, RowsQuery, RowsRefusal};
use crm_projections::ProjectionError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::access::{Role, CUSTOM_READERS};
use crate::auth::Actor;
use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::paging::page_limit;
use crate::read_model::{projection_error, OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;

/// A custom projection's definition (see docs/projections.md).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DefinitionDoc {
    /// Its name (POST only): 1-48 lowercase letters, digits or `_`.
    name: Option<String>,
    /// The event types it counts, e.g. `["InteractionLogged"]`.
    event_types: Vec<String>,
    /// `[{field, op, value}]`: every counted event meets all of them. `op`: eq, ne,
    /// in, not_in, gt, gte, lt, lte, exists, missing.
    filters: Option<Vec<Value>>,
    /// `[{name, field}]` or `[{name, bucket: day|week|month|quarter, time_zone}]`.
    group_by: Option<Vec<Value>>,
    /// `[{name, fn: count|count_distinct|sum|min|max|avg, field}]`.
    measures: Vec<Value>,
}

/// A custom projection: its definition and how far its generations are.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    status: CustomStatus,
}

/// What a definition change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionAccepted {
    /// The projection's name.
    name: String,
    /// The generation that will answer once built (unchanged when the definition was).
    generation: i64,
    /// The definition event's place in the log.
    #[serde(flatten)]
    command: CommandResponse,
}

/// May the actor change custom projections: analysts, directors and admins.
fn may_define(actor: &Actor) -> Result<(), ApiError> {
    actor
        .require(
            &[Role::Analyst, Role::Director, Role::Admin],
            "defining custom projections",
        )
        .map(|_| ())
        .map_err(ApiError::from)
}

/// The definition in `body` (without `name`), checked.
fn checked(mut body: Map<String, Value>) -> Result<Value, ApiError> {
    body.remove("name");
    let definition = Value::Object(body);
    custom::compile(&definition).map_err(ApiError::InvalidDefinition)?;
    Ok(definition)
}

async fn decide(
    state: &AppState,
    ctx: &CommandContext,
    name: &str,
    command: CustomProjectionCommand,
) -> Result<DefinitionAccepted, ApiError> {
    let id = custom_projection::id_of(name);
    let target = (EntityKind::Projection, id);
    let response = execute(&state.commands, ctx, target, None, |mut loader| {
        let command = command.clone();
        async move {
            let current: CustomProjectionState = loader.load(EntityKind::Projection, id).await?;
            let events = current.decide(command)?;
            Ok(Decision::new(loader, events))
        }
    })
    .await?;
    Ok(DefinitionAccepted {
        name: name.to_owned(),
        generation: response.version,
        command: response,
    })
}

/// Defines a custom projection; it is built from the whole log, then kept live.
#[utoipa::path(post, path = "/projections", tag = "projections", operation_id = "define_projection",
    request_body = DefinitionDoc,
    responses((status = 202, body = DefinitionAccepted), (status = 403), (status = 409, description = "the name is taken"),
        (status = 422, description = "the definition is invalid (`errors` names each bad part), \
            or as many custom projections are defined as the server allows (`too_many_projections`)")),
    security(("bearer" = [])))]
pub async fn define(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<DefinitionAccepted>), ApiError> {
    may_define(&ctx.actor)?;
    let name = match body.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            return Err(ApiError::InvalidDefinition(vec![custom::Problem {
                path: "name".into(),
                message: "give the projection a name (a string)".into(),
            }]))
        }
    };
    if state.projections.iter().any(|p| p.name() == name) {
        return Err(ApiError::Rule {
            code: "reserved_projection_name",
            detail: format!("{name} is the name of a built-in read model"),
        });
    }
    let definition = checked(body)?;
    let serial = one_definition_at_a_time(&state).await?;
    let others = custom::catalog::count_defined(&state.log, &name, state.min_position_wait)
        .await
        .map_err(|err| match err {
            ProjectionError::Lagging { name, position, .. } => ApiError::Lagging { name, position },
            other => projection_error(other),
        })?;
    let max = state.max_custom_projections;
    if usize::try_from(others).unwrap_or(usize::MAX) >= max {
        return Err(ApiError::Rule {
            code: TOO_MANY_PROJECTIONS,
            detail: format!(
                "{others} custom projections are defined, and this server allows {max}: \
                 drop one first"
            ),
        });
    }
    let accepted = decide(
        &state,
        &ctx,
        &name,
        CustomProjectionCommand::Define {
            name: name.clone(),
            definition,
        },
    )
    .await?;
    serial.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Waits for the right to define a custom projection, one request at a time across
/// servers, so that a burst cannot pass the cap together: a transaction's advisory
/// lock (gone with the transaction, however the request ends), tried again and
/// again rather than waited for, so that waiters hold no connection of the pool.
async fn one_definition_at_a_time(
    state: &AppState,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut tx = state.log.pool().begin().await?;
        let got: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext('crm: define a custom projection'))",
        )
        .fetch_one(&mut *tx)
        .await?;
        if got {
            return Ok(tx);
        }
        tx.rollback().await?;
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Overloaded { retry_after: 1 });
        }
        let pause = rand::random::<u64>() % 20 + 5;
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    }
}

/// The 422 code of a definition beyond the server's cap on custom projections.
pub const TOO_MANY_PROJECTIONS: &str = "too_many_projections";

/// Replaces a custom projection's definition: the new one is built beside the live
/// rows, which keep answering until it has caught up.
#[utoipa::path(put, path = "/projections/{name}", tag = "projections", operation_id = "redefine_projection",
    params(("name" = String, Path)), request_body = DefinitionDoc,
    responses((status = 202, body = DefinitionAccepted), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn redefine(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<DefinitionAccepted>), ApiError> {
    may_define(&ctx.actor)?;
    if let Some(given) = body.get("name") {
        if given.as_str() != Some(name.as_str()) {
            return Err(ApiError::InvalidDefinition(vec![custom::Problem {
                path: "name".into(),
                message: format!(
                    "the body names {given}, the path {name}: a projection cannot be renamed"
                ),
            }]));
        }
    }
    let definition = checked(body)?;
    let accepted = decide(
        &state,
        &ctx,
        &name,
        CustomProjectionCommand::Redefine {
            name: name.clone(),
            definition,
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Drops a custom projection and its rows (its definitions stay in the log).
#[utoipa::path(delete, path = "/projections/{name}", tag = "projections", operation_id = "drop_projection",
    params(("name" = String, Path)),
    responses((status = 202, body = DefinitionAccepted), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn drop(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<DefinitionAccepted>), ApiError> {
    may_define(&ctx.actor)?;
    let accepted = decide(
        &state,
        &ctx,
        &name,
        CustomProjectionCommand::Drop { name: name.clone() },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// A custom projection's definition and state.
#[utoipa::path(get, path = "/projections/{name}", tag = "projections", operation_id = "get_projection",
    params(("name" = String, Path)),
    responses((status = 200, body = CustomView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(OnlyMinPosition { read }): ApiQuery<OnlyMinPosition>,
) -> Result<Json<CustomView>, ApiError> {
    actor.require(CUSTOM_READERS, "reading custom projections")?;
    read.read_model(&state, custom::catalog::NAME).await?;
    let status = custom::custom_status(&state.log, Some(&name))
        .await
        .map_err(projection_error)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound {
            what: format!("custom projection {name}"),
        })?;
    Ok(Json(CustomView { status }))
}

/// A page of a custom projection's rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowsView {
    name: String,
    /// The generation answering.
    generation: i64,
    /// Each row: its keys and measures by name.
    items: Vec<Value>,
    next_cursor: Option<String>,
}

/// Rows of a custom projection: `col=v`, `col.gt|gte|lt|lte=v` filters, `order=a,-b`,
/// `limit`, `cursor`.
#[utoipa::path(get, path = "/projections/{name}/rows", tag = "projections", operation_id = "projection_rows",
    params(("name" = String, Path),
        ("order" = Option<String>, Query, description = "columns, `-` first for descending: `month,-calls`"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = RowsView), (status = 400), (status = 404),
        (status = 409, description = "still being built for the first time, or its stored definition is refused (`definition_refused`)")),
    security(("bearer" = [])))]
pub async fn rows(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(mut params): ApiQuery<HashMap<String, String>>,
) -> Result<Json<RowsView>, ApiError> {
    actor.require(CUSTOM_READERS, "reading custom projections' rows")?;
    let read = min_position(params.remove("min_position"))?;
    let query = rows_query(&params)?;
    read.custom(&state, &name).await?;
    let page = custom::rows(state.log.pool(), &name, &query)
        .await
        .map_err(projection_error)?;
    match page {
        Ok(page) => Ok(Json(RowsView {
            name,
            generation: page.generation,
            // An offset: only how many rows the caller has been shown.
            next_cursor: page
                .more
                .then(|| query.offset.saturating_add(query.limit).to_string()),
            items: page.rows,
        })),
        Err(RowsRefusal::Unknown) => Err(ApiError::NotFound {
            what: format!("custom projection {name}"),
        }),
        Err(RowsRefusal::BadQuery(detail)) => Err(ApiError::bad_request("invalid_query", detail)),
        Err(RowsRefusal::Refused(detail)) => Err(ApiError::DefinitionRefused { name, detail }),
        Err(RowsRefusal::Building) => {
            let status = custom::custom_status(&state.log, Some(&name))
                .await
                .map_err(projection_error)?;
            let building = status.into_iter().next().and_then(|s| s.building);
            Err(ApiError::Building {
                name,
                applied: building.as_ref().map_or(0, |b| b.events_applied),
                total: building.as_ref().map_or(0, |b| b.events_total),
            })
        }
    }
}

/// The `min_position` of the rows query (a parameter beside the columns' filters).
fn min_position(given: Option<String>) -> Result<ReadYourWrites, ApiError> {
    let min_position = given
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("min_position must be a whole number, not {text:?}"),
                )
            })
        })
        .transpose()?;
    Ok(ReadYourWrites { min_position })
}

/// The rows query of the request's parameters.
fn rows_query(params: &HashMap<String, String>) -> Result<RowsQuery, ApiError> {
    let limit = page_limit(params.get("limit").map(|l| l.parse::<i64>().unwrap_or(0)))?;
    let offset = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c.parse::<i64>().ok().filter(|o| *o >= 0).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("not a cursor: {c:?}"))
        })?,
    };
    let order = params
        .get("order")
        .map(|o| {
            o.split(',')
                .filter(|c| !c.is_empty())
                .map(|c| match c.strip_prefix('-') {
                    Some(col) => (col.to_owned(), true),
                    None => (c.to_owned(), false),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut filters = Vec::new();
    let mut names: Vec<&String> = params.keys().collect();
    names.sort();
    for param in names {
        if matches!(param.as_str(), "order" | "limit" | "cursor") {
            continue;
        }
        let (col, cmp) = Cmp::parse(param).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{param}: a filter is col=v or col.gt|gte|lt|lte=v"),
            )
        })?;
        filters.push((col.to_owned(), cmp, params[param].clone()));
    }
    Ok(RowsQuery {
        filters,
        order,
        limit,
        offset,
    })
}
