//! The `leads` read model: every lead as it stands and whether anyone has answered
//! it; the lead list and card, the overdue leads and leads reports read it. A
//! `LeadErased` turns its personal values (name, phone, email) into `[erased]`.

use std::sync::Arc;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::DomainEvent;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::batch::{decode, touched_rows};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::managers::calendar::{month_of, next_month, whole};
use crate::projection::Projection;

mod list;

pub use list::{lead, list_leads, LeadFilter, LeadRow, Searched};

/// The projection's name.
pub const NAME: &str = "leads";

/// Keeps `projections.leads` and the leads report's rollup, `lead_counts`.
pub struct Leads;

/// A lead's row, as loaded and written back by a batch.
#[derive(sqlx::FromRow)]
struct StoredLead {
    lead_id: Uuid,
    name: String,
    phone: Option<String>,
    email: Option<String>,
    source: String,
    channel: Option<String>,
    manager_id: Option<Uuid>,
    client_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    status: String,
    rejected_reason: Option<String>,
    received_at: DateTime<Utc>,
    contacted: bool,
    version: i64,
}

/// The lead an event is about (an interaction's named lead included).
fn lead_of(event: &DomainEvent) -> Option<Uuid> {
    match event {
        DomainEvent::LeadCaptured(e) => Some(e.lead_id),
        DomainEvent::LeadAssigned(e) => Some(e.lead_id),
        DomainEvent::LeadConverted(e) => Some(e.lead_id),
        DomainEvent::LeadRejected(e) => Some(e.lead_id),
        DomainEvent::LeadErased(e) => Some(e.lead_id),
        DomainEvent::InteractionLogged(e) => e.lead_id,
        _ => None,
    }
}

