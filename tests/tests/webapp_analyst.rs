//! The web app's analyst and auditor pages and the figures' drill-down (issue 16,
//! webapp.md "An analyst", "An auditor", "Everyone": every figure links to the rows
//! behind it): a custom projection defined through the page's form (with the session's
//! CSRF token), its rows shown, filtered, paged and downloaded; a refused definition
//! shown beside the editor with the text kept and nothing appended; a form post
//! without the token refused; each count of the managers page leading to exactly as
//! many events as it counts; the export's form leading to the API's export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use axum::http::{header, Method, StatusCode};
use crm_api::hidden::HiddenFields;
use crm_tests::company::Company;
use crm_tests::{TestApp, ADMIN_TOKEN};
use scraper::{ElementRef, Html, Selector};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::webpage::{
    get, html, page_at, parse, post_form, select, session, text_of, MANAGER_COLUMNS,
};

/// The CSRF token the page's form carries.
fn csrf_of(doc: &Html) -> String {
    crate::webpage::csrf_in(doc, "form#definition-form")
}

/// The rows of the projection page's table: each row's cells' `data-value`s.
fn rows_of(doc: &Html) -> Vec<Vec<String>> {
    select(doc, "table#rows tbody tr")
        .iter()
        .map(|row| {
            row.select(&Selector::parse("td").unwrap())
                .map(|c| c.value().attr("data-value").unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// Logs interactions for Andriy (3 outbound calls, 2 inbound, one without a client)
/// as the admin; what the test's projection counts.
async fn log_calls(c: &Company) {
    // Three with a goal (a goal said, or only whether it was reached), one reached.
    let calls = [
        (
            "outbound",
            Some(c.clients[0]),
            60,
            json!({"goal": "demo", "goal_reached": true}),
        ),
        (
            "outbound",
            Some(c.clients[0]),
            120,
            json!({"goal_reached": false}),
        ),
        ("outbound", None, 30, json!({"goal": "call back"})),
        ("inbound", Some(c.clients[0]), 45, json!({})),
        ("inbound", None, 15, json!({})),
    ];
    for (direction, client, seconds, goal) in calls {
        let mut body = json!({"kind": "call", "direction": direction, "manager_id": c.andriy,
                              "duration_s": seconds});
        if let Some(client) = client {
            body["client_id"] = json!(client);
        }
        for (field, value) in goal.as_object().unwrap() {
            body[field] = value.clone();
        }
        let answer = c.app.post("/interactions", &body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
}

const DEFINITION: &str = r#"{
  "event_types": ["InteractionLogged"],
  "filters": [{"field": "data.kind", "op": "eq", "value": "call"}],
  "group_by": [{"name": "direction", "field": "data.direction"}],
  "measures": [{"name": "calls", "fn": "count"},
               {"name": "seconds", "fn": "sum", "field": "data.duration.seconds"}]
}"#;

#[sqlx::test]
async fn a_projection_defined_through_the_form_shows_its_rows(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    log_calls(&c).await;
    let cookie = session(app, "Olena", "analyst").await;

    // The list offers the editor; the editor starts with a documented example.
    let list = page_at(app, "/ui/projections", &cookie).await;
    assert_eq!(select(&list, "a#new-projection").len(), 1);
    let new = page_at(app, "/ui/projections/new", &cookie).await;
    let example: String = text_of(&select(&new, "textarea#definition")[0]);
    let example: Value = serde_json::from_str(&example).expect("the example is JSON");
    assert!(example["measures"].is_array(), "{example}");
    assert_eq!(select(&new, "details.legend").len(), 1);
    assert_eq!(select(&new, "label[for=definition]").len(), 1);
    assert_eq!(select(&new, "label[for=name]").len(), 1);
    let csrf = csrf_of(&new);

    // Defined through the form: on to its page.
    let before = app.event_count().await;
    let defined = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "calls_by_direction"),
            ("definition", DEFINITION),
        ],
        &[],
    )
    .await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.body);
    let location = defined.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with("/ui/projections/calls_by_direction?min_position="),
        "{location}"
    );
    assert_eq!(app.event_count().await, before + 1, "one ProjectionDefined");
    // The page it goes to knows it at once (building or built).
    let shown = page_at(app, &location, &cookie).await;
    let state = select(&shown, "#state")[0]
        .value()
        .attr("data-value")
        .unwrap()
        .to_owned();
    assert!(state == "building" || state == "live", "{state}");
    let api = app.get("/projections/calls_by_direction").await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    assert_eq!(
        api.body["definition"]["group_by"][0]["field"],
        "data.direction"
    );
    assert_eq!(api.body["defined_by"].as_str().map(|a| a.len()), Some(36));
    app.wait_custom_live("calls_by_direction", 1).await;

    // Listed with a link to its page, which shows its rows: the calls the test logged.
    let list = page_at(app, "/ui/projections", &cookie).await;
    assert_eq!(
        select(&list, "a[href=\"/ui/projections/calls_by_direction\"]").len(),
        1
    );
    let page = page_at(app, "/ui/projections/calls_by_direction", &cookie).await;
    assert_eq!(
        select(&page, "#state")[0].value().attr("data-value"),
        Some("live")
    );
    assert_eq!(
        rows_of(&page),
        [["inbound", "2", "60"], ["outbound", "3", "210"]]
    );
    // Filtered by a key, by a measure, ordered, paged.
    let inbound = page_at(
        app,
        "/ui/projections/calls_by_direction?col=direction&op=eq&value=inbound",
        &cookie,
    )
    .await;
    assert_eq!(rows_of(&inbound), [["inbound", "2", "60"]]);
    let busy = page_at(
        app,
        "/ui/projections/calls_by_direction?col=calls&op=gt&value=2",
        &cookie,
    )
    .await;
    assert_eq!(rows_of(&busy), [["outbound", "3", "210"]]);
    let first = page_at(
        app,
        "/ui/projections/calls_by_direction?order=-seconds&limit=1",
        &cookie,
    )
    .await;
    assert_eq!(rows_of(&first), [["outbound", "3", "210"]]);
    let next = select(&first, "nav.pager a[rel=next]");
    assert_eq!(next.len(), 1);
    let next_href = next[0].value().attr("href").unwrap().to_owned();
    let second = page_at(app, &next_href, &cookie).await;
    assert_eq!(rows_of(&second), [["inbound", "2", "60"]]);
    assert!(select(&second, "nav.pager a[rel=next]").is_empty());
    // A filter the API refuses is said beside the filters.
    let refused = page_at(
        app,
        "/ui/projections/calls_by_direction?col=calls&op=gt&value=many",
        &cookie,
    )
    .await;
    assert_eq!(select(&refused, "#filter-problem").len(), 1);
    // The CSV with the same filter.
    let csv = select(&inbound, "a#csv")[0]
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let csv = get(app, &csv, &cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    let csv = csv.body.as_str().unwrap().to_owned();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains("inbound"), "{csv}");

    // Redefined from its page: the API's PUT, a new generation.
    let csrf = csrf_of(&page);
    let narrower = DEFINITION.replace(
        r#""filters": [{"field": "data.kind", "op": "eq", "value": "call"}]"#,
        r#""filters": [{"field": "data.kind", "op": "eq", "value": "call"}, {"field": "data.client_id", "op": "exists"}]"#,
    );
    let redefined = post_form(
        app,
        "/ui/projections/calls_by_direction",
        &cookie,
        &[("csrf_token", &csrf), ("definition", &narrower)],
        &[],
    )
    .await;
    assert_eq!(
        redefined.status,
        StatusCode::SEE_OTHER,
        "{}",
        redefined.body
    );
    app.wait_custom_live("calls_by_direction", 2).await;
    let page = page_at(app, "/ui/projections/calls_by_direction", &cookie).await;
    assert_eq!(
        rows_of(&page),
        [["inbound", "1", "45"], ["outbound", "2", "180"]]
    );
}

