//! Webhooks, admins only (every other role gets a 403 before anything is read or
//! stored): define one (`POST /webhooks`), list them (`GET /webhooks`), see a
//! webhook's latest attempts and where it stands (`GET /webhooks/{id}/deliveries`),
//! disable and enable it again (`POST /webhooks/{id}/disable|enable`). A secret is
//! never answered. Delivery itself is `crate::webhooks::worker`'s.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use crm_domain::events::EVENT_TYPES;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::Role;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::read_model::{OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;
use crate::webhooks::store::{self, AttemptRow, NewWebhook, WebhookRow};
use crate::webhooks::target::{check_reachable, parse_url};

/// The most event types one webhook may name.
const MAX_EVENT_TYPES: usize = 100;

/// A webhook to define.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineWebhookBody {
    /// Its id (default: a new one).
    id: Option<Uuid>,
    /// Where each event is POSTed: an `http` or `https` URL, without credentials.
    #[schema(max_length = 2000, example = "https://hooks.example.com/crm")]
    url: String,
    /// Only events of these types (the log's event types); empty or absent: all.
    #[serde(default)]
    #[schema(max_items = 100)]
    event_types: Vec<String>,
    /// The key of each delivery's `X-CRM-Signature` (HMAC-SHA256 of the body);
    /// never shown again.
    #[schema(min_length = 16, max_length = 1024)]
    secret: String,
}

/// Every webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    items: Vec<WebhookRow>,
}

/// A webhook's latest attempts and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveries {
    /// The webhook: status, last position delivered, failures, next try.
    webhook: WebhookRow,
    /// The latest attempts, newest first.
    attempts: Vec<AttemptRow>,
}

/// How many attempts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// The latest this many attempts (default 50, at most 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

fn admin_only(actor: &Actor, doing: &str) -> Result<(), ApiError> {
    actor.require(&[Role::Admin], doing)?;
    Ok(())
}

fn refused((code, detail): (&'static str, String)) -> ApiError {
    ApiError::Rule { code, detail }
}

/// Who defined it, as `created_by` says.
fn who(actor: &Actor) -> String {
    match actor.manager_id {
        Some(id) => format!("manager:{id}"),
        None => actor.role.name().to_owned(),
    }
}

/// Defines a webhook: from now on, every event of its types (all when none are
/// named) appended to the log is POSTed to `url`, in log order, one at a time,
/// signed with `secret`. Admins only.
#[utoipa::path(
    operation_id = "define_webhook", post, path = "/webhooks", tag = "webhooks",
    request_body = DefineWebhookBody,
    responses((status = 201, body = WebhookRow), (status = 400), (status = 401), (status = 403),
        (status = 409, description = "the id names another webhook"), (status = 422)),
    security(("bearer" = [])))]
pub async fn define(
    actor: Actor,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DefineWebhookBody>,
) -> Result<(StatusCode, Json<WebhookRow>), ApiError> {
    admin_only(&actor, "defining webhooks")?;
    let uri = parse_url(&body.url).map_err(refused)?;
    if body.event_types.len() > MAX_EVENT_TYPES {
        return Err(ApiError::Rule {
            code: "too_many_items",
            detail: format!("event_types: at most {MAX_EVENT_TYPES}"),
        });
    }
    let types: BTreeSet<String> = body.event_types.iter().cloned().collect();
    if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(ApiError::Rule {
            code: "unknown_event_type",
            detail: format!("event_types: {unknown:?} is no event type of the log"),
        });
    }
    let secret_len = body.secret.chars().count();
    if !(16..=1024).contains(&secret_len) {
        return Err(ApiError::Rule {
            code: "invalid_webhook_secret",
            detail: "secret: 16 to 1024 characters".into(),
        });
    }
    check_reachable(&uri, state.webhooks.deny_private)
        .await
        .map_err(refused)?;
    let id = body.id.unwrap_or_else(Uuid::new_v4);
    let pool = state.log.pool();
    // Events appended from now on: none committed before, none missed after.
    let (start, before) = state.log.feed_now().await?;
    let (start, before) = (start.to_string(), before.to_string());
    let types: Vec<String> = types.into_iter().collect();
    let created_by = who(&actor);
    let stored = store::insert(
        pool,
        &NewWebhook {
            id,
            url: &body.url,
            event_types: &types,
            secret: &body.secret,
            created_by: &created_by,
            feed_cursor: &start,
            start_snapshot: &before,
        },
    )
    .await
    .map_err(ApiError::internal)?;
    if !stored {
        return Err(ApiError::Reused {
            code: "webhook_exists",
            detail: format!("webhook {id} exists already"),
        });
    }
    tracing::info!(webhook = %id, url = %body.url, by = %created_by, "webhook defined");
    let row = store::get(pool, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("a webhook just stored is gone"))?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Every webhook, oldest first, with its status and how far it has delivered
/// (never its secret). Admins only.
#[utoipa::path(
    operation_id = "list_webhooks", get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(OnlyMinPosition { read }): ApiQuery<OnlyMinPosition>,
) -> Result<Json<WebhookList>, ApiError> {
    admin_only(&actor, "reading webhooks")?;
    read.log(&state).await?;
    let items = store::list(state.log.pool())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(WebhookList { items }))
}

/// A webhook's latest delivery attempts (the event, when, how long, the status
/// code or the error) and where it stands: its status, the last position
/// delivered, failures at the current event and the next try. Admins only.
#[utoipa::path(
    operation_id = "list_webhook_deliveries", get, path = "/webhooks/{id}/deliveries",
    tag = "webhooks", params(("id" = Uuid, Path), DeliveriesQuery),
    responses((status = 200, body = WebhookDeliveries), (status = 400), (status = 401),
        (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn deliveries(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<WebhookDeliveries>, ApiError> {
    admin_only(&actor, "reading webhooks")?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be 1 to 100",
        ));
    }
    query.read.log(&state).await?;
    let pool = state.log.pool();
    let webhook = store::get(pool, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(id))?;
    let attempts = store::attempts(pool, id, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(WebhookDeliveries { webhook, attempts }))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound {
        what: format!("webhook {id}"),
    }
}

/// Disables a webhook: no more deliveries (an attempt in flight may still land)
/// until it is enabled again. Admins only.
#[utoipa::path(
    operation_id = "disable_webhook", post, path = "/webhooks/{id}/disable", tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookRow), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn disable(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookRow>, ApiError> {
    admin_only(&actor, "disabling webhooks")?;
    let row = store::set_status(state.log.pool(), id, "disabled")
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(webhook = %id, by = %who(&actor), "webhook disabled");
    Ok(Json(row))
}

/// Enables a disabled or failing webhook: it resumes where it stopped (the event
/// it had not delivered first), its retries counted afresh. Admins only.
#[utoipa::path(
    operation_id = "enable_webhook", post, path = "/webhooks/{id}/enable", tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookRow), (status = 401), (status = 403), (status = 404),
        (status = 422)),
    security(("bearer" = [])))]
pub async fn enable(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookRow>, ApiError> {
    admin_only(&actor, "enabling webhooks")?;
    let pool = state.log.pool();
    let current = store::get(pool, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(id))?;
    // A server started with --webhook-deny-private since: the target is checked again.
    let uri = parse_url(&current.url).map_err(refused)?;
    check_reachable(&uri, state.webhooks.deny_private)
        .await
        .map_err(refused)?;
    let row = store::set_status(pool, id, "active")
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(webhook = %id, by = %who(&actor), "webhook enabled");
    Ok(Json(row))
}
