//! Read-your-writes on every query (issue 13): every GET route of the OpenAPI
//! document, found there and not named here, takes `min_position`, says so in the
//! document, refuses a position that names no event, and answers only with the event
//! reflected: with the read models stopped it either waits and says it lags, or
//! answers from the log what it will answer once they are back. The feed waits for
//! an older open transaction; a custom projection's rows wait for it.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use crm_tests::read::ok;
use crm_tests::routes::{with_query, Route};
use crm_tests::scenario::{manager, Entities};
use crm_tests::{Answer, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;

/// The GET routes that read no data, so take no `min_position`.
const NO_MIN_POSITION: [&str; 2] = ["/health/live", "/openapi.json"];

/// How long the second server waits for `min_position` (the default is 5 s).
const QUICK: Duration = Duration::from_millis(700);

fn position(body: &Value) -> i64 {
    body["position"].as_i64().unwrap()
}

/// Every URL of `routes`, with its template.
fn urls(routes: &[Route]) -> Vec<(String, String)> {
    routes
        .iter()
        .flat_map(|r| r.urls.iter().map(|u| (r.template.clone(), u.clone())))
        .collect()
}

/// The answer as text (an export's NDJSON is text already).
fn text(answer: &Answer) -> String {
    match &answer.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A change of every read model's concern, made with the read models stopped or
/// not: the client's region set to `marker`, the deal's amount to `amount`, the task
/// rescheduled, the lead handed to a new manager, a call, a pipeline, and last a
/// custom projection's definition. Returns the position of that last event.
async fn touch_everything(app: &TestApp, e: &Entities, marker: &str, amount: i64) -> i64 {
    let patched = app
        .send(
            Method::PATCH,
            &format!("/clients/{}", e.client),
            Some(crm_tests::ADMIN_TOKEN),
            Some(&json!({"region": marker})),
            &[],
        )
        .await;
    ok(&patched, "patch");
    ok(
        &app.post(
            &format!("/deals/{}/amount", e.deal),
            &json!({"amount": amount}),
        )
        .await,
        "amount",
    );
    ok(
        &app.post(
            &format!("/tasks/{}/reschedule", e.task),
            &json!({"due_at": chrono::Utc::now() + chrono::Duration::days(3)}),
        )
        .await,
        "reschedule",
    );
    let taras = manager(app, &format!("Taras {marker}")).await;
    ok(
        &app.post(
            &format!("/leads/{}/assign", e.lead),
            &json!({"manager_id": taras}),
        )
        .await,
        "assign",
    );
    ok(
        &app.post(
            "/interactions",
            &json!({"kind": "meeting", "direction": "inbound", "manager_id": e.manager,
                "client_id": e.client}),
        )
        .await,
        "interaction",
    );
    ok(
        &app.post(
            "/pipelines",
            &json!({"name": format!("Pipeline {marker}"), "stages": [{"name": "Only", "probability": 0.5}]}),
        )
        .await,
        "pipeline",
    );
    let defined = app
        .post(
            "/projections",
            &json!({"name": format!("meetings_{}", marker.to_lowercase().replace('-', "_")),
                "event_types": ["InteractionLogged"],
                "group_by": [{"name": "direction", "field": "data.direction"}],
                "measures": [{"name": "n", "fn": "count"}]}),
        )
        .await;
    position(&ok(&defined, "define"))
}

#[sqlx::test(migrations = false)]
async fn every_get_route_takes_min_position_and_answers_with_it_reflected(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    // A second server on the same database that waits only briefly.
    let quick = app.another_process(|s| s.with_min_position_wait(QUICK));
    let projectors = app.start_projectors();
    let e = Entities::create(&app).await;
    let doc = app.openapi().await;
    let routes = e.fill().get_routes(&doc);
    let missing: Vec<String> = routes.iter().filter_map(|r| r.missing.clone()).collect();
    assert!(missing.is_empty(), "{missing:#?}");
    assert!(routes.len() >= 25, "{routes:#?}");

    // The document states it on every route that reads data.
    for route in &routes {
        let parameters = doc["paths"][route.template.as_str()]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let stated = parameters.iter().find(|p| p["name"] == "min_position");
        if NO_MIN_POSITION.contains(&route.template.as_str()) {
            assert!(stated.is_none(), "{}", route.template);
            continue;
        }
        let stated =
            stated.unwrap_or_else(|| panic!("GET {} does not state min_position", route.template));
        assert_eq!(stated["in"], "query", "{}", route.template);
        assert_eq!(stated["required"], false, "{}", route.template);
        assert_eq!(stated["schema"]["minimum"], 1, "{}", route.template);
        assert!(
            stated["description"].as_str().unwrap().contains("400"),
            "{}",
            route.template
        );
    }

    // With the read models running: a position just made is answered (not a 400), a
    // position that names no event is a 400 on every route that reads data.
    let p = touch_everything(&app, &e, "Running", 150_000).await;
    for (template, url) in urls(&routes) {
        let answer = app.get(&with_query(&url, "min_position", p)).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {url}: {}", answer.body);
        let answer = app
            .get(&with_query(&url, "min_position", p + 1_000_000_000))
            .await;
        if NO_MIN_POSITION.contains(&template.as_str()) {
            assert_eq!(answer.status, StatusCode::OK, "GET {url}");
        } else {
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::BAD_REQUEST, "invalid_min_position"),
                "GET {url}: {}",
                answer.body
            );
            assert_eq!(
                answer.headers["content-type"], "application/problem+json",
                "{url}"
            );
        }
        let answer = app.get(&with_query(&url, "min_position", "soon")).await;
        if !NO_MIN_POSITION.contains(&template.as_str()) {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "GET {url}");
        }
    }

    // With the read models stopped, a change of every one's concern: each route asked
    // for it waits and says it lags, or answers from the log what it answers once the
    // read models are back.
    projectors.shutdown().await;
    let (marker, amount) = ("Stopped", 777_001);
    let q = touch_everything(&app, &e, marker, amount).await;
    let asked: Vec<(String, String)> = urls(&routes);
    let stopped = futures::future::join_all(asked.iter().map(|(_, url)| {
        let (quick, url) = (&quick, with_query(url, "min_position", q));
        async move { quick.get(&url).await }
    }))
    .await;
    let events_up_to_q: i64 =
        sqlx::query_scalar("SELECT count(*) FROM eventlog.events WHERE position <= $1")
            .bind(q)
            .fetch_one(app.log.pool())
            .await
            .unwrap();
    let projectors = app.start_projectors();
    let mut answered_from_the_log = Vec::new();
    for ((template, url), during) in asked.iter().zip(&stopped) {
        let url_q = with_query(url, "min_position", q);
        let after = app.get(&url_q).await;
        assert_eq!(after.status, StatusCode::OK, "GET {url_q}: {}", after.body);
        if during.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                during.code(),
                "projection_lagging",
                "GET {url_q}: {}",
                during.body
            );
            continue;
        }
        assert_eq!(
            during.status,
            StatusCode::OK,
            "GET {url_q}: {}",
            during.body
        );
        answered_from_the_log.push(template.as_str());
        // The feed's answers change with every export (each one is recorded in the
        // log): they are checked by what they hold. Any open transaction of the
        // cluster holds the feed back (this suite's feed test does), so they may
        // also have said they lag, above.
        match template.as_str() {
            "/events" => assert!(
                during.body["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|event| event["position"] == q),
                "the feed's first page misses position {q}: {}",
                during.body
            ),
            "/export/events" => assert!(
                text(during).contains(&format!("\"position\":{q},")),
                "the export misses position {q}"
            ),
            "/audit/verify" => assert!(
                during.body["events_checked"].as_i64().unwrap() >= events_up_to_q,
                "{}",
                during.body
            ),
            _ => assert_eq!(
                during.body, after.body,
                "GET {url_q} answered while the read models were stopped, and otherwise \
                 once they caught up: it does not wait for min_position"
            ),
        }
    }
    // What the routes answered from the log showed the change.
    for (template, during) in asked.iter().map(|(t, _)| t).zip(&stopped) {
        match template.as_str() {
            "/streams/{stream}/events" => assert!(
                during.body["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|event| event["data"]["changes"]["region"] == marker),
                "{}",
                during.body
            ),
            "/streams/{stream}/state" => assert_eq!(during.body["state"]["region"], marker),
            "/deals/{id}" => assert_eq!(during.body["amount"], amount),
            _ => {}
        }
    }
    for template in [
        "/streams/{stream}/events",
        "/streams/{stream}/state",
        "/deals/{id}",
    ]
    .iter()
    .chain(NO_MIN_POSITION.iter())
    {
        assert!(
            answered_from_the_log.contains(template),
            "GET {template} waited for the read models: {answered_from_the_log:?}"
        );
    }
    // And once they are back, the read models show it too.
    let card = app
        .get(&format!("/clients/{}?min_position={q}", e.client))
        .await;
    assert_eq!(card.body["region"], marker, "{}", card.body);
    let deals = app
        .get(&format!("/deals?client_id={}&min_position={q}", e.client))
        .await;
    assert_eq!(deals.body["items"][0]["amount"], amount, "{}", deals.body);
    projectors.shutdown().await;
    app.log.close().await;
}

