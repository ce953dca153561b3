//! `POST /projections/{name}/rebuild` rebuilds beside the live tables: queries keep
//! answering from the live copy (which keeps following the log) until the rebuilt one
//! has caught up and is swapped in under the same table and index names.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{client, manager};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The deals list as `{deal id: stage id}`, read with `min_position` if given.
async fn deal_stages(app: &TestApp, min_position: Option<i64>) -> BTreeMap<String, String> {
    let wait = min_position
        .map(|p| format!("&min_position={p}"))
        .unwrap_or_default();
    let answer = app.get(&format!("/deals?limit=1000{wait}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_owned(),
                d["stage_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The indexes (name, definition) on the tables of the deals read model in `schema`.
async fn indexes_in(app: &TestApp, schema: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = $1 \
          AND tablename IN ('pipelines', 'pipeline_stages', 'deals', 'deal_changes', 'deal_wins', 'deal_losses') \
          ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(app.log.pool())
    .await
    .unwrap()
}

/// The indexes on the live tables of the deals read model.
async fn index_names(app: &TestApp) -> Vec<(String, String)> {
    indexes_in(app, "projections").await
}

async fn rebuild(app: &TestApp) -> Value {
    let answer = app
        .send(
            Method::POST,
            "/projections/deals/rebuild",
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    answer.body
}

#[sqlx::test(migrations = false)]
async fn a_rebuild_beside_the_live_tables_keeps_answering_and_swaps_in(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let stages: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "P", "stages": stages.iter().enumerate().map(|(i, id)| json!({"id": id, "name": format!("S{i}"), "probability": 0.5})).collect::<Vec<_>>()}),
        )
        .await
        .body["id"]
        .clone();
    let mut expected = BTreeMap::new();
    let mut last = 0;
    for n in 0..12 {
        let answer = app
            .post(
                "/deals",
                &json!({"client_id": c, "pipeline_id": pipeline, "title": format!("D{n}"), "amount": n, "manager_id": m}),
            )
            .await;
        expected.insert(
            answer.body["id"].as_str().unwrap().to_owned(),
            stages[0].to_string(),
        );
        last = answer.body["position"].as_i64().unwrap();
    }
    assert_eq!(deal_stages(&app, Some(last)).await, expected);
    let indexes = index_names(&app).await;
    assert!(
        indexes.iter().any(|(name, _)| name == "deals_pipeline_idx"),
        "{indexes:?}"
    );

    // No runner while the rebuild is requested: the shadow copy stays empty, and the
    // live tables keep answering in full.
    projectors.shutdown().await;
    let first = rebuild(&app).await;
    assert_eq!(first["mode"], "beside");
    assert_eq!(rebuild(&app).await["mode"], "already_running");
    assert_eq!(deal_stages(&app, None).await, expected);
    let listed = app.get("/projections").await.body;
    let deals = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "deals")
        .unwrap()
        .clone();
    assert_eq!(deals["rebuild"]["events_applied"], 0, "{deals}");
    // The copy fills with only the indexes its batches need (here the unique ones);
    // the others are built once it has caught up.
    let shadow = indexes_in(&app, "projections_rebuild_deals").await;
    let unique = indexes
        .iter()
        .filter(|(_, d)| d.starts_with("CREATE UNIQUE"))
        .count();
    assert_eq!(shadow.len(), unique, "{shadow:?}");
    assert!(
        shadow.iter().all(|(_, d)| d.starts_with("CREATE UNIQUE")),
        "{shadow:?}"
    );

    // Events arriving meanwhile reach the live copy and the rebuilt one alike.
    let projectors = app.start_projectors();
    let total = expected.len();
    for (id, stage) in expected.iter_mut().take(5) {
        let answer = app
            .post(
                &format!("/deals/{id}/stage"),
                &json!({"stage_id": stages[2]}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        *stage = stages[2].to_string();
        last = answer.body["position"].as_i64().unwrap();
        // Every answer in between is whole: the live copy or the swapped-in one.
        assert_eq!(deal_stages(&app, None).await.len(), total);
    }
    app.wait_rebuilt("deals").await;
    assert_eq!(deal_stages(&app, Some(last)).await, expected);
    let listed = app.get("/projections").await.body;
    let deals = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "deals")
        .unwrap()
        .clone();
    assert!(deals["rebuild"].is_null(), "{deals}");
    assert_eq!(
        index_names(&app).await,
        indexes,
        "the indexes are all back, under their names"
    );
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'projections_rebuild_%'",
    )
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    assert_eq!(leftovers, 0, "the shadow schema is gone");
    projectors.shutdown().await;
    app.log.close().await;
}

/// Whether read model `name`'s checkpoint records a build beside its live tables.
async fn built_beside(app: &TestApp, name: &str) -> bool {
    sqlx::query_scalar(
        "SELECT rebuild_started_at IS NOT NULL FROM projections.checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_one(app.log.pool())
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_first_build_of_a_long_log_goes_beside_and_ends_with_every_index(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    // The log written while no projector runs: the read models start from nothing.
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let stage = Uuid::new_v4();
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "P", "stages": [{"id": stage, "name": "S", "probability": 0.5}]}),
        )
        .await
        .body["id"]
        .clone();
    let mut expected = BTreeMap::new();
    let mut last = 0;
    for n in 0..7 {
        let answer = app
            .post(
                "/deals",
                &json!({"client_id": c, "pipeline_id": pipeline, "title": format!("D{n}"), "amount": n, "manager_id": m}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        expected.insert(
            answer.body["id"].as_str().unwrap().to_owned(),
            stage.to_string(),
        );
        last = answer.body["position"].as_i64().unwrap();
    }
    let in_place = index_names(&app).await;

    // A log of `last` events is long enough here: every read model is first built in
    // a shadow copy without its query indexes, then indexed once and swapped in.
    let config = crm_projections::RunnerConfig {
        first_build_beside: Some(last),
        health_check: std::time::Duration::from_millis(100),
        ..crm_projections::RunnerConfig::default()
    };
    let projectors = app.start_projectors_with(config);
    // Every read model reflects the log once its copy is swapped in (waited for here:
    // nine first builds beside on a busy machine can take longer than a read's wait).
    app.assert_read_models_healthy().await;
    assert_eq!(deal_stages(&app, Some(last)).await, expected);
    assert!(built_beside(&app, "deals").await);
    // The same tables and indexes, under the names the migrations gave them.
    assert_eq!(index_names(&app).await, in_place);
    // No shadow schema is left behind.
    let shadows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'projections_rebuild_%'",
    )
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    assert_eq!(shadows, 0);

    // And it keeps following the log live.
    let answer = app
        .post(
            "/deals",
            &json!({"client_id": c, "pipeline_id": pipeline, "title": "Later", "amount": 1, "manager_id": m}),
        )
        .await;
    expected.insert(
        answer.body["id"].as_str().unwrap().to_owned(),
        stage.to_string(),
    );
    let after = answer.body["position"].as_i64().unwrap();
    assert_eq!(deal_stages(&app, Some(after)).await, expected);
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn a_first_build_of_a_short_log_is_made_in_place(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    // Below the default threshold (10,000 events): built in place.
    let projectors = app.start_projectors();
    let answer = app
        .get(&format!(
            "/clients/{c}?min_position={}",
            app.log.last_position().await.unwrap().unwrap()
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert!(!built_beside(&app, "clients").await);
    projectors.shutdown().await;
}

/// The persistence (`p` logged, `u` unlogged) of each table of the deals read model in
/// `schema`, by name.
async fn persistence_in(app: &TestApp, schema: &str) -> BTreeMap<String, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relpersistence::text FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = $1 AND c.relkind = 'r' \
            AND c.relname IN ('pipelines', 'pipeline_stages', 'deals', 'deal_changes', \
                              'deal_wins', 'deal_losses', 'funnel_moves', 'funnel_rollup')",
    )
    .bind(schema)
    .fetch_all(app.log.pool())
    .await
    .unwrap();
    rows.into_iter().collect()
}

#[sqlx::test(migrations = false)]
async fn a_rebuild_fills_unlogged_tables_starts_again_when_they_were_lost_and_swaps_in_logged_ones(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let stage = Uuid::new_v4();
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "P", "stages": [{"id": stage, "name": "S", "probability": 0.5}]}),
        )
        .await
        .body["id"]
        .clone();
    let mut expected = BTreeMap::new();
    let mut last = 0;
    for n in 0..5 {
        let answer = app
            .post(
                "/deals",
                &json!({"client_id": c, "pipeline_id": pipeline, "title": format!("D{n}"), "amount": n, "manager_id": m}),
            )
            .await;
        expected.insert(
            answer.body["id"].as_str().unwrap().to_owned(),
            stage.to_string(),
        );
        last = answer.body["position"].as_i64().unwrap();
    }
    assert_eq!(deal_stages(&app, Some(last)).await, expected);
    projectors.shutdown().await;

    assert_eq!(rebuild(&app).await["mode"], "beside");
    let shadow = persistence_in(&app, "projections_rebuild_deals").await;
    assert_eq!(shadow.len(), 8, "{shadow:?}");
    assert!(shadow.values().all(|p| p == "u"), "{shadow:?}");
    // What a crash of the database leaves of a rebuild that had gone through the whole
    // log: its cursor at the end, its unlogged tables (and their marker) emptied.
    sqlx::query(
        "UPDATE projections.checkpoints SET rebuild_cursor = cursor, rebuild_events = 99 \
          WHERE name = 'deals'",
    )
    .execute(app.log.pool())
    .await
    .unwrap();
    sqlx::query("TRUNCATE projections_rebuild_deals._rebuild_alive")
        .execute(app.log.pool())
        .await
        .unwrap();

    // The runner notices and rebuilds from the start: the swapped-in copy is whole.
    let projectors = app.start_projectors();
    app.wait_rebuilt("deals").await;
    assert_eq!(deal_stages(&app, Some(last)).await, expected);
    let live = persistence_in(&app, "projections").await;
    assert_eq!(live.len(), 8, "{live:?}");
    assert!(live.values().all(|p| p == "p"), "logged again: {live:?}");
    projectors.shutdown().await;
    app.log.close().await;
}
