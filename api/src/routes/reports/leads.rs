//! Reports on leads: leads waiting past the SLA and the period's leads by group.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::report_reach;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::read_model::{projection_error, ReadYourWrites};
use crate::routes::doc_types::{LeadsByDoc, TimeOrDate};
use crate::routes::report_rows;
use crate::state::AppState;

use super::period::{period, Bound};

/// Which waiting leads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OverdueLeadsQuery {
    /// The moment leads are judged at; default: the server's clock.
    now: Option<DateTime<Utc>>,
    /// How long a lead may wait for an answer, in minutes (default 15).
    #[param(minimum = 0, maximum = 525600)]
    sla_minutes: Option<i64>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Leads waiting past the SLA.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueLeadsView {
    /// The moment judged at (the query's `now`, or the server's clock).
    now: DateTime<Utc>,
    /// Oldest first (by `received_at`), then `lead_id`.
    #[schema(value_type = Vec<report_rows::WaitingLead>)]
    leads: LeadRows,
}

/// The waiting leads as stored, or without the fields hidden from the token's role
/// (made into JSON objects only then: the list can be long).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum LeadRows {
    /// Nothing hidden.
    Whole(Vec<crm_projections::leads::WaitingLead>),
    /// Some fields removed.
    Stripped(Vec<serde_json::Value>),
}

/// Overdue leads: leads nobody answered in time.
///
/// Leads neither converted nor rejected, with no interaction that names them, captured
/// more than `sla_minutes` before `now` (`received_at < now - sla_minutes`), oldest
/// first, then `lead_id`. Reach: the lead's current manager (leads without one: only
/// for roles that reach the whole company). Read model `leads`.
#[utoipa::path(get, path = "/reports/overdue/leads", tag = "reports", operation_id = "overdue_leads_report",
    params(OverdueLeadsQuery), responses((status = 200, body = OverdueLeadsView, description = "The waiting leads."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn overdue_leads(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OverdueLeadsQuery>,
) -> Result<Json<OverdueLeadsView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query
        .read
        .read_model(&state, crm_projections::leads::NAME)
        .await?;
    let sla = query.sla_minutes.unwrap_or(15);
    if !(0..=525_600).contains(&sla) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "sla_minutes must be 0 to 525600",
        ));
    }
    let now = query.now.unwrap_or_else(Utc::now);
    let leads = crm_projections::leads::overdue_leads(state.log.pool(), now, sla, reach.managers())
        .await
        .map_err(projection_error)?;
    let hidden = state.hidden.of(&actor);
    let leads = if hidden.lead.is_empty() {
        LeadRows::Whole(leads)
    } else {
        LeadRows::Stripped(
            leads
                .into_iter()
                .map(|lead| {
                    let mut value = serde_json::to_value(lead).unwrap_or(serde_json::Value::Null);
                    hidden.strip_lead(&mut value);
                    value
                })
                .collect(),
        )
    };
    Ok(Json(OverdueLeadsView { now, leads }))
}

/// Which leads to count.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeadsQuery {
    /// `manager`, `status` or `source`.
    #[param(value_type = LeadsByDoc, inline)]
    by: crm_projections::leads::LeadsBy,
    /// Period start (inclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    from: Bound,
    /// Period end (exclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    to: Bound,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Leads by group.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadsView {
    /// Most leads first, then key (null last); only groups with leads.
    #[schema(value_type = Vec<report_rows::LeadGroup>)]
    groups: Vec<crm_projections::leads::LeadGroup>,
}

/// Leads: the period's leads by group.
///
/// Leads captured (`received_at`) in `[from, to)`, by their manager now, their status
/// now (`new`, `assigned`, `converted` or `rejected`) or their source; most leads
/// first, then key. Reach: the lead's current manager (leads without one: only for
/// roles that reach the whole company). Read model `leads`.
#[utoipa::path(get, path = "/reports/leads", tag = "reports", operation_id = "leads_report",
    params(LeadsQuery), responses((status = 200, body = LeadsView, description = "The leads by group."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn leads(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LeadsQuery>,
) -> Result<Json<LeadsView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query
        .read
        .read_model(&state, crm_projections::leads::NAME)
        .await?;
    let (from, to) = period(query.from, query.to)?;
    let groups =
        crm_projections::leads::leads_by(state.log.pool(), query.by, from, to, reach.managers())
            .await
            .map_err(projection_error)?;
    Ok(Json(LeadsView { groups }))
}
