//! Crafted query values are a 400 problem, never a 500: numbers beyond what
//! PostgreSQL's `numeric` takes, NaN and infinities, NUL characters, wherever a
//! query value reaches SQL (a custom projection's rows filters here; every declared
//! parameter in `openapi.rs`).

use axum::http::StatusCode;
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn crafted_rows_filters_are_a_400_and_sound_ones_answer(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let answer = app
        .post(
            "/projections",
            &json!({
                "name": "per_role",
                "event_types": ["ManagerRegistered"],
                "group_by": [{"name": "role", "field": "data.role"}],
                "measures": [{"name": "n", "fn": "count"}]
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    for name in ["Olena", "Ivan"] {
        let answer = app
            .post(
                "/managers",
                &json!({"name": name, "department": "Sales", "role": "manager"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    app.wait_custom_live("per_role", 1).await;

    for query in [
        "n.gt=1e1000000",
        "n.gt=1e-100000",
        "n.lt=-1e400",
        "n.gte=NaN",
        "n.gt=Infinity",
        "n.gt=-inf",
        "n=0e-1001",
        "n.gt=%00",
        "who=%00",
        "role=%00",
        "role=man%00ager",
        "order=role%00",
        "cursor=%00",
        "limit=1e1000000",
        "cursor=99999999999999999999",
    ] {
        let answer = app
            .get(&format!("/projections/per_role/rows?{query}"))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    // Sound filters answer; a huge but finite one and a tiny one compare as numbers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = app.get("/projections/per_role/rows?role=manager").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if answer.body["items"] == json!([{"role": "manager", "n": 2}]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", answer.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (query, rows) in [
        ("n.gt=1e-300", 1),
        ("n.lt=1e300", 1),
        ("n.gt=1e300", 0),
        ("n.gte=2.0", 1),
        ("n.gt=2", 0),
        ("cursor=9223372036854775807", 0),
    ] {
        let answer = app
            .get(&format!("/projections/per_role/rows?{query}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
        assert_eq!(
            answer.body["items"].as_array().unwrap().len(),
            rows,
            "{query}: {}",
            answer.body
        );
    }
    projectors.shutdown().await;
}
