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
use scraper::Selector;
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::webpage::{figure, html, page, parse, session, table_rows, MANAGER_COLUMNS};

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
    let cookie = session(app, "Dana", "director").await;
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
                    .chain(MANAGER_COLUMNS.iter().map(|k| figure(&m[*k])))
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
    let field = |name: &str| -> String {
        let s = Selector::parse(&format!("dd[data-field={name}]")).unwrap();
        doc.select(&s).next().unwrap().text().collect()
    };
    assert_eq!(field("stage"), "New");
    assert_eq!(field("owner"), "Andriy");
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
    // Another department's work is not announced to Andriy; his own is.
    let other = c
        .post(
            &c.tokens.ciril,
            &format!("/deals/{}/amount", c.deals[2]),
            json!({"amount": 4321}),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    let quiet = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                let text = String::from_utf8_lossy(&data).into_owned();
                if text.contains("event: change") {
                    return text;
                }
            }
        }
    })
    .await;
    assert!(
        quiet.is_err(),
        "Ciril's change was announced to Andriy: {quiet:?}"
    );
    let mine = c
        .post(
            &c.tokens.andriy,
            &format!("/deals/{}/amount", c.deals[0]),
            json!({"amount": 999}),
        )
        .await;
    let position = mine.body["position"].as_i64().unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(&format!("data: {position}")) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("his own change within 5 s")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    // Without a session: refused.
    let anonymous = c.app.send(Method::GET, "/ui/live", None, None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// The `change` events of a live stream, read one at a time.
struct Changes {
    body: Body,
    text: String,
}

impl Changes {
    /// Opens `/ui/live` with `token`.
    async fn open(c: &Company, token: &str) -> Changes {
        let request = Request::builder()
            .uri("/ui/live")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = c.app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Changes {
            body: response.into_body(),
            text: String::new(),
        }
    }

    /// The position of the next `change` (within 10 s: the stream waits at most 2 s
    /// for the read models).
    async fn next(&mut self) -> i64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let event: String = self.text.drain(..end + 2).collect();
                if let Some(rest) = event.split("event: change\n").nth(1) {
                    let data = rest.lines().find_map(|l| l.strip_prefix("data: "));
                    return data.unwrap().trim().parse().unwrap();
                }
                continue;
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("a change within 10 s")
                .unwrap()
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// The changes up to one at `position` or beyond (which must be `position`).
    async fn until(&mut self, position: i64) -> Vec<i64> {
        let mut seen = vec![self.next().await];
        while seen[seen.len() - 1] < position {
            seen.push(self.next().await);
        }
        assert_eq!(seen[seen.len() - 1], position, "{seen:?}");
        seen
    }
}

/// The position a command's answer reports.
fn position_of(answer: &Answer) -> i64 {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["position"].as_i64().unwrap()
}

/// Sets the amount of the company's `deal`-th deal as `token`: the position.
async fn amount(c: &Company, token: &str, deal: usize, amount: i64) -> i64 {
    let path = format!("/deals/{}/amount", c.deals[deal]);
    position_of(&c.post(token, &path, json!({"amount": amount})).await)
}

/// Hanna (the head) hands Bohdan's deal to manager `to`: the position.
async fn assign(c: &Company, to: uuid::Uuid) -> i64 {
    let path = format!("/deals/{}/assign", c.deals[1]);
    position_of(
        &c.post(&c.tokens.hanna, &path, json!({"manager_id": to}))
            .await,
    )
}

#[sqlx::test]
async fn a_managers_live_stream_announces_his_book_and_no_one_elses(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let mut andriy = Changes::open(&c, &c.tokens.andriy).await;
    // Bohdan's deal (the same department) changes, then Andriy's: only his is announced
    // (had Bohdan's change been announced, it would have come first).
    let bohdans = amount(&c, &c.tokens.bohdan, 1, 2500).await;
    let his = amount(&c, &c.tokens.andriy, 0, 1500).await;
    let seen = andriy.until(his).await;
    assert!(
        !seen.contains(&bohdans),
        "Bohdan's change announced: {seen:?}"
    );
    // The head hands Bohdan's deal to Andriy: announced (the event names him) …
    let handed_to = assign(&c, c.andriy).await;
    andriy.until(handed_to).await;
    // … and back to Bohdan: announced too (the deal was Andriy's before the batch).
    let handed_back = assign(&c, c.bohdan).await;
    andriy.until(handed_back).await;
    // Ciril's task that Andriy observes, done by Ciril: announced (he reads it).
    let done = c
        .post(
            &c.tokens.ciril,
            &format!("/tasks/{}/complete", c.tasks[1]),
            json!({}),
        )
        .await;
    andriy.until(position_of(&done)).await;
    // Bohdan's deal again (his own once more), then Andriy's: only Andriy's.
    let bohdans = amount(&c, &c.tokens.bohdan, 1, 2600).await;
    let his = amount(&c, &c.tokens.andriy, 0, 1600).await;
    let seen = andriy.until(his).await;
    assert!(
        !seen.contains(&bohdans),
        "Bohdan's change announced: {seen:?}"
    );
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
    let _ = session(&app, "Dana", "director").await;
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
    let doc = parse(&wrong);
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

/// The browser tests' chromedriver, when the machine has one (`scripts/test.sh`
/// installs Debian's `chromium` and `chromium-driver`).
fn chromedriver() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|path| path.is_file())
    })
}

