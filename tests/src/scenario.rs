//! Shared steps of the command tests: raw sends, refusals that must append nothing,
//! reading a stream back, and seeding managers and clients through the API.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::{Answer, TestApp, ADMIN_TOKEN};

/// Sends `body` as it is (malformed JSON included; `None`: no body) as the admin.
pub async fn send_text(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map(|b| Body::from(b.to_owned())).unwrap_or_default();
    match request.body(body) {
        Ok(request) => app.send_raw(request).await,
        Err(err) => panic!("cannot build the request for {path}: {err}"),
    }
}

/// Sends `body` and checks it is refused with `status` and `code` as a problem,
/// appending nothing.
pub async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
    status: StatusCode,
    code: &str,
) -> Answer {
    let before = app.event_count().await;
    let answer = send_text(app, method, path, Some(body), headers).await;
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{path} {body}: {}",
        answer.body
    );
    assert_eq!(
        answer.headers["content-type"], "application/problem+json",
        "{path}"
    );
    assert_eq!(app.event_count().await, before, "{path} {body} appended");
    answer
}

/// The events of `stream`, read back through the API.
pub async fn events(app: &TestApp, stream: &str) -> Vec<Value> {
    let answer = app.get(&format!("/streams/{stream}/events")).await;
    assert_eq!(answer.status, StatusCode::OK, "{stream}: {}", answer.body);
    answer.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Checks a command's response (status, stream, version, position) and returns its `id`.
pub fn response_id(answer: &Answer, status: StatusCode, kind: &str, version: i64) -> Uuid {
    assert_eq!(answer.status, status, "{}", answer.body);
    let id: Uuid = answer.body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    assert_eq!(answer.body["stream"], format!("{kind}-{id}"));
    assert_eq!(answer.body["version"], version);
    assert!(answer.body["position"].as_i64().unwrap_or(0) > 0);
    id
}

/// A registered, active member of the team, of `department` and `role`.
pub async fn registered(app: &TestApp, name: &str, department: &str, role: &str) -> Uuid {
    let answer = app
        .post(
            "/managers",
            &json!({"name": name, "department": department, "role": role}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "manager", 1)
}

/// A new bearer token of `role`, acting as `manager` (if any).
pub async fn token(app: &TestApp, manager: Option<Uuid>, role: &str) -> String {
    match crm_api::auth::create_token(app.log.pool(), manager, role, None).await {
        Ok(token) => token,
        Err(err) => panic!("cannot create a {role} token: {err}"),
    }
}

/// A registered, active manager.
pub async fn manager(app: &TestApp, name: &str) -> Uuid {
    let answer = app
        .post(
            "/managers",
            &json!({"name": name, "department": "Sales", "role": "manager"}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "manager", 1)
}

/// A registered manager, deactivated.
pub async fn inactive_manager(app: &TestApp) -> Uuid {
    let id = manager(app, "Gone").await;
    let answer = app
        .post(&format!("/managers/{id}/deactivate"), &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    id
}

/// A client (a company) of `manager_id`.
pub async fn client(app: &TestApp, manager_id: Uuid) -> Uuid {
    let answer = app
        .post(
            "/clients",
            &json!({"name": "Acme", "kind": "company", "manager_id": manager_id, "contacts": []}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "client", 1)
}

/// Appends one event straight through the log, as code older than the NUL check did
/// (a hand-written import would): its personal values encrypted under their subject's
/// key whatever they hold, no command and no check of the API in between. Returns its
/// position.
pub async fn append_as_older_code(
    app: &TestApp,
    stream: &str,
    event_type: &str,
    mut data: Value,
) -> i64 {
    use crm_domain::personal;
    let subjects: Vec<Uuid> = personal::subject(event_type, &data).into_iter().collect();
    let keys = match app.log.vault().keys_for_write(&subjects).await {
        Ok(keys) => keys,
        Err(err) => panic!("keys for {subjects:?}: {err}"),
    };
    let event_id = Uuid::now_v7();
    if let Some((subject, key)) = subjects.first().and_then(|s| Some((*s, keys.key(*s)?))) {
        let mut ordinal: u32 = 0;
        personal::visit(event_type, &mut data, &mut |field, value| {
            let mut seed = event_id.as_bytes().to_vec();
            seed.extend_from_slice(&ordinal.to_be_bytes());
            *value = key.encrypt(subject, field, &seed, value);
            ordinal += 1;
        });
    }
    let event = crm_eventlog::NewEvent::new(event_type, data).with_id(event_id);
    let append =
        crm_eventlog::StreamAppend::new(stream, crm_eventlog::ExpectedVersion::Any, vec![event]);
    match app
        .log
        .append_with_keys(vec![append], &keys.into_write())
        .await
    {
        Ok(outcome) => outcome.last_position(),
        Err(err) => panic!("appending {event_type} to {stream}: {err}"),
    }
}
