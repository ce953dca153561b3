//! Reports on the sales department's business (issue 18): invoices by manager or
//! client, and managers' monthly plans beside what they did (read model `sales`;
//! the plans' actual figures from `manager_kpis`). Revenue by product, category,
//! novelty and first contact is `GET /reports/revenue` (`deals.rs`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::values::Month;
use crm_projections::sales::{InvoicesBy, NAME as SALES};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::report_reach;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::read_model::{projection_error, ReadYourWrites};
use crate::routes::doc_types::{InvoicesByDoc, TimeOrDate};
use crate::routes::report_rows;
use crate::state::AppState;

use super::period::{period, Bound};

/// Which invoices.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoicesQuery {
    /// `manager` (responsible for the deal at the issue) or `client`.
    #[param(value_type = InvoicesByDoc, inline)]
    by: InvoicesBy,
    /// Period start (inclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    from: Bound,
    /// Period end (exclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    to: Bound,
    /// The moment "overdue" is judged at (its UTC date is today); default: the
    /// server's clock.
    now: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Invoices by group.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicesView {
    /// The UTC date overdue is judged at (of the query's `now`, or the server's clock).
    today: NaiveDate,
    /// Largest issued amount first, then key.
    #[schema(value_type = Vec<report_rows::InvoiceGroup>)]
    groups: Vec<crm_projections::sales::InvoiceGroup>,
}

/// Invoices: the period's invoices by manager or client.
///
/// Invoices issued (InvoiceIssued's `occurred_at`) in `[from, to)`, keyed by the
/// manager responsible for the deal at the issue or the deal's client: `issued`
/// counts them, `issued_amount` sums their amounts, `paid_amount` their payments as
/// recorded now, `outstanding_amount` = issued − paid, `overdue_amount` the
/// outstanding of those whose `due_on` is before today (the UTC date of `now`).
/// Largest issued amount first, then key; a merged client's invoices count for its
/// survivor. Reach: the manager at the issue. Read models `sales` and `clients`
/// (merges).
#[utoipa::path(get, path = "/reports/invoices", tag = "reports", operation_id = "invoices_report",
    params(InvoicesQuery), responses((status = 200, body = InvoicesView, description = "The invoices by group."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn invoices(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InvoicesQuery>,
) -> Result<Json<InvoicesView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query.read.read_models(&state, MODELS_OF_INVOICES).await?;
    let bounds = period(query.from, query.to)?;
    let today = query.now.unwrap_or_else(Utc::now).date_naive();
    let groups = crm_projections::sales::invoices(
        state.log.pool(),
        query.by,
        bounds,
        today,
        reach.managers(),
    )
    .await
    .map_err(projection_error)?;
    Ok(Json(InvoicesView { today, groups }))
}

/// Which month's plans.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlansQuery {
    /// The month, `YYYY-MM` (UTC).
    #[param(value_type = String, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-03")]
    month: Month,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Plans of a month against what was done.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlansView {
    /// The month, `YYYY-MM`.
    #[schema(value_type = String)]
    month: Month,
    /// The managers with a plan for the month, by name, then id.
    #[schema(value_type = Vec<report_rows::PlanRow>)]
    managers: Vec<crm_projections::sales::PlanRow>,
}

/// Plans: each manager's plan for a month and how far he got.
///
/// The managers with a plan (PlanSet) for the month, the latest replacing earlier
/// ones: `targets` as set; `actual` = calls, meetings, call_seconds, deals_won and
/// won_amount as the managers report counts them over the month (UTC); `percent`,
/// per target set, = round(100 × actual / target, 1), null when the target is 0.
/// Reach: the plan's manager. Read models `sales` and `manager_kpis`.
#[utoipa::path(get, path = "/reports/plans", tag = "reports", operation_id = "plans_report",
    params(PlansQuery), responses((status = 200, body = PlansView, description = "The month's plans."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn plans(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PlansQuery>,
) -> Result<Json<PlansView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query.read.read_models(&state, MODELS_OF_PLANS).await?;
    let first = query
        .month
        .first_day()
        .ok_or_else(|| ApiError::bad_request("invalid_query", "the month has no first day"))?;
    let managers = crm_projections::sales::plans(state.log.pool(), first, reach.managers())
        .await
        .map_err(projection_error)?;
    Ok(Json(PlansView {
        month: query.month,
        managers,
    }))
}

/// The read models the invoices report reads: the invoices, and the clients' merges.
pub const MODELS_OF_INVOICES: &[&str] = &[SALES, crm_projections::clients::NAME];

/// The read models the plans report reads.
pub const MODELS_OF_PLANS: &[&str] = &[SALES, crm_projections::managers::NAME];
