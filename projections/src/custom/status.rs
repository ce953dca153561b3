//! Where each custom projection stands: its definition, its live generation, and the
//! progress of a generation being built.

use chrono::{DateTime, Utc};
use crm_eventlog::EventLog;
use serde::Serialize;
use serde_json::Value;

use super::catalog;
use super::projection::checkpoint_name;
use crate::error::ProjectionError;

/// True when projection `name` has applied every event of the log as it is now.
pub(crate) async fn caught_up(log: &EventLog, name: &str) -> Result<bool, ProjectionError> {
    let Some(last) = log.last_position().await? else {
        return Ok(true);
    };
    let Some(target) = log.cursor_of(last).await? else {
        return Ok(false);
    };
    crate::status::reflects(log, name, target).await
}

/// How long a count of the log by type serves progress figures.
const COUNTS_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

type Counts = std::collections::BTreeMap<String, i64>;

/// The log's events by type, counted at most every [`COUNTS_FRESH`] per database.
async fn counts_by_type(log: &EventLog) -> Result<Counts, ProjectionError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Instant;
    static CACHE: OnceLock<Mutex<HashMap<String, (Instant, Counts)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let key = log
        .pool()
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    {
        let kept = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, counts)) = kept.get(&key) {
            if at.elapsed() < COUNTS_FRESH {
                return Ok(counts.clone());
            }
        }
    }
    let counts = log.count_by_type().await?;
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, (Instant::now(), counts.clone()));
    Ok(counts)
}

/// A generation's build or upkeep, as `GET /projections` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationStatus {
    /// The generation (the definition stream's version that gave it).
    pub generation: i64,
    /// `running`, `failed` (retrying) or `stopped`; None before a runner took it.
    pub status: Option<String>,
    /// Events applied so far.
    pub events_applied: i64,
    /// Events of its types in the log now: the build's goal.
    pub events_total: i64,
    /// When failed: the error.
    pub last_error: Option<String>,
}

/// A custom projection's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomStatus {
    /// Its name.
    pub name: String,
    /// `building` (no generation answers yet), `live`, or `rebuilding` (a new
    /// definition is built beside the live one).
    pub state: &'static str,
    /// Its current definition.
    pub definition: Value,
    /// When it was last (re)defined, and by whom.
    pub defined_at: DateTime<Utc>,
    /// Who (re)defined it last.
    pub defined_by: Option<String>,
    /// The generation answering queries, if any.
    pub live: Option<GenerationStatus>,
    /// The generation being built, if any.
    pub building: Option<GenerationStatus>,
}

/// Every custom projection, by name; `only` narrows to one name.
pub async fn custom_status(
    log: &EventLog,
    only: Option<&str>,
) -> Result<Vec<CustomStatus>, ProjectionError> {
    let pool = log.pool();
    let entries: Vec<catalog::Entry> = catalog::entries(pool)
        .await?
        .into_iter()
        .filter(|e| only.is_none_or(|n| n == e.name))
        .collect();
    let live: std::collections::HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT name, generation FROM projections.custom_runtime WHERE live",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    // Counting the log's events by type reads it whole: only for a build's progress,
    // and at most every few seconds (a dashboard polling it must not slow the build).
    let per_type = if entries
        .iter()
        .any(|e| live.get(&e.name) != Some(&e.generation))
    {
        counts_by_type(log).await?
    } else {
        Default::default()
    };
    let mut out = Vec::new();
    for entry in entries {
        let live = live.get(&entry.name).copied();
        let types: Vec<String> = super::definition::parse(&entry.definition)
            .ok()
            .and_then(|d| super::plan::Plan::new(d).ok())
            .map(|p| p.feed_types().to_vec())
            .unwrap_or_default();
        let total: i64 = types.iter().filter_map(|t| per_type.get(t)).sum();
        let generation = |g: i64| generation_status(pool, &entry.name, g, total);
        let live_status = match live {
            Some(g) => Some(generation(g).await?),
            None => None,
        };
        let building = if live == Some(entry.generation) {
            None
        } else {
            Some(generation(entry.generation).await?)
        };
        out.push(CustomStatus {
            state: match (&live_status, &building) {
                (None, _) => "building",
                (Some(_), Some(_)) => "rebuilding",
                (Some(_), None) => "live",
            },
            name: entry.name,
            definition: entry.definition,
            defined_at: entry.defined_at,
            defined_by: entry.defined_by,
            live: live_status,
            building,
        });
    }
    Ok(out)
}

async fn generation_status(
    pool: &sqlx::PgPool,
    name: &str,
    generation: i64,
    total: i64,
) -> Result<GenerationStatus, ProjectionError> {
    let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT status, events_applied, last_error FROM projections.checkpoints WHERE name = $1",
    )
    .bind(checkpoint_name(name, generation))
    .fetch_optional(pool)
    .await?;
    let (status, applied, last_error) = match row {
        Some((s, a, e)) => (Some(s), a, e),
        None => (None, 0, None),
    };
    Ok(GenerationStatus {
        generation,
        status,
        events_applied: applied,
        events_total: total.max(applied),
        last_error,
    })
}

/// The live generation of custom projection `name` as a runnable projection (to
/// rebuild it beside its live tables); None when it has none, or when its
/// definition is refused (it is not built at all, see the supervisor).
pub async fn live_projection(
    pool: &sqlx::PgPool,
    name: &str,
) -> Result<Option<super::CustomProjection>, ProjectionError> {
    let live: Option<(i64, Value)> = sqlx::query_as(
        "SELECT generation, definition FROM projections.custom_runtime WHERE name = $1 AND live",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some((generation, definition)) = live else {
        return Ok(None);
    };
    let Ok(plan) = super::compile(&definition) else {
        return Ok(None);
    };
    Ok(Some(super::CustomProjection::new(name, generation, plan)))
}

/// How many rows the live generation of custom projection `name` holds; None while
/// it has no live generation (its first build still running, or never defined).
pub async fn live_row_count(
    pool: &sqlx::PgPool,
    name: &str,
) -> Result<Option<i64>, ProjectionError> {
    let live: Option<i64> = sqlx::query_scalar(
        "SELECT generation FROM projections.custom_runtime WHERE name = $1 AND live",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some(generation) = live else {
        return Ok(None);
    };
    let tables = super::table::Tables::of(name, generation);
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM projections.\"{}\"",
        tables.rows
    ))
    .fetch_one(pool)
    .await?;
    Ok(Some(rows))
}
