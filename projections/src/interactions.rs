//! The `interactions` read model: every interaction logged (a call, email, meeting
//! or message); `GET /interactions` lists them, newest first, each with its
//! manager's and client's names (from the manager KPIs and clients read models).

use std::sync::Arc;

use async_trait::async_trait;
use crm_domain::values::{Direction, InteractionKind};
use crm_domain::DomainEvent;
use sqlx::{Postgres, Transaction};

use crate::batch::decode;
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

mod list;

pub use list::{interaction, list_interactions, InteractionFilter, InteractionRow};

/// The projection's name.
pub const NAME: &str = "interactions";

/// Keeps `projections.interactions`.
pub struct Interactions;

/// An interaction's kind as the API spells it.
fn kind_name(kind: InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Call => "call",
        InteractionKind::Email => "email",
        InteractionKind::Meeting => "meeting",
        InteractionKind::Message => "message",
    }
}

/// A direction as the API spells it.
fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

#[async_trait]
impl Projection for Interactions {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> Vec<&str> {
        vec!["interactions"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&["InteractionLogged"])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let events = decode(events)?;
        let logged: Vec<_> = events
            .iter()
            .filter_map(|(stored, event)| match event {
                DomainEvent::InteractionLogged(e) => Some((stored.occurred_at, e)),
                _ => None,
            })
            .collect();
        if logged.is_empty() {
            return Ok(());
        }
        // Written once: an interaction is never changed (the conflict is a replay).
        sqlx::query(
            "INSERT INTO interactions (interaction_id, kind, direction, manager_id, client_id, \
                    deal_id, lead_id, occurred_at, duration_s, outcome, goal, notes) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], \
                                  $6::uuid[], $7::uuid[], $8::timestamptz[], $9::int8[], $10::text[], \
                                  $11::text[], $12::text[]) \
             ON CONFLICT (interaction_id) DO NOTHING",
        )
        .bind(logged.iter().map(|(_, e)| e.interaction_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| kind_name(e.kind)).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| direction_name(e.direction)).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.manager_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.client_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.deal_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.lead_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|(at, _)| *at).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.duration.map(|d| d.seconds)).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.outcome.as_deref()).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.goal.as_deref()).collect::<Vec<_>>())
        .bind(logged.iter().map(|(_, e)| e.notes.as_deref()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE interactions")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
