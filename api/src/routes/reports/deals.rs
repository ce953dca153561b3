//! Reports on deals: the funnel, the forecast, overdue deals, loss reasons, revenue
//! and a cohort's conversion (read model `deals`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_projections::clients::NAME as CLIENTS;
use crm_projections::deals::{funnel as funnel_query, FunnelStage, NAME as DEALS};
use crm_projections::sales::NAME as SALES;
use crm_projections::Total;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::report_reach;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::read_model::{projection_error, ReadYourWrites};
use crate::routes::doc_types::{RevenueByDoc, TimeOrDate};
use crate::routes::report_rows;
use crate::state::AppState;

use super::period::{period, Bound};

/// Which funnel.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FunnelQuery {
    /// The pipeline (404 when unknown).
    pipeline_id: Uuid,
    /// Only deals whose manager (now, or at `as_of`) this is.
    manager_id: Option<Uuid>,
    /// The funnel as it stood then (events with `occurred_at <= as_of`).
    as_of: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// One stage of the funnel.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStageView {
    /// The stage.
    stage_id: Uuid,
    /// Its name.
    name: String,
    /// Open deals (neither won nor lost) whose current stage this is.
    deals: i64,
    /// Their summed current amounts, minor units (exact at any size: docs/reports.md).
    #[schema(value_type = i128)]
    amount: Total,
}

/// The funnel of open deals.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelView {
    /// The pipeline.
    pipeline_id: Uuid,
    /// The time the funnel is as of: events with `occurred_at <= as_of` counted (null:
    /// now, every event counted).
    as_of: Option<DateTime<Utc>>,
    /// Every stage of the pipeline, in pipeline order, also those without deals.
    stages: Vec<FunnelStageView>,
    /// Open deals of the pipeline: the stages' `deals` summed.
    open_deals: i64,
    /// Their summed current amounts: the stages' `amount` summed; minor units (exact at
    /// any size: docs/reports.md).
    #[schema(value_type = i128)]
    open_amount: Total,
}

