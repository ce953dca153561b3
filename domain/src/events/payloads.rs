//! The payload of every event type, field for field as the log's specification
//! lists them. Optional fields (`?` there) are left out of the JSON when absent.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rule::RuleSpec;
use crate::values::{ClientKind, Contact, Direction, InteractionKind, Role, Stage};

/// A manager joined the sales team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerRegistered {
    /// The manager.
    pub manager_id: Uuid,
    /// Full name.
    pub name: String,
    /// Work email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Department, free text.
    pub department: String,
    /// Role.
    pub role: Role,
}

/// A manager left or was switched off; he can no longer be made responsible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerDeactivated {
    /// The manager.
    pub manager_id: Uuid,
}

/// A pipeline (funnel) with its ordered stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineDefined {
    /// The pipeline.
    pub pipeline_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its stages in order; the first is a new deal's default.
    pub stages: Vec<Stage>,
}

/// A client entered the base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRegistered {
    /// The client.
    pub client_id: Uuid,
    /// Company or person name.
    pub name: String,
    /// Company or person.
    pub kind: ClientKind,
    /// Company size, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Industry, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Region, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Where the client came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The responsible manager.
    pub manager_id: Uuid,
    /// Contact persons.
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

/// The fields a client update changed; absent fields are unchanged. For `size`,
/// `industry`, `region` and `source`, `Some(None)` (JSON `null`) clears the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientChanges {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ClientKind>,
    /// New size, or `Some(None)` to clear it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::nullable"
    )]
    pub size: Option<Option<String>>,
    /// New industry, or `Some(None)` to clear it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::nullable"
    )]
    pub industry: Option<Option<String>>,
    /// New region, or `Some(None)` to clear it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::nullable"
    )]
    pub region: Option<Option<String>>,
    /// New source, or `Some(None)` to clear it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::nullable"
    )]
    pub source: Option<Option<String>>,
    /// The new full list of contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Contact>>,
}

impl ClientChanges {
    /// True when no field is changed.
    pub fn is_empty(&self) -> bool {
        self == &ClientChanges::default()
    }
}

/// Some of a client's fields changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientUpdated {
    /// The client.
    pub client_id: Uuid,
    /// The changed fields only.
    pub changes: ClientChanges,
}

/// A client passed from one manager to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReassigned {
    /// The client.
    pub client_id: Uuid,
    /// The manager responsible before.
    pub from_manager_id: Uuid,
    /// The manager responsible now.
    pub to_manager_id: Uuid,
}

/// A client's personal data was erased: its key destroyed, its name and contacts
/// read as [`crate::personal::ERASED`] from now on (not a spec type: issue 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientErased {
    /// The client.
    pub client_id: Uuid,
    /// Why (a request of the data subject, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An incoming request arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadCaptured {
    /// The lead.
    pub lead_id: Uuid,
    /// Where it came from (site, ad campaign, referral…).
    pub source: String,
    /// The channel it came through (form, call, chat…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The person's name as given.
    pub name: String,
    /// Phone as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The existing client the request is from, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
    /// When the request arrived.
    pub received_at: DateTime<Utc>,
}

/// A lead given to a manager to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadAssigned {
    /// The lead.
    pub lead_id: Uuid,
    /// The manager now responsible.
    pub manager_id: Uuid,
}

/// A lead became a deal (of an existing or a new client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadConverted {
    /// The lead.
    pub lead_id: Uuid,
    /// The deal's client.
    pub client_id: Uuid,
    /// The deal opened from it.
    pub deal_id: Uuid,
}

/// A lead turned down, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRejected {
    /// The lead.
    pub lead_id: Uuid,
    /// Why.
    pub reason: String,
}

/// A lead's personal data was erased: its key destroyed, its name, phone and email
/// read as [`crate::personal::ERASED`] from now on (not a spec type: issue 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadErased {
    /// The lead.
    pub lead_id: Uuid,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A deal opened in a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealOpened {
    /// The deal.
    pub deal_id: Uuid,
    /// Its client.
    pub client_id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Uuid,
    /// The stage it opened at.
    pub stage_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its expected amount, minor units.
    pub amount: i64,
    /// The responsible manager.
    pub manager_id: Uuid,
    /// Where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When it is expected to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_on: Option<NaiveDate>,
    /// The lead it was converted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<Uuid>,
}

/// A deal moved to another stage of its pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealStageChanged {
    /// The deal.
    pub deal_id: Uuid,
    /// The stage before.
    pub from_stage_id: Uuid,
    /// The stage now.
    pub to_stage_id: Uuid,
}

/// A deal's expected amount changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealAmountChanged {
    /// The deal.
    pub deal_id: Uuid,
    /// The amount before, minor units.
    pub from: i64,
    /// The amount now, minor units.
    pub to: i64,
}

/// A deal passed from one manager to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealReassigned {
    /// The deal.
    pub deal_id: Uuid,
    /// The manager responsible before.
    pub from_manager_id: Uuid,
    /// The manager responsible now.
    pub to_manager_id: Uuid,
}

