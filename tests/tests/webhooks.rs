//! Webhooks against a real receiver on a local port that answers, fails, hangs past
//! the timeout and answers late, as a script says: every event after the
//! definition arrives, in log order, a second time only after a failed attempt,
//! signed (checked here with an HMAC of our own); a dead receiver holds no other
//! back; two deliverers on one database deliver once, and one that stops renewing
//! its lease is taken over once the lease expires; only admins define and read
//! webhooks, and defining one appends nothing; erased values read `[erased]`; a failing or disabled webhook resumes
//! where it stopped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use crm_api::hidden::HiddenFields;
use crm_api::webhooks::{Deliverer, WebhookSettings};
use crm_tests::scenario::{client, manager, token};
use crm_tests::TestApp;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

/// A receiver's attempt times out after this (the contract's 10 s, shortened).
const TIMEOUT: Duration = Duration::from_secs(2);
/// A hung receiver answers after this: well past the timeout.
const HANG: Duration = Duration::from_secs(5);
/// A late receiver answers after this: well within the timeout.
const LATE: Duration = Duration::from_millis(200);

/// Delivery settings with short pauses so the tests stay fast.
fn quick() -> WebhookSettings {
    WebhookSettings {
        timeout: TIMEOUT,
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(200),
        give_up_after: Duration::from_secs(24 * 3600),
        lease: Duration::from_secs(30),
        rescan: Duration::from_millis(50),
        deny_private: false,
    }
}

fn deliverer(app: &TestApp, settings: WebhookSettings) -> Deliverer {
    Deliverer::spawn(app.log.clone(), Arc::new(HiddenFields::default()), settings)
}

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Ok,
    Fail,
    Hang,
    Late,
}

impl Behaviour {
    /// Whether the deliverer sees a 2xx within its timeout.
    fn succeeds(self) -> bool {
        matches!(self, Behaviour::Ok | Behaviour::Late)
    }
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Arrival {
    /// When the receiver got it.
    at: chrono::DateTime<chrono::Utc>,
    raw: Vec<u8>,
    body: Value,
    signature: String,
    behaviour: Behaviour,
}

#[derive(Default)]
struct Script {
    plan: VecDeque<Behaviour>,
    otherwise: Option<Behaviour>,
    arrivals: Vec<Arrival>,
}

/// A small HTTP server answering as its script says.
#[derive(Clone)]
struct Receiver {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    /// Answers `plan` in turn, then `otherwise` to every request.
    async fn start(plan: &[Behaviour], otherwise: Behaviour) -> Receiver {
        let script = Arc::new(Mutex::new(Script {
            plan: plan.iter().copied().collect(),
            otherwise: Some(otherwise),
            arrivals: Vec::new(),
        }));
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            script,
        }
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.script.lock().unwrap().arrivals.clone()
    }

