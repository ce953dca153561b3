//! The funnel's moves and rollups (`funnel_moves`, `funnel_rollup`): what each deal
//! change does to the funnel, kept so that the funnel as of a time sums a few rollup
//! rows instead of folding every deal alive then.
//!
//! A deal is *regular* while its changes occurred in version order (none before the
//! latest one so far): its state as of any time is then a prefix of its changes, and
//! the funnel as of T is the sum of the moves up to T. A change that occurred before
//! an earlier one makes the deal *irregular* for good: its moves are taken back (rows
//! deleted, rollups decremented) and the funnel query folds it from `deal_changes`.
//! Every move is summed into the rollups as it is made and once more negated if taken
//! back, whatever the batches: the tables are the same however the log is cut.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::ProjectionError;

/// Where a deal counts in the funnel: open, at a stage, under a manager, with an
/// amount (None: won or lost, counted nowhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Standing {
    /// Its stage.
    pub stage_id: Uuid,
    /// Its manager.
    pub manager_id: Uuid,
    /// Its amount.
    pub amount: i64,
}

/// One move: a deal's contribution taken from (`deals` −1) or put at (+1) a stage.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Move {
    deal_id: Uuid,
    version: i64,
    deals: i32,
    occurred_at: DateTime<Utc>,
    pipeline_id: Uuid,
    stage_id: Uuid,
    manager_id: Uuid,
    amount: i64,
}

/// When a batch's deltas reach `funnel_rollup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rollups {
    /// Added to its rows by the batch (live batches).
    Now,
    /// Appended to `funnel_rollup_pending`, an unindexed scratch table of the copy
    /// being filled, and summed into `funnel_rollup` by [`sum_pending`] once it has
    /// caught up: one plain insert per batch instead of an upsert of every row it
    /// moves. The rows come out the same: a row is the sum of every delta of its key,
    /// and a key any batch touched has a row, even if its deltas sum to zero.
    Later,
}

/// The scratch table of [`Rollups::Later`], in the copy's schema.
const PENDING: &str = "funnel_rollup_pending";

