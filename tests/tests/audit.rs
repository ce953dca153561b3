//! GET /audit/verify on a sealed company log, and on a copy of it with an event
//! deleted behind the log's back: the seal names the deleted event.

use crm_cli::seed::{self, SeedOptions};
use crm_tests::{copy_database, drop_database, TestApp};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn app_on(conn: &PgConnectOptions) -> TestApp {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(conn.clone())
        .await
        .unwrap();
    TestApp::new(pool).await.unwrap()
}

/// Events and sealed events, in plain SQL.
async fn counts(app: &TestApp) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM eventlog.events), \
                (SELECT coalesce(sum(event_count), 0)::bigint FROM eventlog.seals), \
                (SELECT count(*) FROM eventlog.seals)",
    )
    .fetch_one(app.log.pool())
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_deletion_in_a_sealed_copy_is_named_over_http(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let app = app_on(&conn).await;
    let until = "2026-03-01".parse().unwrap();
    seed::seed(&app.log, &SeedOptions::new(2_000, 11, until), |_| {})
        .await
        .unwrap();
    // Seal in small seals until everything has settled and is sealed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        app.log.seal(300).await.unwrap();
        let (events, sealed, _) = counts(&app).await;
        if events == sealed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (events, sealed, seals) = counts(&app).await;
    assert_eq!((events, sealed), (2_000, 2_000));
    let verify = app.get("/audit/verify").await;
    assert_eq!(verify.status, 200);
    assert_eq!(verify.body["ok"], true, "{}", verify.body);
    assert_eq!(verify.body["events_checked"], 2_000);
    assert_eq!(verify.body["events_sealed"], 2_000);
    assert_eq!(verify.body["unsealed_events"], 0);
    assert_eq!(verify.body["seals_checked"], seals);
    assert_eq!(verify.body["last_seal"]["seq"], seals);

    // The 1,000th event in feed order, deleted from a copy.
    let (event_id, position): (uuid::Uuid, i64) = sqlx::query_as(
        "SELECT event_id, position FROM eventlog.events ORDER BY tx_id, position OFFSET 999 LIMIT 1",
    )
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    app.log.close().await;
    let copy = copy_database(&conn, "audit_http").await.unwrap();
    let tampered = app_on(&copy).await;
    sqlx::raw_sql(&format!(
        "ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only; \
         DELETE FROM eventlog.events WHERE event_id = '{event_id}'; \
         ALTER TABLE eventlog.events ENABLE ALWAYS TRIGGER events_append_only"
    ))
    .execute(tampered.log.pool())
    .await
    .unwrap();
    let verify = tampered.get("/audit/verify").await;
    assert_eq!(verify.status, 200);
    assert_eq!(verify.body["ok"], false);
    assert_eq!(verify.body["events_checked"], 1_999);
    let bad = &verify.body["first_bad"];
    assert_eq!(
        (
            &bad["kind"],
            &bad["event_id"],
            &bad["position"],
            &bad["found_by"]
        ),
        (
            &json!("deleted"),
            &json!(event_id),
            &json!(position),
            &json!("seal")
        ),
        "{bad}"
    );
    tampered.log.close().await;
    drop_database(&copy).await.unwrap();

    // The original is untouched.
    let original = app_on(&conn).await;
    assert_eq!(original.get("/audit/verify").await.body["ok"], true);
}
