//! The webhooks' tables (`api.webhooks`, `api.webhook_attempts`): definitions,
//! cursors, retry state, leases and the latest attempts. The only SQL on them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// How many attempts of each webhook are kept (older ones are pruned).
pub const KEPT_ATTEMPTS: i64 = 100;

/// A webhook as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct WebhookRow {
    /// Its id.
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// Only events of these types; empty: every type.
    pub event_types: Vec<String>,
    /// `active` (delivering), `disabled` (by an admin) or `failing` (an event was
    /// refused for longer than the retry window; re-enable to resume).
    #[schema(value_type = WebhookStatusDoc, inline)]
    pub status: String,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
    /// Events delivered (answered with a 2xx) so far.
    pub delivered: i64,
    /// The position of the last event passed (delivered, or not of its types);
    /// null before the first.
    pub last_position: Option<i64>,
    /// The first failed attempt at the event now being delivered; null when the
    /// last attempt succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// Failed attempts at the event now being delivered.
    pub failures: i32,
    /// When the next attempt is due after a failure; null when none is waiting.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A webhook's status.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Never built: it only describes a field.
pub enum WebhookStatusDoc {
    /// Delivering.
    Active,
    /// Disabled by an admin.
    Disabled,
    /// An event was refused for the whole retry window.
    Failing,
}

/// One attempt at delivering an event.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttemptRow {
    /// The event's id.
    pub event_id: Uuid,
    /// The event's position in the log.
    pub position: i64,
    /// When the attempt started.
    pub attempted_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i32,
    /// The receiver's status code; null when no answer came.
    pub status_code: Option<i32>,
    /// Why no 2xx came (a timeout, a refused connection, a status); null on success.
    pub error: Option<String>,
}

/// What a deliverer needs of a webhook to deliver it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Target {
    /// Its id.
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// Only events of these types; empty: every type.
    pub event_types: Vec<String>,
    /// The HMAC key.
    pub secret: String,
    /// The feed cursor to continue after, as text.
    pub feed_cursor: String,
    /// The snapshot of the definition, as text: events it saw are not delivered.
    pub start_snapshot: String,
    /// The first failed attempt at the current event, if any.
    pub failing_since: Option<DateTime<Utc>>,
    /// Failed attempts at the current event.
    pub failures: i32,
    /// When the next attempt is due, if one is waiting.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A new webhook's definition.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    /// Its id.
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: &'a str,
    /// Only these types; empty: all.
    pub event_types: &'a [String],
    /// The HMAC key.
    pub secret: &'a str,
    /// Who defines it.
    pub created_by: &'a str,
    /// The feed cursor its deliveries start after.
    pub feed_cursor: &'a str,
    /// The snapshot of the definition: events it saw are not delivered.
    pub start_snapshot: &'a str,
}

/// Stores a new webhook; false when the id is taken.
pub async fn insert(pool: &PgPool, new: &NewWebhook<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO api.webhooks \
             (id, url, event_types, secret, created_by, feed_cursor, start_snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id)
    .bind(new.url)
    .bind(new.event_types)
    .bind(new.secret)
    .bind(new.created_by)
    .bind(new.feed_cursor)
    .bind(new.start_snapshot)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

const ROW_COLUMNS: &str = "id, url, event_types, status, status_changed_at, created_at, \
     delivered, last_position, failing_since, failures, next_attempt_at";

/// Every webhook, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM api.webhooks ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await
}

/// One webhook (None: no such id).
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM api.webhooks WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The latest `limit` attempts of a webhook, newest first.
pub async fn attempts(pool: &PgPool, id: Uuid, limit: i64) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, position, attempted_at, duration_ms, status_code, error \
           FROM api.webhook_attempts WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Sets a webhook's status (`disabled`, or `active` again with its retry state
