//! The rows of the reports as the OpenAPI document describes them: the read models'
//! row types, which the handlers answer as they are, know nothing of OpenAPI, so
//! these types only describe their fields (names, types, definitions; the figures'
//! full definitions are in docs/reports.md). `tests/tests/report_schemas.rs` checks
//! that every report's rows carry exactly the fields described here.
#![allow(dead_code)] // Never built: each only describes a row.

use chrono::{DateTime, NaiveDate, Utc};
use utoipa::ToSchema;
use uuid::Uuid;

/// Expected sales of one month.
#[derive(Debug, ToSchema)]
pub struct ForecastMonth {
    /// The month of the deals' `expected_close_on`, `YYYY-MM`.
    month: String,
    /// Open deals expected to close in the month.
    deals: i64,
    /// Their summed current amounts, minor units (exact at any size: docs/reports.md).
    amount: i128,
    /// round(Σ amount × probability of the deal's current stage), summed exactly and
    /// rounded once, halves away from zero; minor units.
    weighted_amount: i128,
}

/// An open deal past its expected close date.
#[derive(Debug, ToSchema)]
pub struct OverdueDeal {
    /// The deal.
    deal_id: Uuid,
    /// Its title.
    title: String,
    /// The manager responsible now.
    manager_id: Uuid,
    /// Its current stage.
    stage_id: Uuid,
    /// Its current amount, minor units.
    amount: i64,
    /// The date it was expected to close by.
    expected_close_on: NaiveDate,
    /// Days from `expected_close_on` to the UTC date of `now`.
    days_overdue: i32,
}

/// The losses of one reason in the period.
#[derive(Debug, ToSchema)]
pub struct LossReason {
    /// The reason given with DealLost, as given.
    reason: String,
    /// DealLost events with this reason in the period (a deal lost, reopened and lost
    /// again counts twice).
    deals: i64,
    /// The deals' amounts as they stood at each loss, summed; minor units (exact at
    /// any size: docs/reports.md).
    amount: i128,
}

/// The won revenue of one group.
#[derive(Debug, ToSchema)]
pub struct RevenueGroup {
    /// The manager responsible at the win, the deal's source, pipeline or client (an id,
    /// or the source's text); null groups the deals without a source. By `product` a
    /// product's id, by `category` its category, by `novelty` `new` or `repeat`, by
    /// `first_contact` `inbound`, `outbound` or `unknown`. A merged client's wins count
    /// for its survivor.
    key: Option<String>,
    /// DealWon events in the period (a deal won, reopened and won again counts twice);
    /// by `product`, `category`, `novelty` and `first_contact`: distinct deals.
    deals: i64,
    /// The amounts those DealWon recorded, summed; by `product` and `category`, Σ
    /// quantity × price of the deals' lines as they stood at each win; minor units
    /// (exact at any size: docs/reports.md).
    amount: i128,
}

/// The invoices of one group issued in the period (issue 18).
#[derive(Debug, ToSchema)]
pub struct InvoiceGroup {
    /// The manager responsible for the invoice's deal at the issue, or the deal's
    /// client (an id).
    key: String,
    /// Invoices issued in the period.
    issued: i64,
    /// Their amounts, summed; minor units (exact at any size).
    issued_amount: i128,
    /// Their payments recorded so far, summed; minor units.
    paid_amount: i128,
    /// issued_amount − paid_amount; minor units.
    outstanding_amount: i128,
    /// The outstanding amounts of those whose `due_on` is before today; minor units.
    overdue_amount: i128,
}

/// A plan's targets, what was done, or the percent done (issue 18): in `targets` and
/// `percent` null for a figure the plan sets no target for.
#[derive(Debug, ToSchema)]
pub struct PlanFigures {
    /// Calls.
    calls: Option<f64>,
    /// Meetings.
    meetings: Option<f64>,
    /// The calls' summed seconds.
    call_seconds: Option<f64>,
    /// DealWon while he was responsible.
    deals_won: Option<f64>,
    /// The amounts those DealWon recorded, minor units.
    won_amount: Option<f64>,
}

/// One manager's plan for the month and what he did in it (issue 18).
#[derive(Debug, ToSchema)]
pub struct PlanRow {
    /// The manager.
    manager_id: Uuid,
    /// His name.
    name: String,
    /// The targets of his latest plan for the month (only those set).
    targets: PlanFigures,
    /// calls, meetings, call_seconds, deals_won, won_amount as the managers report
    /// counts them over the month.
    actual: PlanFigures,
    /// Per target set: round(100 × actual / target, 1); null for a figure without one.
    percent: PlanFigures,
}

