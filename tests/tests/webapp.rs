//! The web app (issue 16, api.md "The web app"): the login page, the redirect through
//! the login, the pages' tables equal to the API's figures for the same person (a
//! session or a token), the security headers, the deal's history and `as_of`, and the
//! live events after a command. Over plain HTTP against the real router; HTML parsed
//! with `scraper`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use crm_api::hidden::HiddenFields;
use crm_tests::company::Company;
use crm_tests::{Answer, TestApp, ADMIN_TOKEN};
use http_body_util::BodyExt;
use scraper::{Html, Selector};
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

/// GET `path` as a browser would: with the `cookie` header, or a bearer `token`.
async fn page(app: &TestApp, path: &str, cookie: Option<&str>, token: Option<&str>) -> Answer {
    let mut headers = Vec::new();
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    app.send(Method::GET, path, token, None, &headers).await
}

/// The page's HTML.
fn html(answer: &Answer) -> Html {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    Html::parse_document(answer.body.as_str().expect("an HTML page"))
}

/// The rows of the table captioned `caption`: each row's header cell's `data-value`,
/// then its cells' `data-value`s.
fn table_rows(doc: &Html, caption: &str) -> Vec<Vec<String>> {
    let tables = Selector::parse("table").unwrap();
    let captions = Selector::parse("caption").unwrap();
    let rows = Selector::parse("tbody tr").unwrap();
    let cells = Selector::parse("th, td").unwrap();
    let table = doc
        .select(&tables)
        .find(|t| {
            t.select(&captions)
                .next()
                .is_some_and(|c| c.text().collect::<String>() == caption)
        })
        .unwrap_or_else(|| panic!("no table captioned {caption}"));
    table
        .select(&rows)
        .map(|row| {
            row.select(&cells)
                .map(|c| c.value().attr("data-value").unwrap_or("").to_owned())
                .collect()
        })
        .collect()
}

