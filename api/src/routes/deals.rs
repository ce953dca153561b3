//! Deals: the commands that move them, and the deal as it stands (or stood).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::client::ClientState;
use crm_domain::deal::{DealCommand, DealState, OpenDeal};
use crm_domain::lead::LeadState;
use crm_domain::manager::ManagerState;
use crm_domain::pipeline::PipelineState;
use crm_domain::{Aggregate, EntityKind, Ref};
use crm_eventlog::StreamBound;
use crm_projections::deals::DealStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{entity_reach, list_limit, out_of_reach};
use crate::auth::Actor;
use crate::commands::{
    assign as assign_to, execute, CommandContext, CommandError, CommandResponse, Decision, Loader,
};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::read_model::ReadYourWrites;
use crate::routes::created;
use crate::state::AppState;

/// `POST /deals`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDealBody {
    /// The deal's id; default: a new one.
    id: Option<Uuid>,
    client_id: Uuid,
    pipeline_id: Uuid,
    /// Default: the pipeline's first stage.
    stage_id: Option<Uuid>,
    #[schema(max_length = 200)]
    title: String,
    /// Minor units (cents, kopecks), at most 10^15 (`amount_too_large`).
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    manager_id: Uuid,
    #[schema(max_length = 200)]
    source: Option<String>,
    expected_close_on: Option<NaiveDate>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Opens a deal for a client in a pipeline.