/// A deal won, for an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealWon {
    /// The deal.
    pub deal_id: Uuid,
    /// The amount won, minor units.
    pub amount: i64,
}

/// A deal lost, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLost {
    /// The deal.
    pub deal_id: Uuid,
    /// Why, a short reason the reports group by.
    pub reason: String,
    /// Free comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A won or lost deal opened again, at a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealReopened {
    /// The deal.
    pub deal_id: Uuid,
    /// The stage it is at now.
    pub stage_id: Uuid,
}

/// A call, email, meeting or message happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionLogged {
    /// The interaction.
    pub interaction_id: Uuid,
    /// Call, email, meeting or message.
    pub kind: InteractionKind,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The manager on our side.
    pub manager_id: Uuid,
    /// The client it was with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
    /// The deal it was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<Uuid>,
    /// The lead it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<Uuid>,
    /// How long it lasted (schema version 2; version 1 stored `duration_s`, a number
    /// of seconds, which reading upcasts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<InteractionDuration>,
    /// How it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// What it was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Whether it reached its goal (issue 18): an optional field added to schema
    /// version 2 without a new version, since every payload written before simply
    /// lacks it and reads as `None` (not said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_reached: Option<bool>,
}

/// How long an interaction lasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionDuration {
    /// Whole seconds, not negative.
    pub seconds: i64,
}

/// A task planned for a manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskScheduled {
    /// The task.
    pub task_id: Uuid,
    /// What to do.
    pub title: String,
    /// Kind of task, free text (`task` unless the command said).
    pub kind: String,
    /// The manager who must do it.
    pub assignee_id: Uuid,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The client it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
    /// The deal it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<Uuid>,
    /// Managers who help.
    #[serde(default)]
    pub co_executor_ids: Vec<Uuid>,
    /// Managers who watch.
    #[serde(default)]
    pub observer_ids: Vec<Uuid>,
}

/// A task's due time moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRescheduled {
    /// The task.
    pub task_id: Uuid,
    /// The due time before.
    pub from_due_at: DateTime<Utc>,
    /// The due time now.
    pub to_due_at: DateTime<Utc>,
}

/// A task passed from one manager to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReassigned {
    /// The task.
    pub task_id: Uuid,
    /// The assignee before.
    pub from_assignee_id: Uuid,
    /// The assignee now.
    pub to_assignee_id: Uuid,
}

/// A task done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCompleted {
    /// The task.
    pub task_id: Uuid,
    /// What came of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// A task called off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCancelled {
    /// The task.
    pub task_id: Uuid,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An analyst defined a custom projection (its definition as given, already checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionDefined {
    /// The projection: a UUID derived from its name (`custom_projection::id_of`).
    pub projection_id: Uuid,
    /// Its name, unique among the live custom projections.
    pub name: String,
    /// Its declarative definition (event types, filters, group-by, measures).
    pub definition: serde_json::Value,
}

/// A custom projection's definition was replaced; it is rebuilt beside the old one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionRedefined {
    /// The projection.
    pub projection_id: Uuid,
    /// Its new definition.
    pub definition: serde_json::Value,
}

/// A custom projection was dropped (its name may be defined again later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectionDropped {
    /// The projection.
    pub projection_id: Uuid,
}

/// An export of the base began: what it takes and how (who: the event's actor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataExported {
    /// The export.
    pub export_id: Uuid,
    /// What was exported: `events` (the log).
    pub what: String,
    /// `ndjson` or `csv`.
    pub format: String,
    /// The filters it was asked with (types, stream kind, period), as given.
    pub filters: serde_json::Value,
    /// `api` or `cli`.
    pub via: String,
}

/// An automation rule was defined (`rule-<uuid>`): its kind and params flattened in,
/// as `{rule_id, name, kind, params, defined_by?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDefined {
    /// The rule.
    pub rule_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its kind and params: `kind` and `params` in the JSON.
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// The manager who defined it, when the definer was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_by: Option<Uuid>,
}

/// An automation rule was disabled: it acts no more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDisabled {
    /// The rule.
    pub rule_id: Uuid,
}

/// A lead was neither converted nor rejected nor named by an interaction within a
/// `lead_sla` rule's minutes of its `received_at` (on the lead's stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadSlaBreached {
    /// The lead.
    pub lead_id: Uuid,
    /// Its manager when it was breached; `null` for a lead nobody was assigned.
    #[serde(default)]
    pub manager_id: Option<Uuid>,
    /// The rule's `sla_minutes`.
    pub minutes: i64,
}

/// An open task's assignee is to be reminded that it is due (on the task's stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReminderDue {
    /// The task.
    pub task_id: Uuid,
    /// Its assignee when reminded.
    pub assignee_id: Uuid,
    /// The due time the reminder is for.
    pub due_at: DateTime<Utc>,
}