#[async_trait]
impl Projection for Leads {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        // 2: phone, email, client, deal and rejection reason, for the lead list.
        2
    }

    fn tables(&self) -> Vec<&str> {
        vec!["leads", "lead_counts"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "LeadCaptured",
            "LeadAssigned",
            "LeadConverted",
            "LeadRejected",
            "LeadErased",
            "InteractionLogged",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let events = decode(events)?;
        let ids: Vec<Uuid> = events.iter().filter_map(|(_, e)| lead_of(e)).collect();
        let mut leads: HashMap<Uuid, StoredLead> = sqlx::query_as::<_, StoredLead>(
            "SELECT lead_id, name, phone, email, source, channel, manager_id, client_id, deal_id, \
                    status, rejected_reason, received_at, contacted, version \
               FROM leads WHERE lead_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|l| (l.lead_id, l))
        .collect();
        // Where the stored leads count in the report's rollup, before this batch.
        let before: HashMap<Uuid, Counted> = leads
            .values()
            .map(|l| (l.lead_id, Counted::of(l)))
            .collect();
        let mut touched = Vec::new();
        for (stored, event) in &events {
            if let DomainEvent::LeadCaptured(e) = event {
                leads.insert(
                    e.lead_id,
                    StoredLead {
                        lead_id: e.lead_id,
                        name: e.name.clone(),
                        phone: e.phone.clone(),
                        email: e.email.clone(),
                        source: e.source.clone(),
                        channel: e.channel.clone(),
                        manager_id: None,
                        client_id: e.client_id,
                        deal_id: None,
                        status: "new".to_owned(),
                        rejected_reason: None,
                        received_at: e.received_at,
                        contacted: false,
                        version: stored.version,
                    },
                );
                touched.push(e.lead_id);
                continue;
            }
            let Some(lead) = lead_of(event).and_then(|id| leads.get_mut(&id)) else {
                continue;
            };
            match event {
                DomainEvent::LeadAssigned(e) => {
                    lead.manager_id = Some(e.manager_id);
                    if lead.status == "new" {
                        lead.status = "assigned".to_owned();
                    }
                }
                DomainEvent::LeadConverted(e) => {
                    lead.status = "converted".to_owned();
                    lead.client_id = Some(e.client_id);
                    lead.deal_id = Some(e.deal_id);
                }
                DomainEvent::LeadRejected(e) => {
                    lead.status = "rejected".to_owned();
                    lead.rejected_reason = Some(e.reason.clone());
                }
                // Its personal values read as erased (the absent stay absent).
                DomainEvent::LeadErased(_) => {
                    let erased = || crate::personal::ERASED.to_owned();
                    lead.name = erased();
                    lead.phone = lead.phone.as_ref().map(|_| erased());
                    lead.email = lead.email.as_ref().map(|_| erased());
                }
                // An interaction naming the lead: answered (the lead's version stays).
                DomainEvent::InteractionLogged(_) => {
                    lead.contacted = true;
                    touched.push(lead.lead_id);
                    continue;
                }
                _ => continue,
            }
            lead.version = stored.version;
            touched.push(lead.lead_id);
        }
        let rows = touched_rows(touched, &leads);
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO leads (lead_id, name, phone, email, name_folded, email_folded, source, \
                    channel, manager_id, client_id, deal_id, status, rejected_reason, received_at, \
                    contacted, version) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::text[], $7::text[], $8::text[], $9::uuid[], $10::uuid[], \
                                  $11::uuid[], $12::text[], $13::text[], $14::timestamptz[], \
                                  $15::bool[], $16::int8[]) \
             ON CONFLICT (lead_id) DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone, \
                    email = EXCLUDED.email, name_folded = EXCLUDED.name_folded, \
                    email_folded = EXCLUDED.email_folded, manager_id = EXCLUDED.manager_id, \
                    client_id = EXCLUDED.client_id, deal_id = EXCLUDED.deal_id, \
                    status = EXCLUDED.status, rejected_reason = EXCLUDED.rejected_reason, \
                    contacted = EXCLUDED.contacted, version = EXCLUDED.version",
        )
        .bind(rows.iter().map(|l| l.lead_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.name.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.phone.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.email.as_deref()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|l| l.name.to_lowercase())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|l| l.email.as_deref().map(str::to_lowercase))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|l| l.source.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|l| l.channel.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|l| l.manager_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.client_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.deal_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.status.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|l| l.rejected_reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|l| l.received_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.contacted).collect::<Vec<_>>())
        .bind(rows.iter().map(|l| l.version).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        write_counts(tx, &before, &rows).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE leads, lead_counts")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Where a lead counts in `lead_counts`: its received day and month, source, status
/// and manager (`''`: none).
#[derive(Clone, PartialEq, Eq)]
struct Counted {
    day: NaiveDate,
    source: String,
    status: String,
    manager: String,
}

impl Counted {
    fn of(lead: &StoredLead) -> Self {
        Counted {
            day: lead.received_at.date_naive(),
            source: lead.source.clone(),
            status: lead.status.clone(),
            manager: lead.manager_id.map(|m| m.to_string()).unwrap_or_default(),
        }
    }

    /// The rollup rows the lead counts in: (span, bucket, dim, key).
    fn rows(&self) -> [(&'static str, NaiveDate, &'static str, &str); 6] {
        let month = month_of(self.day);
        [
            ("day", self.day, "source", &self.source),
            ("day", self.day, "status", &self.status),
            ("day", self.day, "manager", &self.manager),
            ("month", month, "source", &self.source),
            ("month", month, "status", &self.status),
            ("month", month, "manager", &self.manager),
        ]
    }
}

/// Moves the batch's leads in `lead_counts`: out of where they counted before it
/// (`before`, the stored leads), into where they count now; rows left at zero go.
async fn write_counts(
    tx: &mut Transaction<'_, Postgres>,
    before: &HashMap<Uuid, Counted>,
    rows: &[&StoredLead],
) -> Result<(), ProjectionError> {
    let mut deltas: HashMap<(&'static str, NaiveDate, &'static str, String), i64> = HashMap::new();
    let now: Vec<Counted> = rows.iter().map(|l| Counted::of(l)).collect();
    for (lead, counted) in rows.iter().zip(&now) {
        let old = before.get(&lead.lead_id);
        if old == Some(counted) {
            continue;
        }
        for (span, bucket, dim, key) in old.iter().flat_map(|o| o.rows()) {
            *deltas
                .entry((span, bucket, dim, key.to_owned()))
                .or_default() -= 1;
        }
        for (span, bucket, dim, key) in counted.rows() {
            *deltas
                .entry((span, bucket, dim, key.to_owned()))
                .or_default() += 1;
        }
    }
    deltas.retain(|_, n| *n != 0);
    if deltas.is_empty() {
        return Ok(());
    }
    let mut deltas: Vec<_> = deltas.into_iter().collect();
    deltas.sort_unstable();
    let spans: Vec<&str> = deltas.iter().map(|((s, _, _, _), _)| *s).collect();
    let buckets: Vec<NaiveDate> = deltas.iter().map(|((_, b, _, _), _)| *b).collect();
    let dims: Vec<&str> = deltas.iter().map(|((_, _, d, _), _)| *d).collect();
    let keys: Vec<&str> = deltas.iter().map(|((_, _, _, k), _)| k.as_str()).collect();
    let moved: Vec<i64> = deltas.iter().map(|(_, n)| *n).collect();
    sqlx::query(
        "INSERT INTO lead_counts (span, bucket, dim, key, leads) \
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[], $5::int8[]) \
         ON CONFLICT (span, dim, bucket, key) DO UPDATE SET leads = lead_counts.leads + EXCLUDED.leads",
    )
    .bind(&spans)
    .bind(&buckets)
    .bind(&dims)
    .bind(&keys)
    .bind(&moved)
    .execute(&mut **tx)
    .await?;
    if moved.iter().any(|n| *n < 0) {
        sqlx::query(
            "DELETE FROM lead_counts c \
              USING UNNEST($1::text[], $2::date[], $3::text[], $4::text[]) AS m(span, bucket, dim, key) \
              WHERE c.span = m.span AND c.dim = m.dim AND c.bucket = m.bucket AND c.key = m.key \
                AND c.leads = 0",
        )
        .bind(&spans)
        .bind(&buckets)
        .bind(&dims)
        .bind(&keys)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
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
    managers: Option<&[Uuid]>,
) -> Result<Vec<WaitingLead>, ProjectionError> {
    let rows = sqlx::query_as::<_, WaitingLead>(
        "SELECT lead_id, name, source, manager_id, received_at, \
                floor(extract(epoch FROM ($1 - received_at)))::bigint AS waiting_seconds \
           FROM projections.leads \
          WHERE status IN ('new', 'assigned') AND NOT contacted \
            AND received_at < $1 - make_interval(mins => $2::int) \
            AND ($3::uuid[] IS NULL OR manager_id = ANY($3)) \
          ORDER BY received_at, lead_id",
    )
    .bind(now)
    .bind(sla_minutes)
    .bind(managers)
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

/// Leads received in `[from, to)` by `by`, most leads first, then key; only those
/// assigned now to one of `managers` if given.
pub async fn leads_by(
    pool: &PgPool,
    by: LeadsBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<LeadGroup>, ProjectionError> {
    let (key, dim) = match by {
        LeadsBy::Manager => ("manager_id::text", "manager"),
        LeadsBy::Status => ("status", "status"),
        LeadsBy::Source => ("source", "source"),
    };
    if let Some(managers) = managers {
        // A few managers' leads: counted from the leads themselves (the rollup
        // counts every manager's together).
        let sql = format!(
            "SELECT {key} AS key, count(*) AS leads FROM projections.leads \
              WHERE received_at >= $1 AND received_at < $2 AND manager_id = ANY($3) \
              GROUP BY 1 ORDER BY count(*) DESC, 1 NULLS LAST"
        );
        let rows = sqlx::query_as::<_, LeadGroup>(&sql)
            .persistent(false)
            .bind(from)
            .bind(to)
            .bind(managers)
            .fetch_all(pool)
            .await?;
        return Ok(rows);
    }
    // `lead_counts` keeps "no manager" as ''.
    let counted = if by == LeadsBy::Manager {
        "nullif(c.key, '')"
    } else {
        "c.key"
    };
    let (day_start, day_end) = whole(from, to, |d| d, |d| d.succ_opt());
    let (month_start, month_end) = whole(from, to, month_of, next_month);
    // Whole days outside the whole months: before and after them.
    let days = if month_start < month_end {
        [day_start, month_start, month_end, day_end]
    } else {
        [day_start, day_end, day_end, day_end]
    };
    // The whole months and days from the rollup, the partial days at the edges from
    // the leads themselves.
    let sql = format!(
        "SELECT key, sum(n)::bigint AS leads FROM ( \
             SELECT {counted} AS key, c.leads AS n FROM projections.lead_counts c \
              WHERE c.span = 'month' AND c.dim = $5 AND c.bucket >= $7[1] AND c.bucket < $7[2] \
             UNION ALL \
             SELECT {counted}, c.leads FROM projections.lead_counts c \
              WHERE c.span = 'day' AND c.dim = $5 AND c.bucket >= $6[1] AND c.bucket < $6[2] \
             UNION ALL \
             SELECT {counted}, c.leads FROM projections.lead_counts c \
              WHERE c.span = 'day' AND c.dim = $5 AND c.bucket >= $6[3] AND c.bucket < $6[4] \
             UNION ALL \
             SELECT {key}, 1 FROM projections.leads WHERE received_at >= $1 AND received_at < $3 \
             UNION ALL \
             SELECT {key}, 1 FROM projections.leads WHERE received_at >= $4 AND received_at < $2 \
         ) parts GROUP BY key HAVING sum(n) > 0 ORDER BY sum(n) DESC, key NULLS LAST"
    );
    // Unnamed: planned for these bounds each time (a generic plan guesses them).
    let rows = sqlx::query_as::<_, LeadGroup>(&sql)
        .persistent(false)
        .bind(from)
        .bind(to)
        .bind(day_start)
        .bind(day_end)
        .bind(dim)
        .bind(days.map(|d| d.date_naive()))
        .bind([month_start, month_end].map(|d| d.date_naive()))
        .fetch_all(pool)
        .await?;
    Ok(rows)
}