#[sqlx::test]
async fn a_refused_definition_shows_the_apis_problem_and_appends_nothing(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let cookie = session(app, "Olena", "analyst").await;
    let csrf = csrf_of(&page_at(app, "/ui/projections/new", &cookie).await);
    let before = app.event_count().await;

    // A field the events do not have: the API's 422, each bad part by its path, beside
    // the editor, which keeps the text as typed.
    let typo = r#"{"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "sum", "field": "data.amont"}]}"#;
    let answer = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "won_sum"),
            ("definition", typo),
        ],
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = parse(&answer);
    let problem = select(&doc, "#definition-problem");
    assert_eq!(problem.len(), 1);
    assert_eq!(
        problem[0].value().attr("data-code"),
        Some("invalid_definition")
    );
    let paths: Vec<&str> = select(&doc, "#definition-problem li")
        .iter()
        .map(|li| li.value().attr("data-path").unwrap())
        .collect();
    assert_eq!(paths, ["measures[0].field"]);
    assert_eq!(text_of(&select(&doc, "textarea#definition")[0]), typo);
    assert_eq!(
        select(&doc, "textarea#definition")[0]
            .value()
            .attr("aria-invalid"),
        Some("true")
    );
    assert_eq!(
        select(&doc, "input#name")[0].value().attr("value"),
        Some("won_sum")
    );

    // Not JSON: said with its line and column, nothing sent.
    let broken = "{\n  \"event_types\": [\"DealWon\"\n}";
    let answer = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "won_sum"),
            ("definition", broken),
        ],
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let doc = parse(&answer);
    let problem = select(&doc, "#definition-problem");
    assert_eq!(problem[0].value().attr("data-code"), Some("invalid_json"));
    assert!(
        text_of(&problem[0]).contains("line 3"),
        "{}",
        text_of(&problem[0])
    );
    assert_eq!(text_of(&select(&doc, "textarea#definition")[0]), broken);

    // A bad name: said beside the name.
    let answer = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "Won Sum"),
            ("definition", DEFINITION),
        ],
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = parse(&answer);
    assert_eq!(select(&doc, "#name-problem").len(), 1);
    assert!(select(&doc, "#definition-problem").is_empty());
    assert_eq!(
        app.event_count().await,
        before,
        "a refused definition appends nothing"
    );

    // A name taken: a 409 beside the name; a bad redefinition on the page: the 422 there.
    let ok = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "calls"),
            ("definition", DEFINITION),
        ],
        &[],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let after = app.event_count().await;
    let taken = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "calls"),
            ("definition", DEFINITION),
        ],
        &[],
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(select(&parse(&taken), "#name-problem").len(), 1);
    let bad = post_form(
        app,
        "/ui/projections/calls",
        &cookie,
        &[("csrf_token", &csrf), ("definition", typo)],
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = parse(&bad);
    assert_eq!(select(&doc, "#definition-problem li").len(), 1);
    assert_eq!(text_of(&select(&doc, "textarea#definition")[0]), typo);
    assert_eq!(app.event_count().await, after);
}

