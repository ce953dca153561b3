//! One generation of a custom projection as a [`Projection`] the runtime runs like the
//! built-in ones: its own checkpoint, batches, failures and rebuilds.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use crm_eventlog::RecordedEvent;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::entities::EntityKind;
use super::measures::Groups;
use super::plan::{Entities, Plan};
use super::table::{self, Tables};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

/// The prefix of every custom projection's checkpoint name.
pub const PREFIX: &str = "custom.";

/// Generation `generation` of the custom projection `name`.
#[derive(Debug, Clone)]
pub struct CustomProjection {
    key: String,
    name: String,
    generation: i64,
    tables: Tables,
    plan: Arc<Plan>,
}

impl CustomProjection {
    /// Generation `generation` of `name`, running `plan`.
    pub fn new(name: &str, generation: i64, plan: Plan) -> Self {
        CustomProjection {
            key: checkpoint_name(name, generation),
            name: name.to_owned(),
            generation,
            tables: Tables::of(name, generation),
            plan: Arc::new(plan),
        }
    }

    /// The projection's name (as analysts call it).
    pub fn projection_name(&self) -> &str {
        &self.name
    }

    /// Its generation.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Its plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Its tables.
    pub fn table_names(&self) -> &Tables {
        &self.tables
    }
}

/// The checkpoint (and runner) name of a generation: `custom.<name>.<generation>`.
pub fn checkpoint_name(name: &str, generation: i64) -> String {
    format!("{PREFIX}{name}.{generation}")
}

#[async_trait]
impl Projection for CustomProjection {
    // The runtime's name is the checkpoint's (`custom.<name>.<generation>`).
    #[allow(clippy::misnamed_getters)]
    fn name(&self) -> &str {
        &self.key
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> Vec<&str> {
        self.tables.all().to_vec()
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(self.plan.feed_types().to_vec())
    }

    async fn setup(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        if !super::supervisor::listed(tx, &self.name, self.generation).await? {
            return Err(ProjectionError::failed(format!(
                "custom projection {} generation {} was dropped",
                self.name, self.generation
            )));
        }
        for statement in table::create(&self.tables, &self.plan) {
            sqlx::query(&statement).execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let stored: Vec<&RecordedEvent> = events.iter().map(|e| &e.stored).collect();
        let mut entities = Entities::new();
        if self.plan.joins() {
            load_entities(tx, &self.tables, &self.plan, &stored, &mut entities).await?;
        }
        let mut dirty = HashSet::new();
        let mut groups = Groups::new();
        self.plan
            .fold(&stored, &mut entities, &mut dirty, &mut groups);
        table::store_entities(tx, &self.tables, &entities, &dirty).await?;
        table::store_groups(tx, &self.tables, &self.plan, &groups).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        let names: Vec<String> = self
            .tables
            .all()
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect();
        sqlx::query(&format!("TRUNCATE {}", names.join(", ")))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Loads the entities a batch may join: those its events name, then the clients and
/// managers those deals and clients name in turn.
async fn load_entities(
    tx: &mut Transaction<'_, Postgres>,
    tables: &Tables,
    plan: &Plan,
    events: &[&RecordedEvent],
    entities: &mut Entities,
) -> Result<(), ProjectionError> {
    let first: Vec<(EntityKind, Uuid)> = plan.named_entities(events).into_iter().collect();
    table::load_entities(tx, tables, &first, entities).await?;
    let mut second = BTreeSet::new();
    for ((kind, _), attrs) in entities.iter() {
        let fields: &[&str] = match kind {
            EntityKind::Deal => &["client_id", "manager_id"],
            EntityKind::Client => &["manager_id"],
            EntityKind::Manager => &[],
        };
        for field in fields {
            let id = attrs
                .get(*field)
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            if let Some(id) = id {
                let kind = if *field == "client_id" {
                    EntityKind::Client
                } else {
                    EntityKind::Manager
                };
                if !entities.contains_key(&(kind, id)) {
                    second.insert((kind, id));
                }
            }
        }
    }
    let second: Vec<(EntityKind, Uuid)> = second.into_iter().collect();
    table::load_entities(tx, tables, &second, entities).await
}
