//! What the runner's tests share: defining a rule, the events automation appended,
//! waiting for them, the ids a rule's commands must have (computed here from the
//! contract's recipe, not by the domain's function).

use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use crm_tests::scenario::response_id;
use crm_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

/// The namespace of automation's ids: "crm-automation!!" as bytes.
const NAMESPACE: Uuid = Uuid::from_bytes(*b"crm-automation!!");

/// The id of rule `rule`'s command for `cause` and `purpose`.
pub fn command_id(rule: Uuid, cause: Uuid, purpose: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{rule}/{cause}/{purpose}").as_bytes())
}

/// Defines a rule of `kind` with `params`; returns its id.
pub async fn rule(app: &TestApp, kind: &str, params: Value) -> Uuid {
    let answer = app
        .post(
            "/automation/rules",
            &json!({"name": format!("{kind} rule"), "kind": kind, "params": params}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "rule", 1)
}

/// Posts a command and returns its answer's body (201 or 200 expected).
pub async fn ok(app: &TestApp, path: &str, body: Value) -> Value {
    let answer = app.post(path, &body).await;
    assert!(
        answer.status.is_success(),
        "{path} {body}: {} {}",
        answer.status,
        answer.body
    );
    answer.body
}

/// An event as the tests compare it.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// Its position.
    pub position: i64,
    /// Its id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream: String,
    /// Its type.
    pub event_type: String,
    /// Its payload.
    pub data: Value,
    /// Its metadata.
    pub metadata: Value,
    /// Its business time.
    pub occurred_at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

type Row = (
    i64,
    Uuid,
    String,
    String,
    Value,
    Value,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// Every event whose metadata says `source: automation`, in log order.
pub async fn automated(app: &TestApp) -> Vec<Logged> {
    logged(app, "metadata->>'source' = 'automation'").await
}

/// Every event of `event_type`, in log order.
pub async fn of_type(app: &TestApp, event_type: &str) -> Vec<Logged> {
    logged(app, &format!("event_type = '{event_type}'")).await
}

async fn logged(app: &TestApp, condition: &str) -> Vec<Logged> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT position, event_id, stream_id, event_type, data, metadata, occurred_at, \
                recorded_at FROM eventlog.events WHERE {condition} ORDER BY position"
    ))
    .fetch_all(app.log.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(position, event_id, stream, event_type, data, metadata, occurred_at, recorded_at)| {
                Logged {
                    position,
                    event_id,
                    stream,
                    event_type,
                    data,
                    metadata,
                    occurred_at,
                    recorded_at,
                }
            },
        )
        .collect()
}

/// The id of the event at `position`.
pub async fn event_id_at(app: &TestApp, position: i64) -> Uuid {
    sqlx::query_scalar("SELECT event_id FROM eventlog.events WHERE position = $1")
        .bind(position)
        .fetch_one(app.log.pool())
        .await
        .unwrap()
}

/// The position of a command's answer.
pub fn position(answer: &Value) -> i64 {
    answer["position"].as_i64().unwrap()
}

/// Calls `probe` until it answers Some, for at most `seconds`; panics with `what`
/// after that.
pub async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {seconds} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until automation has appended `n` events; returns them all.
pub async fn automated_count(app: &TestApp, n: usize) -> Vec<Logged> {
    eventually(60, &format!("{n} automated events"), || async {
        let events = automated(app).await;
        (events.len() >= n).then_some(events)
    })
    .await
}

/// Waits until the runner's checkpoint has passed every event of the log (what it
/// follows and what it appended); then nothing more is coming from it but deadlines.
pub async fn settled(app: &TestApp) {
    eventually(60, "the runner caught up", || async {
        let last: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(position), 0) FROM eventlog.events WHERE event_type = ANY($1)",
        )
        .bind(crm_api::automation::plan::FOLLOWED)
        .fetch_one(app.log.pool())
        .await
        .unwrap();
        let at: Option<i64> = sqlx::query_scalar("SELECT position FROM api.automation_checkpoint")
            .fetch_optional(app.log.pool())
            .await
            .unwrap();
        (at.unwrap_or(0) >= last).then_some(())
    })
    .await;
}

/// Checks that `event` was appended by rule `rule` for cause `cause`.
pub fn by_rule(event: &Logged, rule: Uuid, cause: Uuid) {
    assert_eq!(event.metadata["source"], "automation", "{event:?}");
    assert_eq!(event.metadata["rule_id"], rule.to_string(), "{event:?}");
    assert_eq!(
        event.metadata["causation_id"],
        cause.to_string(),
        "{event:?}"
    );
    assert_eq!(event.metadata["actor"], "automation", "{event:?}");
}