/// Sums the deltas a copy's batches left in `funnel_rollup_pending` into
/// `funnel_rollup` and drops the scratch table (nothing if there is none).
pub(super) async fn sum_pending(tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
    if !exists(tx, PENDING).await? {
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO funnel_rollup (pipeline_id, manager_id, span, bucket, stage_id, deals, amount) \
         SELECT pipeline_id, manager_id, span, bucket, stage_id, sum(deals), sum(amount) \
           FROM {PENDING} GROUP BY pipeline_id, manager_id, span, bucket, stage_id \
         ON CONFLICT (pipeline_id, manager_id, span, bucket, stage_id) DO UPDATE \
            SET deals = funnel_rollup.deals + EXCLUDED.deals, \
                amount = funnel_rollup.amount + EXCLUDED.amount"
    ))
    .execute(&mut **tx)
    .await?;
    sqlx::query(&format!("DROP TABLE {PENDING}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether `table` exists in the schemas of `search_path`.
async fn exists(tx: &mut Transaction<'_, Postgres>, table: &str) -> Result<bool, ProjectionError> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut **tx)
        .await?)
}

/// A rollup row's key: pipeline, manager (nil: all), span, bucket, stage.
type Key = (Uuid, Uuid, &'static str, NaiveDate, Uuid);

/// A batch's moves and what they add to the rollups.
#[derive(Default)]
pub(super) struct Moves {
    moves: Vec<Move>,
    irregular: Vec<Uuid>,
    rollup: BTreeMap<Key, (i64, i128)>,
}

impl Moves {
    /// Records a change (`version`, at `occurred_at`) of `deal_id` in `pipeline_id`
    /// that moved it from `before` to `after`. `changed_at` is the latest time of its
    /// earlier changes and `irregular` whether it is irregular; both are updated.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        deal_id: Uuid,
        pipeline_id: Uuid,
        version: i64,
        occurred_at: DateTime<Utc>,
        changed_at: &mut Option<DateTime<Utc>>,
        irregular: &mut bool,
        before: Option<Standing>,
        after: Option<Standing>,
    ) {
        let backdated = changed_at.is_some_and(|latest| occurred_at < latest);
        *changed_at = Some(changed_at.map_or(occurred_at, |latest| latest.max(occurred_at)));
        if *irregular {
            return;
        }
        if backdated {
            *irregular = true;
            self.irregular.push(deal_id);
            return;
        }
        if before == after {
            return;
        }
        for (standing, deals) in [(before, -1), (after, 1)] {
            if let Some(s) = standing {
                self.push(Move {
                    deal_id,
                    version,
                    deals,
                    occurred_at,
                    pipeline_id,
                    stage_id: s.stage_id,
                    manager_id: s.manager_id,
                    amount: i64::from(deals) * s.amount,
                });
            }
        }
    }

    fn push(&mut self, each: Move) {
        self.add(&each, 1);
        self.moves.push(each);
    }

    /// Adds `sign` times a move to the rollups: its day and month, for its manager and
    /// for all.
    fn add(&mut self, each: &Move, sign: i64) {
        let day = each.occurred_at.date_naive();
        let month = day.with_day(1).unwrap_or(day);
        for manager in [each.manager_id, Uuid::nil()] {
            for (span, bucket) in [("day", day), ("month", month)] {
                let sum = self
                    .rollup
                    .entry((each.pipeline_id, manager, span, bucket, each.stage_id))
                    .or_default();
                sum.0 += sign * i64::from(each.deals);
                sum.1 += i128::from(sign) * i128::from(each.amount);
            }
        }
    }

    /// Writes the batch: takes back the moves of the deals it made irregular (stored
    /// ones and its own), appends the others and adds everything to the rollups.
    pub async fn write(
        mut self,
        tx: &mut Transaction<'_, Postgres>,
        rollups: Rollups,
    ) -> Result<(), ProjectionError> {
        if !self.irregular.is_empty() {
            let mut back: Vec<Move> = sqlx::query_as(
                "DELETE FROM funnel_moves WHERE deal_id = ANY($1) \
                 RETURNING deal_id, version, deals, occurred_at, pipeline_id, stage_id, manager_id, amount",
            )
            .bind(&self.irregular)
            .fetch_all(&mut **tx)
            .await?;
            let (mine, kept): (Vec<Move>, Vec<Move>) = std::mem::take(&mut self.moves)
                .into_iter()
                .partition(|m| self.irregular.contains(&m.deal_id));
            back.extend(mine);
            self.moves = kept;
            for each in &back {
                self.add(each, -1);
            }
        }
        let moves = &self.moves;
        if !moves.is_empty() {
            sqlx::query(
                "INSERT INTO funnel_moves (deal_id, version, deals, occurred_at, pipeline_id, stage_id, \
                        manager_id, amount) \
                 SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::int4[], $4::timestamptz[], $5::uuid[], \
                        $6::uuid[], $7::uuid[], $8::int8[])",
            )
            .bind(moves.iter().map(|m| m.deal_id).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.version).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.deals).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.occurred_at).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.pipeline_id).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.stage_id).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.manager_id).collect::<Vec<_>>())
            .bind(moves.iter().map(|m| m.amount).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        if self.rollup.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&Key, &(i64, i128))> = self.rollup.iter().collect();
        // The same rows either way: added to `funnel_rollup` now, or appended to the
        // copy's scratch table (made by the first batch that needs it).
        let (table, upsert) = match rollups {
            Rollups::Now => (
                "funnel_rollup",
                " ON CONFLICT (pipeline_id, manager_id, span, bucket, stage_id) DO UPDATE \
                    SET deals = funnel_rollup.deals + EXCLUDED.deals, \
                        amount = funnel_rollup.amount + EXCLUDED.amount",
            ),
            Rollups::Later => {
                sqlx::query(&format!(
                    "CREATE UNLOGGED TABLE IF NOT EXISTS {PENDING} (LIKE funnel_rollup)"
                ))
                .execute(&mut **tx)
                .await?;
                (PENDING, "")
            }
        };
        let statement = format!(
            "INSERT INTO {table} (pipeline_id, manager_id, span, bucket, stage_id, deals, amount) \
             SELECT p, m, s, b, st, d, a::numeric FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], \
                    $4::date[], $5::uuid[], $6::int8[], $7::text[]) AS r(p, m, s, b, st, d, a){upsert}"
        );
        sqlx::query(&statement)
            .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.3).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.4).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, v)| v.0).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|(_, v)| v.1.to_string())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
