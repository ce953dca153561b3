//! The real `crm` binary: `crm audit seal` seals the log, `crm audit verify` exits 0 on
//! it and non-zero naming the event once one is altered behind the log's back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{crm, database_url};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrations = false)]
async fn crm_audit_verify_fails_naming_an_altered_event(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let url = database_url(&conn);
    let seeded = crm(&url, &["seed", "--events", "500", "--until", "2026-03-01"]).await;
    assert!(seeded.status.success(), "{seeded:?}");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(conn)
        .await
        .unwrap();
    let sealed_count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(event_count), 0)::bigint FROM eventlog.seals",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // Other tests' transactions may hold the feed back for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let sealed = crm(&url, &["audit", "seal"]).await;
        assert!(sealed.status.success(), "{sealed:?}");
        if sealed_count().await == 500 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sealed_count().await, 500);

    let verified = crm(&url, &["audit", "verify"]).await;
    assert!(verified.status.success(), "{verified:?}");
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(
        (&report["events"], &report["events_sealed"]),
        (&500.into(), &500.into())
    );

    // An altered payload.
    let (event_id, position): (uuid::Uuid, i64) = sqlx::query_as(
        "SELECT event_id, position FROM eventlog.events ORDER BY tx_id, position OFFSET 250 LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(&format!(
        "ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only; \
         UPDATE eventlog.events SET data = data || '{{\"forged\": true}}' WHERE event_id = '{event_id}'; \
         ALTER TABLE eventlog.events ENABLE ALWAYS TRIGGER events_append_only"
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let failed = crm(&url, &["audit", "verify"]).await;
    assert!(!failed.status.success(), "{failed:?}");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(&event_id.to_string()), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["first_bad"]["kind"], "altered");
    assert_eq!(report["first_bad"]["position"], position);
    // The former name still works.
    let alias = crm(&url, &["verify"]).await;
    assert_eq!(alias.status.code(), failed.status.code());
}
