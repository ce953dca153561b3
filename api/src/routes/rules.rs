//! Commands on automation rules: define one (`POST /automation/rules`), disable it
//! (`POST /automation/rules/{id}/disable`). Admins and directors only (the command
//! path's role check, before anything is read). Listed in `rule_queries.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::rule::{DefineRule, RuleCommand, RuleSpec, RuleState};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath, OnlyBusinessTime};
use crate::routes::created;
use crate::state::AppState;

/// A rule's kind.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Never built: it only describes a field.
pub enum RuleKindDoc {
    LeadRoundRobin,
    TaskOnStage,
    LeadSla,
    FollowUpAfterWin,
    TaskReminder,
}

/// How `lead_round_robin` picks the manager.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Never built: it only describes a field.
pub enum StrategyDoc {
    RoundRobin,
    LeastBusy,
}

/// `lead_round_robin` params: a lead captured without a manager goes to the
/// department's next active manager of role `manager`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Never built: it only describes `params`.
pub struct LeadRoundRobinParams {
    /// The department whose managers get the leads.
    #[schema(max_length = 200)]
    department: String,
    /// `round_robin` (next in order of registration) or `least_busy` (fewest open
    /// leads plus open deals).
    #[schema(value_type = StrategyDoc, inline)]
    strategy: String,
}

/// `task_on_stage` params: a task for the deal's manager when a deal enters the stage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Never built: it only describes `params`.
pub struct TaskOnStageParams {
    /// The pipeline: must exist.
    pipeline_id: Uuid,
    /// One of its stages.
    stage_id: Uuid,
    /// The task's title.
    #[schema(max_length = 200)]
    title: String,
    /// The task's kind; default `task`.
    #[schema(max_length = 200)]
    kind: Option<String>,
    /// The task is due this many hours after the deal entered the stage.
    #[schema(minimum = 0, maximum = 8784)]
    due_in_hours: i64,
}

/// `lead_sla` params: a lead nobody answered in time gets a LeadSlaBreached and a
/// task for a head.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Never built: it only describes `params`.
pub struct LeadSlaParams {
    /// Minutes after `received_at` a lead must be answered within.
    #[schema(minimum = 1, maximum = 527040)]
    sla_minutes: i64,
}

/// `follow_up_after_win` params: a task for the manager some days after a win.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Never built: it only describes `params`.
pub struct FollowUpAfterWinParams {
    /// The task is due this many days after the win.
    #[schema(minimum = 1, maximum = 366)]
    after_days: i64,
    /// The task's title.
    #[schema(max_length = 200)]
    title: String,
}

/// `task_reminder` params: a TaskReminderDue that long before an open task is due.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Never built: it only describes `params`.
pub struct TaskReminderParams {
    /// Minutes before the task is due.
    #[schema(minimum = 1, maximum = 527040)]
    before_minutes: i64,
}

/// A rule's params: the shape of its kind's (another shape is `invalid_rule_params`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Never built: it only describes `params`.
pub enum RuleParamsDoc {
    LeadRoundRobin(LeadRoundRobinParams),
    TaskOnStage(TaskOnStageParams),
    LeadSla(LeadSlaParams),
    FollowUpAfterWin(FollowUpAfterWinParams),
    TaskReminder(TaskReminderParams),
}

/// `POST /automation/rules`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineRuleBody {
    /// The new rule's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// The rule's name, for people.
    #[schema(max_length = 200)]
    name: String,
    /// What the rule does.
    #[schema(value_type = RuleKindDoc, inline)]
    kind: String,
    /// The kind's params.
    #[schema(value_type = RuleParamsDoc)]
    params: Value,
    /// Business time of the fact; default: now. The rule acts on the events
    /// recorded after its definition, whatever their business time.
    occurred_at: Option<DateTime<Utc>>,
}

/// Defines an automation rule: it acts on the events recorded after it. Admins and
/// directors only.
#[utoipa::path(
    operation_id = "define_rule", post, path = "/automation/rules", tag = "automation",
    request_body = DefineRuleBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn define(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<DefineRuleBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let defined_by = ctx.actor.manager_id;
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Rule, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let rule: RuleState = loader.load(EntityKind::Rule, id).await?;
                let spec = RuleSpec::parse(&body.kind, body.params)?;
                let pipeline = match spec.pipeline_id() {
                    Some(pipeline_id) => Some(loader.load_pipeline(pipeline_id).await?),
                    None => None,
                };
                let events = rule.decide(RuleCommand::Define(DefineRule {
                    rule_id: id,
                    name: body.name,
                    spec,
                    defined_by,
                    pipeline,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}

/// Disables an automation rule: it acts no more (`rule_disabled` when it is
/// already). Admins and directors only.
#[utoipa::path(
    operation_id = "disable_rule", post, path = "/automation/rules/{id}/disable", tag = "automation",
    request_body = Option<OnlyBusinessTime>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<OnlyBusinessTime>,
) -> Result<Json<CommandResponse>, ApiError> {
    let (target, at) = ((EntityKind::Rule, id), body.occurred_at);
    let response = execute(&state.commands, &ctx, target, at, |mut loader| async move {
        let rule: RuleState = loader.load(EntityKind::Rule, id).await?;
        let events = rule.decide(RuleCommand::Disable { rule_id: id })?;
        Ok(Decision::new(loader, events))
    })
    .await?;
    Ok(Json(response))
}