#[utoipa::path(
    operation_id = "open_deal",post, path = "/deals", tag = "deals", request_body = OpenDealBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn open(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<OpenDealBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let target = (EntityKind::Deal, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let deal: DealState = loader.load(EntityKind::Deal, id).await?;
                let client: Ref<ClientState> =
                    loader.reference(EntityKind::Client, body.client_id).await?;
                let pipeline: PipelineState = loader.load_pipeline(body.pipeline_id).await?;
                let manager: Ref<ManagerState> = loader
                    .reference(EntityKind::Manager, body.manager_id)
                    .await?;
                let events = deal.decide(DealCommand::Open(OpenDeal {
                    deal_id: id,
                    client,
                    pipeline: Ref::new(body.pipeline_id, pipeline),
                    stage_id: body.stage_id,
                    title: body.title,
                    amount: body.amount,
                    manager,
                    source: body.source,
                    expected_close_on: body.expected_close_on,
                    lead: None::<Ref<LeadState>>,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}

/// The deal and its pipeline, for commands that need the pipeline's stages.
async fn deal_and_pipeline(
    loader: &mut Loader,
    id: Uuid,
) -> Result<(DealState, PipelineState), CommandError> {
    let deal: DealState = loader.load(EntityKind::Deal, id).await?;
    let pipeline = match &deal.deal {
        Some(d) => loader.load_pipeline(d.pipeline_id).await?,
        None => PipelineState::default(),
    };
    Ok((deal, pipeline))
}

/// Decides `command(deal)` on the deal `id` and appends the result.
async fn run_deal_command<F>(
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    occurred_at: Option<DateTime<Utc>>,
    command: F,
) -> Result<Json<CommandResponse>, ApiError>
where
    F: Fn(&mut Loader, DealState, PipelineState) -> Result<(DealState, DealCommand), CommandError>
        + Clone,
{
    let target = (EntityKind::Deal, id);
    let response = execute(&state.commands, ctx, target, occurred_at, |mut loader| {
        let command = command.clone();
        async move {
            let (deal, pipeline) = deal_and_pipeline(&mut loader, id).await?;
            let (deal, cmd) = command(&mut loader, deal, pipeline)?;
            let events = deal.decide(cmd)?;
            Ok(Decision::new(loader, events))
        }
    })
    .await?;
    Ok(Json(response))
}

/// `POST /deals/{id}/stage`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStageBody {
    /// A stage of the deal's pipeline.
    stage_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Moves a deal to another stage of its pipeline.
#[utoipa::path(
    operation_id = "change_deal_stage",post, path = "/deals/{id}/stage", tag = "deals", request_body = ChangeStageBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn change_stage(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeStageBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    run_deal_command(
        &state,
        &ctx,
        id,
        body.occurred_at,
        move |_, deal, pipeline| {
            Ok((
                deal,
                DealCommand::ChangeStage {
                    deal_id: id,
                    stage_id: body.stage_id,
                    pipeline,
                },
            ))
        },
    )
    .await
}

/// `POST /deals/{id}/amount`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAmountBody {
    /// Minor units, not negative, at most 10^15 (`amount_too_large`).
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Changes a deal's amount.
#[utoipa::path(
    operation_id = "change_deal_amount",post, path = "/deals/{id}/amount", tag = "deals", request_body = ChangeAmountBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn change_amount(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeAmountBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    run_deal_command(&state, &ctx, id, body.occurred_at, move |_, deal, _| {
        Ok((
            deal,
            DealCommand::ChangeAmount {
                deal_id: id,
                amount: body.amount,
            },
        ))
    })
    .await
}

/// `POST /deals/{id}/assign`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The new responsible manager: must exist and be active.
    manager_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Hands a deal to another manager.
#[utoipa::path(
    operation_id = "assign_deal",post, path = "/deals/{id}/assign", tag = "deals", request_body = AssignBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn assign(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Deal, id);
    let response = assign_to::<DealState>(
        &state.commands,
        &ctx,
        target,
        body.manager_id,
        body.occurred_at,
        |deal_id, manager| DealCommand::Reassign { deal_id, manager },
    )
    .await?;
    Ok(Json(response))
}

/// `POST /deals/{id}/win`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WinBody {
    /// The amount won, at most 10^15 (`amount_too_large`); default: the deal's
    /// current amount.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount: Option<i64>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Marks a deal won.
#[utoipa::path(
    operation_id = "win_deal",post, path = "/deals/{id}/win", tag = "deals", request_body = Option<WinBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn win(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<WinBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    run_deal_command(&state, &ctx, id, body.occurred_at, move |_, deal, _| {
        Ok((
            deal,
            DealCommand::Win {
                deal_id: id,
                amount: body.amount,
            },
        ))
    })
    .await
}

/// `POST /deals/{id}/lose`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoseBody {
    /// Why the deal was lost (price, delivery time, …).
    #[schema(max_length = 200)]
    reason: String,
    #[schema(max_length = 10000)]
    comment: Option<String>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Marks a deal lost, with the reason.
#[utoipa::path(
    operation_id = "lose_deal",post, path = "/deals/{id}/lose", tag = "deals", request_body = LoseBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn lose(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<LoseBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    run_deal_command(&state, &ctx, id, body.occurred_at, move |_, deal, _| {
        Ok((
            deal,
            DealCommand::Lose {
                deal_id: id,
                reason: body.reason.clone(),
                comment: body.comment.clone(),
            },
        ))
    })
    .await
}

/// `POST /deals/{id}/reopen`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    /// The stage to reopen at; default: the stage it had.
    stage_id: Option<Uuid>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Reopens a won or lost deal.
#[utoipa::path(
    operation_id = "reopen_deal",post, path = "/deals/{id}/reopen", tag = "deals", request_body = Option<ReopenBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<ReopenBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    run_deal_command(
        &state,
        &ctx,
        id,
        body.occurred_at,
        move |_, deal, pipeline| {
            Ok((
                deal,
                DealCommand::Reopen {
                    deal_id: id,
                    stage_id: body.stage_id,
                    pipeline,
                },
            ))
        },
    )
    .await
}

/// A deal as it stands, or as it stood at a time or version.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealView {
    id: Uuid,
    client_id: Uuid,
    pipeline_id: Uuid,
    stage_id: Uuid,
    title: String,
    amount: i64,
    manager_id: Uuid,
    source: Option<String>,
    /// `open`, `won` or `lost`.
    #[schema(value_type = String)]
    status: DealStatus,
    expected_close_on: Option<NaiveDate>,
    /// The deal stream's version this state is at.
    version: i64,
    /// Its lines as they stand (or stood, with `as_of` or `version`), in the order
    /// they were added: on `GET /deals/{id}`, not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<Vec<DealLineView>>,
}

/// One line of a deal.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealLineView {
    line_id: Uuid,
    product_id: Uuid,
    quantity: i64,
    /// The unit price, minor units.
    price: i64,
    /// quantity × price, minor units.
    amount: i64,
}

/// Which state of a deal to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DealQuery {
    /// The deal as it stood at this business time (events with `occurred_at <= as_of`).
    as_of: Option<DateTime<Utc>>,
    /// The deal as it stood at this version of its stream.
    #[param(minimum = 1)]
    version: Option<i64>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A deal, folded from its stream: as it stands, or `as_of` a time, or at a `version`.
