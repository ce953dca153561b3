//! The `leads` read model: every lead as it stands and whether anyone has answered
//! it; the overdue leads and leads reports read it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::projection::Projection;

/// The projection's name.
pub const NAME: &str = "leads";

/// Keeps `projections.leads`.
pub struct Leads;

#[async_trait]
impl Projection for Leads {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["leads"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        let types = [
            "LeadCaptured",
            "LeadAssigned",
            "LeadConverted",
            "LeadRejected",
            "InteractionLogged",
        ];
        Some(types.iter().map(|t| (*t).to_owned()).collect())
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for stored in events {
            let event = DomainEvent::from_stored(
                &stored.event_type,
                stored.schema_version,
                stored.data.clone(),
            )
            .map_err(|e| {
                ProjectionError::failed(format!("event at position {}: {e}", stored.position))
            })?;
            let query = match &event {
                DomainEvent::LeadCaptured(e) => sqlx::query(
                    "INSERT INTO leads (lead_id, name, source, channel, status, received_at, version) \
                     VALUES ($1, $2, $3, $4, 'new', $5, $6)",
                )
                .bind(e.lead_id)
                .bind(&e.name)
                .bind(&e.source)
                .bind(&e.channel)
                .bind(e.received_at)
                .bind(stored.version),
                DomainEvent::LeadAssigned(e) => sqlx::query(
                    "UPDATE leads SET manager_id = $2, \
                     status = CASE WHEN status = 'new' THEN 'assigned' ELSE status END, version = $3 \
                     WHERE lead_id = $1",
                )
                .bind(e.lead_id)
                .bind(e.manager_id)
                .bind(stored.version),
                DomainEvent::LeadConverted(e) => {
                    sqlx::query("UPDATE leads SET status = 'converted', version = $2 WHERE lead_id = $1")
                        .bind(e.lead_id)
                        .bind(stored.version)
                }
                DomainEvent::LeadRejected(e) => {
                    sqlx::query("UPDATE leads SET status = 'rejected', version = $2 WHERE lead_id = $1")
                        .bind(e.lead_id)
                        .bind(stored.version)
                }
                DomainEvent::InteractionLogged(e) => match e.lead_id {
                    Some(lead_id) => {
                        sqlx::query("UPDATE leads SET contacted = true WHERE lead_id = $1").bind(lead_id)
                    }
                    None => continue,
                },
                _ => continue,
            };
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE leads").execute(&mut **tx).await?;
        Ok(())
    }
}

/// A lead nobody has answered in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WaitingLead {
    /// The lead.
    pub lead_id: Uuid,
    /// Who asked.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// The manager it is assigned to, if any.
    pub manager_id: Option<Uuid>,
    /// When it came in.
    pub received_at: DateTime<Utc>,
    /// Seconds from `received_at` to now.
    pub waiting_seconds: i64,
}

/// Leads neither converted nor rejected, named by no interaction, received more than
/// `sla_minutes` before `now`; oldest first (then id).
pub async fn overdue_leads(
    pool: &PgPool,
    now: DateTime<Utc>,
    sla_minutes: i64,
) -> Result<Vec<WaitingLead>, ProjectionError> {
    let rows = sqlx::query_as::<_, WaitingLead>(
        "SELECT lead_id, name, source, manager_id, received_at, \
                floor(extract(epoch FROM ($1 - received_at)))::bigint AS waiting_seconds \
           FROM projections.leads \
          WHERE status IN ('new', 'assigned') AND NOT contacted \
            AND received_at < $1 - make_interval(mins => $2::int) \
          ORDER BY received_at, lead_id",
    )
    .bind(now)
    .bind(sla_minutes)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// What leads are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadsBy {
    /// The manager assigned now.
    Manager,
    /// `new`, `assigned`, `converted` or `rejected` now.
    Status,
    /// Where they came from.
    Source,
}

/// Leads of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeadGroup {
    /// The group's key (null: no manager).
    pub key: Option<String>,
    /// Leads received in the period.
    pub leads: i64,
}

/// Leads received in `[from, to)` by `by`, most leads first, then key.
pub async fn leads_by(
    pool: &PgPool,
    by: LeadsBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<LeadGroup>, ProjectionError> {
    let key = match by {
        LeadsBy::Manager => "manager_id::text",
        LeadsBy::Status => "status",
        LeadsBy::Source => "source",
    };
    let sql = format!(
        "SELECT {key} AS key, count(*) AS leads FROM projections.leads \
          WHERE received_at >= $1 AND received_at < $2 GROUP BY 1 ORDER BY count(*) DESC, 1 NULLS LAST"
    );
    let rows = sqlx::query_as::<_, LeadGroup>(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}
