//! Commands on leads: capture, assign, convert (into a deal, and a client when
//! needed), reject.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use crm_domain::client::ClientState;
use crm_domain::conversion::ConvertLead;
use crm_domain::deal::DealState;
use crm_domain::lead::{CaptureLead, LeadCommand, LeadState};
use crm_domain::manager::ManagerState;
use crm_domain::values::ClientKind;
use crm_domain::{Aggregate, DomainError, EntityKind, Ref};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{assign as assign_to, execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::routes::created;
use crate::state::AppState;

/// The kind of the client a conversion registers from a lead: a lead is a person's
/// request (a name, a phone, an email), so the new client is that person.
const CONVERTED_CLIENT_KIND: ClientKind = ClientKind::Person;

/// `POST /leads`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureLeadBody {
    /// The new lead's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// Where it came from (site, ad campaign, referral…).
    #[schema(max_length = 200)]
    source: String,
    /// The channel it came through (form, call, chat…).
    #[schema(max_length = 200)]
    channel: Option<String>,
    /// The person's name.
    #[schema(max_length = 200)]
    name: String,
    #[schema(max_length = 200)]
    phone: Option<String>,
    #[schema(max_length = 200)]
    email: Option<String>,
    /// The existing client the request is from: must exist.
    client_id: Option<Uuid>,
    /// A manager to assign at once (adds a `LeadAssigned`): must exist and be active.
    manager_id: Option<Uuid>,
    /// Business time of the fact, also the lead's `received_at`; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Captures a lead (`LeadCaptured`, plus `LeadAssigned` when `manager_id` is given).
#[utoipa::path(post, path = "/leads", operation_id = "capture_lead", tag = "leads", request_body = CaptureLeadBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn capture(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CaptureLeadBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    // The log keeps microseconds: `received_at` must be the very `occurred_at` stored.
    let received_at = body.occurred_at.unwrap_or_else(Utc::now).trunc_subsecs(6);
    let target = (EntityKind::Lead, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        Some(received_at),
        |mut loader| {
            let body = body.clone();
            async move {
                let lead: LeadState = loader.load(EntityKind::Lead, id).await?;
                let client = loader
                    .optional_reference(EntityKind::Client, body.client_id)
                    .await?;
                let manager = loader
                    .optional_reference(EntityKind::Manager, body.manager_id)
                    .await?;
                let events = lead.decide(LeadCommand::Capture(CaptureLead {
                    lead_id: id,
                    source: body.source,
                    channel: body.channel,
                    name: body.name,
                    phone: body.phone,
                    email: body.email,
                    client,
                    manager,
                    received_at,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}

/// `POST /leads/{id}/assign`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignLeadBody {
    /// The manager to answer the lead: must exist and be active.
    manager_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Gives a lead to a manager.
#[utoipa::path(post, path = "/leads/{id}/assign", operation_id = "assign_lead", tag = "leads", request_body = AssignLeadBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn assign(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignLeadBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Lead, id);
    let response = assign_to::<LeadState>(
        &state.commands,
        &ctx,
        target,
        body.manager_id,
        body.occurred_at,
        |lead_id, manager| LeadCommand::Assign { lead_id, manager },
    )
    .await?;
    Ok(Json(response))
}

/// `POST /leads/{id}/reject`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectLeadBody {
    /// Why, not blank.
    #[schema(max_length = 200)]
    reason: String,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Turns a lead down.
#[utoipa::path(post, path = "/leads/{id}/reject", operation_id = "reject_lead", tag = "leads", request_body = RejectLeadBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RejectLeadBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Lead, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let reason = body.reason.clone();
            async move {
                let lead: LeadState = loader.load(EntityKind::Lead, id).await?;
                let events = lead.decide(LeadCommand::Reject {
                    lead_id: id,
                    reason,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}

/// The deal a conversion opens.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertLeadDealBody {
    /// The new deal's id; default: a new one.
    id: Option<Uuid>,
    /// Its pipeline: must exist.
    pipeline_id: Uuid,
    /// Its stage, one of the pipeline's; default: the pipeline's first.
    stage_id: Option<Uuid>,
    /// Title, not blank.
    #[schema(max_length = 200)]
    title: String,
    /// Amount in minor units, not negative, at most 10^15 (`amount_too_large`).
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    /// When it is expected to close (`YYYY-MM-DD`).
    expected_close_on: Option<NaiveDate>,
}

/// `POST /leads/{id}/convert`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertLeadBody {
    /// The deal's client: must exist. Default: the lead's client, else a client
    /// (a `person`) registered from the lead's name, contacts, manager and source.
    client_id: Option<Uuid>,
    /// The deal to open; it takes the lead's manager and source.
    deal: ConvertLeadDealBody,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Converts a lead into a deal: `LeadConverted`, `DealOpened` and, when the lead
/// has no client, `ClientRegistered`, appended together or not at all. The
/// response is about the lead's stream.
#[utoipa::path(post, path = "/leads/{id}/convert", operation_id = "convert_lead", tag = "leads", request_body = ConvertLeadBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn convert(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ConvertLeadBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let deal_id = body.deal.id.unwrap_or_else(|| ctx.new_id_for("deal", 0));
    let new_client_id = ctx.new_id_for("client", 0);
    let target = (EntityKind::Lead, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let lead: LeadState = loader.load(EntityKind::Lead, id).await?;
                let manager: ManagerState = match lead.entity().and_then(|l| l.manager_id) {
                    Some(manager_id) => loader.load(EntityKind::Manager, manager_id).await?,
                    None => ManagerState::default(),
                };
                let client = loader
                    .optional_reference(EntityKind::Client, body.client_id)
                    .await?;
                // Without a client in the request the deal is the lead's client's, or a
                // new client's (registered for the lead's manager).
                match (&client, lead.entity().and_then(|l| l.client_id)) {
                    (Some(_), _) => {}
                    (None, Some(own)) => {
                        loader.load::<ClientState>(EntityKind::Client, own).await?;
                    }
                    (None, None) => {
                        loader.fresh::<ClientState>(EntityKind::Client, new_client_id);
                    }
                }
                let pipeline_id = body.deal.pipeline_id;
                let pipeline = Ref::new(pipeline_id, loader.load_pipeline(pipeline_id).await?);
                // The domain cannot see the new deal's stream: a deal id given twice
                // must not open a second deal on top of the first.
                let deal: DealState = loader.load(EntityKind::Deal, deal_id).await?;
                let events = lead.decide(LeadCommand::Convert(ConvertLead {
                    lead_id: id,
                    client,
                    new_client_id,
                    new_client_kind: CONVERTED_CLIENT_KIND,
                    manager,
                    deal_id,
                    pipeline,
                    stage_id: body.deal.stage_id,
                    title: body.deal.title,
                    amount: body.deal.amount,
                    expected_close_on: body.deal.expected_close_on,
                }))?;
                if deal.id().is_some() {
                    return Err(DomainError::AlreadyExists {
                        entity: "deal",
                        id: deal_id,
                    }
                    .into());
                }
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}