/// cleared: it resumes at its cursor); None when no such webhook.
pub async fn set_status(
    pool: &PgPool,
    id: Uuid,
    status: &str,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE api.webhooks SET status = $2, \
                status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE now() END, \
                failing_since = CASE WHEN $2 = 'active' THEN NULL ELSE failing_since END, \
                failures = CASE WHEN $2 = 'active' THEN 0 ELSE failures END, \
                next_attempt_at = CASE WHEN $2 = 'active' THEN NULL ELSE next_attempt_at END \
          WHERE id = $1 RETURNING {ROW_COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .fetch_optional(pool)
    .await
}

/// The ids of the active webhooks.
pub async fn active_ids(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM api.webhooks WHERE status = 'active'")
        .fetch_all(pool)
        .await
}

/// Takes or renews `owner`'s lease on an active webhook for `lease`; None when the
/// webhook is not active or another server holds it.
pub async fn lease(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    lease: std::time::Duration,
) -> Result<Option<Target>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE api.webhooks SET lease_owner = $2, \
                lease_until = now() + make_interval(secs => $3) \
          WHERE id = $1 AND status = 'active' \
            AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now()) \
          RETURNING id, url, event_types, secret, feed_cursor, start_snapshot, \
                    failing_since, failures, next_attempt_at",
    )
    .bind(id)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Whether `owner` still holds an active webhook's lease, unexpired: a read, for
/// the attempts between two renewals (a disabled webhook stops at once).
pub async fn still_held(pool: &PgPool, id: Uuid, owner: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM api.webhooks WHERE id = $1 AND lease_owner = $2 \
                         AND status = 'active' AND lease_until > now())",
    )
    .bind(id)
    .bind(owner)
    .fetch_one(pool)
    .await
}

/// Gives the lease up (at shutdown), so another server takes over at once.
pub async fn release(pool: &PgPool, id: Uuid, owner: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api.webhooks SET lease_owner = NULL, lease_until = NULL \
          WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records an attempt and prunes the webhook's attempts beyond [`KEPT_ATTEMPTS`].
pub async fn record_attempt(
    pool: &PgPool,
    webhook_id: Uuid,
    attempt: &AttemptRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH added AS ( \
             INSERT INTO api.webhook_attempts \
                 (webhook_id, event_id, position, attempted_at, duration_ms, status_code, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id) \
         DELETE FROM api.webhook_attempts WHERE webhook_id = $1 AND id <= ( \
             SELECT id FROM api.webhook_attempts WHERE webhook_id = $1 \
              ORDER BY id DESC OFFSET $8 LIMIT 1)",
    )
    .bind(webhook_id)
    .bind(attempt.event_id)
    .bind(attempt.position)
    .bind(attempt.attempted_at)
    .bind(attempt.duration_ms)
    .bind(attempt.status_code)
    .bind(attempt.error.as_deref())
    .bind(KEPT_ATTEMPTS)
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves the cursor past events delivered (`delivered` of them) or skipped, and
/// clears the retry state; false when `owner` no longer holds the lease.
pub async fn advance(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    feed_cursor: &str,
    last_position: Option<i64>,
    delivered: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api.webhooks SET feed_cursor = $3, \
                last_position = COALESCE($4, last_position), delivered = delivered + $5, \
                failing_since = NULL, failures = 0, next_attempt_at = NULL \
          WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(feed_cursor)
    .bind(last_position)
    .bind(delivered)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt's retry state: the next try at `next_attempt_at`, or
/// (None) the webhook marked `failing`; false when `owner` no longer holds the lease.
pub async fn failed(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    failing_since: DateTime<Utc>,
    failures: i32,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api.webhooks SET failing_since = $3, failures = $4, next_attempt_at = $5, \
                status = CASE WHEN $5::timestamptz IS NULL THEN 'failing' ELSE status END, \
                status_changed_at = CASE WHEN $5::timestamptz IS NULL THEN now() \
                                         ELSE status_changed_at END \
          WHERE id = $1 AND lease_owner = $2 AND status = 'active'",
    )
    .bind(id)
    .bind(owner)
    .bind(failing_since)
    .bind(failures)
    .bind(next_attempt_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