#[sqlx::test]
async fn a_form_post_without_the_sessions_csrf_token_is_refused(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let cookie = session(app, "Olena", "analyst").await;
    let csrf = csrf_of(&page_at(app, "/ui/projections/new", &cookie).await);
    let before = app.event_count().await;
    let fields = [("name", "sneaky"), ("definition", DEFINITION)];
    let none = post_form(app, "/ui/projections/new", &cookie, &fields, &[]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "{}", none.body);
    let wrong = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[
            ("csrf_token", "0".repeat(64).as_str()),
            fields[0],
            fields[1],
        ],
        &[],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    // The right token from another site's page: refused too.
    let cross = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[("csrf_token", &csrf), fields[0], fields[1]],
        &[("host", "crm.example"), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "{}", cross.body);
    // A redefinition without it as well.
    let redefine = post_form(
        app,
        "/ui/projections/sneaky",
        &cookie,
        &[("definition", DEFINITION)],
        &[],
    )
    .await;
    assert_eq!(redefine.status, StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, before, "nothing appended");
    assert_eq!(
        app.get("/projections/sneaky").await.status,
        StatusCode::NOT_FOUND
    );
    // With the token, from the page's own origin, it goes through.
    let own = post_form(
        app,
        "/ui/projections/new",
        &cookie,
        &[("csrf_token", &csrf), fields[0], fields[1]],
        &[("host", "crm.example"), ("origin", "http://crm.example")],
    )
    .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER, "{}", own.body);
}

