//! Commands on managers: register, deactivate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crm_domain::client::ClientState;
use crm_domain::deal::DealState;
use crm_domain::handover::Handover;
use crm_domain::lead::LeadState;
use crm_domain::manager::{ManagerCommand, ManagerState};
use crm_domain::task::TaskState;
use crm_domain::values::Role;
use crm_domain::Ref;
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandError, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::OnlyBusinessTime;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath};
use crate::routes::created;
use crate::state::AppState;

/// `POST /managers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterManager {
    /// The new manager's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    #[schema(max_length = 200)]
    name: String,
    #[schema(max_length = 200)]
    department: String,
    /// `manager`, `head`, `director`, `admin`, `auditor` or `analyst`.
    #[schema(value_type = super::doc_types::RoleDoc, inline)]
    role: Role,
    #[schema(max_length = 200)]
    email: Option<String>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Registers a manager.
#[utoipa::path(
    operation_id = "register_manager",post, path = "/managers", tag = "managers", request_body = RegisterManager,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<RegisterManager>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let target = (EntityKind::Manager, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let manager: ManagerState = loader.load(EntityKind::Manager, id).await?;
                let events = manager.decide(ManagerCommand::Register {
                    manager_id: id,
                    name: body.name,
                    email: body.email,
                    department: body.department,
                    role: body.role,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}

/// Deactivates a manager: he can no longer be assigned anything.
#[utoipa::path(
    operation_id = "deactivate_manager",post, path = "/managers/{id}/deactivate", tag = "managers", request_body = Option<OnlyBusinessTime>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<OnlyBusinessTime>,
) -> Result<Json<CommandResponse>, ApiError> {
    let (target, at) = ((EntityKind::Manager, id), body.occurred_at);
    let response = execute(&state.commands, &ctx, target, at, |mut loader| async move {
        let manager: ManagerState = loader.load(EntityKind::Manager, id).await?;
        let events = manager.decide(ManagerCommand::Deactivate { manager_id: id })?;
        Ok(Decision::new(loader, events))
    })
    .await?;
    Ok(Json(response))
}

/// `POST /managers/{id}/handover`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    /// The manager who takes over: must exist and be active.
    to_manager_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// The event types that give a client, deal, task or lead to a manager, and the
/// payload field naming him.
const GIVING: [(&str, &str, EntityKind, &str); 7] = [
    (
        "ClientRegistered",
        "manager_id",
        EntityKind::Client,
        "client_id",
    ),
    (
        "ClientReassigned",
        "to_manager_id",
        EntityKind::Client,
        "client_id",
    ),
    ("DealOpened", "manager_id", EntityKind::Deal, "deal_id"),
    (
        "DealReassigned",
        "to_manager_id",
        EntityKind::Deal,
        "deal_id",
    ),
    ("TaskScheduled", "assignee_id", EntityKind::Task, "task_id"),
    (
        "TaskReassigned",
        "to_assignee_id",
        EntityKind::Task,
        "task_id",
    ),
    ("LeadAssigned", "manager_id", EntityKind::Lead, "lead_id"),
];

/// Every client, deal, task and lead that was ever given to `manager`, from the log.
async fn ever_given_to(
    state: &AppState,
    manager: Uuid,
) -> Result<Vec<(EntityKind, Uuid)>, CommandError> {
    let types: Vec<String> = GIVING.iter().map(|g| g.0.to_owned()).collect();
    let manager = manager.to_string();
    let mut found = BTreeMap::new();
    let mut after = 0;
    loop {
        // A snapshot read, not the feed: a running transaction elsewhere must not hide any.
        let page = state.log.read_types(&types, after, 10_000).await?;
        for event in &page {
            let Some((_, field, kind, id_field)) = GIVING.iter().find(|g| g.0 == event.event_type)
            else {
                continue;
            };
            if event.data.get(*field).and_then(|v| v.as_str()) == Some(manager.as_str()) {
                if let Some(id) = event
                    .data
                    .get(*id_field)
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse().ok())
                {
                    found.insert(kind.stream(id), (*kind, id));
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 10_000 => after = last.position,
            _ => break,
        }
    }
    Ok(found.into_values().collect())
}

/// Hands every client, open deal, open task and open lead of a manager to another
/// (when one leaves): one reassignment event each, all in one transaction.
#[utoipa::path(
    operation_id = "hand_over_manager_book",post, path = "/managers/{id}/handover", tag = "managers", request_body = HandoverBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn handover(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<HandoverBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let to = body.to_manager_id;
    let target = (EntityKind::Manager, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let state = state.clone();
            async move {
                // The two managers first: nothing of a book out of reach is looked for.
                let managers = [(EntityKind::Manager, id), (EntityKind::Manager, to)];
                loader.prefetch(&managers).await?;
                let manager: ManagerState = loader.load(EntityKind::Manager, id).await?;
                let receiver: ManagerState = loader.load(EntityKind::Manager, to).await?;
                let candidates = ever_given_to(&state, id).await?;
                loader.prefetch(&candidates).await?;
                let mut book = Handover {
                    to: Ref::new(to, receiver),
                    clients: vec![],
                    deals: vec![],
                    tasks: vec![],
                    leads: vec![],
                };
                // What was his once and has since gone out of reach is not his now.
                for (kind, entity) in candidates {
                    match kind {
                        EntityKind::Client => book
                            .clients
                            .extend(loader.load_reachable::<ClientState>(kind, entity).await?),
                        EntityKind::Deal => book
                            .deals
                            .extend(loader.load_reachable::<DealState>(kind, entity).await?),
                        EntityKind::Task => book
                            .tasks
                            .extend(loader.load_reachable::<TaskState>(kind, entity).await?),
                        EntityKind::Lead => book
                            .leads
                            .extend(loader.load_reachable::<LeadState>(kind, entity).await?),
                        _ => {}
                    }
                }
                let events = manager.decide(ManagerCommand::Handover {
                    manager_id: id,
                    handover: book,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}