    /// The event ids answered with success, in order of arrival.
    fn delivered(&self) -> Vec<String> {
        self.arrivals()
            .iter()
            .filter(|a| a.behaviour.succeeds())
            .map(|a| a.body["event_id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn answer_from_now_on(&self, behaviour: Behaviour) {
        let mut script = self.script.lock().unwrap();
        script.plan.clear();
        script.otherwise = Some(behaviour);
    }
}

async fn hook(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let behaviour = {
        let mut script = script.lock().unwrap();
        let behaviour = script
            .plan
            .pop_front()
            .or(script.otherwise)
            .unwrap_or(Behaviour::Ok);
        script.arrivals.push(Arrival {
            at: chrono::Utc::now(),
            raw: body.to_vec(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signature: headers
                .get("x-crm-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            behaviour,
        });
        behaviour
    };
    match behaviour {
        Behaviour::Ok => StatusCode::NO_CONTENT,
        Behaviour::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::Hang => {
            tokio::time::sleep(HANG).await;
            StatusCode::OK
        }
        Behaviour::Late => {
            tokio::time::sleep(LATE).await;
            StatusCode::OK
        }
    }
}

/// Waits (at most a minute) until `done` holds; panics saying `what` otherwise.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within a minute: {what}");
}

/// `GET /webhooks/{id}/deliveries` once `done` holds of it (at most a minute).
async fn deliveries_when(app: &TestApp, id: Uuid, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..3000 {
        let answer = app.get(&format!("/webhooks/{id}/deliveries")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if done(&answer.body) {
            return answer.body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("webhook {id}: not within a minute");
}

/// Defines a webhook as the admin; its id.
async fn define(app: &TestApp, url: &str, event_types: Value, secret: &str) -> Uuid {
    let answer = app
        .post(
            "/webhooks",
            &json!({"url": url, "event_types": event_types, "secret": secret}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert!(!answer.body.to_string().contains(secret), "{}", answer.body);
    answer.body["id"].as_str().unwrap().parse().unwrap()
}

/// Makes `n` clients (a manager first): events of a few types on several streams.
async fn activity(app: &TestApp, n: usize) {
    let manager = manager(app, "Olena").await;
    for _ in 0..n {
        client(app, manager).await;
    }
}

/// Every event of the log after position `after`, as `GET /events` shows it to the
/// admin, in feed order (once the feed delivers the last one appended).
async fn events_after(app: &TestApp, after: i64) -> Vec<Value> {
    let last = last_position(app).await;
    let answer = app
        .get(&format!("/events?limit=1000&min_position={last}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["position"].as_i64().unwrap() > after)
        .cloned()
        .collect()
}

async fn last_position(app: &TestApp) -> i64 {
    app.log.last_position().await.unwrap().unwrap_or(0)
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The arrivals walk the expected events in order: the first is the first event;
/// after a failed attempt comes the same event again, after a success the next one.
/// So none is lost, none is out of order, and none comes twice unless an attempt
/// at it failed. Each arrival is signed with `secret` and carries the event as the
/// admin reads it in `GET /events`.
fn assert_walks(arrivals: &[Arrival], expected: &[Value], secret: &str) {
    assert_walks_resuming(arrivals, expected, secret, None);
}

/// As [`assert_walks`], except that arrival `resumed` (the first of a deliverer
/// that took over from one that died) may bring the event before it again: its
/// sender may have died before recording the success.
fn assert_walks_resuming(
    arrivals: &[Arrival],
    expected: &[Value],
    secret: &str,
    resumed: Option<usize>,
) {
    let ids: Vec<&str> = expected
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let mut at = 0usize;
    for (i, arrival) in arrivals.iter().enumerate() {
        let id = arrival.body["event_id"].as_str().unwrap();
        let repeated = resumed == Some(i) && id == ids[at];
        if i > 0 && arrivals[i - 1].behaviour.succeeds() && !repeated {
            at += 1;
        }
        assert_eq!(id, ids[at], "arrival {i} of {arrivals:#?}");
        assert_eq!(arrival.signature, sign(secret, &arrival.raw), "arrival {i}");
        let event = &expected[at];
        let mut keys: Vec<&String> = arrival.body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "data",
                "event_id",
                "metadata",
                "occurred_at",
                "position",
                "recorded_at",
                "stream",
                "type",
                "version"
            ]
        );
        for key in [
            "event_id", "type", "stream", "version", "position", "data", "metadata",
        ] {
            assert_eq!(arrival.body[key], event[key], "{key} of arrival {i}");
        }
        for key in ["occurred_at", "recorded_at"] {
            let sent: chrono::DateTime<chrono::Utc> =
                arrival.body[key].as_str().unwrap().parse().unwrap();
            let shown: chrono::DateTime<chrono::Utc> =
                event[key].as_str().unwrap().parse().unwrap();
            assert_eq!(sent, shown, "{key} of arrival {i}");
        }
    }
    let last = arrivals.last().unwrap();
    assert!(last.behaviour.succeeds());
    assert_eq!(at, ids.len() - 1, "not every event arrived");
}

#[sqlx::test(migrations = false)]
async fn every_event_arrives_in_order_through_failures_hangs_and_late_answers(pool: PgPool) {
    use Behaviour::*;
    let app = TestApp::new(pool).await.unwrap();
    activity(&app, 2).await; // Before the definition: never delivered.
    let before = last_position(&app).await;
    let receiver = Receiver::start(
        &[Ok, Fail, Ok, Hang, Late, Fail, Fail, Ok, Late, Hang, Fail],
        Ok,
    )
    .await;
    let secret = "the receiver's own secret";
    let id = define(&app, &receiver.url, json!([]), secret).await;
    let running = deliverer(&app, quick());
    activity(&app, 6).await;
    let expected = events_after(&app, before).await;
    assert_eq!(expected.len(), 7);
    until("every event delivered", || {
        receiver.delivered().len() >= expected.len()
    })
    .await;
    let arrivals = receiver.arrivals();
    assert_walks(&arrivals, &expected, secret);

    // The deliveries as the API shows them (once the last is recorded): the latest
    // attempt first.
    let body = deliveries_when(&app, id, |b| b["webhook"]["delivered"] == expected.len()).await;
    let webhook = &body["webhook"];
    assert_eq!(webhook["status"], "active");
    assert_eq!(webhook["delivered"], expected.len());
    assert_eq!(
        webhook["last_position"],
        expected.last().unwrap()["position"]
    );
    assert_eq!(webhook["failures"], 0);
    assert!(webhook["next_attempt_at"].is_null());
    let attempts = body["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), arrivals.len());
    for (attempt, arrival) in attempts.iter().rev().zip(&arrivals) {
        assert_eq!(attempt["event_id"], arrival.body["event_id"]);
        match arrival.behaviour {
            Ok => assert_eq!(
                (attempt["status_code"].clone(), attempt["error"].clone()),
                (json!(204), Value::Null)
            ),
            Late => assert_eq!(
                (attempt["status_code"].clone(), attempt["error"].clone()),
                (json!(200), Value::Null)
            ),
            Fail => assert_eq!(attempt["status_code"], 500),
            Hang => {
                assert!(attempt["status_code"].is_null(), "{attempt}");
                assert!(attempt["error"]
                    .as_str()
                    .unwrap()
                    .contains("no answer within"));
            }
        }
    }
    assert!(!body.to_string().contains(secret));
    running.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn a_dead_receiver_does_not_hold_a_healthy_one_back(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let before = last_position(&app).await;
    let hanging = Receiver::start(&[], Behaviour::Hang).await;
    let failing = Receiver::start(&[], Behaviour::Fail).await;
    let healthy = Receiver::start(&[], Behaviour::Ok).await;
    define(&app, &hanging.url, json!([]), "secret of the hanging one").await;
    define(&app, &failing.url, json!([]), "secret of the failing one").await;
    define(&app, &healthy.url, json!([]), "secret of the healthy one").await;
    let running = deliverer(&app, quick());
    activity(&app, 5).await;
    let expected = events_after(&app, before).await;
    until("the healthy receiver has every event", || {
        healthy.delivered().len() >= expected.len()
    })
    .await;
    assert_walks(&healthy.arrivals(), &expected, "secret of the healthy one");
    // The others are still at their first event.
    assert!(hanging.delivered().is_empty() && failing.delivered().is_empty());
    let first = expected[0]["event_id"].as_str().unwrap();
    for arrival in hanging.arrivals().iter().chain(&failing.arrivals()) {
        assert_eq!(arrival.body["event_id"], first);
    }
    running.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn two_deliverers_on_one_database_deliver_each_event_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let before = last_position(&app).await;
    let receiver = Receiver::start(&[], Behaviour::Ok).await;
    define(
        &app,
        &receiver.url,
        json!(["ClientRegistered"]),
        "a shared secret!",
    )
    .await;
    let first = deliverer(&app, quick());
    let second = deliverer(&app.another_process(|s| s), quick());
    activity(&app, 8).await;
    let expected: Vec<Value> = events_after(&app, before)
        .await
        .into_iter()
        .filter(|e| e["type"] == "ClientRegistered")
        .collect();
    assert_eq!(expected.len(), 8);
    until("every client delivered", || {
        receiver.arrivals().len() >= expected.len()
    })
    .await;
    // One server stops; the other takes the webhook over once its lease is free.
    first.shutdown().await;
    activity(&app, 2).await;
    let expected: Vec<Value> = events_after(&app, before)
        .await
        .into_iter()
        .filter(|e| e["type"] == "ClientRegistered")
        .collect();
    until("the clients made after delivered", || {
        receiver.arrivals().len() >= expected.len()
    })
    .await;
    // One more client: delivered in log order, it comes after any duplicate of an
    // earlier one that might still be on its way.
    let expected = with_one_more_client(&app, &receiver, before).await;
    let arrivals = receiver.arrivals();
    assert_eq!(
        arrivals.len(),
        expected.len(),
        "a duplicate without a failure"
    );
    assert_walks(&arrivals, &expected, "a shared secret!");
    second.shutdown().await;
}

/// Makes one more client and waits until `receiver` has its ClientRegistered; the
/// ClientRegistered events after `before`, that one last.
async fn with_one_more_client(app: &TestApp, receiver: &Receiver, before: i64) -> Vec<Value> {
    let manager = manager(app, "Mykola").await;
    let last = client(app, manager).await;
    let expected: Vec<Value> = events_after(app, before)
        .await
        .into_iter()
        .filter(|e| e["type"] == "ClientRegistered")
        .collect();
    assert_eq!(expected.last().unwrap()["stream"], format!("client-{last}"));
    let last_id = expected.last().unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    until("the last client delivered", || {
        receiver.delivered().contains(&last_id)
    })
    .await;
    expected
}

#[sqlx::test(migrations = false)]
async fn a_deliverer_that_stops_renewing_is_taken_over_once_its_lease_expires(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let before = last_position(&app).await;
    // Answers take a moment: the deliverer that dies is likely in an attempt.
    let receiver = Receiver::start(&[], Behaviour::Late).await;
    let secret = "a secret for taking over";
    let id = define(&app, &receiver.url, json!(["ClientRegistered"]), secret).await;
    let settings = WebhookSettings {
        lease: Duration::from_secs(6),
        ..quick()
    };
    // The first deliverer on a runtime of its own, which is dropped mid-stream: its
    // tasks vanish without giving the lease up, as in a process killed.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let first = {
        let _inside = doomed.enter();
        let options = (*app.log.pool().connect_options()).clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(options);
        Deliverer::spawn(
            crm_eventlog::EventLog::new(pool),
            Arc::new(HiddenFields::default()),
            settings,
        )
    };
    let lease = |pool: PgPool| async move {
        sqlx::query_as::<_, (Option<Uuid>, Option<chrono::DateTime<chrono::Utc>>)>(
            "SELECT lease_owner, lease_until FROM api.webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    for _ in 0..3000 {
        if lease(app.log.pool().clone()).await.0.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (holder, _) = lease(app.log.pool().clone()).await;
    assert!(holder.is_some(), "the first deliverer leased the webhook");
    // The other one runs all along, waiting for the lease.
    let second = deliverer(&app, settings);
    activity(&app, 6).await;
    until("the first deliverer delivered some", || {
        receiver.delivered().len() >= 2
    })
    .await;
    let killed = chrono::Utc::now();
    doomed.shutdown_background();
    drop(first);
    let (owner, until_then) = lease(app.log.pool().clone()).await;
    assert_eq!(owner, holder, "nobody took the lease while it was renewed");
    let expires = until_then.unwrap();
    activity(&app, 2).await;
    let expected = with_one_more_client(&app, &receiver, before).await;
    assert_eq!(expected.len(), 9);

    // The second started only once the lease had expired (at most the attempt in
    // flight at the death came in between), and then went on in order, bringing
    // again at most the one event whose success the first could not record.
    let arrivals = receiver.arrivals();
    let resumed = arrivals
        .iter()
        .position(|a| a.at > expires)
        .expect("arrivals after the lease expired");
    let dying = arrivals[..resumed].iter().filter(|a| a.at > killed).count();
    assert!(dying <= 1, "{arrivals:#?}");
    assert!(
        arrivals.len() <= expected.len() + 1,
        "a duplicate without a failure: {arrivals:#?}"
    );
    assert_walks_resuming(&arrivals, &expected, secret, Some(resumed));
    let (owner, _) = lease(app.log.pool().clone()).await;
    assert!(
        owner.is_some() && owner != holder,
        "the second holds the lease"
    );
    second.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn a_failing_or_disabled_webhook_resumes_where_it_stopped(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let before = last_position(&app).await;
    let receiver = Receiver::start(&[], Behaviour::Fail).await;
    let secret = "a secret for resuming";
    let id = define(&app, &receiver.url, json!([]), secret).await;
    // Give up after a short window instead of 24 hours.
    let settings = WebhookSettings {
        give_up_after: Duration::from_millis(300),
        ..quick()
    };
    let running = deliverer(&app, settings);
    activity(&app, 3).await;
    let shown = deliveries_when(&app, id, |b| b["webhook"]["status"] == "failing").await;
    assert_eq!(shown["webhook"]["delivered"], 0);
    assert!(
        shown["webhook"]["failures"].as_i64().unwrap() >= 2,
        "{shown}"
    );
    assert!(shown["webhook"]["next_attempt_at"].is_null(), "{shown}");
    assert!(shown["webhook"]["failing_since"].is_string(), "{shown}");
    let failed_attempts = receiver.arrivals().len();

    // More events while it is failing; then the receiver heals and it is enabled.
    activity(&app, 2).await;
    receiver.answer_from_now_on(Behaviour::Ok);
    let enabled = app
        .post(&format!("/webhooks/{id}/enable"), &json!({}))
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    assert_eq!(enabled.body["status"], "active");
    let expected = events_after(&app, before).await;
    until("every event delivered after enabling", || {
        receiver.delivered().len() >= expected.len()
    })
    .await;
    assert_walks(&receiver.arrivals(), &expected, secret);
    assert!(failed_attempts >= 2);

    // Disabled: it stops; enabled again: it goes on after the last event delivered.
    let disabled = app
        .post(&format!("/webhooks/{id}/disable"), &json!({}))
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["status"], "disabled");
    activity(&app, 2).await;
    let enabled = app
        .post(&format!("/webhooks/{id}/enable"), &json!({}))
        .await;
    assert_eq!(enabled.body["status"], "active", "{}", enabled.body);
    let expected = events_after(&app, before).await;
    until("the events made while disabled delivered", || {
        receiver.delivered().len() >= expected.len()
    })
    .await;
    assert_walks(&receiver.arrivals(), &expected, secret);
    running.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn payloads_show_personal_data_as_an_admin_reads_it_erased_values_included(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    // An erasure answers once the read models have applied it.
    let projectors = app.start_projectors();
    let receiver = Receiver::start(&[], Behaviour::Ok).await;
    define(
        &app,
        &receiver.url,
        json!(["ClientRegistered"]),
        "secret of erasure",
    )
    .await;
    let manager = manager(&app, "Olena").await;
    let answer = app
        .post(
            "/clients",
            &json!({"name": "Taras Kept", "kind": "person", "manager_id": manager,
                "contacts": [{"name": "Taras", "phone": "+380501112233"}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let kept = answer.body["id"].as_str().unwrap().to_owned();
    let answer = app
        .post(
            "/clients",
            &json!({"name": "Ivanna Gone", "kind": "person", "manager_id": manager,
                "contacts": [{"name": "Ivanna", "phone": "+380509998877"}]}),
        )
        .await;
    let gone = answer.body["id"].as_str().unwrap().to_owned();
    // Erased before the deliverer starts: its event is delivered after the erasure.
    let erased = app
        .post(&format!("/clients/{gone}/erase"), &json!({}))
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    let running = deliverer(&app, quick());
    until("both clients delivered", || receiver.delivered().len() >= 2).await;
    let arrivals = receiver.arrivals();
    let data = |id: &str| {
        arrivals
            .iter()
            .find(|a| a.body["stream"] == format!("client-{id}"))
            .map(|a| a.body["data"].clone())
            .unwrap()
    };
    assert_eq!(data(&kept)["name"], "Taras Kept");
    assert_eq!(data(&kept)["contacts"][0]["phone"], "+380501112233");
    assert_eq!(data(&gone)["name"], "[erased]");
    assert!(!arrivals
        .iter()
        .any(|a| String::from_utf8_lossy(&a.raw).contains("Ivanna")));
    assert!(!arrivals
        .iter()
        .any(|a| String::from_utf8_lossy(&a.raw).contains("+380509998877")));
    running.shutdown().await;
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn only_admins_define_and_read_webhooks_and_nothing_is_stored_otherwise(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager = manager(&app, "Olena").await;
    let director = token(&app, None, "director").await;
    let auditor = token(&app, None, "auditor").await;
    let own = token(&app, Some(manager), "manager").await;
    let body = json!({"url": "https://example.com/hook", "secret": "sixteen chars at least"});
    let id = Uuid::new_v4();
    for token in [&director, &auditor, &own] {
        for (method, path, body) in [
            (Method::POST, "/webhooks".to_owned(), Some(&body)),
            (Method::GET, "/webhooks".to_owned(), None),
            (Method::GET, format!("/webhooks/{id}/deliveries"), None),
            (Method::POST, format!("/webhooks/{id}/disable"), None),
            (Method::POST, format!("/webhooks/{id}/enable"), None),
        ] {
            let answer = app
                .send(method.clone(), &path, Some(token), body, &[])
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                answer.body
            );
            assert_eq!(answer.code(), "forbidden");
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api.webhooks")
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // Bad input: a problem, and nothing stored.
    for (bad, code) in [
        (
            json!({"url": "ftp://example.com/", "secret": "sixteen chars at least"}),
            "invalid_webhook_url",
        ),
        (
            json!({"url": "example.com/hook", "secret": "sixteen chars at least"}),
            "invalid_webhook_url",
        ),
        (
            json!({"url": "https://u:p@example.com/", "secret": "sixteen chars at least"}),
            "invalid_webhook_url",
        ),
        (
            json!({"url": "https://example.com/\u{0}", "secret": "sixteen chars at least"}),
            "invalid_text",
        ),
        (
            json!({"url": "https://example.com/", "secret": "short"}),
            "invalid_webhook_secret",
        ),
        (
            json!({"url": "https://example.com/", "secret": "sixteen chars at least",
            "event_types": ["NoSuchThing"]}),
            "unknown_event_type",
        ),
    ] {
        let answer = app.post("/webhooks", &bad).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, code),
            "{bad}: {}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    let answer = app
        .post("/webhooks", &json!({"url": "https://example.com/"}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api.webhooks")
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // The admin defines one with the id he chose; the same id again is a conflict;
    // the list never shows a secret.
    let answer = app
        .post(
            "/webhooks",
            &json!({"id": id, "url": "https://example.com/hook", "secret": "sixteen chars at least",
                "event_types": ["DealWon", "ClientRegistered", "DealWon"]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["id"], id.to_string());
    assert_eq!(
        answer.body["event_types"],
        json!(["ClientRegistered", "DealWon"])
    );
    assert_eq!(answer.body["status"], "active");
    let again = app
        .post(
            "/webhooks",
            &json!({"id": id, "url": "https://example.com/other", "secret": "sixteen chars at least"}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "webhook_exists")
    );
    let list = app.get("/webhooks").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["url"], "https://example.com/hook");
    assert!(!list.body.to_string().contains("sixteen chars"));
    assert!(list.body["items"][0].get("secret").is_none());
    let unknown = app
        .get(&format!("/webhooks/{}/deliveries", Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Nothing of it is in the log.
    let in_log: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM eventlog.events WHERE data::text LIKE '%sixteen chars%'",
    )
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    assert_eq!(in_log, 0);
}

#[sqlx::test(migrations = false)]
async fn deny_private_refuses_internal_targets_at_definition_and_at_delivery(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let strict = app.another_process(|s| {
        s.with_webhooks(WebhookSettings {
            deny_private: true,
            ..WebhookSettings::default()
        })
    });
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
    ] {
        let answer = strict
            .post(
                "/webhooks",
                &json!({"url": url, "secret": "sixteen chars at least"}),
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "webhook_target_private"),
            "{url}: {}",
            answer.body
        );
    }
    // Defined where it was allowed, then delivered by a server that refuses it: the
    // attempts fail and the receiver never hears of it.
    let receiver = Receiver::start(&[], Behaviour::Ok).await;
    let id = define(&app, &receiver.url, json!([]), "sixteen chars at least").await;
    let running = deliverer(
        &app,
        WebhookSettings {
            deny_private: true,
            ..quick()
        },
    );
    activity(&app, 1).await;
    let shown = deliveries_when(&app, id, |b| {
        b["attempts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let attempts = shown["attempts"].as_array().unwrap();
    assert!(attempts[0]["status_code"].is_null());
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{attempts:?}"
    );
    assert!(receiver.arrivals().is_empty());
    let enabled = strict
        .post(&format!("/webhooks/{id}/enable"), &json!({}))
        .await;
    assert_eq!(enabled.code(), "webhook_target_private");
    running.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn webhook_definitions_append_nothing_and_their_secret_is_nowhere_in_the_log(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    activity(&app, 2).await;
    let log_before = events_after(&app, 0).await;
    let head = last_position(&app).await;
    assert_eq!(
        log_before.last().unwrap()["position"].as_i64().unwrap(),
        head
    );
    let count = app.event_count().await;

    let secret = "nobody may read this secret";
    let id = define(&app, "https://example.com/hook", json!([]), secret).await;
    for step in ["disable", "enable"] {
        let answer = app
            .post(&format!("/webhooks/{id}/{step}"), &json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{step}: {}", answer.body);
    }
    let shown = app.get("/webhooks").await;
    assert_eq!(shown.body["items"][0]["status"], "active", "{}", shown.body);

    // The log is as it was: same head, same events.
    assert_eq!(last_position(&app).await, head);
    assert_eq!(app.event_count().await, count);
    assert_eq!(events_after(&app, 0).await, log_before);
    let feed = app.get("/events?limit=1000").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(
        feed.body["events"].as_array().unwrap().last().unwrap()["position"],
        head
    );

    // The secret is nowhere in the log, as stored or as exported.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM eventlog.events \
          WHERE data::text LIKE '%' || $1 || '%' OR metadata::text LIKE '%' || $1 || '%'",
    )
    .bind(secret)
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    assert_eq!(stored, 0);
    for format in ["ndjson", "csv"] {
        let export = app.get(&format!("/export/events?format={format}")).await;
        assert_eq!(export.status, StatusCode::OK, "{format}");
        let text = export.body.as_str().unwrap_or_default().to_owned();
        assert!(text.contains("ClientRegistered"), "{format}: {text}");
        assert!(!text.contains(secret), "{format}");
        assert!(!export.body.to_string().contains(secret), "{format}");
    }
    for answer in [feed, app.get("/webhooks").await] {
        assert!(!answer.body.to_string().contains(secret));
    }
}

#[sqlx::test(migrations = false)]
async fn deliveries_renew_the_lease_only_once_a_third_of_it_has_passed_and_a_disable_stops_them(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await.unwrap();
    let before = last_position(&app).await;
    let receiver = Receiver::start(&[], Behaviour::Ok).await;
    let secret = "a secret for leases";
    let id = define(&app, &receiver.url, json!([]), secret).await;
    // A lease of ten minutes: no third of it passes during the test.
    let running = deliverer(
        &app,
        WebhookSettings {
            lease: Duration::from_secs(600),
            ..quick()
        },
    );
    let lease_until = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT lease_until FROM api.webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(app.log.pool())
        .await
        .unwrap()
    };
    let mut taken = None;
    for _ in 0..3000 {
        taken = lease_until().await;
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let taken = taken.expect("the webhook leased");
    activity(&app, 5).await;
    let expected = events_after(&app, before).await;
    assert_eq!(expected.len(), 6);
    deliveries_when(&app, id, |b| b["webhook"]["delivered"] == expected.len()).await;
    assert_walks(&receiver.arrivals(), &expected, secret);
    // Six deliveries, and the lease as it was taken: not renewed at each.
    assert_eq!(lease_until().await, Some(taken));

    // Disabled: the next event is not attempted.
    let disabled = app
        .post(&format!("/webhooks/{id}/disable"), &json!({}))
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    activity(&app, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.arrivals().len(), expected.len());
    running.shutdown().await;
}
