//! `GET /export/events`: the log as NDJSON or CSV, filtered, for admins and auditors.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::Value;
use sqlx::PgPool;

/// A small company: three managers, each with two clients.
async fn company(app: &TestApp) {
    for name in ["Olena", "Taras", "Iryna"] {
        let id = manager(app, name).await;
        client(app, id).await;
        client(app, id).await;
    }
}

/// The ids of the events `condition` keeps, in feed order, read with plain SQL.
async fn expected(app: &TestApp, condition: &str) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT event_id::text FROM eventlog.events WHERE {condition} ORDER BY tx_id, position"
    ))
    .fetch_all(app.log.pool())
    .await
    .unwrap()
}

/// The events of an NDJSON export, one per line.
fn lines(answer: &crm_tests::Answer) -> Vec<Value> {
    let text = match &answer.body {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        // A single line parses as JSON on its own.
        one => format!("{one}\n"),
    };
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = false)]
async fn the_export_holds_every_event_in_feed_order_and_filters_as_asked(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    company(&app).await;

    let all = app.get("/export/events?format=ndjson").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.headers["content-type"], "application/x-ndjson");
    let events = lines(&all);
    assert_eq!(ids(&events), expected(&app, "true").await);
    // The company's 9 events, then the export's own record, appended as it began.
    assert_eq!(events.len(), 10);
    let record = &events[9];
    assert_eq!(record["type"], "DataExported");
    assert!(record["stream"].as_str().unwrap().starts_with("export-"));
    assert_eq!(record["data"]["what"], "events");
    assert_eq!(record["data"]["format"], "ndjson");
    assert_eq!(record["data"]["via"], "api");
    assert_eq!(record["data"]["filters"], serde_json::json!({}));
    assert_eq!(record["metadata"]["actor"], "role:admin");
    // Each line is the event as the feed shows it.
    let feed = app.get("/events?limit=1000").await.body;
    assert_eq!(Value::Array(events.clone()), feed["events"]);

    let clients = app.get("/export/events?types=ClientRegistered").await;
    assert_eq!(
        ids(&lines(&clients)),
        expected(&app, "event_type = 'ClientRegistered'").await
    );
    let managers = app.get("/export/events?stream_kind=manager").await;
    assert_eq!(
        ids(&lines(&managers)),
        expected(&app, "stream_id LIKE 'manager-%'").await
    );
    let none = app
        .get("/export/events?stream_kind=manager&types=ClientRegistered")
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(lines(&none).is_empty());

    // A time range on `occurred_at`: from the third event (kept) to the seventh (not).
    let at = |i: usize| events[i]["occurred_at"].as_str().unwrap().to_owned();
    let (from, to) = (at(2), at(6));
    let period = app
        .get(&format!(
            "/export/events?from={}&to={}",
            from.replace('+', "%2B"),
            to.replace('+', "%2B")
        ))
        .await;
    assert_eq!(period.status, StatusCode::OK, "{:?}", period.body);
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (from.parse().unwrap(), to.parse().unwrap());
    let condition = format!(
        "occurred_at >= '{}' AND occurred_at < '{}'",
        from.to_rfc3339(),
        to.to_rfc3339()
    );
    let kept = ids(&lines(&period));
    assert_eq!(kept, expected(&app, &condition).await);
    assert_eq!(kept.len(), 4);
}

/// Splits CSV text into rows of fields (RFC 4180 quoting).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[sqlx::test(migrations = false)]
async fn the_csv_export_has_a_header_and_one_row_per_event(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    company(&app).await;
    let answer = app.get("/export/events?format=csv").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/csv; charset=utf-8");
    let rows = parse_csv(answer.body.as_str().unwrap());
    assert_eq!(
        rows[0],
        [
            "position",
            "event_id",
            "stream",
            "version",
            "type",
            "schema_version",
            "occurred_at",
            "recorded_at",
            "data",
            "metadata",
            "hash"
        ]
    );
    let stored: Vec<(i64, String, String, Value, Value)> = sqlx::query_as(
        "SELECT position, event_id::text, stream_id, data, metadata FROM eventlog.events \
          ORDER BY tx_id, position",
    )
    .fetch_all(app.log.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), stored.len() + 1);
    for (row, (position, id, stream, data, metadata)) in rows[1..].iter().zip(&stored) {
        assert_eq!(row.len(), 11, "{row:?}");
        assert_eq!(row[0], position.to_string());
        assert_eq!(&row[1], id);
        assert_eq!(&row[2], stream);
        // Payloads hold commas and quotes: they come back whole (personal values
        // decrypted: the stored ones are encrypted).
        let mut data = data.clone();
        app.log.vault().reveal_json(&mut data).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&row[8]).unwrap(), data);
        assert_eq!(&serde_json::from_str::<Value>(&row[9]).unwrap(), metadata);
        assert_eq!(row[10].len(), 64);
    }
}

#[sqlx::test(migrations = false)]
async fn only_admins_and_auditors_export_and_bad_queries_are_400(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    company(&app).await;
    let pool = app.log.pool();
    let auditor = crm_api::auth::create_token(pool, None, "auditor", None)
        .await
        .unwrap();
    let answer = app
        .send(
            Method::GET,
            "/export/events?format=ndjson&types=ClientRegistered,DataExported",
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // Six clients, then the auditor's export, recorded with what it asked for.
    let exported = lines(&answer);
    assert_eq!(exported.len(), 7);
    let record = &exported[6]["data"];
    assert_eq!(
        record["filters"]["types"],
        serde_json::json!(["ClientRegistered", "DataExported"])
    );
    assert_eq!(exported[6]["metadata"]["actor"], "role:auditor");
    let before = app.event_count().await;
    for role in ["manager", "head", "director", "analyst"] {
        let token = crm_api::auth::create_token(pool, None, role, None)
            .await
            .unwrap();
        let answer = app
            .send(Method::GET, "/export/events", Some(&token), None, &[])
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role}");
        assert_eq!(answer.code(), "forbidden");
    }
    let answer = app.get("/export/events?from=yesterday").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // Neither a refused export nor a malformed one is recorded.
    for (query, _) in [
        ("format=xml", ""),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", ""),
    ] {
        let answer = app.get(&format!("/export/events?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
    }
    assert_eq!(app.event_count().await, before);
    for (query, code) in [
        ("format=xml", "invalid_format"),
        (
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "invalid_period",
        ),
    ] {
        let answer = app.get(&format!("/export/events?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.code(), code, "{query}");
    }
    let answer = app.get("/export/events?from=yesterday").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
}