/// The funnel: open deals by stage.
///
/// Open deals (neither won nor lost) by their current stage, in pipeline order, every
/// stage listed; `amount` sums their current amounts; `manager_id` filters by the
/// deal's current manager. With `as_of=T` the same, counting only events with
/// `occurred_at <= T` (each deal folded in version order). Reach: the deal's manager.
/// Read model `deals`.
#[utoipa::path(get, path = "/reports/funnel", tag = "reports", operation_id = "funnel_report",
    params(FunnelQuery),
    responses((status = 200, body = FunnelView, description = "The funnel."), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn funnel(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FunnelQuery>,
) -> Result<Json<FunnelView>, ApiError> {
    let managers = report_reach(&state, &actor)
        .await?
        .narrow(query.manager_id)?;
    query.read.read_model(&state, DEALS).await?;
    let stages = funnel_query(
        state.log.pool(),
        query.pipeline_id,
        managers.as_deref(),
        query.as_of,
    )
    .await
    .map_err(projection_error)?
    .ok_or_else(|| ApiError::NotFound {
        what: format!("pipeline {}", query.pipeline_id),
    })?;
    let open_deals = stages.iter().map(|s| s.deals).sum();
    let open_amount = Total(stages.iter().map(|s| s.amount.0).sum());
    Ok(Json(FunnelView {
        pipeline_id: query.pipeline_id,
        as_of: query.as_of,
        stages: stages
            .into_iter()
            .map(
                |FunnelStage {
                     stage_id,
                     name,
                     deals,
                     amount,
                 }| FunnelStageView {
                    stage_id,
                    name,
                    deals,
                    amount,
                },
            )
            .collect(),
        open_deals,
        open_amount,
    }))
}

/// Which forecast.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForecastQuery {
    /// Only this pipeline's deals.
    pipeline_id: Option<Uuid>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Expected sales by month.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastView {
    /// The months with open deals expected to close in them, ascending.
    #[schema(value_type = Vec<report_rows::ForecastMonth>)]
    months: Vec<crm_projections::deals::ForecastMonth>,
}

/// The forecast: expected sales by month.
///
/// Open deals with an `expected_close_on`, by its month (`YYYY-MM`, ascending);
/// `weighted_amount` = round(Σ amount × probability of the deal's current stage), per
/// month. Reach: the deal's current manager. Read model `deals`.
#[utoipa::path(get, path = "/reports/forecast", tag = "reports", operation_id = "forecast_report",
    params(ForecastQuery), responses((status = 200, body = ForecastView, description = "The forecast."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn forecast(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ForecastQuery>,
) -> Result<Json<ForecastView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query.read.read_model(&state, DEALS).await?;
    let months =
        crm_projections::deals::forecast(state.log.pool(), query.pipeline_id, reach.managers())
            .await
            .map_err(projection_error)?;
    Ok(Json(ForecastView { months }))
}

/// When "overdue" is judged.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OverdueQuery {
    /// The moment deals are judged overdue at; default: the server's clock.
    now: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Open deals past their expected close date.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueDealsView {
    /// The moment judged at (the query's `now`, or the server's clock).
    now: DateTime<Utc>,
    /// By `expected_close_on`, then `deal_id`.
    #[schema(value_type = Vec<report_rows::OverdueDeal>)]
    deals: Vec<crm_projections::deals::OverdueDeal>,
}

/// Overdue deals: open deals past their expected close date.
///
/// Open deals with `expected_close_on` before the UTC date of `now`, by that date,
/// then `deal_id`; `days_overdue` counts the days from that date to the UTC date of
/// `now`. Reach: the deal's current manager. Read model `deals`.
#[utoipa::path(get, path = "/reports/overdue/deals", tag = "reports", operation_id = "overdue_deals_report",
    params(OverdueQuery), responses((status = 200, body = OverdueDealsView, description = "The overdue deals."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn overdue_deals(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OverdueQuery>,
) -> Result<Json<OverdueDealsView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    query.read.read_model(&state, DEALS).await?;
    let now = query.now.unwrap_or_else(Utc::now);
    let deals =
        crm_projections::deals::overdue(state.log.pool(), now.date_naive(), reach.managers())
            .await
            .map_err(projection_error)?;
    Ok(Json(OverdueDealsView { now, deals }))
}
/// Which losses.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LossQuery {
    /// Period start (inclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    from: Bound,
    /// Period end (exclusive): a time or a date.
    #[param(value_type = TimeOrDate, inline)]
    to: Bound,
    /// Only this pipeline's deals.
    pipeline_id: Option<Uuid>,
    /// Only losses while this manager was responsible.
    manager_id: Option<Uuid>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Why deals were lost.
#[derive(Debug, Serialize, ToSchema)]
pub struct LossReasonsView {
    /// Most deals first, then reason.
    #[schema(value_type = Vec<report_rows::LossReason>)]
    reasons: Vec<crm_projections::deals::LossReason>,
}

/// Loss reasons: the period's losses by reason.
///
/// DealLost events with `occurred_at` in `[from, to)` by reason (a deal lost, reopened
/// and lost again counts twice; amount as it stood at the loss), most deals first, then
/// reason. Reach: the manager responsible at the loss. Read model `deals`.
#[utoipa::path(get, path = "/reports/loss-reasons", tag = "reports", operation_id = "loss_reasons_report",
    params(LossQuery), responses((status = 200, body = LossReasonsView, description = "The losses by reason."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn loss_reasons(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LossQuery>,
) -> Result<Json<LossReasonsView>, ApiError> {
    let managers = report_reach(&state, &actor)
        .await?
        .narrow(query.manager_id)?;
    query.read.read_model(&state, DEALS).await?;
    let (from, to) = period(query.from, query.to)?;
    let reasons = crm_projections::deals::loss_reasons(
        state.log.pool(),
        from,
        to,
        query.pipeline_id,
        managers.as_deref(),
    )
    .await
    .map_err(projection_error)?;
    Ok(Json(LossReasonsView { reasons }))
}

/// What revenue is grouped by: the `deals` model's keys, or the `sales` model's
/// (issue 18).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevenueKey {
    /// The manager responsible at the win.
    Manager,
    /// The deal's source.
    Source,
    /// The deal's pipeline.
    Pipeline,
    /// The deal's client.
    Client,
    /// The product of each line at the win.
    Product,
    /// That product's category.
    Category,
    /// `new` (the client's first won deal) or `repeat`.
    Novelty,
    /// The direction of the client's first interaction.
    FirstContact,
}

/// The read models the revenue report may read, whatever its key: the wins (`deals`,
/// `sales`), and the clients' merges.
pub const REVENUE_MODELS: &[&str] = &[DEALS, SALES, CLIENTS];

impl RevenueKey {
    /// The key by its name in `by=` (`manager`, …, `first_contact`); None if unknown.
    pub fn from_name(name: &str) -> Option<Self> {
        use serde::de::IntoDeserializer;
        let name: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            name.into_deserializer();
        Self::deserialize(name).ok()
    }

    /// The grouping it asks of the read models: the `deals` model's (Ok) or the
    /// `sales` model's (Err).
    pub fn grouping(
        self,
    ) -> Result<crm_projections::deals::RevenueBy, crm_projections::sales::SalesRevenueBy> {
        use crm_projections::deals::RevenueBy as D;
        use crm_projections::sales::SalesRevenueBy as S;
        match self {
            Self::Manager => Ok(D::Manager),
            Self::Source => Ok(D::Source),
            Self::Pipeline => Ok(D::Pipeline),
            Self::Client => Ok(D::Client),
            Self::Product => Err(S::Product),
            Self::Category => Err(S::Category),
            Self::Novelty => Err(S::Novelty),
            Self::FirstContact => Err(S::FirstContact),
        }
    }

    /// The read models the revenue by this key reads: `deals` or `sales` for the wins,
    /// and `clients` for the merges when it groups by client.
    pub fn models(self) -> &'static [&'static str] {
        match self {
            Self::Manager | Self::Source | Self::Pipeline => &[DEALS],
            Self::Client => &[DEALS, CLIENTS],
            Self::Product | Self::Category => &[SALES],
            Self::Novelty | Self::FirstContact => &[SALES, CLIENTS],
        }
    }
}

/// The read models a revenue query (`by` among its parameters, as sent) reads; None
/// when `by` is missing, repeated or unknown (the handler refuses it).
pub fn revenue_models(query: &[(&str, &str)]) -> Option<&'static [&'static str]> {
    let mut by = query.iter().filter(|(name, _)| *name == "by");
    match (by.next(), by.next()) {
        (Some((_, value)), None) => RevenueKey::from_name(value).map(RevenueKey::models),
        _ => None,
    }
}

/// Which revenue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevenueQuery {
    /// `manager`, `source`, `pipeline`, `client`, `product`, `category`, `novelty` or
    /// `first_contact`.
    #[param(value_type = RevenueByDoc, inline)]
    by: RevenueKey,
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

/// Won revenue by group.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueView {
    /// Largest amount first, then key (null last).
    #[schema(value_type = Vec<report_rows::RevenueGroup>)]
    groups: Vec<crm_projections::deals::RevenueGroup>,
}

/// Revenue: the period's wins by group.
///
/// DealWon events with `occurred_at` in `[from, to)` with the amount they recorded,
/// keyed by the manager responsible at the win, the deal's source, pipeline or client
/// (`deals` counts the DealWon events); largest amount first, then key. By `product`
/// or `category`: each won deal's lines as they stood at the win, `amount` = Σ
/// quantity × price; by `novelty` (`new`: the client's first won deal, `repeat`: a
/// client who had won before) and `first_contact` (`inbound`/`outbound`: the
/// direction of the client's first interaction, `unknown` when none): the amounts the
/// DealWon recorded; for these four `deals` counts distinct deals. A deal won,
/// reopened and won again counts at each win. Reach: the manager responsible at the
/// win; a merged client's wins count for its survivor. Read models: `deals` (manager,
/// source, pipeline, client), `sales` (the four keys of issue 18), and `clients`
/// (merges) for client, novelty and first contact.
#[utoipa::path(get, path = "/reports/revenue", tag = "reports", operation_id = "revenue_report",
    params(RevenueQuery), responses((status = 200, body = RevenueView, description = "The revenue by group."), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn revenue(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RevenueQuery>,
) -> Result<Json<RevenueView>, ApiError> {
    let reach = report_reach(&state, &actor).await?;
    let by = query.by.grouping();
    query.read.read_models(&state, query.by.models()).await?;
    let (from, to) = period(query.from, query.to)?;
    let pool = state.log.pool();
    let groups = match by {
        Ok(by) => crm_projections::deals::revenue(pool, by, from, to, reach.managers()).await,
        Err(by) => {
            crm_projections::sales::sales_revenue(pool, by, from, to, reach.managers()).await
        }
    }
    .map_err(projection_error)?;
    Ok(Json(RevenueView { groups }))
}

/// Which cohort.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConversionQuery {
    /// The pipeline (404 when unknown).
    pipeline_id: Uuid,
    /// Cohort: deals opened from (inclusive)…
    #[param(value_type = TimeOrDate, inline)]
    from: Bound,
    /// …to (exclusive).
    #[param(value_type = TimeOrDate, inline)]
    to: Bound,
    /// Only deals opened by this manager (their manager at DealOpened).
    manager_id: Option<Uuid>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// How far a cohort got at one stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionStage {
    /// The stage.
    stage_id: Uuid,
    /// Its name.
    name: String,
    /// Cohort deals whose highest stage ever is this one or later (opening at a later
    /// stage reaches the earlier ones; a won deal reached every stage).
    reached: i64,
    /// reached / reached at the previous stage, 4 decimals; null for the first stage
    /// or when the previous stage was reached by none.
    conversion_from_previous: Option<f64>,
}

/// A cohort's conversion through the pipeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionView {
    /// The pipeline.
    pipeline_id: Uuid,
    /// The pipeline's deals opened (DealOpened's `occurred_at`) in `[from, to)`, by
    /// the manager at opening if given.
    cohort: i64,
    /// Every stage, in pipeline order.
    stages: Vec<ConversionStage>,
    /// Cohort deals won now.
    won: i64,
    /// Cohort deals lost now.
    lost: i64,
    /// Cohort deals open now.
    open: i64,
    /// won / (won + lost), 4 decimals; null when both are 0.
    win_rate: Option<f64>,
    /// won / cohort, 4 decimals; null when the cohort is empty.
    conversion_to_won: Option<f64>,
}

