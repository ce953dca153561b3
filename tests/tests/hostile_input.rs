//! Hostile input: malformed and oversized bodies, SQL fragments, bad ids, cursors
//! and numbers each get a clear problem+json 4xx with a `code` and append nothing;
//! SQL fragments inside free text are data, stored and read back verbatim; requests
//! beyond the limits in flight are refused with 503 / 429 and `Retry-After`, and the
//! server serves again once they finish; slow clients cannot hold connections.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use crm_api::limits::Limits;
use crm_tests::scenario::{client, manager, send_text};
use crm_tests::{Answer, TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const SQL_OR: &str = "' OR 1=1 --";
const SQL_DROP: &str = "'; DROP TABLE eventlog.events; --";
const SQL_SLEEP: &str = "\\'; SELECT pg_sleep(10); --";

/// Sends raw bytes with a content type as the admin.
async fn send_bytes(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    app.send_raw(request).await
}

/// Percent-encodes every byte that is not unreserved in a URI.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks a refusal: status, problem+json, the code, and an unchanged log.
async fn assert_refused(
    app: &TestApp,
    what: &str,
    answer: &Answer,
    status: StatusCode,
    code: &str,
    before: i64,
) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(answer.code(), code, "{what}: {}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    assert_eq!(answer.body["status"], status.as_u16(), "{what}");
    assert_eq!(app.event_count().await, before, "{what} appended events");
}

/// A pipeline with one stage, through the API.
async fn pipeline(app: &TestApp) -> Uuid {
    let answer = app
        .post(
            "/pipelines",
            &json!({"name": "Sales", "stages": [{"name": "Lead", "probability": 0.1}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrations = false)]
async fn malformed_and_hostile_bodies_get_a_problem_and_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let p = pipeline(&app).await;
    let valid_client = json!({"name": "Acme", "kind": "company", "manager_id": m});
    let with = |key: &str, value: Value| {
        let mut body = valid_client.clone();
        body[key] = value;
        body.to_string()
    };
    let name_of = |chars: usize| "я".repeat(chars);
    let contacts = |n: usize| Value::Array(vec![json!({"name": "Ivan"}); n]);
    let huge = "x".repeat(500 * 1024);
    let deep = "[".repeat(100_000);
    let patch = format!("/clients/{c}");
    let d = app
        .post(
            "/deals",
            &json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": 1, "manager_id": m}),
        )
        .await
        .body["id"]
        .clone();
    let l = app
        .post(
            "/leads",
            &json!({"source": "site", "name": "Ivan", "manager_id": m}),
        )
        .await
        .body["id"]
        .clone();
    let (d, l) = (d.as_str().unwrap(), l.as_str().unwrap());
    let above_max = crm_domain::MAX_AMOUNT + 1;

    // (what, method, path, body, status, code)
    let cases: Vec<(&str, Method, String, String, StatusCode, &str)> = vec![
        ("wrong type", Method::POST, "/clients".into(), with("name", json!(42)), StatusCode::BAD_REQUEST, "invalid_body"),
        ("contacts not a list", Method::POST, "/clients".into(), with("contacts", json!("Ivan")), StatusCode::BAD_REQUEST, "invalid_body"),
        ("missing field", Method::POST, "/clients".into(), json!({"kind": "company", "manager_id": m}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("unknown field", Method::POST, "/clients".into(), with("is_admin", json!(true)), StatusCode::BAD_REQUEST, "invalid_body"),
        ("unknown enum word", Method::POST, "/clients".into(), with("kind", json!("robot")), StatusCode::BAD_REQUEST, "invalid_body"),
        ("a name of 201 characters", Method::POST, "/clients".into(), with("name", json!(name_of(201))), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("a 100 KB name", Method::POST, "/clients".into(), with("name", json!("x".repeat(100 * 1024))), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("a 500 KB name", Method::POST, "/clients".into(), with("name", json!(huge)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ("101 contacts", Method::POST, "/clients".into(), with("contacts", contacts(101)), StatusCode::UNPROCESSABLE_ENTITY, "too_many_items"),
        ("100,000 contacts", Method::POST, "/clients".into(), with("contacts", contacts(100_000)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ("a contact's phone of 201 characters", Method::POST, "/clients".into(), with("contacts", json!([{"name": "Ivan", "phone": name_of(201)}])), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("100,000 [", Method::POST, "/clients".into(), deep.clone(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("the fields as an array", Method::POST, "/clients".into(), json!([null, "Acme", "company", null, null, null, null, m, [], null]).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("an array for an erasure", Method::POST, format!("{patch}/erase"), "[null, null]".into(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("deep objects", Method::POST, "/clients".into(), format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000)), StatusCode::BAD_REQUEST, "invalid_body"),
        ("100,000 [ where any JSON is read", Method::POST, "/projections".into(), format!("{{\"name\": {deep}"), StatusCode::BAD_REQUEST, "malformed_json"),
        ("not JSON", Method::POST, "/clients".into(), "name=Acme&kind=company".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("truncated JSON", Method::POST, "/clients".into(), "{\"name\": \"Ac".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("PATCH null name", Method::PATCH, patch.clone(), json!({"name": null}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("PATCH unknown field", Method::PATCH, patch.clone(), json!({"nmae": "Acme 2"}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("PATCH region of 201 characters", Method::PATCH, patch.clone(), json!({"region": name_of(201)}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("PATCH 101 contacts", Method::PATCH, patch.clone(), json!({"contacts": contacts(101)}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "too_many_items"),
        ("PATCH a bad manager id", Method::PATCH, patch.clone(), json!({"manager_id": SQL_OR}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("lead name of 201 characters", Method::POST, "/leads".into(), json!({"source": "site", "name": name_of(201)}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("lead without source", Method::POST, "/leads".into(), json!({"name": "Ivan"}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("deal amount negative", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": -1, "manager_id": m}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "negative_amount"),
        ("deal amount above 10^15", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": above_max, "manager_id": m}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large"),
        ("deal amount the largest i64", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": i64::MAX, "manager_id": m}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large"),
        ("amount changed above 10^15", Method::POST, format!("/deals/{d}/amount"), json!({"amount": above_max}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large"),
        ("won above 10^15", Method::POST, format!("/deals/{d}/win"), json!({"amount": above_max}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large"),
        ("a lead converted into a deal above 10^15", Method::POST, format!("/leads/{l}/convert"), json!({"deal": {"pipeline_id": p, "title": "Big", "amount": above_max}}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large"),
        ("deal amount beyond i64", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": 1e30, "manager_id": m}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("deal amount with a fraction", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": 10.5, "manager_id": m}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("deal amount a string", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": "Big", "amount": "100", "manager_id": m}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("deal title of 201 characters", Method::POST, "/deals".into(), json!({"client_id": c, "pipeline_id": p, "title": name_of(201), "amount": 1, "manager_id": m}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("deal client id with SQL", Method::POST, "/deals".into(), json!({"client_id": SQL_DROP, "pipeline_id": p, "title": "Big", "amount": 1, "manager_id": m}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("interaction notes of 10,001 characters", Method::POST, "/interactions".into(), json!({"kind": "call", "direction": "outbound", "manager_id": m, "notes": "n".repeat(10_001)}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("interaction duration negative", Method::POST, "/interactions".into(), json!({"kind": "call", "direction": "outbound", "manager_id": m, "duration_s": -5}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "negative_duration"),
        ("interaction of 7 days and a second", Method::POST, "/interactions".into(), json!({"kind": "call", "direction": "outbound", "manager_id": m, "duration_s": 604_801}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "duration_too_long"),
        ("interaction duration huge", Method::POST, "/interactions".into(), json!({"kind": "call", "direction": "outbound", "manager_id": m, "duration_s": 18_446_744_073_709_551_615u64}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("interaction kind unknown", Method::POST, "/interactions".into(), json!({"kind": "pigeon", "direction": "outbound", "manager_id": m}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("task title of 201 characters", Method::POST, "/tasks".into(), json!({"title": name_of(201), "assignee_id": m, "due_at": "2026-03-01T09:00:00Z"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("task with 101 observers", Method::POST, "/tasks".into(), json!({"title": "Call", "assignee_id": m, "due_at": "2026-03-01T09:00:00Z", "observer_ids": vec![m; 101]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "too_many_items"),
        ("task due_at not a time", Method::POST, "/tasks".into(), json!({"title": "Call", "assignee_id": m, "due_at": SQL_OR}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        ("pipeline with 101 stages", Method::POST, "/pipelines".into(), json!({"name": "Long", "stages": (0..101).map(|i| json!({"name": format!("S{i}"), "probability": 0.5})).collect::<Vec<_>>()}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "too_many_items"),
        ("pipeline stage name of 201 characters", Method::POST, "/pipelines".into(), json!({"name": "P", "stages": [{"name": name_of(201), "probability": 0.5}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
        ("pipeline probability a string", Method::POST, "/pipelines".into(), json!({"name": "P", "stages": [{"name": "S", "probability": "high"}]}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        // Text PostgreSQL cannot hold: a NUL anywhere (422 naming the field, before
        // anything is encrypted or stored), a lone surrogate (not JSON text at all).
        ("a NUL in a name", Method::POST, "/clients".into(), with("name", json!("Evil\u{0}Corp")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"),
        ("a NUL in a contact's phone", Method::POST, "/clients".into(), with("contacts", json!([{"name": "Ivan", "phone": "\u{0}"}])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"),
        ("a NUL in a lead's e-mail", Method::POST, "/leads".into(), json!({"source": "site", "name": "Ivan", "email": "i\u{0}@x.ua"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"),
        ("a NUL in a key of a filter's value", Method::POST, "/projections".into(), json!({"name": "x", "event_types": ["DealWon"], "filters": [{"field": "data.amount", "op": "eq", "value": {"a\u{0}": 1}}], "measures": [{"name": "n", "fn": "count"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"),
        ("a NUL in an erasure's reason", Method::POST, format!("{patch}/erase"), json!({"reason": "\u{0}"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"),
        ("a lone leading surrogate", Method::POST, "/clients".into(), format!(r#"{{"name": "Evil\ud800Corp", "kind": "company", "manager_id": "{m}"}}"#), StatusCode::BAD_REQUEST, "malformed_json"),
        ("a lone trailing surrogate", Method::PATCH, patch.clone(), r#"{"region": "\udc00"}"#.into(), StatusCode::BAD_REQUEST, "malformed_json"),
    ];
    for (what, method, path, body, status, code) in cases {
        let before = app.event_count().await;
        let answer = send_text(&app, method, &path, Some(&body), &[]).await;
        assert_refused(&app, what, &answer, status, code, before).await;
    }

    // Bytes that are not UTF-8 inside a JSON string.
    let before = app.event_count().await;
    let mut bytes = br#"{"name": ""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    bytes.extend_from_slice(format!(r#"", "kind": "company", "manager_id": "{m}"}}"#).as_bytes());
    let answer = send_bytes(&app, Method::POST, "/clients", "application/json", bytes).await;
    assert_refused(
        &app,
        "invalid UTF-8",
        &answer,
        StatusCode::BAD_REQUEST,
        "malformed_json",
        before,
    )
    .await;

    // A body that is not declared JSON.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let answer = send_bytes(
            &app,
            Method::POST,
            "/clients",
            content_type,
            valid_client.to_string().into_bytes(),
        )
        .await;
        assert_refused(
            &app,
            content_type,
            &answer,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            before,
        )
        .await;
    }
    let no_type = Request::builder()
        .method(Method::POST)
        .uri("/clients")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::from(valid_client.to_string()))
        .unwrap();
    let answer = app.send_raw(no_type).await;
    assert_refused(
        &app,
        "no content type",
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        before,
    )
    .await;

    // The same valid body is accepted: the refusals above were about what they changed.
    let answer = send_text(
        &app,
        Method::POST,
        "/clients",
        Some(&valid_client.to_string()),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(app.event_count().await, before + 1);
    let projectors = app.start_projectors();
    app.assert_read_models_healthy().await;
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn hostile_ids_queries_and_cursors_get_a_problem(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let m = manager(&app, "Olena").await;
    let before = app.event_count().await;
    let (or, drop) = (encode(SQL_OR), encode(SQL_DROP));
    // (path, method, body, status, code)
    let cases: Vec<(String, Method, Option<String>, StatusCode, &str)> = vec![
        (
            format!("/clients/{or}"),
            Method::PATCH,
            Some(json!({"name": "X"}).to_string()),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            format!("/clients/{drop}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            format!("/deals/{drop}/win"),
            Method::POST,
            Some("{}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            format!("/leads/{or}/reject"),
            Method::POST,
            Some(json!({"reason": "spam"}).to_string()),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            format!("/managers/{}/deactivate", "12345"),
            Method::POST,
            Some("{}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            format!("/clients?manager_id={or}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/clients?cursor={drop}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            format!("/deals?cursor={or}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            format!("/tasks?cursor={drop}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            format!("/events?cursor={drop}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            format!("/events?limit={or}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/events?limit=-1".into(),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/events?limit=0".into(),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/clients?limit=1001".into(),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/deals?limit=99999999999999999999999".into(),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/clients?churn_days=-5".into(),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/streams/client-x/events?limit=10001".into(),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            format!("/streams/{drop}/events?version=-1"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/reports/funnel?pipeline_id={or}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/reports/revenue?by={drop}&from=2026-01-01&to=2026-02-01"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/reports/leads?by=source&from={or}&to=2026-02-01"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/export/events?format={drop}"),
            Method::GET,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_format",
        ),
    ];
    for (path, method, body, status, code) in cases {
        let answer = send_text(&app, method, &path, body.as_deref(), &[]).await;
        assert_refused(&app, &path, &answer, status, code, before).await;
    }
    // An id that is a UUID but names nothing: 404, not a leak or a crash.
    let answer = app.get(&format!("/deals/{}", Uuid::new_v4())).await;
    assert_refused(
        &app,
        "unknown deal",
        &answer,
        StatusCode::NOT_FOUND,
        "not_found",
        before,
    )
    .await;
    // A stream id with SQL in it is only an unknown stream.
    let answer = app.get(&format!("/streams/{drop}/events")).await;
    assert_refused(
        &app,
        "SQL stream id",
        &answer,
        StatusCode::NOT_FOUND,
        "not_found",
        before,
    )
    .await;
    // A command whose reference is SQL in a valid UUID's place never reaches SQL.
    let answer = app
        .post(&format!("/clients/{or}/assign"), &json!({"manager_id": m}))
        .await;
    assert_refused(
        &app,
        "assign",
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_path",
        before,
    )
    .await;
    assert_tables_exist(&app).await;
}

/// The log's and the read models' tables are all still there.
async fn assert_tables_exist(app: &TestApp) {
    for table in ["eventlog.events", "api.tokens", "projections.checkpoints"] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(app.log.pool())
            .await
            .unwrap();
        assert!(exists, "{table} is gone");
    }
}

#[sqlx::test(migrations = false)]
async fn sql_fragments_in_free_text_are_stored_verbatim(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let m = manager(&app, "Olena").await;
    let before = app.event_count().await;
    let name = format!("Robert{SQL_DROP}");
    let region = SQL_OR.to_owned();
    let contact = json!({"name": "x\"); DELETE FROM api.tokens; --", "email": "a@b.c' OR '1'='1"});
    let body = |source: String| {
        json!({"name": name, "kind": "person", "manager_id": m, "region": region,
               "contacts": [contact], "source": source})
    };
    // A NUL before the fragment (a real one: U+0000) is refused, naming the field.
    let nul = app
        .post("/clients", &body(format!("\u{0}{SQL_SLEEP}")))
        .await;
    assert_refused(
        &app,
        "NUL",
        &nul,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_text",
        before,
    )
    .await;
    assert!(
        nul.body["detail"].as_str().unwrap().starts_with("source "),
        "{}",
        nul.body
    );
    let answer = app.post("/clients", &body(SQL_SLEEP.to_owned())).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(app.event_count().await, before + 1);
    let id = answer.body["id"].as_str().unwrap();

    // Read back from the log through the API, and straight from the table.
    let events = app.get(&format!("/streams/client-{id}/events")).await;
    assert_eq!(events.status, StatusCode::OK);
    let data = &events.body["events"][0]["data"];
    assert_eq!(data["name"], json!(name));
    assert_eq!(data["region"], json!(region));
    assert_eq!(data["contacts"], json!([contact]));
    assert_eq!(data["source"], json!(SQL_SLEEP));
    let stored: Value = sqlx::query_scalar("SELECT data FROM eventlog.events WHERE stream_id = $1")
        .bind(format!("client-{id}"))
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    // Stored verbatim (the name, personal data, encrypted under the client's key).
    assert_eq!(stored["region"], json!(region));
    assert_eq!(stored["source"], json!(SQL_SLEEP));
    assert!(
        stored["name"].as_str().unwrap().starts_with("pii:v1:"),
        "{stored}"
    );

    // The same fragments in a search are a search for them.
    let projectors = app.start_projectors();
    let position = answer.body["position"].as_i64().unwrap();
    let found = app
        .get(&format!(
            "/clients?q={}&min_position={position}",
            encode(SQL_DROP)
        ))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let names: Vec<&str> = found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec![name.as_str()]);
    let none = app.get(&format!("/clients?q={}", encode(SQL_OR))).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(
        none.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        none.body
    );
    app.assert_read_models_healthy().await;
    projectors.shutdown().await;
    assert_tables_exist(&app).await;
    assert_eq!(app.event_count().await, before + 1);
}

/// A request whose body the client has not finished sending: it holds its slot
/// until `finish` sends the rest.
struct Pending {
    sender: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    answer: tokio::task::JoinHandle<Answer>,
}

impl Pending {
    /// Starts `POST /clients` with `token`, sending only the body's first byte.
    async fn start(app: &TestApp, token: &str) -> Pending {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        sender.send(Ok(b"{".to_vec())).await.unwrap();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        let request = Request::builder()
            .method(Method::POST)
            .uri("/clients")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
        let app = app.clone();
        let answer = tokio::spawn(async move { app.send_raw(request).await });
        Pending { sender, answer }
    }

    /// Sends the rest of a valid body and returns the answer.
    async fn finish(self, manager_id: Uuid) -> Answer {
        let rest = format!(r#""name": "Slow", "kind": "company", "manager_id": "{manager_id}"}}"#);
        self.sender.send(Ok(rest.into_bytes())).await.unwrap();
        drop(self.sender);
        self.answer.await.unwrap()
    }
}

/// Sends `GET /events` with `token` until the answer is not a 200 (the held
/// requests may take a moment to reach the limiter), for at most 60 s.
async fn refused_while_full(app: &TestApp, token: Option<&str>) -> Answer {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let answer = app.send(Method::GET, "/events", token, None, &[]).await;
        if answer.status != StatusCode::OK {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never refused a request while full");
}

fn small_limits(max_concurrent: usize, per_client: usize) -> Limits {
    Limits {
        max_concurrent,
        per_client,
        queue_wait: Duration::from_millis(20),
    }
}

#[sqlx::test(migrations = false)]
async fn a_full_server_answers_overloaded_then_recovers(pool: PgPool) {
    let app = TestApp::with_limits(pool, small_limits(2, 0))
        .await
        .unwrap();
    let m = manager(&app, "Olena").await;
    let before = app.event_count().await;
    let slow = [
        Pending::start(&app, ADMIN_TOKEN).await,
        Pending::start(&app, ADMIN_TOKEN).await,
    ];

    let refused = refused_while_full(&app, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert_eq!(refused.code(), "overloaded");
    assert_eq!(refused.headers[header::RETRY_AFTER], "1");
    assert_eq!(
        refused.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    // A refused command appends nothing.
    let command = app
        .post(
            "/managers",
            &json!({"name": "Late", "department": "Sales", "role": "manager"}),
        )
        .await;
    assert_eq!(
        (command.status, command.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
    );
    // Liveness is answered all the same.
    let live = app.send(Method::GET, "/health/live", None, None, &[]).await;
    assert_eq!(live.status, StatusCode::OK);

    for pending in slow {
        let answer = pending.finish(m).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    assert_eq!(app.event_count().await, before + 2);
    let again = app.get("/events").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}

#[sqlx::test(migrations = false)]
async fn one_client_cannot_take_every_slot(pool: PgPool) {
    let app = TestApp::with_limits(pool, small_limits(10, 1))
        .await
        .unwrap();
    let m = manager(&app, "Olena").await;
    let slow = Pending::start(&app, ADMIN_TOKEN).await;

    let refused = refused_while_full(&app, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert_eq!(refused.code(), "too_many_requests");
    assert_eq!(refused.headers[header::RETRY_AFTER], "1");
    // Another client (here: no token at all) is not held back by the first one.
    let other = app.send(Method::GET, "/events", None, None, &[]).await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );

    assert_eq!(slow.finish(m).await.status, StatusCode::CREATED);
    assert_eq!(app.get("/events").await.status, StatusCode::OK);
}

/// Serves the app on a free local port with `options`; returns the address.
async fn serve(app: &TestApp, options: crm_api::server::ServeOptions) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        crm_api::server::serve_with(listener, router, std::future::pending(), &options).await
    });
    address
}

/// A complete request for the liveness probe, and the status line of its answer.
async fn live(address: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[sqlx::test(migrations = false)]
async fn a_client_slow_to_send_its_headers_is_disconnected(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let address = serve(
        &app,
        crm_api::server::ServeOptions {
            max_connections: 4,
            header_read_timeout: Duration::from_millis(300),
        },
    )
    .await;
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server closes the connection (hyper may answer 408 first): reading ends.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow connection was never closed");
    assert_eq!(live(address).await, "HTTP/1.1 200 OK");
}

#[sqlx::test(migrations = false)]
async fn connections_beyond_the_limit_wait_for_a_free_one(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let address = serve(
        &app,
        crm_api::server::ServeOptions {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(60),
        },
    )
    .await;
    // The one connection the server takes, idle in the middle of its headers.
    let mut first = tokio::net::TcpStream::connect(address).await.unwrap();
    first
        .write_all(b"GET /health/live HTTP/1.1\r\n")
        .await
        .unwrap();
    // The second sends its whole request (the kernel takes it into the backlog),
    // then waits for an answer that cannot come while the first is open.
    let (sent_tx, sent) = tokio::sync::oneshot::channel();
    let second = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let _ = sent_tx.send(());
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    });
    tokio::time::timeout(Duration::from_secs(30), sent)
        .await
        .expect("the second request is sent")
        .unwrap();
    // Sent, and still unanswered after the server had ample time to answer it, had
    // it been served (a slow machine makes this pass sooner, never fail wrongly).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "a connection beyond the limit was served"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(30), second).await;
    assert_eq!(status.unwrap().unwrap(), "HTTP/1.1 200 OK");
}

/// The mark of every hostile text below, so that a body's text fields can be told
/// from its ids, times and enum words.
const MARK: char = '☠';

/// Text that is hard to store, show, compare or search, but that PostgreSQL can
/// hold: every control character but NUL, bidi overrides and isolates, line and
/// paragraph separators, a BOM, zero-width space, quotes, backslashes, SQL and LIKE
/// wildcards, four-byte emoji, Cyrillic; exactly `chars` characters (a field's
/// limit: 200 for names, 10,000 for free texts), starting with [`MARK`] and `tag`.
fn hostile(tag: &str, chars: usize) -> String {
    let pool: Vec<char> = (1u32..32)
        .chain([
            0x7f, 0x80, 0x9f, 0x202e, 0x2066, 0x2028, 0x2029, 0xfeff, 0x200b,
        ])
        .filter_map(char::from_u32)
        .chain("'\"\\%_;--/* DROP TABLE x; 😀я€".chars())
        .collect();
    let mut text: String = std::iter::once(MARK).chain(tag.chars()).collect();
    let mut next = pool.iter().cycle();
    while text.chars().count() < chars {
        text.push(*next.next().unwrap());
    }
    text
}

/// The paths (`contacts[0].name`) of the hostile texts of `body`, each with its value.
fn marked(body: &Value, at: &str, found: &mut Vec<String>) {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match body {
        Value::String(s) if s.starts_with(MARK) => found.push(at.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                marked(item, &format!("{at}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                marked(item, &join(key), found);
            }
        }
        _ => {}
    }
}

/// `body` with a NUL put into the text at `path`.
fn with_nul(body: &Value, path: &str) -> Value {
    let mut body = body.clone();
    let mut at = &mut body;
    for step in path.split('.') {
        let (key, index) = match step.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (step, None),
        };
        at = &mut at[key];
        if let Some(i) = index {
            at = &mut at[i];
        }
    }
    let text = at.as_str().unwrap().to_owned();
    *at = Value::String(format!(
        "{}\u{0}{}",
        &text[..MARK.len_utf8()],
        &text[MARK.len_utf8()..]
    ));
    body
}

/// Every command of the API with a body, sent with hostile text in each of its text
/// fields: first once per field with a NUL in it (422 `invalid_text` naming the
/// field, nothing appended), then as it is (accepted). Records the route's template.
struct Commands<'a> {
    app: &'a TestApp,
    covered: BTreeSet<String>,
    last: i64,
}

impl Commands<'_> {
    async fn send(&mut self, method: Method, route: &str, path: &str, body: Value) -> Answer {
        self.covered.insert(format!("{method} {route}"));
        let mut texts = Vec::new();
        marked(&body, "", &mut texts);
        for field in texts {
            let before = self.app.event_count().await;
            let bad = with_nul(&body, &field);
            let answer =
                send_text(self.app, method.clone(), path, Some(&bad.to_string()), &[]).await;
            assert_refused(
                self.app,
                &format!("{path} {field}"),
                &answer,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_text",
                before,
            )
            .await;
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(detail.starts_with(&format!("{field} ")), "{path}: {detail}");
        }
        let answer = send_text(self.app, method, path, Some(&body.to_string()), &[]).await;
        assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
        if let Some(position) = answer.body["position"].as_i64() {
            self.last = self.last.max(position);
        }
        answer
    }
}

/// The id a command's answer gives.
fn id_of(answer: &Answer) -> Uuid {
    answer.body["id"].as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrations = false)]
async fn hostile_text_goes_through_every_field_into_the_read_models(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let name = |tag: &str| json!(hostile(tag, crm_domain::MAX_NAME_CHARS));
    let text = |tag: &str| json!(hostile(tag, crm_domain::MAX_TEXT_CHARS));
    let mut c = Commands {
        app: &app,
        covered: BTreeSet::new(),
        last: 0,
    };
    use Method as M;

    let manager = |tag: &str| json!({"name": name(tag), "department": name("dept"), "role": "manager", "email": name("mail")});
    let m = id_of(
        &c.send(M::POST, "/managers", "/managers", manager("m"))
            .await,
    );
    let m2 = id_of(
        &c.send(M::POST, "/managers", "/managers", manager("m2"))
            .await,
    );
    let m3 = id_of(
        &c.send(M::POST, "/managers", "/managers", manager("m3"))
            .await,
    );
    // A hostile password for a hostile email, and a login with both.
    let password = json!(hostile("pw", 200));
    c.send(
        M::POST,
        "/managers/{id}/password",
        &format!("/managers/{m}/password"),
        json!({ "password": password }),
    )
    .await;
    let login = c
        .send(
            M::POST,
            "/auth/login",
            "/auth/login",
            json!({"email": name("mail"), "password": password}),
        )
        .await;
    assert_eq!(login.body["manager_id"], m.to_string());
    c.send(
        M::POST,
        "/managers/{id}/deactivate",
        &format!("/managers/{m3}/deactivate"),
        json!({}),
    )
    .await;
    let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
    let stages = json!([{"id": s1, "name": name("s1"), "probability": 0.3}, {"id": s2, "name": name("s2"), "probability": 0.7}]);
    let p = id_of(
        &c.send(
            M::POST,
            "/pipelines",
            "/pipelines",
            json!({"name": name("pipe"), "stages": stages}),
        )
        .await,
    );

    let contacts = json!([{"name": name("cn"), "phone": name("cp"), "email": name("ce")}]);
    let client = json!({"name": name("client"), "kind": "company", "size": name("size"), "industry": name("ind"),
                        "region": name("reg"), "source": name("src"), "manager_id": m, "contacts": contacts});
    let k = id_of(
        &c.send(M::POST, "/clients", "/clients", client.clone())
            .await,
    );
    let k2 = id_of(&c.send(M::POST, "/clients", "/clients", client).await);
    let changes = json!({"name": name("client2"), "size": name("size2"), "industry": name("ind2"), "region": name("reg2"),
                         "source": name("src2"), "contacts": [{"name": name("cn2"), "phone": name("cp2"), "email": name("ce2")}]});
    c.send(M::PATCH, "/clients/{id}", &format!("/clients/{k}"), changes)
        .await;
    c.send(
        M::POST,
        "/clients/{id}/assign",
        &format!("/clients/{k}/assign"),
        json!({"manager_id": m2}),
    )
    .await;

    let lead = |tag: &str| {
        json!({"source": name(&format!("{tag}src")), "channel": name("chan"), "name": name(tag),
                                  "phone": name("lp"), "email": name("le"), "client_id": k})
    };
    let l1 = id_of(&c.send(M::POST, "/leads", "/leads", lead("l1")).await);
    let l2 = id_of(&c.send(M::POST, "/leads", "/leads", lead("l2")).await);
    let l3 = id_of(&c.send(M::POST, "/leads", "/leads", lead("l3")).await);
    c.send(
        M::POST,
        "/leads/{id}/assign",
        &format!("/leads/{l1}/assign"),
        json!({"manager_id": m}),
    )
    .await;
    let deal = json!({"pipeline_id": p, "stage_id": s1, "title": name("conv"), "amount": 100, "expected_close_on": "2026-12-31"});
    c.send(
        M::POST,
        "/leads/{id}/convert",
        &format!("/leads/{l1}/convert"),
        json!({"client_id": k, "deal": deal}),
    )
    .await;
    c.send(
        M::POST,
        "/leads/{id}/reject",
        &format!("/leads/{l2}/reject"),
        json!({"reason": name("rej")}),
    )
    .await;
    c.send(
        M::POST,
        "/leads/{id}/erase",
        &format!("/leads/{l3}/erase"),
        json!({"reason": name("gdpr")}),
    )
    .await;

    let d = id_of(&c.send(M::POST, "/deals", "/deals", json!({"client_id": k, "pipeline_id": p, "title": name("deal"), "amount": 500,
                                                                "manager_id": m, "source": name("dsrc"), "expected_close_on": "2026-11-30"})).await);
    let deal_path = |action: &str| format!("/deals/{d}/{action}");
    c.send(
        M::POST,
        "/deals/{id}/stage",
        &deal_path("stage"),
        json!({"stage_id": s2}),
    )
    .await;
    c.send(
        M::POST,
        "/deals/{id}/amount",
        &deal_path("amount"),
        json!({"amount": 700}),
    )
    .await;
    c.send(
        M::POST,
        "/deals/{id}/assign",
        &deal_path("assign"),
        json!({"manager_id": m2}),
    )
    .await;
    c.send(
        M::POST,
        "/deals/{id}/lose",
        &deal_path("lose"),
        json!({"reason": name("why"), "comment": text("comment")}),
    )
    .await;
    c.send(
        M::POST,
        "/deals/{id}/reopen",
        &deal_path("reopen"),
        json!({"stage_id": s1}),
    )
    .await;
    c.send(
        M::POST,
        "/deals/{id}/win",
        &deal_path("win"),
        json!({"amount": 800}),
    )
    .await;

    let task = |tag: &str| {
        json!({"title": name(tag), "kind": name("kind"), "assignee_id": m, "due_at": "2026-03-01T09:00:00Z",
                                  "client_id": k, "deal_id": d})
    };
    let t1 = id_of(&c.send(M::POST, "/tasks", "/tasks", task("t1")).await);
    let t2 = id_of(&c.send(M::POST, "/tasks", "/tasks", task("t2")).await);
    c.send(
        M::POST,
        "/tasks/{id}/reschedule",
        &format!("/tasks/{t1}/reschedule"),
        json!({"due_at": "2026-03-02T09:00:00Z"}),
    )
    .await;
    c.send(
        M::POST,
        "/tasks/{id}/assign",
        &format!("/tasks/{t1}/assign"),
        json!({"assignee_id": m2}),
    )
    .await;
    c.send(
        M::POST,
        "/tasks/{id}/complete",
        &format!("/tasks/{t1}/complete"),
        json!({"result": text("result")}),
    )
    .await;
    c.send(
        M::POST,
        "/tasks/{id}/cancel",
        &format!("/tasks/{t2}/cancel"),
        json!({"reason": name("cancel")}),
    )
    .await;

    let notes = text("notes");
    c.send(M::POST, "/interactions", "/interactions", json!({"kind": "call", "direction": "outbound", "manager_id": m2,
                                                             "client_id": k, "deal_id": d, "duration_s": 60, "outcome": name("out"),
                                                             "goal": name("goal"), "notes": notes})).await;
    c.send(
        M::POST,
        "/managers/{id}/handover",
        &format!("/managers/{m2}/handover"),
        json!({"to_manager_id": m}),
    )
    .await;
    c.send(
        M::POST,
        "/clients/{id}/erase",
        &format!("/clients/{k2}/erase"),
        json!({"reason": name("gdpr2")}),
    )
    .await;

    // Custom projections keyed and counted by the longest texts, filtered by hostile values.
    let definition = |measure: &str| {
        json!({"event_types": ["InteractionLogged"],
        "filters": [{"field": "data.outcome", "op": "ne", "value": name("nope")}],
        "group_by": [{"name": "notes", "field": "data.notes"}],
        "measures": [{"name": measure, "fn": "count_distinct", "field": "data.notes"}]})
    };
    let mut defined = definition("texts");
    defined["name"] = json!("hostile_text");
    c.send(M::POST, "/projections", "/projections", defined)
        .await;
    c.send(
        M::PUT,
        "/projections/{name}",
        "/projections/hostile_text",
        definition("distinct_notes"),
    )
    .await;

    // Automation rules: a hostile name, department, titles and task kind.
    let mut rules = Vec::new();
    for (kind, params) in [
        (
            "lead_round_robin",
            json!({"department": name("rdept"), "strategy": "round_robin"}),
        ),
        (
            "task_on_stage",
            json!({"pipeline_id": p, "stage_id": s1, "title": name("rtitle"), "kind": name("rkind"), "due_in_hours": 2}),
        ),
        (
            "follow_up_after_win",
            json!({"after_days": 3, "title": name("rfollow")}),
        ),
    ] {
        let body = json!({"name": name("rule"), "kind": kind, "params": params});
        rules.push(id_of(
            &c.send(M::POST, "/automation/rules", "/automation/rules", body)
                .await,
        ));
    }
    c.send(
        M::POST,
        "/automation/rules/{id}/disable",
        &format!("/automation/rules/{}/disable", rules[0]),
        json!({}),
    )
    .await;

    // A webhook's secret: any text but NUL signs its deliveries (kept in its row,
    // never in the log nor in an answer).
    c.send(
        M::POST,
        "/webhooks",
        "/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "event_types": [], "secret": hostile("secret", 64)}),
    )
    .await;

    // The sales department's business (issue 18), on a deal still open.
    let product = id_of(
        &c.send(
            M::POST,
            "/products",
            "/products",
            json!({"name": name("product"), "category": name("category"), "price": 10}),
        )
        .await,
    );
    let d2 = id_of(
        &c.send(
            M::POST,
            "/deals",
            "/deals",
            json!({"client_id": k, "pipeline_id": p, "title": name("deal2"), "amount": 5, "manager_id": m}),
        )
        .await,
    );
    let line = id_of(
        &c.send(
            M::POST,
            "/deals/{id}/lines",
            &format!("/deals/{d2}/lines"),
            json!({"product_id": product, "quantity": 2, "price": 10}),
        )
        .await,
    );
    c.send(
        M::POST,
        "/deals/{id}/lines/{line_id}/remove",
        &format!("/deals/{d2}/lines/{line}/remove"),
        json!({}),
    )
    .await;
    let invoice = id_of(
        &c.send(
            M::POST,
            "/deals/{id}/invoices",
            &format!("/deals/{d2}/invoices"),
            json!({"number": name("invoice"), "amount": 100, "due_on": "2026-12-31"}),
        )
        .await,
    );
    c.send(
        M::POST,
        "/invoices/{id}/payments",
        &format!("/invoices/{invoice}/payments"),
        json!({"amount": 40, "paid_on": "2026-12-01"}),
    )
    .await;
    c.send(
        M::POST,
        "/deals/{id}/shipments",
        &format!("/deals/{d2}/shipments"),
        json!({"shipped_on": "2026-12-02", "note": text("shipment")}),
    )
    .await;
    c.send(
        M::POST,
        "/plans",
        "/plans",
        json!({"manager_id": m, "month": "2026-12", "targets": {"calls": 10}}),
    )
    .await;
    let k3 = id_of(
        &c.send(
            M::POST,
            "/clients",
            "/clients",
            json!({"name": name("client3"), "kind": "company", "manager_id": m, "contacts": []}),
        )
        .await,
    );
    c.send(
        M::POST,
        "/clients/{id}/merge",
        &format!("/clients/{k3}/merge"),
        json!({"into_client_id": k}),
    )
    .await;
    c.send(
        M::POST,
        "/clients/{id}/unmerge",
        &format!("/clients/{k3}/unmerge"),
        json!({}),
    )
    .await;

    // Every operation of the document that takes a body was sent above.
    let document = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await;
    let mut with_body = BTreeSet::new();
    for (route, item) in document.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_some() {
                with_body.insert(format!("{} {route}", method.to_uppercase()));
            }
        }
    }
    assert_eq!(c.covered, with_body);

    // Every read model took all of it; what they show is what was sent.
    app.wait_custom_live("hostile_text", 2).await;
    app.assert_read_models_healthy().await;
    let card = app
        .get(&format!("/clients/{k}?min_position={}", c.last))
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.body);
    assert_eq!(card.body["name"], name("client2"));
    assert_eq!(card.body["region"], name("reg2"));
    assert_eq!(card.body["contacts"][0]["phone"], name("cp2"));
    let deal = app.get(&format!("/deals/{d}")).await;
    assert_eq!(deal.body["title"], name("deal"), "{}", deal.body);
    let listed = app
        .get(&format!("/automation/rules?min_position={}", c.last))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["name"], name("rule"));
    assert_eq!(
        listed.body["items"][0]["params"]["department"],
        name("rdept")
    );
    assert_eq!(listed.body["items"][1]["params"]["title"], name("rtitle"));
    assert_eq!(listed.body["items"][1]["params"]["kind"], name("rkind"));
    let rows = app.get("/projections/hostile_text/rows").await;
    assert_eq!(rows.status, StatusCode::OK, "{}", rows.body);
    assert_eq!(
        rows.body["items"],
        json!([{"notes": notes, "distinct_notes": 1}])
    );
    projectors.shutdown().await;
}

/// `GET path` as the admin, once every read model reflects the log: its body.
async fn reflected(app: &TestApp, path: &str) -> Value {
    let head = app.log.last_position().await.unwrap().unwrap();
    let sep = if path.contains('?') { '&' } else { '?' };
    let answer = app.get(&format!("{path}{sep}min_position={head}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    answer.body
}

#[sqlx::test(migrations = false)]
async fn sums_past_64_bits_break_no_read_model_and_every_report_answers(pool: PgPool) {
    use chrono::{DateTime, NaiveDate, Utc};
    use crm_domain::events::{
        DealLineAdded, DealLost, DealOpened, DealWon, InteractionDuration, InteractionLogged,
        InvoiceIssued, ProductDefined,
    };
    use crm_domain::values::{Direction, InteractionKind};
    use crm_domain::{DomainEvent, MAX_AMOUNT};

    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let p = crm_tests::scenario::pipeline(&app).await;
    let events = crm_tests::scenario::events(&app, &format!("pipeline-{p}")).await;
    let first_stage: Uuid = events[0]["data"]["stages"][0]["stage_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Every won amount summed in one place, for the revenue, the manager's KPIs and
    // the client's card: 9,224 wins of the largest amount the API takes pass 2^63 - 1.
    let wins: i64 = 9_224;
    let won_total = u64::try_from(wins).unwrap() * u64::try_from(MAX_AMOUNT).unwrap();
    assert!(won_total > i64::MAX as u64);
    let at = |day: u32| -> DateTime<Utc> { format!("2026-01-{day:02}T10:00:00Z").parse().unwrap() };
    let opened = |amount: i64, expected_close_on: Option<NaiveDate>| {
        DomainEvent::DealOpened(DealOpened {
            deal_id: Uuid::now_v7(),
            client_id: c,
            pipeline_id: p,
            stage_id: first_stage,
            title: "Big".into(),
            amount,
            manager_id: m,
            source: Some("import".into()),
            expected_close_on,
            lead_id: None,
        })
    };
    let id = |e: &DomainEvent| e.entity().1;
    let mut log = Vec::new();
    // The first deal carries one line whose quantity × price alone passes 2^63 - 1 (the
    // API bounds a line; a log written otherwise need not be).
    let product = Uuid::now_v7();
    log.push((
        DomainEvent::ProductDefined(ProductDefined {
            product_id: product,
            name: "Press".into(),
            category: "Machines".into(),
            price: None,
        }),
        at(1),
    ));
    let (quantity, price) = (i64::MAX / 2, 3);
    let line_total = i128::from(quantity) * i128::from(price);
    for n in 0..wins {
        let deal = opened(MAX_AMOUNT, None);
        let won = DomainEvent::DealWon(DealWon {
            deal_id: id(&deal),
            amount: MAX_AMOUNT,
        });
        let line = DomainEvent::DealLineAdded(DealLineAdded {
            deal_id: id(&deal),
            line_id: Uuid::now_v7(),
            product_id: product,
            quantity,
            price,
        });
        log.push((deal, at(10)));
        if n == 0 {
            log.push((line, at(11)));
        }
        log.push((won, at(20)));
    }
    // Events appended before the bounds, with the largest bigint: two deals open (due in
    // May), two lost, two calls of that many seconds.
    let largest = i128::from(i64::MAX);
    let may = NaiveDate::from_ymd_opt(2026, 5, 20);
    for n in 0..2 {
        let open = opened(i64::MAX, may);
        // Each billed in full, due the 25th: 2 × (2^63 - 1) issued and overdue after.
        let invoice = DomainEvent::InvoiceIssued(InvoiceIssued {
            invoice_id: Uuid::now_v7(),
            deal_id: id(&open),
            number: format!("INV-{n}"),
            amount: i64::MAX,
            due_on: NaiveDate::from_ymd_opt(2026, 1, 25).unwrap(),
        });
        log.push((open, at(16)));
        log.push((invoice, at(20)));
        let lost = opened(i64::MAX, None);
        let loss = DomainEvent::DealLost(DealLost {
            deal_id: id(&lost),
            reason: "price".into(),
            comment: None,
        });
        log.push((lost, at(16)));
        log.push((loss, at(20)));
        let call = DomainEvent::InteractionLogged(InteractionLogged {
            interaction_id: Uuid::now_v7(),
            kind: InteractionKind::Call,
            direction: Direction::Outbound,
            manager_id: m,
            client_id: Some(c),
            deal_id: None,
            lead_id: None,
            duration: Some(InteractionDuration { seconds: i64::MAX }),
            outcome: None,
            goal: None,
            notes: None,
            goal_reached: None,
        });
        log.push((call, at(20)));
    }
    crm_tests::scenario::append_straight(&app, log).await;
    let defined = app
        .post(
            "/projections",
            &json!({"name": "won_sum", "event_types": ["DealWon"],
                    "measures": [{"name": "amount", "fn": "sum", "field": "data.amount"}]}),
        )
        .await;
    assert!(defined.status.is_success(), "{}", defined.body);

    // Every read model applies all of it, none failed.
    app.wait_custom_live("won_sum", 1).await;
    app.assert_read_models_healthy().await;

    // Each report answers with the exact sums: the figures below come from the
    // scenario, not from the code under test.
    let two_largest = json!(u64::try_from(2 * largest).unwrap());
    let won = json!(won_total);
    let january = "from=2026-01-01&to=2026-02-01";
    let revenue = reflected(&app, &format!("/reports/revenue?by=manager&{january}")).await;
    assert_eq!(
        revenue["groups"],
        json!([{"key": m.to_string(), "deals": wins, "amount": won}]),
        "{revenue}"
    );
    // By client: each group summed in bigint overflows, so the report asks again in numeric.
    let by_client = reflected(&app, &format!("/reports/revenue?by=client&{january}")).await;
    assert_eq!(
        by_client["groups"],
        json!([{"key": c.to_string(), "deals": wins, "amount": won}]),
        "{by_client}"
    );
    // Where the money came from: the client's first win is new, the other 9,223 repeat
    // (9,223 × 10^15 fits in a bigint); all first contacted by an outbound call, the
    // whole sum past 2^63 - 1.
    let novelty = reflected(&app, &format!("/reports/revenue?by=novelty&{january}")).await;
    assert_eq!(
        novelty["groups"],
        json!([{"key": "repeat", "deals": wins - 1, "amount": (wins - 1) * MAX_AMOUNT},
               {"key": "new", "deals": 1, "amount": MAX_AMOUNT}]),
        "{novelty}"
    );
    let contact = reflected(
        &app,
        &format!("/reports/revenue?by=first_contact&{january}"),
    )
    .await;
    assert_eq!(
        contact["groups"],
        json!([{"key": "outbound", "deals": wins, "amount": won}]),
        "{contact}"
    );
    // The one line past 2^63 - 1, by product and by category.
    for (by, key) in [
        ("product", product.to_string()),
        ("category", "Machines".into()),
    ] {
        let lines = reflected(&app, &format!("/reports/revenue?by={by}&{january}")).await;
        assert_eq!(
            lines["groups"],
            json!([{"key": key, "deals": 1, "amount": u64::try_from(line_total).unwrap()}]),
            "{lines}"
        );
    }
    for by in ["client", "manager"] {
        let key = if by == "client" { c } else { m };
        let invoices = reflected(
            &app,
            &format!("/reports/invoices?by={by}&{january}&now=2026-02-01T00:00:00Z"),
        )
        .await;
        assert_eq!(
            invoices["groups"],
            json!([{"key": key.to_string(), "issued": 2, "issued_amount": two_largest,
                    "paid_amount": 0, "outstanding_amount": two_largest,
                    "overdue_amount": two_largest}]),
            "{invoices}"
        );
    }
    let losses = reflected(&app, &format!("/reports/loss-reasons?{january}")).await;
    assert_eq!(
        losses["reasons"],
        json!([{"reason": "price", "deals": 2, "amount": two_largest}]),
        "{losses}"
    );
    // The manager's KPIs from the monthly rollup, the daily one and the raw facts.
    for period in [
        january,
        "from=2026-01-20&to=2026-01-21",
        "from=2026-01-20T09:00:00Z&to=2026-01-20T11:00:00Z",
    ] {
        let kpis = reflected(&app, &format!("/reports/managers?{period}")).await;
        let row = &kpis["managers"][0];
        assert_eq!(
            (&row["won_amount"], &row["deals_won"], &row["call_seconds"]),
            (&won, &json!(wins), &two_largest),
            "{period}: {kpis}"
        );
    }
    // Open now: the two old deals; on the 15th: the maximal ones, not won yet.
    let funnel = reflected(&app, &format!("/reports/funnel?pipeline_id={p}")).await;
    assert_eq!(funnel["stages"][0]["amount"], two_largest, "{funnel}");
    assert_eq!(funnel["open_amount"], two_largest, "{funnel}");
    let then = reflected(
        &app,
        &format!("/reports/funnel?pipeline_id={p}&as_of=2026-01-15T00:00:00Z"),
    )
    .await;
    assert_eq!(then["stages"][0]["deals"], wins, "{then}");
    assert_eq!(then["open_amount"], won, "{then}");
    // May: 2 × (2^63 - 1) at probability 0.1, rounded: ...551614 / 10 = ...955161.4.
    let forecast = reflected(&app, "/reports/forecast").await;
    assert_eq!(
        forecast["months"],
        json!([{"month": "2026-05", "deals": 2, "amount": two_largest,
                "weighted_amount": u64::try_from(2 * largest / 10).unwrap()}]),
        "{forecast}"
    );
    let card = reflected(&app, &format!("/clients/{c}")).await;
    assert_eq!(
        card["deals"],
        json!({"open": 2, "won": wins, "lost": 2, "won_amount": won}),
        "{card}"
    );
    let rows = reflected(&app, "/projections/won_sum/rows").await;
    assert_eq!(rows["items"], json!([{"amount": won}]), "{rows}");
    projectors.shutdown().await;
}
