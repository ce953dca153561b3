//! The `leads` read model: every lead as it stands and whether anyone has answered
//! it; the lead list and card, the overdue leads and leads reports read it. A
//! `LeadErased` turns its personal values (name, phone, email) into `[erased]`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::batch::{decode, touched_rows};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

mod list;
mod overdue;
mod report;
mod rollup;

use rollup::{write_counts, Counted};

pub use crate::entity_status::LeadStatus;
pub use list::{lead, list_leads, LeadFilter, LeadRow, Searched};
pub use overdue::{overdue_lead_counts, overdue_leads, overdue_leads_page, WaitingLead};
pub use report::{leads_by, LeadGroup, LeadsBy};

/// The projection's name.
pub const NAME: &str = "leads";

/// Keeps `projections.leads` and the leads report's rollups, `lead_counts` and
/// `lead_counts_by_manager`.
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
    status: LeadStatus,
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
        vec!["leads", "lead_counts", "lead_counts_by_manager"]
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
                        status: LeadStatus::New,
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
                    if lead.status == LeadStatus::New {
                        lead.status = LeadStatus::Assigned;
                    }
                }
                DomainEvent::LeadConverted(e) => {
                    lead.status = LeadStatus::Converted;
                    lead.client_id = Some(e.client_id);
                    lead.deal_id = Some(e.deal_id);
                }
                DomainEvent::LeadRejected(e) => {
                    lead.status = LeadStatus::Rejected;
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
                // One naming a lead answered already changes nothing: not rewritten.
                DomainEvent::InteractionLogged(_) => {
                    if !lead.contacted {
                        lead.contacted = true;
                        touched.push(lead.lead_id);
                    }
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
        sqlx::query("TRUNCATE leads, lead_counts, lead_counts_by_manager")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
