//! Managers' monthly plans (issue 18).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::events::PlanTargets;
use crm_domain::plan::{plan_id, PlanCommand, PlanState, SetPlan};
use crm_domain::values::Month;
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::created;
use crate::state::AppState;

/// A plan's targets: at least one (`no_targets`), each a positive whole number.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanTargetsBody {
    /// Calls made.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    calls: Option<i64>,
    /// Meetings held.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    meetings: Option<i64>,
    /// Seconds spent on calls.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    call_seconds: Option<i64>,
    /// Deals won.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    deals_won: Option<i64>,
    /// Amount won, minor units.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    won_amount: Option<i64>,
}

/// `POST /plans`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlanBody {
    /// The manager it is for: must exist (`reference_not_found`).
    manager_id: Uuid,
    /// The month, `YYYY-MM`.
    #[schema(value_type = String, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-03")]
    month: Month,
    /// The targets.
    targets: PlanTargetsBody,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Sets a manager's plan for a month (heads for their department, directors,
/// admins); a later one for the same manager and month replaces it. The answer's
/// `id` is the plan's, derived from manager and month.
#[utoipa::path(
    operation_id = "set_plan", post, path = "/plans", tag = "plans", request_body = SetPlanBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn set(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<SetPlanBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = plan_id(body.manager_id, body.month);
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Plan, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let plan: PlanState = loader.load(EntityKind::Plan, id).await?;
                let manager = loader
                    .reference(EntityKind::Manager, body.manager_id)
                    .await?;
                let t = body.targets;
                let events = plan.decide(PlanCommand::Set(SetPlan {
                    manager,
                    month: body.month,
                    targets: PlanTargets {
                        calls: t.calls,
                        meetings: t.meetings,
                        call_seconds: t.call_seconds,
                        deals_won: t.deals_won,
                        won_amount: t.won_amount,
                    },
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}