#[utoipa::path(
    operation_id = "get_deal",get, path = "/deals/{id}", tag = "deals", params(("id" = Uuid, Path), DealQuery),
    responses((status = 200, body = DealView), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DealQuery>,
) -> Result<Json<DealView>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    // Folded from the log: read after the asked position was committed.
    query.read.log(&state).await?;
    let stream = EntityKind::Deal.stream(id);
    let bound = match (query.as_of, query.version) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give as_of or version, not both",
            ))
        }
        (Some(t), None) => StreamBound::OccurredAt(t),
        (None, Some(v)) if v >= 1 => StreamBound::Version(v),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "version starts at 1",
            ))
        }
        (None, None) => StreamBound::Version(i64::MAX),
    };
    let not_found = || ApiError::NotFound {
        what: format!("deal {id}"),
    };
    let events = state
        .log
        .read_stream_until(&stream, bound)
        .await
        .map_err(|e| match e {
            crm_eventlog::EventLogError::NotFound { .. } => not_found(),
            other => other.into(),
        })?;
    let version = events.last().map_or(0, |e| e.version);
    let deal = DealState::fold(&super::streams::decoded(events)?);
    // Not yet opened at that time or version.
    let d = deal.deal.ok_or_else(not_found)?;
    if !reach.covers_manager(d.manager_id) {
        return Err(out_of_reach(&format!("deal {id}")));
    }
    Ok(Json(DealView {
        id: d.id,
        client_id: d.client_id,
        pipeline_id: d.pipeline_id,
        stage_id: d.stage_id,
        title: d.title,
        amount: d.amount,
        manager_id: d.manager_id,
        source: d.source,
        status: d.status.into(),
        expected_close_on: d.expected_close_on,
        version,
        lines: Some(
            d.lines
                .iter()
                .map(|l| DealLineView {
                    line_id: l.line_id,
                    product_id: l.product_id,
                    quantity: l.quantity,
                    price: l.price,
                    amount: l.amount(),
                })
                .collect(),
        ),
    }))
}

/// Which deals to list, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DealListQuery {
    pipeline_id: Option<Uuid>,
    stage_id: Option<Uuid>,
    manager_id: Option<Uuid>,
    client_id: Option<Uuid>,
    /// `open`, `won` or `lost`.
    status: Option<String>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
    /// The deals as they stood at this business time (events with
    /// `occurred_at <= as_of`); filters apply to that state.
    as_of: Option<DateTime<Utc>>,
}

/// A deal of a list: as it stands (or stood), with the names a person reads.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealListItem {
    #[serde(flatten)]
    deal: DealView,
    /// The client's name: absent when hidden from the token's role, null when the
    /// client is outside the token's reach.
    client_name: Option<String>,
    /// The stage's name.
    stage_name: Option<String>,
    /// The manager's name.
    manager_name: Option<String>,
}

/// A page of deals.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealPage {
    /// The deals (without the fields hidden from the token's role).
    #[schema(value_type = Vec<DealListItem>)]
    items: Vec<serde_json::Value>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// The read models a deal list draws from (the names from the clients' and the
/// managers').
pub(super) const LIST_MODELS: &[&str] = &[
    crm_projections::deals::NAME,
    crm_projections::clients::NAME,
    crm_projections::managers::NAME,
];

/// Deals matching the filters, by id, a page at a time, each with its client's,
/// stage's and manager's names.
#[utoipa::path(get, path = "/deals", tag = "deals", operation_id = "list_deals", params(DealListQuery),
    responses((status = 200, body = DealPage), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DealListQuery>,
) -> Result<Json<DealPage>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    let managers = reach.narrow(query.manager_id)?;
    let limit = list_limit(&actor, query.limit)?;
    query.read.read_models(&state, LIST_MODELS).await?;
    let status = crate::extract::status_filter(query.status.as_deref())?;
    let after = crate::paging::after_id(query.cursor.as_deref())?;
    let filter = crm_projections::deals::DealFilter {
        pipeline_id: query.pipeline_id,
        stage_id: query.stage_id,
        managers,
        client_id: query.client_id,
        status,
        reach: reach.managers().map(<[Uuid]>::to_vec),
    };
    let pool = state.log.pool();
    let mut rows = match query.as_of {
        None => crm_projections::deals::list_deals(pool, &filter, after, limit + 1).await,
        Some(as_of) => {
            crm_projections::deals::list_deals_as_of(pool, &filter, as_of, after, limit + 1).await
        }
    }
    .map_err(crate::read_model::projection_error)?;
    let next_cursor = crate::paging::next_page(&mut rows, limit, |d| d.deal_id);
    let hidden = state.hidden.of(&actor);
    let items = rows
        .into_iter()
        .map(|d| {
            let item = DealListItem {
                deal: DealView {
                    id: d.deal_id,
                    client_id: d.client_id,
                    pipeline_id: d.pipeline_id,
                    stage_id: d.stage_id,
                    title: d.title,
                    amount: d.amount,
                    manager_id: d.manager_id,
                    source: d.source,
                    status: d.status,
                    expected_close_on: d.expected_close_on,
                    version: d.version,
                    lines: None,
                },
                client_name: d.client_name,
                stage_name: d.stage_name,
                manager_name: d.manager_name,
            };
            let mut value = serde_json::to_value(item).unwrap_or(serde_json::Value::Null);
            hidden.strip_client_name(&mut value);
            value
        })
        .collect();
    Ok(Json(DealPage { items, next_cursor }))
}