/// An open task past its due time.
#[derive(Debug, ToSchema)]
pub struct OverdueTask {
    /// The task.
    task_id: Uuid,
    /// Its title.
    title: String,
    /// Its assignee now.
    assignee_id: Uuid,
    /// The due time in force now.
    due_at: DateTime<Utc>,
    /// Whole seconds from `due_at` to `now`, rounded down.
    overdue_seconds: i64,
    /// The client it is about.
    client_id: Option<Uuid>,
    /// The deal it is about.
    deal_id: Option<Uuid>,
}

/// A lead nobody has answered in time.
#[derive(Debug, ToSchema)]
pub struct WaitingLead {
    /// The lead.
    lead_id: Uuid,
    /// Who asked; absent when hidden from the token's role (always for analysts).
    #[schema(required = false)]
    name: String,
    /// Where the lead came from; absent when hidden from the token's role.
    #[schema(required = false)]
    source: String,
    /// The manager it is assigned to now (null: none); absent when hidden from the
    /// token's role.
    manager_id: Option<Uuid>,
    /// When it came in: the LeadCaptured's `occurred_at`.
    received_at: DateTime<Utc>,
    /// Whole seconds from `received_at` to `now`, rounded down.
    waiting_seconds: i64,
}

/// The leads of one group.
#[derive(Debug, ToSchema)]
pub struct LeadGroup {
    /// The manager's id (null: no manager), the status now, or the source.
    key: Option<String>,
    /// Leads captured in the period.
    leads: i64,
}

/// One manager's figures over the period: events with `occurred_at` in `[from, to)`,
/// interactions for their `manager_id`, the rest for the manager responsible at the
/// time of the event.
#[derive(Debug, ToSchema)]
pub struct ManagerKpis {
    /// The manager.
    manager_id: Uuid,
    /// His name.
    name: String,
    /// His department.
    department: String,
    /// Interactions of kind `call` (`calls_outbound` + `calls_inbound`).
    calls: i64,
    /// Calls with direction `outbound`.
    calls_outbound: i64,
    /// Calls with direction `inbound`.
    calls_inbound: i64,
    /// The calls' summed `duration_s` (a call without one adds 0; exact at any size:
    /// docs/reports.md).
    call_seconds: i128,
    /// Calls that carry a goal: `goal` or `goal_reached` given (issue 18).
    calls_with_goal: i64,
    /// Calls whose `goal_reached` is true (issue 18).
    calls_goal_reached: i64,
    /// Interactions of kind `meeting`.
    meetings: i64,
    /// Interactions of kind `email`.
    emails: i64,
    /// Interactions of kind `message`.
    messages: i64,
    /// Distinct clients among his interactions of any kind (those naming a client).
    clients_contacted: i64,
    /// Calls naming a client / distinct clients among those calls, 2 decimals; null when
    /// no call named a client.
    calls_per_client: Option<f64>,
    /// LeadAssigned events naming him.
    leads_assigned: i64,
    /// LeadConverted of leads he was responsible for then.
    leads_converted: i64,
    /// LeadRejected of leads he was responsible for then.
    leads_rejected: i64,
    /// DealOpened with him as the deal's manager.
    deals_opened: i64,
    /// DealWon while he was responsible for the deal.
    deals_won: i64,
    /// DealLost while he was responsible (a deal lost, reopened and lost again counts
    /// twice).
    deals_lost: i64,
    /// The amounts those DealWon recorded, summed; minor units (exact at any size:
    /// docs/reports.md).
    won_amount: i128,
    /// deals_won / (deals_won + deals_lost), 4 decimals; null when both are 0.
    win_rate: Option<f64>,
    /// TaskCompleted of tasks he was assignee of then.
    tasks_completed: i64,
    /// Of those, completed after the `due_at` then in force.
    tasks_completed_late: i64,
}

/// One manager's part in the open tasks.
#[derive(Debug, ToSchema)]
pub struct TaskPeople {
    /// The manager.
    manager_id: Uuid,
    /// His name.
    name: String,
    /// Open tasks he scheduled (the actor of their TaskScheduled).
    assigned: i64,
    /// Open tasks he is the assignee of.
    doing: i64,
    /// Open tasks he is a co-executor of.
    helping: i64,
    /// Open tasks he is an observer of.
    observing: i64,
}