/// A free TCP port on the loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Headless Chromium driven through chromedriver, at `width`×900.
async fn browser(driver_port: u16) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]}),
    );
    let url = format!("http://127.0.0.1:{driver_port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match fantoccini::ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return client,
            Err(err) if tokio::time::Instant::now() < deadline => {
                eprintln!("chromedriver not ready yet: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("cannot start a browser session: {err}"),
        }
    }
}

/// Waits (up to `within`) until `check` holds; how long it took.
async fn until<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while started.elapsed() < within {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// In a real headless Chromium: a deep link goes through the login and back, the
/// funnel shows a new deal within two seconds without a reload, logout ends the
/// session. With `CRM_SCREENSHOTS=<dir>`, also saves every page at 1280 and 390 px.
#[sqlx::test]
async fn in_a_browser_login_deep_link_live_refresh_and_logout(pool: PgPool) {
    let Some(driver) = chromedriver() else {
        eprintln!(
            "no chromedriver on PATH: the browser test is skipped (scripts/test.sh installs it)"
        );
        return;
    };
    let c = Company::new(pool, HiddenFields::default()).await;
    let _ = session(&c.app, "Dana", "director").await;
    c.settle().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crm_api::server::serve(
        listener,
        c.app.router.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let driver_port = free_port();
    let mut chromedriver = tokio::process::Command::new(driver)
        .arg(format!("--port={driver_port}"))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let b = browser(driver_port).await;
    // A page that cannot load fails the test within 20 s instead of hanging for
    // chromedriver's default 60 s per page.
    b.update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
        Some(Duration::from_secs(20)),
        Some(Duration::from_secs(20)),
        None,
    ))
    .await
    .unwrap();
    use fantoccini::Locator;

    // A deep link goes to the login, then back to it.
    let deep = format!("/ui/funnel?pipeline_id={}", c.pipeline);
    b.goto(&format!("{base}{deep}")).await.unwrap();
    let url = b.current_url().await.unwrap();
    assert_eq!(url.path(), "/");
    assert_eq!(
        url.query_pairs().find(|(k, _)| k == "next").unwrap().1,
        deep
    );
    b.find(Locator::Css("input[type=email]"))
        .await
        .unwrap()
        .send_keys("dana@example.com")
        .await
        .unwrap();
    b.find(Locator::Css("input[type=password]"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("#open_deals"))
        .await
        .unwrap();
    let url = b.current_url().await.unwrap();
    assert_eq!(
        format!("{}?{}", url.path(), url.query().unwrap_or("")),
        deep
    );
    let open = b
        .find(Locator::Css("#open_deals"))
        .await
        .unwrap()
        .attr("data-value")
        .await
        .unwrap();
    assert_eq!(open.as_deref(), Some("3"));
    // Wait for the live stream to be connected (the page's dot turns on).
    until(Duration::from_secs(5), || async {
        b.execute("return document.body.classList.contains('live-on')", vec![])
            .await
            .unwrap()
            == json!(true)
    })
    .await
    .expect("the live stream connects");

    // A deal opened by someone else shows without a reload (in well under a second on a
    // quiet machine; the time is printed, and the wait is long enough for a loaded CI).
    b.execute("window.__same_page = true", vec![])
        .await
        .unwrap();
    let opened = c
        .post(
            &c.tokens.andriy,
            "/deals",
            json!({"client_id": c.clients[0], "pipeline_id": c.pipeline, "title": "Live one",
                   "amount": 700, "manager_id": c.andriy}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let took = until(Duration::from_secs(10), || async {
        match b.find(Locator::Css("#open_deals")).await {
            Ok(e) => e.attr("data-value").await.ok().flatten().as_deref() == Some("4"),
            Err(_) => false,
        }
    })
    .await;
    eprintln!("the live refresh took {took:?}");
    assert!(
        took.is_some(),
        "the funnel did not show the new deal within 10 s"
    );
    assert_eq!(
        b.execute("return window.__same_page === true", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page was reloaded"
    );

    // The audit page's "verify now" posts the session's CSRF token from the browser
    // and shows the kept result.
    b.goto(&format!("{base}/ui/audit")).await.unwrap();
    b.find(Locator::Css("form#verify-now button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(Duration::from_secs(10), || async {
        b.find(Locator::Css("#verify[data-ok=true]")).await.is_ok()
    })
    .await
    .expect("verify now shows an intact log");

    // Leaving a page closes its live stream: page after page connects its own. (A
    // stream kept open by each page left would use up the browser's six connections
    // per host, and the sixth page would wait.)
    for n in 0..8 {
        let path = if n % 2 == 0 { "/ui/tasks" } else { "/ui/leads" };
        b.goto(&format!("{base}{path}")).await.unwrap();
        until(Duration::from_secs(5), || async {
            b.execute("return document.body.classList.contains('live-on')", vec![])
                .await
                .unwrap()
                == json!(true)
        })
        .await
        .unwrap_or_else(|| panic!("page {n} ({path}): the live stream connects"));
    }

    // Screenshots of every page, when asked for.
    if let Ok(dir) = std::env::var("CRM_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        // A custom projection to show, with the calls it counts.
        for (direction, reached) in [("outbound", true), ("outbound", false), ("inbound", true)] {
            let logged = c
                .post(
                    &c.tokens.andriy,
                    "/interactions",
                    json!({"kind": "call", "direction": direction, "manager_id": c.andriy,
                           "client_id": c.clients[0], "duration_s": 90,
                           "goal": "agree on a demo", "goal_reached": reached}),
                )
                .await;
            assert_eq!(logged.status, StatusCode::CREATED, "{}", logged.body);
        }
        let defined = c
            .post(
                &c.tokens.analyst,
                "/projections",
                json!({"name": "calls_by_direction", "event_types": ["InteractionLogged"],
                       "group_by": [{"name": "direction", "field": "data.direction"}],
                       "measures": [{"name": "calls", "fn": "count"},
                                    {"name": "seconds", "fn": "sum", "field": "data.duration.seconds"}]}),
            )
            .await;
        assert_eq!(defined.status, StatusCode::ACCEPTED, "{}", defined.body);
        c.app.wait_custom_live("calls_by_direction", 1).await;
        // A rule for the automation page to list.
        let rule = c
            .post(
                &c.tokens.director,
                "/automation/rules",
                json!({"name": "Answer new leads", "kind": "lead_sla", "params": {"sla_minutes": 15}}),
            )
            .await;
        assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.body);
        // Andriy's day: a call to Alpha due today (a tail), a second working client.
        let today = chrono::Utc::now().date_naive();
        let delta = c
            .post(
                &c.tokens.andriy,
                "/clients",
                json!({"name": "Delta", "kind": "company", "manager_id": c.andriy}),
            )
            .await;
        assert_eq!(delta.status, StatusCode::CREATED, "{}", delta.body);
        let deal = c
            .post(
                &c.tokens.andriy,
                "/deals",
                json!({"client_id": delta.body["id"], "pipeline_id": c.pipeline,
                       "title": "Delta deal", "amount": 520000, "manager_id": c.andriy}),
            )
            .await;
        assert_eq!(deal.status, StatusCode::CREATED, "{}", deal.body);
        let call = c
            .post(
                &c.tokens.andriy,
                "/tasks",
                json!({"title": "Call Alpha back", "kind": "call", "assignee_id": c.andriy,
                       "client_id": c.clients[0], "due_at": format!("{today}T09:00:00Z")}),
            )
            .await;
        assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
        // This month's plans for the managers page.
        let month = today.format("%Y-%m").to_string();
        for (manager, targets) in [
            (
                c.andriy,
                json!({"calls": 40, "meetings": 8, "call_seconds": 7200, "deals_won": 2, "won_amount": 1000000}),
            ),
            (c.bohdan, json!({"calls": 30, "deals_won": 1})),
            (c.ciril, json!({"calls": 25, "meetings": 5})),
        ] {
            let plan = c
                .app
                .post(
                    "/plans",
                    &json!({"manager_id": manager, "month": month, "targets": targets}),
                )
                .await;
            assert!(plan.status.is_success(), "{}", plan.body);
        }
        // Beta's deal won with two products' lines, for the revenue by product.
        for (name, category, quantity, price) in [
            ("Widget Pro", "Tools", 3, 150000),
            ("Support plan", "Services", 1, 90000),
        ] {
            let product = c
                .app
                .post(
                    "/products",
                    &json!({"name": name, "category": category, "price": price}),
                )
                .await;
            assert!(product.status.is_success(), "{}", product.body);
            let line = c
                .app
                .post(
                    &format!("/deals/{}/lines", c.deals[1]),
                    &json!({"product_id": product.body["id"], "quantity": quantity, "price": price}),
                )
                .await;
            assert!(line.status.is_success(), "{}", line.body);
        }
        let won = c
            .app
            .post(
                &format!("/deals/{}/win", c.deals[1]),
                &json!({"amount": 540000}),
            )
            .await;
        assert!(won.status.is_success(), "{}", won.body);
        let first = chrono::Datelike::with_day(&today, 1).unwrap();
        let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
        c.settle().await;
        let pages = [
            ("home", "/ui".to_owned()),
            ("funnel", deep.clone()),
            (
                "managers",
                "/ui/managers?from=2020-01-01&to=2030-01-01".to_owned(),
            ),
            ("overdue", "/ui/overdue".to_owned()),
            (
                "conversion",
                format!(
                    "/ui/conversion?pipeline_id={}&from=2020-01-01&to=2030-01-01",
                    c.pipeline
                ),
            ),
            (
                "loss-reasons",
                "/ui/loss-reasons?from=2020-01-01&to=2030-01-01".to_owned(),
            ),
            ("forecast", "/ui/forecast".to_owned()),
            (
                "revenue",
                "/ui/revenue?by=manager&from=2020-01-01&to=2030-01-01".to_owned(),
            ),
            ("clients", "/ui/clients".to_owned()),
            ("client", format!("/ui/clients/{}", c.clients[0])),
            ("deals", "/ui/deals".to_owned()),
            ("deal", format!("/ui/deals/{}", c.deals[0])),
            ("leads", "/ui/leads".to_owned()),
            ("tasks", "/ui/tasks".to_owned()),
            ("audit", format!("/ui/audit?stream=deal-{}", c.deals[0])),
            ("projections", "/ui/projections".to_owned()),
            ("projection-new", "/ui/projections/new".to_owned()),
            (
                "projection",
                "/ui/projections/calls_by_direction".to_owned(),
            ),
            (
                "manager-events",
                format!(
                    "/ui/managers/{}/events?figure=calls&from=2020-01-01&to=2030-01-01",
                    c.andriy
                ),
            ),
            ("automation", "/ui/automation".to_owned()),
            (
                "manager-day",
                format!("/ui/managers/{}/day?date={today}", c.andriy),
            ),
            (
                "managers-plans",
                format!("/ui/managers?from={first}&to={next}#plans"),
            ),
            ("duplicates", "/ui/clients/duplicates".to_owned()),
            (
                "revenue-product",
                "/ui/revenue?by=product&from=2020-01-01&to=2030-01-01".to_owned(),
            ),
        ];
        for width in [1280u32, 390] {
            b.set_window_size(width, 900).await.unwrap();
            for (name, path) in &pages {
                let started = tokio::time::Instant::now();
                b.goto(&format!("{base}{path}")).await.unwrap();
                eprintln!("{name} at {width} px loaded in {:?}", started.elapsed());
                let png = b.screenshot().await.unwrap();
                std::fs::write(format!("{dir}/{name}-{width}.png"), png).unwrap();
            }
        }
        b.set_window_size(1280, 900).await.unwrap();
        b.goto(&format!("{base}{deep}")).await.unwrap();
    }

    // Logout ends the session: the pages go to the login again.
    b.find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(Duration::from_secs(5), || async {
        b.current_url()
            .await
            .map(|u| u.path() == "/")
            .unwrap_or(false)
    })
    .await
    .expect("logout goes to the login page");
    b.goto(&format!("{base}/ui/managers")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/");
    b.find(Locator::Css("input[type=password]")).await.unwrap();
    // The login page, for the screenshots.
    if let Ok(dir) = std::env::var("CRM_SCREENSHOTS") {
        for width in [1280u32, 390] {
            b.set_window_size(width, 900).await.unwrap();
            b.goto(&format!("{base}/")).await.unwrap();
            let png = b.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/login-{width}.png"), png).unwrap();
        }
    }

    b.close().await.unwrap();
    let _ = chromedriver.kill().await;
    let _ = stop.send(());
    let _ = server.await;
}

#[sqlx::test]
async fn the_language_follows_the_switch_and_accept_language(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let empty_en = page(&app, "/ui/funnel", None, Some(ADMIN_TOKEN)).await;
    assert!(empty_en.body.as_str().unwrap().contains("No pipelines yet"));
    let by_header = app
        .send(
            Method::GET,
            "/ui/funnel",
            Some(ADMIN_TOKEN),
            None,
            &[("accept-language", "uk-UA,uk;q=0.9,en;q=0.5")],
        )
        .await;
    let text = by_header.body.as_str().unwrap();
    assert!(text.contains("Ще немає воронок"), "{text}");
    assert!(text.contains("<html lang=\"uk\">"));
    // The switch sets the cookie and goes back; the cookie wins over the header.
    let switch = page(&app, "/ui/lang?to=en&back=%2Fui%2Ffunnel", None, None).await;
    assert!(switch.status.is_redirection());
    assert_eq!(switch.headers[header::LOCATION], "/ui/funnel");
    let cookie = switch.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("crm_lang=en;"), "{cookie}");
    let chosen = app
        .send(
            Method::GET,
            "/ui/funnel",
            Some(ADMIN_TOKEN),
            None,
            &[("accept-language", "uk"), ("cookie", "crm_lang=en")],
        )
        .await;
    assert!(chosen.body.as_str().unwrap().contains("No pipelines yet"));
    // The switch never leads to another site.
    let evil = page(&app, "/ui/lang?to=uk&back=%2F%2Fevil.example", None, None).await;
    assert_eq!(evil.headers[header::LOCATION], "/ui");
}
