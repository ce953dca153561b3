//! Commands on clients: register, update (`PATCH`), assign to a manager.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::client::{ClientCommand, ClientState, RegisterClient};
use crm_domain::events::ClientChanges;
use crm_domain::manager::ManagerState;
use crm_domain::values::{ClientKind, Contact};
use crm_domain::{codes, Aggregate, DomainError, EntityKind, Ref};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{assign as assign_to, execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::routes::created;
use crate::state::AppState;

use super::doc_types::ClientKindDoc;

/// A contact person of a client, as a request gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    #[schema(max_length = 200)]
    name: String,
    #[schema(max_length = 200)]
    phone: Option<String>,
    #[schema(max_length = 200)]
    email: Option<String>,
}

impl From<ContactBody> for Contact {
    fn from(c: ContactBody) -> Self {
        Contact {
            name: c.name,
            phone: c.phone,
            email: c.email,
        }
    }
}

fn contacts(list: Vec<ContactBody>) -> Vec<Contact> {
    list.into_iter().map(Contact::from).collect()
}

/// `POST /clients`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterClientBody {
    /// The new client's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    #[schema(max_length = 200)]
    name: String,
    /// `company` or `person`.
    #[schema(value_type = ClientKindDoc, inline)]
    kind: ClientKind,
    #[schema(max_length = 200)]
    size: Option<String>,
    #[schema(max_length = 200)]
    industry: Option<String>,
    #[schema(max_length = 200)]
    region: Option<String>,
    #[schema(max_length = 200)]
    source: Option<String>,
    /// The responsible manager: must exist and be active.
    manager_id: Uuid,
    /// Contact persons (at most 100); default: none.
    #[serde(default)]
    #[schema(max_items = 100)]
    contacts: Vec<ContactBody>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Registers a client.
#[utoipa::path(post, path = "/clients", operation_id = "register_client", tag = "clients", request_body = RegisterClientBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<RegisterClientBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let target = (EntityKind::Client, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let client: ClientState = loader.load(EntityKind::Client, id).await?;
                let manager = loader
                    .reference(EntityKind::Manager, body.manager_id)
                    .await?;
                let events = client.decide(ClientCommand::Register(RegisterClient {
                    client_id: id,
                    name: body.name,
                    kind: body.kind,
                    size: body.size,
                    industry: body.industry,
                    region: body.region,
                    source: body.source,
                    manager,
                    contacts: contacts(body.contacts),
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}

/// A field that may be left out but not be `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field that may be left out (unchanged), `null` (cleared) or a value.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /clients/{id}`: the fields to change; absent fields are unchanged, `null`
/// clears `size`, `industry`, `region` or `source`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 200)]
    name: Option<String>,
    /// `company` or `person`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ClientKindDoc, inline)]
    kind: Option<ClientKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    size: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    region: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    source: Option<Option<String>>,
    /// A new responsible manager (recorded as a `ClientReassigned`): must exist and be active.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Uuid)]
    manager_id: Option<Uuid>,
    /// The new full list of contacts (at most 100).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<ContactBody>, max_items = 100)]
    contacts: Option<Vec<ContactBody>>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Updates a client's card: `ClientUpdated` with the fields that differ, and
/// `ClientReassigned` when `manager_id` names another manager. A request that
/// changes nothing is refused with `no_changes`.
#[utoipa::path(patch, path = "/clients/{id}", operation_id = "update_client", tag = "clients", request_body = UpdateClientBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateClientBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Client, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let client: ClientState = loader.load(EntityKind::Client, id).await?;
                // Everything the command names is loaded (and so checked) before deciding.
                let manager: Option<Ref<ManagerState>> = loader
                    .optional_reference(EntityKind::Manager, body.manager_id)
                    .await?;
                let changes = ClientChanges {
                    name: body.name,
                    kind: body.kind,
                    size: body.size,
                    industry: body.industry,
                    region: body.region,
                    source: body.source,
                    contacts: body.contacts.map(contacts),
                };
                let mut events = Vec::new();
                if !changes.is_empty() {
                    match client.decide(ClientCommand::Update {
                        client_id: id,
                        changes,
                    }) {
                        Ok(updated) => events = updated,
                        // Only the manager may change: decided below.
                        Err(DomainError::Rule { code, .. }) if code == codes::NO_CHANGES => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                let current_manager = client.entity().map(|c| c.manager_id);
                if let Some(manager) = manager.filter(|m| Some(m.id) != current_manager) {
                    let state = events.iter().fold(client.clone(), |s, e| s.evolve(e));
                    events.extend(state.decide(ClientCommand::Reassign {
                        client_id: id,
                        manager,
                    })?);
                }
                if events.is_empty() {
                    // Nothing differs (or nothing was sent): let the domain say which.
                    client.decide(ClientCommand::Update {
                        client_id: id,
                        changes: ClientChanges::default(),
                    })?;
                }
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}

/// `POST /clients/{id}/assign`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignClientBody {
    /// The new responsible manager: must exist and be active.
    manager_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Gives a client to another manager.
#[utoipa::path(post, path = "/clients/{id}/assign", operation_id = "assign_client", tag = "clients", request_body = AssignClientBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn assign(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignClientBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let target = (EntityKind::Client, id);
    let response = assign_to::<ClientState>(
        &state.commands,
        &ctx,
        target,
        body.manager_id,
        body.occurred_at,
        |client_id, manager| ClientCommand::Reassign { client_id, manager },
    )
    .await?;
    Ok(Json(response))
}
