//! `InteractionLogged` at schema version 2 (`duration: {seconds}` instead of the number
//! `duration_s`): a log holding both versions replays into the same figures, and
//! exports show only the new shape, while the stored events stay as written.

use axum::http::StatusCode;
use crm_eventlog::{ExpectedVersion, NewEvent};
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = false)]
async fn a_log_of_both_versions_replays_and_exports_in_the_new_shape(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let olena = manager(&app, "Olena").await;
    let acme = client(&app, olena).await;
    let at = "2026-03-02T10:00:00Z".parse().unwrap();

    // An interaction written by the previous code: version 1, `duration_s`.
    let old = Uuid::now_v7();
    let mut v1 = NewEvent::new(
        "InteractionLogged",
        json!({"interaction_id": old, "kind": "call", "direction": "outbound",
               "manager_id": olena, "client_id": acme, "duration_s": 120}),
    )
    .occurred_at(at);
    v1.schema_version = 1;
    let stream = format!("interaction-{old}");
    app.log
        .append(&stream, ExpectedVersion::NoStream, vec![v1])
        .await
        .unwrap();
    // And one by this code: version 2.
    let answer = app
        .post(
            "/interactions",
            &json!({"kind": "call", "direction": "inbound", "manager_id": olena,
                    "client_id": acme, "duration_s": 45, "occurred_at": "2026-03-03T10:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let last = answer.body["position"].as_i64().unwrap();

    // The read models, built from the log holding both, count both durations.
    let projectors = app.start_projectors();
    let report = app
        .get(&format!(
            "/reports/managers?from=2026-03-01&to=2026-04-01&manager_id={olena}&min_position={last}"
        ))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let row = &report.body["managers"][0];
    assert_eq!(row["calls"], 2);
    assert_eq!(row["call_seconds"], 120 + 45);
    projectors.shutdown().await;

    // The export shows both in the new shape.
    let export = app.get("/export/events?types=InteractionLogged").await;
    let lines: Vec<Value> = export
        .body
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, seconds) in lines.iter().zip([120, 45]) {
        assert_eq!(line["schema_version"], 2);
        assert_eq!(line["data"]["duration"], json!({ "seconds": seconds }));
        assert!(line["data"].get("duration_s").is_none(), "{line}");
    }

    // The log itself keeps what was written, which its hash chain covers.
    let stored = app.get(&format!("/streams/{stream}/events")).await.body;
    assert_eq!(stored["events"][0]["schema_version"], 1);
    assert_eq!(stored["events"][0]["data"]["duration_s"], 120);
    assert_eq!(app.get("/audit/verify").await.body["ok"], true);
}