/// The figures of the managers page whose events are counted one by one.
const COUNTS: [&str; 17] = [
    "calls",
    "calls_outbound",
    "calls_inbound",
    "calls_with_goal",
    "calls_goal_reached",
    "meetings",
    "emails",
    "messages",
    "clients_contacted",
    "leads_assigned",
    "leads_converted",
    "leads_rejected",
    "deals_opened",
    "deals_won",
    "deals_lost",
    "tasks_completed",
    "tasks_completed_late",
];

/// The events listed behind a figure (every page followed): their `data`.
async fn events_behind(
    app: &TestApp,
    href: &str,
    cookie: Option<&str>,
    token: Option<&str>,
) -> Vec<Value> {
    let mut all = Vec::new();
    let mut next = Some(href.to_owned());
    while let Some(href) = next.take() {
        let mut headers = Vec::new();
        if let Some(cookie) = cookie {
            headers.push(("cookie", cookie));
        }
        let answer = app.send(Method::GET, &href, token, None, &headers).await;
        let doc = html(&answer);
        for code in select(&doc, "table#events tbody tr td:last-child code") {
            all.push(serde_json::from_str(&text_of(&code)).unwrap());
        }
        next = select(&doc, "nav.pager a[rel=next]")
            .first()
            .and_then(|a| a.value().attr("href"))
            .map(str::to_owned);
    }
    all
}

