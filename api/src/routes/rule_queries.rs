//! The automation rules, from the `rules` read model: `GET /automation/rules`. Read
//! by admins and directors, who define them; every other role gets a 403. The
//! commands are in `rules.rs`.

use axum::extract::State;
use axum::Json;
use crm_domain::values::Role;
use crm_projections::rules::{list_rules, RuleRow, NAME as RULES};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::list_limit;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::paging::{after_position, next_page_by};
use crate::read_model::{projection_error, ReadYourWrites};
use crate::state::AppState;

/// An automation rule as defined, and whether it still acts.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `RuleRow` as served; never built itself.
pub struct RuleView {
    id: Uuid,
    name: String,
    /// What the rule does.
    #[schema(value_type = super::rules::RuleKindDoc, inline)]
    kind: String,
    /// The kind's params, as defined.
    #[schema(value_type = super::rules::RuleParamsDoc)]
    params: serde_json::Value,
    /// False once disabled: it acts no more.
    enabled: bool,
    /// When it was defined (business time).
    defined_at: chrono::DateTime<chrono::Utc>,
    /// The manager who defined it; null when the definer was no manager (an
    /// operator's token).
    defined_by: Option<Uuid>,
    /// When it was disabled (business time); null while enabled.
    disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The log position of its definition (the list's order).
    position: i64,
}

/// Which rules, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RuleListQuery {
    /// Only the enabled rules (true) or only the disabled ones (false); default: all.
    enabled: Option<bool>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulePage {
    #[schema(value_type = Vec<RuleView>)]
    items: Vec<RuleRow>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// The automation rules in the order they were defined, a page at a time: admins
/// and directors only (403 for every other role).
#[utoipa::path(get, path = "/automation/rules", tag = "automation", operation_id = "list_rules",
    params(RuleListQuery),
    responses((status = 200, body = RulePage), (status = 400), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RuleListQuery>,
) -> Result<Json<RulePage>, ApiError> {
    actor.require(&[Role::Director, Role::Admin], "reading automation rules")?;
    let limit = list_limit(&actor, query.limit)?;
    let after = after_position(query.cursor.as_deref())?;
    query.read.read_model(&state, RULES).await?;
    let mut items = list_rules(state.log.pool(), query.enabled, after, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut items, limit, |r| r.position.to_string());
    Ok(Json(RulePage { items, next_cursor }))
}