#[sqlx::test(migrations = false)]
async fn the_feed_answers_once_it_can_deliver_the_position(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let quick = app.another_process(|s| s.with_min_position_wait(QUICK));
    let olena = manager(&app, "Olena").await;
    // An older transaction, still open, holds back what commits after it.
    let mut older = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *older)
        .await
        .unwrap();
    let held = crm_tests::scenario::client(&app, olena).await;
    let stream = format!("client-{held}");
    let q: i64 =
        sqlx::query_scalar("SELECT max(position) FROM eventlog.events WHERE stream_id = $1")
            .bind(&stream)
            .fetch_one(&pool)
            .await
            .unwrap();
    let exports_before = exports(&app).await;
    // At once, to hold the cluster's feeds back no longer than one wait.
    let paths = ["/events", "/audit/verify", "/export/events"];
    let answers = futures::future::join_all(paths.iter().map(|path| {
        let (quick, url) = (&quick, format!("{path}?min_position={q}"));
        async move { quick.get(&url).await }
    }))
    .await;
    for (path, answer) in paths.iter().zip(answers) {
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "projection_lagging"),
            "{path}: {}",
            answer.body
        );
        assert!(answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("older transaction"));
    }
    assert_eq!(
        exports(&app).await,
        exports_before,
        "a refused export is not recorded"
    );
    // Its own stream is read from the log: committed, it is there.
    let events = quick
        .get(&format!("/streams/{stream}/events?min_position={q}"))
        .await;
    assert_eq!(events.body["events"][0]["position"], q, "{}", events.body);
    // Once the older transaction ends, the feed delivers it, and the wait ends with it.
    let waiting = tokio::spawn({
        let app = app.clone();
        async move {
            app.get(&format!("/events?min_position={q}&limit=1000"))
                .await
        }
    });
    older.rollback().await.unwrap();
    let page = waiting.await.unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|event| event["position"] == q));
    let verified = ok(
        &app.get(&format!("/audit/verify?min_position={q}")).await,
        "verify",
    );
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["events_checked"], 2, "the manager and the client");
    app.log.close().await;
}