/// `part / whole` rounded to 4 decimals; None when `whole` is 0.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// Conversion: a cohort of deals through the pipeline.
///
/// Cohort: the pipeline's deals opened in `[from, to)` (by the manager at opening, if
/// given). A deal reached stage i when the highest stage index it has ever stood at is
/// at least i; `conversion_from_previous` = reached(i) / reached(i-1); `won`, `lost`,
/// `open`: the cohort's outcomes now; `win_rate` = won / (won + lost);
/// `conversion_to_won` = won / cohort. Ratios are rounded to 4 decimals, null when
/// the denominator is 0. Reach: the deal's manager at opening. Read model `deals`.
#[utoipa::path(get, path = "/reports/conversion", tag = "reports", operation_id = "conversion_report",
    params(ConversionQuery), responses((status = 200, body = ConversionView, description = "The cohort's conversion."), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn conversion(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConversionQuery>,
) -> Result<Json<ConversionView>, ApiError> {
    let managers = report_reach(&state, &actor)
        .await?
        .narrow(query.manager_id)?;
    query.read.read_model(&state, DEALS).await?;
    let (from, to) = period(query.from, query.to)?;
    let c = crm_projections::deals::conversion(
        state.log.pool(),
        query.pipeline_id,
        from,
        to,
        managers.as_deref(),
    )
    .await
    .map_err(projection_error)?
    .ok_or_else(|| ApiError::NotFound {
        what: format!("pipeline {}", query.pipeline_id),
    })?;
    let mut previous: Option<i64> = None;
    let stages = c
        .stages
        .into_iter()
        .map(|s| {
            let conversion_from_previous = previous.and_then(|p| ratio(s.reached, p));
            previous = Some(s.reached);
            ConversionStage {
                stage_id: s.stage_id,
                name: s.name,
                reached: s.reached,
                conversion_from_previous,
            }
        })
        .collect();
    Ok(Json(ConversionView {
        pipeline_id: query.pipeline_id,
        cohort: c.cohort,
        stages,
        won: c.won,
        lost: c.lost,
        open: c.open,
        win_rate: ratio(c.won, c.won + c.lost),
        conversion_to_won: ratio(c.won, c.cohort),
    }))
}