/// A JSON figure as the table's `data-value` writes it.
fn figure(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A director with an e-mail and a password, logged in: the session's `Cookie` header.
async fn director_session(app: &TestApp) -> String {
    let answer = app
        .post(
            "/managers",
            &json!({"name": "Dana", "department": "Board", "role": "director", "email": "dana@example.com"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    let set = app
        .send(
            Method::POST,
            &format!("/managers/{id}/password"),
            Some(ADMIN_TOKEN),
            Some(&json!({"password": "correct horse battery"})),
            &[],
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.body);
    let login = app
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "dana@example.com", "password": "correct horse battery"})),
            &[],
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let set_cookie = login.headers[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

fn assert_security_headers(answer: &Answer) {
    let csp = answer.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(answer.headers["x-frame-options"], "DENY");
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers["referrer-policy"], "same-origin");
}

#[sqlx::test]
async fn the_login_page_has_the_inputs_and_the_security_headers(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let answer = page(&app, "/", None, None).await;
    assert_security_headers(&answer);
    let doc = html(&answer);
    for selector in [
        "input[type=email]",
        "input[type=password]",
        "button[type=submit]",
    ] {
        let s = Selector::parse(selector).unwrap();
        assert_eq!(doc.select(&s).count(), 1, "{selector}");
    }
    // Every input has its label.
    let inputs = Selector::parse("input[id]").unwrap();
    for input in doc.select(&inputs) {
        let id = input.value().attr("id").unwrap();
        let label = Selector::parse(&format!("label[for={id}]")).unwrap();
        assert_eq!(doc.select(&label).count(), 1, "label for {id}");
    }
    // No inline script or style for the CSP to refuse.
    let inline = Selector::parse("script:not([src]), [style]").unwrap();
    assert_eq!(doc.select(&inline).count(), 0);
}

#[sqlx::test]
async fn a_page_without_a_session_goes_to_the_login_and_back(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let answer = page(
        &app,
        "/ui/funnel?pipeline_id=abc&as_of=2026-01-01",
        None,
        None,
    )
    .await;
    assert!(answer.status.is_redirection(), "{}", answer.status);
    assert_eq!(
        answer.headers[header::LOCATION],
        "/?next=%2Fui%2Ffunnel%3Fpipeline_id%3Dabc%26as_of%3D2026-01-01"
    );
    assert_security_headers(&answer);
    // The login page carries `next` to its script.
    let login = page(&app, "/?next=%2Fui%2Ffunnel", None, None).await;
    let doc = html(&login);
    let form = Selector::parse("form#login").unwrap();
    let form = doc.select(&form).next().unwrap();
    assert_eq!(form.value().attr("data-next"), Some("/ui/funnel"));
    // Another site is never a `next`.
    let evil = html(&page(&app, "/?next=//evil.example", None, None).await);
    let form = Selector::parse("form#login").unwrap();
    assert_eq!(
        evil.select(&form).next().unwrap().value().attr("data-next"),
        Some("/ui")
    );
}

#[sqlx::test]
async fn the_pages_tables_hold_the_apis_figures_for_each_person(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let cookie = director_session(app).await;
    c.settle().await;
    // The funnel, a director's session against a director's token.
    let api = c
        .get(
            &c.tokens.director,
            &format!("/reports/funnel?pipeline_id={}", c.pipeline),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let answer = page(
        app,
        &format!("/ui/funnel?pipeline_id={}", c.pipeline),
        Some(&cookie),
        None,
    )
    .await;
    assert_security_headers(&answer);
    let doc = html(&answer);
    let expected: Vec<Vec<String>> = api.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            vec![
                figure(&s["name"]),
                figure(&s["deals"]),
                figure(&s["amount"]),
            ]
        })
        .collect();
    assert_eq!(table_rows(&doc, "Funnel"), expected);
    assert_eq!(
        expected
            .iter()
            .map(|r| r[1].parse::<i64>().unwrap())
            .sum::<i64>(),
        3
    );
    // The manager's own funnel (his token): only his deal.
    let mine = c
        .get(
            &c.tokens.andriy,
            &format!("/reports/funnel?pipeline_id={}", c.pipeline),
        )
        .await;
    let doc = html(
        &page(
            app,
            &format!("/ui/funnel?pipeline_id={}", c.pipeline),
            None,
            Some(&c.tokens.andriy),
        )
        .await,
    );
    let expected: Vec<Vec<String>> = mine.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            vec![
                figure(&s["name"]),
                figure(&s["deals"]),
                figure(&s["amount"]),
            ]
        })
        .collect();
    assert_eq!(table_rows(&doc, "Funnel"), expected);
    assert_eq!(mine.body["open_amount"], 1000);
    // The managers' figures, every row in the API's order.
    let keys = [
        "department",
        "calls",
        "calls_outbound",
        "calls_inbound",
        "call_seconds",
        "meetings",
        "emails",
        "messages",
        "clients_contacted",
        "calls_per_client",
        "leads_assigned",
        "leads_converted",
        "leads_rejected",
        "deals_opened",
        "deals_won",
        "deals_lost",
        "won_amount",
        "win_rate",
        "tasks_completed",
        "tasks_completed_late",
    ];
    for (token, cookie) in [
        (&c.tokens.director, Some(cookie.as_str())),
        (&c.tokens.hanna, None),
        (&c.tokens.andriy, None),
    ] {
        let api = c
            .get(token, "/reports/managers?from=2020-01-01&to=2030-01-01")
            .await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.body);
        let expected: Vec<Vec<String>> = api.body["managers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                std::iter::once(figure(&m["name"]))
                    .chain(keys.iter().map(|k| figure(&m[*k])))
                    .collect()
            })
            .collect();
        let bearer = if cookie.is_some() {
            None
        } else {
            Some(token.as_str())
        };
        let doc = html(
            &page(
                app,
                "/ui/managers?from=2020-01-01&to=2030-01-01",
                cookie,
                bearer,
            )
            .await,
        );
        assert_eq!(table_rows(&doc, "Managers"), expected);
    }
    // A manager sees his row only; a head his department.
    let andriy = html(
        &page(
            app,
            "/ui/managers?from=2020-01-01&to=2030-01-01",
            None,
            Some(&c.tokens.andriy),
        )
        .await,
    );
    assert_eq!(table_rows(&andriy, "Managers").len(), 1);
    // A page out of the role's menu is refused in words, as HTML.
    let refused = page(app, "/ui/audit", None, Some(&c.tokens.andriy)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // Another's deal is out of reach.
    let other = page(
        app,
        &format!("/ui/deals/{}", c.deals[2]),
        None,
        Some(&c.tokens.andriy),
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
}

#[sqlx::test]
async fn the_deal_page_lists_its_events_and_stands_as_of_a_date(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let deal = c.deals[0];
    let changed = c
        .post(
            &c.tokens.andriy,
            &format!("/deals/{deal}/amount"),
            json!({"amount": 1500}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let events = c
        .get(ADMIN_TOKEN, &format!("/streams/deal-{deal}/events"))
        .await;
    let types: Vec<String> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| figure(&e["type"]))
        .collect();
    assert_eq!(types, ["DealOpened", "DealAmountChanged"]);
    let doc = html(
        &page(
            &c.app,
            &format!("/ui/deals/{deal}"),
            None,
            Some(&c.tokens.andriy),
        )
        .await,
    );
    let rows = Selector::parse("table.history tbody tr th").unwrap();
    let shown: Vec<String> = doc.select(&rows).map(|r| r.text().collect()).collect();
    assert_eq!(shown, types);
    let amount = Selector::parse("dd[data-field=amount]").unwrap();
    let now: String = doc.select(&amount).next().unwrap().text().collect();
    assert!(now.starts_with("15,00"), "{now}");
    // Before it was opened: not found, said in words; long after: as now.
    let before = page(
        &c.app,
        &format!("/ui/deals/{deal}?as_of=2000-01-01"),
        None,
        Some(&c.tokens.andriy),
    )
    .await;
    assert_eq!(before.status, StatusCode::NOT_FOUND);
    let later = html(
        &page(
            &c.app,
            &format!("/ui/deals/{deal}?as_of=2999-01-01"),
            None,
            Some(&c.tokens.andriy),
        )
        .await,
    );
    assert_eq!(later.select(&rows).count(), 2);
}

#[sqlx::test]
async fn the_live_stream_announces_a_command(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let request = Request::builder()
        .uri("/ui/live")
        .header(header::AUTHORIZATION, format!("Bearer {}", c.tokens.andriy))
        .body(Body::empty())
        .unwrap();
    let response = c.app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let changed = c
        .post(
            &c.tokens.andriy,
            &format!("/deals/{}/amount", c.deals[0]),
            json!({"amount": 1234}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let position = changed.body["position"].as_i64().unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("event: change") {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("a change within 5 s")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(seen.contains(&format!("data: {position}")), "{seen}");
    // Without a session: refused.
    let anonymous = c.app.send(Method::GET, "/ui/live", None, None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test]
async fn assets_are_served_with_a_cache_and_an_etag(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = html(&page(&app, "/", None, None).await);
    let css = Selector::parse("link[rel=stylesheet]").unwrap();
    let href = doc
        .select(&css)
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let answer = page(&app, &href, None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.headers[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    let etag = answer.headers[header::ETAG].to_str().unwrap().to_owned();
    let again = app
        .send(Method::GET, &href, None, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

#[sqlx::test]
async fn the_login_form_logs_in_and_goes_on_to_next(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let _ = director_session(&app).await;
    let form = |password: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/?next=%2Fui%2Fmanagers%3Fpreset%3Dtoday")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://crm.test")
            .header(header::HOST, "crm.test")
            .body(Body::from(format!(
                "email=dana%40example.com&password={password}"
            )))
            .unwrap()
    };
    let wrong = app.send_raw(form("nope")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let doc = html_any(&wrong);
    let error = Selector::parse("#login-error").unwrap();
    let said: String = doc.select(&error).next().unwrap().text().collect();
    assert!(said.contains("wrong"), "{said}");
    let right = app.send_raw(form("correct+horse+battery")).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.body);
    assert_eq!(right.headers[header::LOCATION], "/ui/managers?preset=today");
    let cookie = right.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("crm_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap();
    let home = page(&app, "/ui/managers?preset=today", Some(cookie), None).await;
    assert_eq!(home.status, StatusCode::OK);
    // A form from another site is refused (the API's origin check).
    let mut forged = form("correct+horse+battery");
    forged
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(app.send_raw(forged).await.status, StatusCode::FORBIDDEN);
}

/// The HTML of an answer of any status.
fn html_any(answer: &Answer) -> Html {
    Html::parse_document(answer.body.as_str().expect("an HTML page"))
}
