//! The leads report's rollup, `lead_counts`: leads counted per received day and month
//! by source, status and manager, moved as a batch moves its leads.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::StoredLead;
use crate::calendar::month_of;
use crate::entity_status::LeadStatus;
use crate::error::ProjectionError;

/// Where a lead counts in `lead_counts`: its received day and month, source, status
/// and manager (`''`: none).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Counted {
    day: NaiveDate,
    source: String,
    status: LeadStatus,
    manager: String,
}

impl Counted {
    /// Where `lead` counts.
    pub(super) fn of(lead: &StoredLead) -> Self {
        Counted {
            day: lead.received_at.date_naive(),
            source: lead.source.clone(),
            status: lead.status,
            manager: lead.manager_id.map(|m| m.to_string()).unwrap_or_default(),
        }
    }

    /// The rollup rows the lead counts in: (span, bucket, dim, key).
    fn rows(&self) -> [(&'static str, NaiveDate, &'static str, &str); 6] {
        let month = month_of(self.day);
        [
            ("day", self.day, "source", &self.source),
            ("day", self.day, "status", self.status.as_str()),
            ("day", self.day, "manager", &self.manager),
            ("month", month, "source", &self.source),
            ("month", month, "status", self.status.as_str()),
            ("month", month, "manager", &self.manager),
        ]
    }
}

/// Moves the batch's leads in `lead_counts`: out of where they counted before it
/// (`before`, the stored leads), into where they count now; rows left at zero go.
pub(super) async fn write_counts(
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
    // The rows a move left at zero go (so a rebuild gives the same rows): the upsert
    // returns them, and only a batch that left some runs the delete.
    let zero: Vec<(String, NaiveDate, String, String)> = sqlx::query_as(
        "WITH moved AS ( \
           INSERT INTO lead_counts (span, bucket, dim, key, leads) \
           SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[], $5::int8[]) \
           ON CONFLICT (span, dim, bucket, key) DO UPDATE SET leads = lead_counts.leads + EXCLUDED.leads \
           RETURNING span, bucket, dim, key, leads) \
         SELECT span, bucket, dim, key FROM moved WHERE leads = 0",
    )
    .bind(&spans)
    .bind(&buckets)
    .bind(&dims)
    .bind(&keys)
    .bind(&moved)
    .fetch_all(&mut **tx)
    .await?;
    if !zero.is_empty() {
        sqlx::query(
            "DELETE FROM lead_counts c \
              USING UNNEST($1::text[], $2::date[], $3::text[], $4::text[]) AS m(span, bucket, dim, key) \
              WHERE c.span = m.span AND c.dim = m.dim AND c.bucket = m.bucket AND c.key = m.key \
                AND c.leads = 0",
        )
        .bind(zero.iter().map(|z| z.0.as_str()).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.1).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.2.as_str()).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.3.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
