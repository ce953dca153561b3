//! A log that already holds events a read model cannot store (a NUL in a personal
//! value, appended before the API refused it) stops those read models loudly but
//! survivably: each reports the event's position and error, keeps answering what it
//! has, blocks no erasure, and gets past the event once an operator records a repair
//! (`crm projection sanitize|skip`, here through the library call the command makes);
//! then it catches up, and a rebuild gets past the event too.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use crm_projections::RepairAction;
use crm_tests::scenario::{append_as_older_code, events, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Waits (up to 60 s) until `GET /projections` shows read model `name` failed; its entry.
async fn failed(app: &TestApp, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = app.get("/projections").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let model = answer
            .body
            .as_array()
            .and_then(|all| all.iter().find(|m| m["name"] == name))
            .cloned();
        if let Some(model) = model {
            if model["status"] == "failed" {
                return model;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} never failed: {}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_poisoned_log_fails_read_models_by_position_until_an_operator_repairs_them(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let good = app
        .post(
            "/clients",
            &json!({"name": "Good Ltd", "kind": "company", "manager_id": m}),
        )
        .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.body);
    let good_id: Uuid = good.body["id"].as_str().unwrap().parse().unwrap();
    let good_at = good.body["position"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/clients/{good_id}?min_position={good_at}"))
            .await
            .status,
        StatusCode::OK
    );

    // A client whose name holds a NUL, and a lead of the good client with one in its
    // name, as they could be appended before the API refused them.
    let evil = Uuid::new_v4();
    let evil_at = append_as_older_code(
        &app,
        &format!("client-{evil}"),
        "ClientRegistered",
        json!({"client_id": evil, "name": "Evil\u{0}Corp", "kind": "company", "manager_id": m}),
    )
    .await;
    let lead = Uuid::new_v4();
    let lead_at = append_as_older_code(
        &app,
        &format!("lead-{lead}"),
        "LeadCaptured",
        json!({"lead_id": lead, "source": "site", "name": "Iv\u{0}an", "email": "ivan@x.ua",
               "received_at": "2026-01-05T10:00:00Z"}),
    )
    .await;
    // And a clean lead of the good client, which the failed clients read model has not
    // linked: an erasure of the client must find it all the same. (Not the poisoned
    // one: its erasure would overwrite the NUL, and the leads read model heal by
    // itself, before any repair.)
    let linked = Uuid::new_v4();
    append_as_older_code(
        &app,
        &format!("lead-{linked}"),
        "LeadCaptured",
        json!({"lead_id": linked, "source": "site", "name": "Petro", "email": "petro@x.ua",
               "client_id": good_id, "received_at": "2026-01-05T11:00:00Z"}),
    )
    .await;

    // Each read model that stores them stops on its event, saying where and why.
    let clients = failed(&app, "clients").await;
    assert_eq!(clients["failed_position"], evil_at, "{clients}");
    let leads = failed(&app, "leads").await;
    assert_eq!(leads["failed_position"], lead_at, "{leads}");
    for model in [&clients, &leads] {
        let error = model["last_error"].as_str().unwrap();
        assert!(error.contains("0x00"), "{model}");
    }

    // What they have still answers; read-your-writes past the poison says why not.
    let list = app.get("/clients").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Good Ltd"]);
    let started = Instant::now();
    let blocked = app.get(&format!("/clients?min_position={evil_at}")).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "projection_failed"),
        "{}",
        blocked.body
    );
    assert!(
        blocked.body["detail"]
            .as_str()
            .unwrap()
            .contains(&evil_at.to_string()),
        "{}",
        blocked.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // An erasure is not blocked by the failed read models, and finds the lead linked
    // by an event the clients read model has not applied. It is recorded and its keys
    // destroyed at once; the answer says the failed read models have not applied it
    // (503 erasure_pending, naming them), soon: they will not by waiting.
    let started = Instant::now();
    let erased = app
        .post(&format!("/clients/{good_id}/erase"), &json!({}))
        .await;
    assert_eq!(
        erased.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        erased.body
    );
    assert_eq!(erased.body["code"], "erasure_pending", "{}", erased.body);
    let detail = erased.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("clients"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let lead_events = events(&app, &format!("lead-{linked}")).await;
    let types: Vec<&str> = lead_events
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types, ["LeadCaptured", "LeadErased"]);
    assert_eq!(lead_events[0]["data"]["name"], "[erased]");

    // The operator's repairs: refused when they name nothing that can be repaired.
    let repair = |name: &'static str, position: i64, action: RepairAction| {
        let log = app.log.clone();
        async move {
            crm_projections::repair(
                &log,
                name,
                position,
                action,
                "NUL from before 2026-12",
                "ops",
            )
            .await
        }
    };
    for (name, position) in [("nope", evil_at), ("clients", i64::MAX)] {
        assert!(repair(name, position, RepairAction::Skip).await.is_err());
    }
    let sanitized = repair("clients", evil_at, RepairAction::Sanitize)
        .await
        .unwrap();
    assert_eq!(sanitized.event_type, "ClientRegistered");
    assert!(sanitized.error.as_deref().unwrap().contains("0x00"));
    repair("leads", lead_at, RepairAction::Skip).await.unwrap();
    let again = repair("clients", evil_at, RepairAction::Skip).await;
    assert!(
        again.unwrap_err().to_string().contains("already"),
        "a second repair of one event"
    );

    // Every read model catches up; the client is there with its NUL replaced, the lead
    // skipped by the leads read model.
    app.assert_read_models_healthy().await;
    let card = app.get(&format!("/clients/{evil}")).await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.body);
    assert_eq!(card.body["name"], "Evil\u{FFFD}Corp");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM projections.leads WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(kept, 0);
    let listed = app.get("/projections").await;
    let clients = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "clients")
        .unwrap();
    assert_eq!(clients["repairs"][0]["position"], evil_at, "{clients}");
    assert_eq!(clients["repairs"][0]["action"], "sanitize");
    assert_eq!(clients["repairs"][0]["repaired_by"], "ops");

    // A rebuild gets past the repaired event too.
    let rebuild = app.post("/projections/clients/rebuild", &json!({})).await;
    assert_eq!(rebuild.status, StatusCode::ACCEPTED, "{}", rebuild.body);
    app.wait_rebuilt("clients").await;
    app.assert_read_models_healthy().await;
    let card = app.get(&format!("/clients/{evil}")).await;
    assert_eq!(card.body["name"], "Evil\u{FFFD}Corp", "{}", card.body);

    // The repairs are an audit trail: never changed or deleted.
    for statement in [
        "UPDATE projections.event_repairs SET reason = 'nothing happened'",
        "DELETE FROM projections.event_repairs",
        "TRUNCATE projections.event_repairs",
    ] {
        assert!(
            sqlx::query(statement)
                .execute(app.log.pool())
                .await
                .is_err(),
            "{statement}"
        );
    }
    projectors.shutdown().await;
}
