//! A manager's day (`GET /managers/{id}/day`): his prospects, his clients with open
//! deals and his call tails, read across the leads, clients, deals, tasks and
//! interactions read models.
//!
//! Decisions where the contract is silent:
//! - **His**: leads whose manager he is now, clients whose responsible manager he is
//!   now, tasks whose assignee he is now.
//! - **Clients with open deals** count the open deals (neither won nor lost) of the
//!   client and of the clients merged into it (any deal's manager), `open_amount`
//!   their current amounts; merged clients are not listed. Largest open amount
//!   first, then client id.
//! - **Tails**: open tasks of kind `call` whose due time now is on `date` or the day
//!   before (UTC days), with no interaction of kind `call` (by anyone, either
//!   direction) naming the task's client, or a client merged with it (both resolved
//!   to their survivors), that occurred at or after the task's TaskScheduled. A task
//!   that names no client has no call to it: it is a tail. By due time, then task id.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

/// A lead no interaction names yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Prospect {
    /// The lead.
    pub lead_id: Uuid,
    /// Its name (`[erased]` once erased).
    pub name: String,
    /// When it came in.
    pub received_at: DateTime<Utc>,
}

/// One of his clients with open deals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DayClient {
    /// The client.
    pub client_id: Uuid,
    /// Its name (`[erased]` once erased).
    pub name: String,
    /// Its open deals (with those of the clients merged into it).
    pub open_deals: i64,
    /// Their current amounts, summed (exact: `crate::total`).
    pub open_amount: Total,
}

/// A call task due on the day or the day before with no call logged since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Tail {
    /// The task.
    pub task_id: Uuid,
    /// Its title.
    pub title: String,
    /// The client it names.
    pub client_id: Option<Uuid>,
    /// When it is due (after reschedules).
    pub due_at: DateTime<Utc>,
}

/// A manager's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagerDay {
    /// The day.
    pub date: NaiveDate,
    /// His leads neither converted nor rejected that no interaction names yet,
    /// oldest first (then by id).
    pub prospects: Vec<Prospect>,
    /// His clients with open deals, largest open amount first (then by id).
    pub clients: Vec<DayClient>,
    /// His open call tasks due on `date` or the day before with no call to their
    /// client since they were scheduled, by due time (then by id).
    pub tails: Vec<Tail>,
}

/// The day `date` of manager `manager_id`, as the read models stand.
pub async fn manager_day(
    pool: &PgPool,
    manager_id: Uuid,
    date: NaiveDate,
) -> Result<ManagerDay, ProjectionError> {
    let prospects = sqlx::query_as::<_, Prospect>(
        "SELECT lead_id, name, received_at FROM projections.leads \
          WHERE manager_id = $1 AND status IN ('new', 'assigned') AND NOT contacted \
          ORDER BY received_at, lead_id",
    )
    .bind(manager_id)
    .fetch_all(pool)
    .await?;
    let clients = sqlx::query_as::<_, DayClient>(concat!(
        "SELECT c.client_id, c.name, count(*) AS open_deals, sum(d.amount)::text AS open_amount \
           FROM projections.client_cards c \
          CROSS JOIN LATERAL ",
        // Each client's members first, then their open deals by client (an index
        // lookup each), not every open deal tested against every client.
        crate::clients::members_of!("c.client_id"),
        " m(member) \
           JOIN projections.deals d ON d.client_id = m.member AND d.status = 'open' \
          WHERE c.manager_id = $1 \
            AND NOT EXISTS (SELECT 1 FROM projections.client_survivors sv \
                             WHERE sv.client_id = c.client_id) \
          GROUP BY c.client_id, c.name \
          ORDER BY sum(d.amount) DESC, c.client_id",
    ))
    .bind(manager_id)
    .fetch_all(pool)
    .await?;
    let start = date.and_time(chrono::NaiveTime::MIN).and_utc();
    let day_before = start - TimeDelta::days(1);
    let end = start + TimeDelta::days(1);
    let tails = sqlx::query_as::<_, Tail>(concat!(
        "SELECT t.task_id, t.title, t.client_id, t.due_at FROM projections.tasks t \
          WHERE t.assignee_id = $1 AND t.kind = 'call' AND t.status = 'open' \
            AND t.due_at >= $2 AND t.due_at < $3 \
            AND NOT EXISTS ( \
                SELECT 1 FROM ",
        // The calls since the task was scheduled, looked up by client (its group's
        // members, an index range each), not every call since then tested against them.
        crate::clients::members_of!(
            "(SELECT coalesce((SELECT merge_sv.survivor_id FROM projections.client_survivors merge_sv WHERE merge_sv.client_id = t.client_id), t.client_id))"
        ),
        " m(member) \
                  JOIN projections.interactions i ON i.client_id = m.member \
                 WHERE i.kind = 'call' AND i.occurred_at >= t.scheduled_at) \
          ORDER BY t.due_at, t.task_id",
    ))
    .bind(manager_id)
    .bind(day_before)
    .bind(end)
    .fetch_all(pool)
    .await?;
    Ok(ManagerDay {
        date,
        prospects,
        clients,
        tails,
    })
}
