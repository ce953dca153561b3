//! The `rules` read model: every automation rule defined (RuleDefined), with its
//! kind and params, enabled until disabled (RuleDisabled); `GET /automation/rules`
//! lists them in the order they were defined.

use std::sync::Arc;

use async_trait::async_trait;
use crm_domain::DomainEvent;
use sqlx::{Postgres, Transaction};

use crate::batch::decode;
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

mod list;

pub use list::{list_rules, RuleRow};

/// The projection's name.
pub const NAME: &str = "rules";

/// Keeps `projections.rules`.
pub struct Rules;

#[async_trait]
impl Projection for Rules {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> Vec<&str> {
        vec!["rules"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&["RuleDefined", "RuleDisabled"])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        // Rules are few and seldom change: one statement per event, in log order (a
        // batch may define a rule and disable it).
        for (stored, event) in decode(events)? {
            match event {
                DomainEvent::RuleDefined(e) => {
                    let params = match serde_json::to_value(&e.spec) {
                        Ok(mut tagged) => tagged["params"].take(),
                        Err(err) => {
                            return Err(ProjectionError::failed(format!(
                                "rule {} at position {}: {err}",
                                e.rule_id, stored.position
                            )))
                        }
                    };
                    // Written once: a second definition of the id is never appended
                    // (the conflict is a replay).
                    sqlx::query(
                        "INSERT INTO rules (rule_id, name, kind, params, enabled, defined_at, \
                                            defined_by, disabled_at, position) \
                         VALUES ($1, $2, $3, $4, true, $5, $6, NULL, $7) \
                         ON CONFLICT (rule_id) DO NOTHING",
                    )
                    .bind(e.rule_id)
                    .bind(&e.name)
                    .bind(e.spec.kind())
                    .bind(params)
                    .bind(stored.occurred_at)
                    .bind(e.defined_by)
                    .bind(stored.position)
                    .execute(&mut **tx)
                    .await?;
                }
                DomainEvent::RuleDisabled(e) => {
                    sqlx::query(
                        "UPDATE rules SET enabled = false, disabled_at = $2 \
                          WHERE rule_id = $1 AND enabled",
                    )
                    .bind(e.rule_id)
                    .bind(stored.occurred_at)
                    .execute(&mut **tx)
                    .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE rules").execute(&mut **tx).await?;
        Ok(())
    }
}