#[sqlx::test]
async fn each_figure_of_the_managers_page_leads_to_as_many_events_as_it_counts(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let post = |path: String, body: Value| async move {
        let answer = app.post(&path, &body).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.body);
        answer.body
    };
    // Andriy: calls in and out (one without a client), a meeting with another client,
    // an e-mail; his deal handed to Bohdan, then won (Bohdan's win); his task done
    // late; his lead rejected. Bohdan: his own deal lost; his task done on time.
    // Ciril: his deal won.
    log_calls(&c).await;
    for (kind, client) in [("meeting", c.clients[1]), ("email", c.clients[0])] {
        post(
            "/interactions".into(),
            json!({"kind": kind, "direction": "outbound", "manager_id": c.andriy, "client_id": client}),
        )
        .await;
    }
    post(
        format!("/deals/{}/assign", c.deals[0]),
        json!({"manager_id": c.bohdan}),
    )
    .await;
    post(
        format!("/deals/{}/win", c.deals[0]),
        json!({"amount": 1500}),
    )
    .await;
    post(
        format!("/deals/{}/lose", c.deals[1]),
        json!({"reason": "price"}),
    )
    .await;
    post(format!("/deals/{}/win", c.deals[2]), json!({})).await;
    post(format!("/tasks/{}/complete", c.tasks[0]), json!({})).await;
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    post(
        format!("/tasks/{}/reschedule", c.tasks[2]),
        json!({"due_at": later}),
    )
    .await;
    post(format!("/tasks/{}/complete", c.tasks[2]), json!({})).await;
    post(
        format!("/leads/{}/reject", c.leads[0]),
        json!({"reason": "spam"}),
    )
    .await;
    c.settle().await;
    let cookie = session(app, "Dana", "director").await;
    c.settle().await;

    let period = "from=2020-01-01&to=2100-01-01";
    let doc = page_at(app, &format!("/ui/managers?{period}"), &cookie).await;
    let rows = select(&doc, "table.figures tbody tr");
    let mut checked = BTreeSet::new();
    let mut figures = std::collections::BTreeMap::new();
    for row in &rows {
        let name = row
            .select(&Selector::parse("th").unwrap())
            .next()
            .unwrap()
            .value()
            .attr("data-value")
            .unwrap()
            .to_owned();
        let cells: Vec<ElementRef> = row.select(&Selector::parse("td").unwrap()).collect();
        assert_eq!(cells.len(), MANAGER_COLUMNS.len());
        for (column, cell) in MANAGER_COLUMNS.iter().zip(&cells) {
            let value = cell.value().attr("data-value").unwrap().to_owned();
            figures.insert((name.clone(), column.to_string()), value.clone());
            if *column == "department" {
                continue;
            }
            let link = cell
                .select(&Selector::parse("a").unwrap())
                .next()
                .unwrap_or_else(|| panic!("{name}'s {column} links to its events"));
            let href = link.value().attr("href").unwrap();
            assert!(
                href.contains(&format!("figure={column}")) && href.contains(period),
                "{href}"
            );
            let events = events_behind(app, href, Some(&cookie), None).await;
            if COUNTS.contains(column) {
                assert_eq!(
                    events.len().to_string(),
                    value,
                    "{name}'s {column}: the page lists {} events",
                    events.len()
                );
                checked.insert(*column);
            }
            match *column {
                "call_seconds" => {
                    let sum: i64 = events
                        .iter()
                        .map(|d| d["duration"]["seconds"].as_i64().unwrap_or(0))
                        .sum();
                    assert_eq!(sum.to_string(), value, "{name}'s call seconds");
                }
                "calls_with_goal" => assert!(
                    events
                        .iter()
                        .all(|d| !d["goal"].is_null() || !d["goal_reached"].is_null()),
                    "{name}'s calls with a goal: {events:?}"
                ),
                "calls_goal_reached" => assert!(
                    events.iter().all(|d| d["goal_reached"] == json!(true)),
                    "{name}'s calls that reached their goal: {events:?}"
                ),
                "won_amount" => {
                    let sum: i64 = events.iter().map(|d| d["amount"].as_i64().unwrap()).sum();
                    assert_eq!(sum.to_string(), value, "{name}'s won amount");
                }
                "clients_contacted" => {
                    let clients: BTreeSet<&str> = events
                        .iter()
                        .map(|d| d["client_id"].as_str().unwrap())
                        .collect();
                    assert_eq!(clients.len().to_string(), value, "{name}'s clients");
                }
                _ => {}
            }
        }
    }
    assert_eq!(checked.len(), COUNTS.len());
    // The figures are the company's, as the test made them (not all zero).
    let figure = |name: &str, column: &str| figures[&(name.to_owned(), column.to_owned())].clone();
    assert_eq!(figure("Andriy", "calls"), "5");
    assert_eq!(figure("Andriy", "calls_outbound"), "3");
    assert_eq!(figure("Andriy", "call_seconds"), "270");
    assert_eq!(figure("Andriy", "calls_with_goal"), "3");
    assert_eq!(figure("Andriy", "calls_goal_reached"), "1");
    assert_eq!(figure("Andriy", "clients_contacted"), "2");
    assert_eq!(figure("Andriy", "tasks_completed_late"), "1");
    assert_eq!(figure("Andriy", "leads_rejected"), "1");
    assert_eq!(figure("Andriy", "deals_won"), "0");
    assert_eq!(figure("Bohdan", "deals_won"), "1");
    assert_eq!(figure("Bohdan", "won_amount"), "1500");
    assert_eq!(figure("Bohdan", "deals_lost"), "1");
    assert_eq!(figure("Bohdan", "tasks_completed"), "1");
    assert_eq!(figure("Bohdan", "tasks_completed_late"), "0");
    assert_eq!(figure("Ciril", "won_amount"), "3000");

    // Each event links to what it is about: Bohdan's win to the deal.
    let won = page_at(
        app,
        &format!("/ui/managers/{}/events?figure=deals_won&{period}", c.bohdan),
        &cookie,
    )
    .await;
    let links: Vec<&str> = select(&won, "table#events tbody a")
        .iter()
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    assert_eq!(links, [format!("/ui/deals/{}", c.deals[0])]);
    assert_eq!(
        select(&won, "#figure-value")[0].value().attr("data-value"),
        Some("1")
    );

    // A manager opens his own figures' events, not another's.
    let mine = events_behind(
        app,
        &format!("/ui/managers/{}/events?figure=calls&{period}", c.andriy),
        None,
        Some(&c.tokens.andriy),
    )
    .await;
    assert_eq!(mine.len(), 5);
    let other = app
        .send(
            Method::GET,
            &format!("/ui/managers/{}/events?figure=calls&{period}", c.bohdan),
            Some(&c.tokens.andriy),
            None,
            &[],
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // The API answers the same, paged.
    let first = c
        .get(
            &c.tokens.andriy,
            &format!(
                "/managers/{}/events?figure=calls&{period}&limit=2",
                c.andriy
            ),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = c
        .get(
            &c.tokens.andriy,
            &format!(
                "/managers/{}/events?figure=calls&{period}&limit=10&cursor={cursor}",
                c.andriy
            ),
        )
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 3);
    assert!(rest.body["next_cursor"].is_null());
    let unknown = c
        .get(
            ADMIN_TOKEN,
            &format!("/managers/{}/events?figure=hugs&{period}", c.andriy),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let nobody = c
        .get(
            ADMIN_TOKEN,
            &format!("/managers/{}/events?figure=calls&{period}", Uuid::new_v4()),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn the_audit_pages_export_form_leads_to_the_apis_export_with_its_filters(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let cookie = session(app, "Audrey", "auditor").await;
    let audit = page_at(app, "/ui/audit", &cookie).await;
    for field in ["format", "types", "stream_kind", "from", "to"] {
        assert_eq!(
            select(&audit, &format!("form#export-form [name={field}]")).len(),
            1,
            "{field}"
        );
    }
    let go = get(
        app,
        "/ui/export?format=csv&types=DealOpened&types=ClientRegistered&stream_kind=&from=2020-01-01&to=2100-01-01",
        &cookie,
    )
    .await;
    assert_eq!(go.status, StatusCode::SEE_OTHER, "{}", go.body);
    let location = go.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "/export/events?format=csv&types=DealOpened%2CClientRegistered&from=2020-01-01T00%3A00%3A00Z&to=2100-01-01T00%3A00%3A00Z"
    );
    let export = get(app, &location, &cookie).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    let csv = export.body.as_str().unwrap();
    // A header, then the company's three clients and three deals.
    assert_eq!(csv.lines().count(), 7, "{csv}");
    let bad = get(app, "/ui/export?from=2030-01-01&to=2020-01-01", &cookie).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // A director audits but does not export: no form.
    let director = session(app, "Dana", "director").await;
    let audit = page_at(app, "/ui/audit", &director).await;
    assert!(select(&audit, "form#export-form").is_empty());
}

#[sqlx::test]
async fn the_audit_page_shows_the_stored_verification_and_verifies_on_demand(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let cookie = session(app, "Audrey", "auditor").await;
    // Nothing verified yet: the page says so and walks nothing.
    let audit = page_at(app, "/ui/audit", &cookie).await;
    assert!(select(&audit, "#verify").is_empty());
    let token = select(&audit, "form#verify-now input[name=csrf_token]")[0]
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    // Without the session's CSRF token: refused, nothing kept.
    let refused = post_form(app, "/ui/audit/verify", &cookie, &[], &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(select(&page_at(app, "/ui/audit", &cookie).await, "#verify").is_empty());
    // Verify now: the walk's result is kept and shown, with the position it covered.
    let done = post_form(
        app,
        "/ui/audit/verify",
        &cookie,
        &[("csrf_token", &token)],
        &[],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], "/ui/audit");
    let audit = page_at(app, "/ui/audit", &cookie).await;
    let field =
        |doc: &Html, name: &str| text_of(&select(doc, &format!("dd[data-field={name}]"))[0]);
    assert_eq!(
        select(&audit, "#verify")[0].value().attr("data-ok"),
        Some("true")
    );
    let head = c.last_position().await;
    assert_eq!(field(&audit, "through_position"), head.to_string());
    assert_eq!(field(&audit, "trigger"), "a person (verify now)");
    // The figures are the API's (which keeps its own run, shown next).
    let api = c.get(&c.tokens.auditor, "/audit/verify").await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    for k in [
        "streams_checked",
        "events_checked",
        "seals_checked",
        "unsealed_events",
    ] {
        assert_eq!(field(&audit, k), api.body[k].to_string(), "{k}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM eventlog.events")
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(field(&audit, "events_checked"), count.to_string());
    let audit = page_at(app, "/ui/audit", &cookie).await;
    assert_eq!(field(&audit, "trigger"), "the API (GET /audit/verify)");
    // A manager may not verify.
    let andriy = session(app, "Mykola", "manager").await;
    let page = page_at(app, "/ui", &andriy).await;
    let mine = select(&page, "meta[name=csrf-token]")[0]
        .value()
        .attr("content")
        .unwrap()
        .to_owned();
    let refused = post_form(
        app,
        "/ui/audit/verify",
        &andriy,
        &[("csrf_token", &mine)],
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
