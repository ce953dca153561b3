//! The runner's tables (migration `20261207330001_automation.sql`): its checkpoint
//! in the feed, the deadlines its rules keep, each round robin's last pick. A batch's
//! deadline changes, picks and checkpoint are written in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use crm_domain::automation::{Due, DueChange};
use crm_eventlog::Cursor;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A deadline as the table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    /// The entry.
    pub due: Due,
    /// For a lead, the business time of its first answer, when it came after the
    /// deadline (one that came before dropped the entry).
    pub answered_at: Option<DateTime<Utc>>,
}

/// Where the runner stands in the feed; None before its first commit.
pub async fn checkpoint(pool: &PgPool) -> Result<Option<Cursor>, sqlx::Error> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT tx_id, position FROM api.automation_checkpoint WHERE id = 1")
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(tx, position)| Cursor::after(tx, position)))
}

/// The manager each round robin rule assigned last.
pub async fn last_assigned(pool: &PgPool) -> Result<HashMap<Uuid, Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT rule_id, manager_id FROM api.automation_last_assigned")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Applies a batch's deadline changes in order, records the round robins' picks and
/// moves the checkpoint to `cursor` (never back), in one transaction.
pub async fn commit(
    pool: &PgPool,
    changes: &[DueChange],
    picks: &HashMap<Uuid, Uuid>,
    cursor: Cursor,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for change in changes {
        apply(&mut tx, change).await?;
    }
    for (rule, manager) in picks {
        sqlx::query(
            "INSERT INTO api.automation_last_assigned (rule_id, manager_id) VALUES ($1, $2) \
             ON CONFLICT (rule_id) DO UPDATE SET manager_id = EXCLUDED.manager_id",
        )
        .bind(rule)
        .bind(manager)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO api.automation_checkpoint (id, tx_id, position) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position, \
                updated_at = now() \
          WHERE (api.automation_checkpoint.tx_id, api.automation_checkpoint.position) \
                <= (EXCLUDED.tx_id, EXCLUDED.position)",
    )
    .bind(cursor.tx_id())
    .bind(cursor.position())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// One change, as [`DueChange::apply`] defines it; a drop that leaves an entry (the
/// answer came after its deadline) records the answer's time on it.
async fn apply(tx: &mut Transaction<'_, Postgres>, change: &DueChange) -> Result<(), sqlx::Error> {
    match change {
        DueChange::Set(due) => {
            sqlx::query(
                "INSERT INTO api.automation_due \
                   (rule_id, subject_id, due_at, cause_id, task_due_at, answered_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL) \
                 ON CONFLICT (rule_id, subject_id) DO UPDATE SET due_at = EXCLUDED.due_at, \
                   cause_id = EXCLUDED.cause_id, task_due_at = EXCLUDED.task_due_at, \
                   answered_at = NULL",
            )
            .bind(due.rule_id)
            .bind(due.subject_id)
            .bind(due.due_at)
            .bind(due.cause_id)
            .bind(due.task_due_at)
            .execute(&mut **tx)
            .await?;
        }
        DueChange::Drop {
            rule_id,
            subject_id,
            from,
        } => {
            // Before the calendar PostgreSQL keeps: every entry is dropped.
            let from = (from.year() >= 1).then_some(*from);
            sqlx::query(
                "DELETE FROM api.automation_due WHERE rule_id = $1 AND subject_id = $2 \
                    AND ($3::timestamptz IS NULL OR due_at >= $3)",
            )
            .bind(rule_id)
            .bind(subject_id)
            .bind(from)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE api.automation_due SET answered_at = LEAST(answered_at, $3) \
                  WHERE rule_id = $1 AND subject_id = $2 AND $3::timestamptz IS NOT NULL",
            )
            .bind(rule_id)
            .bind(subject_id)
            .bind(from)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// The earliest deadline kept, if any.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(due_at) FROM api.automation_due")
        .fetch_one(pool)
        .await
}

/// Up to `limit` deadlines due at `now` or before, in due order (then rule, subject).
pub async fn due_by(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueEntry>, sqlx::Error> {
    type Row = (
        Uuid,
        Uuid,
        DateTime<Utc>,
        Uuid,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT rule_id, subject_id, due_at, cause_id, task_due_at, answered_at \
           FROM api.automation_due WHERE due_at <= $1 \
          ORDER BY due_at, rule_id, subject_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(rule_id, subject_id, due_at, cause_id, task_due_at, answered_at)| DueEntry {
                due: Due {
                    rule_id,
                    subject_id,
                    due_at,
                    cause_id,
                    task_due_at,
                },
                answered_at,
            },
        )
        .collect())
}

/// Drops a fired deadline (unless it was replaced meanwhile).
pub async fn fired(pool: &PgPool, due: &Due) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM api.automation_due WHERE rule_id = $1 AND subject_id = $2 \
            AND due_at = $3 AND cause_id = $4",
    )
    .bind(due.rule_id)
    .bind(due.subject_id)
    .bind(due.due_at)
    .bind(due.cause_id)
    .execute(pool)
    .await?;
    Ok(())
}
