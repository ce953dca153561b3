//! The catalog of custom projections: the current definition of each defined name,
//! folded from the definition events (a built-in read model).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use crm_eventlog::EventLog;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

/// The read model of custom projection definitions (`projections.custom_catalog`).
pub struct Catalog;

/// The name of the catalog's read model.
pub const NAME: &str = "custom_catalog";

#[async_trait]
impl Projection for Catalog {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> Vec<&str> {
        vec!["custom_catalog"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "ProjectionDefined",
            "ProjectionRedefined",
            "ProjectionDropped",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        for (stored, event) in crate::batch::decode(events)? {
            match event {
                DomainEvent::ProjectionDefined(e) => {
                    sqlx::query(
                        "INSERT INTO custom_catalog \
                           (name, projection_id, generation, definition, defined_at, defined_by) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (name) DO UPDATE SET generation = excluded.generation, \
                           definition = excluded.definition, defined_at = excluded.defined_at, \
                           defined_by = excluded.defined_by",
                    )
                    .bind(&e.name)
                    .bind(e.projection_id)
                    .bind(stored.version)
                    .bind(&e.definition)
                    .bind(stored.occurred_at)
                    .bind(&stored.metadata.actor)
                    .execute(&mut **tx)
                    .await?;
                }
                DomainEvent::ProjectionRedefined(e) => {
                    sqlx::query(
                        "UPDATE custom_catalog SET generation = $2, definition = $3, \
                                defined_at = $4, defined_by = $5 WHERE projection_id = $1",
                    )
                    .bind(e.projection_id)
                    .bind(stored.version)
                    .bind(&e.definition)
                    .bind(stored.occurred_at)
                    .bind(&stored.metadata.actor)
                    .execute(&mut **tx)
                    .await?;
                }
                DomainEvent::ProjectionDropped(e) => {
                    sqlx::query("DELETE FROM custom_catalog WHERE projection_id = $1")
                        .bind(e.projection_id)
                        .execute(&mut **tx)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE custom_catalog")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// A defined custom projection, as the catalog has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// The generation of its current definition.
    pub generation: i64,
    /// Its current definition.
    pub definition: Value,
    /// When it was (re)defined.
    pub defined_at: DateTime<Utc>,
    /// Who (re)defined it.
    pub defined_by: Option<String>,
}

/// A catalog row: name, generation, definition, defined_at, defined_by.
type EntryRow = (String, i64, Value, DateTime<Utc>, Option<String>);

/// Every defined custom projection, by name.
pub async fn entries(pool: &PgPool) -> Result<Vec<Entry>, ProjectionError> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT name, generation, definition, defined_at, defined_by \
           FROM projections.custom_catalog ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, generation, definition, defined_at, defined_by)| Entry {
                name,
                generation,
                definition,
                defined_at,
                defined_by,
            },
        )
        .collect())
}

/// How many custom projections other than `name` the catalog holds. When a runner
/// keeps the catalog (it has a checkpoint), first waits up to `wait` for it to reflect
/// every definition appended so far ([`ProjectionError::Lagging`] past it); else
/// counts the catalog as it stands.
pub async fn count_defined(
    log: &EventLog,
    name: &str,
    wait: Duration,
) -> Result<i64, ProjectionError> {
    let kept: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM projections.checkpoints WHERE name = $1")
            .bind(NAME)
            .fetch_optional(log.pool())
            .await?;
    if let (Some(_), Some(last)) = (kept, log.last_position().await?) {
        crate::status::wait_until_reflects(log, NAME, last, wait).await?;
    }
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projections.custom_catalog WHERE name <> $1")
            .bind(name)
            .fetch_one(log.pool())
            .await?;
    Ok(count)
}