async fn exports(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM eventlog.events WHERE event_type = 'DataExported'")
        .fetch_one(app.log.pool())
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_custom_projections_rows_answer_once_they_reflect_the_position(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let e = Entities::create(&app).await;
    // Calls and meetings, each read back at once with its position.
    let mut calls = 1; // the scenario's own
    let mut meetings = 0;
    for round in 0..12 {
        let kind = if round % 3 == 0 { "meeting" } else { "call" };
        let logged = app
            .post(
                "/interactions",
                &json!({"kind": kind, "direction": "outbound", "manager_id": e.manager,
                    "client_id": e.client}),
            )
            .await;
        let at = position(&ok(&logged, "interaction"));
        if kind == "call" {
            calls += 1;
        } else {
            meetings += 1;
        }
        let rows = ok(
            &app.get(&format!(
                "/projections/{}/rows?order=kind&min_position={at}",
                e.projection
            ))
            .await,
            "rows",
        );
        let count = |k: &str| {
            rows["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["kind"] == k)
                .map_or(0, |r| r["calls"].as_i64().unwrap())
        };
        assert_eq!(
            (count("call"), count("meeting")),
            (calls, meetings),
            "{rows}"
        );
    }
    // A projection defined just now: its rows wait for its first build.
    let defined = app
        .post(
            "/projections",
            &json!({"name": "by_direction", "event_types": ["InteractionLogged"],
                "group_by": [{"name": "direction", "field": "data.direction"}],
                "measures": [{"name": "n", "fn": "count"}]}),
        )
        .await;
    let at = position(&ok(&defined, "define"));
    let listed = ok(
        &app.get(&format!("/projections/by_direction?min_position={at}"))
            .await,
        "get",
    );
    assert_eq!(listed["name"], "by_direction");
    let rows = app
        .get(&format!("/projections/by_direction/rows?min_position={at}"))
        .await;
    assert_eq!(rows.status, StatusCode::OK, "{}", rows.body);
    assert_eq!(
        rows.body["items"],
        json!([{"direction": "outbound", "n": calls + meetings}])
    );
    projectors.shutdown().await;
    app.log.close().await;
}
