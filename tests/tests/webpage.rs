//! The web app tests' shared helpers (`webapp`, `webapp_analyst`): a person logged in
//! with a session, pages asked for with a cookie or a token and parsed with
//! `scraper`, the figure tables read by their captions, forms posted as a browser
//! posts them, and the managers page's columns.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use crm_tests::{Answer, TestApp, ADMIN_TOKEN};
use scraper::{ElementRef, Html, Selector};
use serde_json::{json, Value};

/// The managers page's columns after the name, in the API's order
/// (`/reports/managers`' fields).
pub const MANAGER_COLUMNS: [&str; 22] = [
    "department",
    "calls",
    "calls_outbound",
    "calls_inbound",
    "call_seconds",
    "calls_with_goal",
    "calls_goal_reached",
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

/// A person of `role` in the department Board with the e-mail `<name>@example.com`
/// and a password, logged in: his session's `Cookie` header.
pub async fn session(app: &TestApp, name: &str, role: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase());
    let answer = app
        .post(
            "/managers",
            &json!({"name": name, "department": "Board", "role": role, "email": email}),
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
            Some(&json!({"email": email, "password": "correct horse battery"})),
            &[],
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let set_cookie = login.headers[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// GET `path` as a browser would: with the `cookie` header, or a bearer `token`.
pub async fn page(app: &TestApp, path: &str, cookie: Option<&str>, token: Option<&str>) -> Answer {
    let mut headers = Vec::new();
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    app.send(Method::GET, path, token, None, &headers).await
}

/// GET `path` with the session `cookie`.
pub async fn get(app: &TestApp, path: &str, cookie: &str) -> Answer {
    page(app, path, Some(cookie), None).await
}

/// `GET path` with the session `cookie`, parsed as a page (a 200 expected).
pub async fn page_at(app: &TestApp, path: &str, cookie: &str) -> Html {
    html(&get(app, path, cookie).await)
}

/// The page's HTML (a 200 expected).
pub fn html(answer: &Answer) -> Html {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    parse(answer)
}

/// The answer's HTML, whatever its status.
pub fn parse(answer: &Answer) -> Html {
    Html::parse_document(answer.body.as_str().expect("an HTML page"))
}

/// The elements of `doc` that `css` selects.
pub fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap();
    doc.select(&selector).collect()
}

/// An element's text.
pub fn text_of(element: &ElementRef) -> String {
    element.text().collect()
}

/// The rows of the table captioned `caption`: each row's header cell's `data-value`,
/// then its cells' `data-value`s.
pub fn table_rows(doc: &Html, caption: &str) -> Vec<Vec<String>> {
    let captions = Selector::parse("caption").unwrap();
    let rows = Selector::parse("tbody tr").unwrap();
    let cells = Selector::parse("th, td").unwrap();
    let table = select(doc, "table")
        .into_iter()
        .find(|t| {
            t.select(&captions)
                .next()
                .is_some_and(|c| text_of(&c) == caption)
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
pub fn figure(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes a form value.
pub fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs the form `fields` to `path` as a browser would, with the session `cookie`
/// and the extra `headers`.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send_raw(request.body(Body::from(body.join("&"))).unwrap())
        .await
}

/// The CSRF token the form `form` (a CSS selector) of a page carries.
pub fn csrf_in(doc: &Html, form: &str) -> String {
    let fields = select(doc, &format!("{form} input[name=csrf_token]"));
    assert_eq!(fields.len(), 1, "{form} carries the session's CSRF token");
    fields[0].value().attr("value").unwrap().to_owned()
}
