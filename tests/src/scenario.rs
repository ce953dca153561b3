//! Shared steps of the command tests: raw sends, refusals that must append nothing,
//! reading a stream back, and seeding managers and clients through the API.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::{Answer, TestApp, ADMIN_TOKEN};
use crate::routes::Fill;

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

/// A pipeline "Sales" with two stages, New (0.1) and Offer (0.5).
pub async fn pipeline(app: &TestApp) -> Uuid {
    let answer = app
        .post(
            "/pipelines",
            &json!({"name": "Sales", "stages": [
                {"name": "New", "probability": 0.1}, {"name": "Offer", "probability": 0.5}]}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "pipeline", 1)
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

/// Appends `events` (typed, each at its business time, none with a personal value)
/// straight to the log, in their order, as an import or older code would: no command
/// and no domain rule in between, many at a time. Returns the last position.
pub async fn append_straight(
    app: &TestApp,
    events: Vec<(crm_domain::DomainEvent, chrono::DateTime<chrono::Utc>)>,
) -> i64 {
    let mut last = 0;
    for chunk in events.chunks(2_000) {
        let mut appends: Vec<crm_eventlog::StreamAppend> = Vec::new();
        for (event, at) in chunk {
            assert!(
                crm_domain::personal::subject(event.event_type(), &event.to_data()).is_none(),
                "{} holds personal values: append it with append_as_older_code",
                event.event_type()
            );
            let new = crm_api::commands::new_event(event, crm_eventlog::Metadata::default())
                .occurred_at(*at);
            let stream = event.stream();
            match appends.iter_mut().find(|a| a.stream == stream) {
                Some(append) => append.events.push(new),
                None => appends.push(crm_eventlog::StreamAppend::new(
                    stream,
                    crm_eventlog::ExpectedVersion::Any,
                    vec![new],
                )),
            }
        }
        match app.log.append_multi(appends).await {
            Ok(outcome) => last = outcome.last_position(),
            Err(err) => panic!("appending {} events straight: {err}", chunk.len()),
        }
    }
    last
}

/// One of each entity the API reads, made through the API, for tests that walk every
/// route ([`crate::routes`]).
#[derive(Debug, Clone)]
pub struct Entities {
    /// A manager (department Sales).
    pub manager: Uuid,
    /// A pipeline of two stages.
    pub pipeline: Uuid,
    /// A client of the manager.
    pub client: Uuid,
    /// An open deal of the client.
    pub deal: Uuid,
    /// A lead of the manager.
    pub lead: Uuid,
    /// A task about the client.
    pub task: Uuid,
    /// A call with the client.
    pub interaction: Uuid,
    /// A custom projection counting interactions by kind.
    pub projection: String,
    /// A webhook (to a port nobody listens on; no deliverer runs in these tests).
    pub webhook: Uuid,
    /// The position of the last event made.
    pub last_position: i64,
}

impl Entities {
    /// Makes them; the projectors must run (it waits for the custom projection to be
    /// built).
    pub async fn create(app: &TestApp) -> Entities {
        let manager = manager(app, "Olena").await;
        let pipeline = pipeline(app).await;
        let client = client(app, manager).await;
        let made = |answer: Answer, kind: &str| response_id(&answer, StatusCode::CREATED, kind, 1);
        let deal = made(
            app.post(
                "/deals",
                &json!({"client_id": client, "pipeline_id": pipeline, "title": "Boiler",
                    "amount": 120_000, "manager_id": manager}),
            )
            .await,
            "deal",
        );
        let lead = app
            .post(
                "/leads",
                &json!({"source": "site", "name": "Lead", "manager_id": manager}),
            )
            .await;
        let lead = {
            assert_eq!(lead.status, StatusCode::CREATED, "{}", lead.body);
            lead.body["id"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .unwrap_or_default()
        };
        let task = made(
            app.post(
                "/tasks",
                &json!({"title": "Call back", "assignee_id": manager, "client_id": client,
                    "due_at": chrono::Utc::now() + chrono::Duration::days(1)}),
            )
            .await,
            "task",
        );
        let interaction = made(
            app.post(
                "/interactions",
                &json!({"kind": "call", "direction": "outbound", "manager_id": manager,
                    "client_id": client}),
            )
            .await,
            "interaction",
        );
        let projection = "calls_by_kind".to_owned();
        let defined = app
            .post(
                "/projections",
                &json!({"name": projection, "event_types": ["InteractionLogged"],
                    "group_by": [{"name": "kind", "field": "data.kind"}],
                    "measures": [{"name": "calls", "fn": "count"}]}),
            )
            .await;
        assert_eq!(defined.status, StatusCode::ACCEPTED, "{}", defined.body);
        app.wait_custom_live(&projection, 1).await;
        let webhook = app
            .post(
                "/webhooks",
                &json!({"url": "http://127.0.0.1:9/hook", "secret": "a secret of the test"}),
            )
            .await;
        assert_eq!(webhook.status, StatusCode::CREATED, "{}", webhook.body);
        let webhook = webhook.body["id"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .unwrap_or_default();
        let last_position = defined.body["position"].as_i64().unwrap_or_default();
        Entities {
            manager,
            pipeline,
            client,
            deal,
            lead,
            task,
            interaction,
            projection,
            webhook,
            last_position,
        }
    }

    /// Their ids for every route's placeholders and required query parameters.
    pub fn fill(&self) -> Fill {
        Fill::new()
            .with("managers", self.manager)
            .with("pipelines", self.pipeline)
            .with("clients", self.client)
            .with("deals", self.deal)
            .with("leads", self.lead)
            .with("tasks", self.task)
            .with("interactions", self.interaction)
            .with("streams", format!("client-{}", self.client))
            .with("projections", &self.projection)
            .with("webhooks", self.webhook)
    }
}
