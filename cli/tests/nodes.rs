//! Two real `crm serve` processes on one database, commands sent to both in turn, the
//! one running automation and delivering the webhook SIGKILLed mid-stream and started
//! again: every triggering event has its effect exactly once (counted by
//! `causation_id` in the log), and a real receiver gets every matching event in log
//! order, a second time only after a failed or interrupted attempt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::common::{database_url, free_port, http, wait_healthy};

/// The bootstrap token both servers accept (32 characters at least).
const TOKEN: &str = "two-nodes-test-token-0123456789abcdef";
/// The webhook's secret.
const SECRET: &str = "the two nodes' receiver secret";
/// The event types the webhook asks for: what the stream and automation append.
const HOOKED: [&str; 6] = [
    "LeadCaptured",
    "LeadAssigned",
    "DealOpened",
    "DealStageChanged",
    "TaskScheduled",
    "TaskReminderDue",
];
/// How long anything the test waits for may take (CI runs on 2 cores; a webhook
/// lease left by a killed server lasts 30 s).
const PATIENCE: Duration = Duration::from_secs(180);

/// A deadline for one thing the test waits for: [`Patience::tick`] panics naming it
/// once [`PATIENCE`] is over, else pauses a moment before the next look.
struct Patience {
    what: &'static str,
    deadline: tokio::time::Instant,
}

impl Patience {
    fn new(what: &'static str) -> Patience {
        Patience {
            what,
            deadline: tokio::time::Instant::now() + PATIENCE,
        }
    }

    async fn tick(&self) {
        assert!(
            tokio::time::Instant::now() < self.deadline,
            "not within {PATIENCE:?}: {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `node` has logged `line`.
async fn logged(node: &Node, what: &'static str, line: &str) {
    let patience = Patience::new(what);
    while !node.log().contains(line) {
        patience.tick().await;
    }
}

/// One `crm serve` process; dropping it (also when the test fails) kills it.
struct Node {
    name: &'static str,
    url: String,
    logs: PathBuf,
    port: u16,
    starts: usize,
    child: Option<tokio::process::Child>,
}

impl Node {
    fn new(name: &'static str, url: &str, logs: &std::path::Path) -> Node {
        Node {
            name,
            url: url.to_owned(),
            logs: logs.to_path_buf(),
            port: 0,
            starts: 0,
            child: None,
        }
    }

    /// Starts the server on a fresh port, its output to `<name>-<start>.log`, and
    /// waits until it answers.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "{} runs already", self.name);
        self.starts += 1;
        self.port = free_port();
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
            .args(["--database-url", &self.url, "serve", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["--seal-interval", "0", "--verify-interval", "0"])
            .args(["--db-connections", "8"])
            .env("CRM_BOOTSTRAP_TOKEN", TOKEN)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the crm binary");
        self.child = Some(child);
        wait_healthy(self.port).await;
    }

    fn log_path(&self) -> PathBuf {
        self.logs.join(format!("{}-{}.log", self.name, self.starts))
    }

    /// What the current process has logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no lease given up, no batch finished.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("a running server");
        child.start_kill().unwrap();
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("a killed server ends")
            .unwrap();
    }

    fn is_up(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The servers' logs; kept (and named) when the test fails, removed otherwise.
struct Logs(PathBuf);

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the servers' logs are in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Arrival {
    at: DateTime<Utc>,
    body: Value,
    raw: Vec<u8>,
    signature: String,
    /// Whether it was answered with a 2xx.
    ok: bool,
}

/// A webhook receiver that fails every request whose number (from 0) is in `fail`.
#[derive(Clone, Default)]
struct Receiver {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    fail: Arc<Vec<usize>>,
}

impl Receiver {
    async fn start(fail: Vec<usize>) -> (Receiver, String) {
        let receiver = Receiver {
            arrivals: Arc::default(),
            fail: Arc::new(fail),
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, url)
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// The distinct event ids answered with a 2xx.
    fn delivered(&self) -> std::collections::HashSet<String> {
        self.arrivals()
            .iter()
            .filter(|a| a.ok)
            .map(|a| a.body["event_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut arrivals = receiver.arrivals.lock().unwrap();
    let ok = !receiver.fail.contains(&arrivals.len());
    arrivals.push(Arrival {
        at: Utc::now(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
        signature: headers
            .get("x-crm-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        ok,
    });
    if ok {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `method path` with `body` as the admin on the first node up of `nodes` (the
/// preferred one first); the answer's status and JSON. A node that does not answer
/// (killed meanwhile) is passed over; creates carry their own ids, so a command is
/// never applied twice by being sent again.
async fn send(nodes: &[&Node], method: &str, path: &str, body: &Value) -> (u16, Value) {
    let mut unavailable = None;
    for node in nodes.iter().filter(|n| n.is_up()) {
        let Ok((status, answer)) =
            http(node.port, method, path, Some(TOKEN), &body.to_string()).await
        else {
            continue;
        };
        let answer = serde_json::from_str(&answer).unwrap_or(Value::String(answer));
        match status {
            0 => {}
            503 => unavailable = Some((status, answer)),
            _ => return (status, answer),
        }
    }
    unavailable.unwrap_or_else(|| panic!("no server answered {method} {path}"))
}

/// `GET path` as the admin on `node` once it answers 200 (a read model may lag
/// behind, briefly, on a server just started); the answer.
async fn read(node: &Node, path: &str) -> Value {
    let (status, answer) = read_status(node, path).await;
    assert_eq!(status, 200, "GET {path}: {answer}");
    answer
}

/// `GET path` as the admin on `node`, asked again while it answers 503; the answer.
async fn read_status(node: &Node, path: &str) -> (u16, Value) {
    let patience = Patience::new("a read model answers");
    loop {
        let (status, answer) = send(&[node], "GET", path, &Value::Null).await;
        if status != 503 {
            return (status, answer);
        }
        patience.tick().await;
    }
}

/// A command that must succeed; its answer.
async fn command(nodes: &[&Node], path: &str, body: Value) -> Value {
    let (status, answer) = send(nodes, "POST", path, &body).await;
    assert!(
        (200..300).contains(&status),
        "POST {path} {body}: {status} {answer}"
    );
    answer
}

/// Every event of the log (of `types` if given) through `GET /events`, in feed order:
/// at least every event committed before this call (the feed holds back those after
/// a transaction still running, so it is read with `min_position`).
async fn feed(node: &Node, pool: &PgPool, types: Option<&str>) -> Vec<Value> {
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM eventlog.events")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut events = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut path = format!("/events?limit=1000&min_position={head}");
        if let Some(types) = types {
            path.push_str(&format!("&types={types}"));
        }
        if !cursor.is_empty() {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = send(&[node], "GET", &path, &Value::Null).await;
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().unwrap().clone();
        if batch.is_empty() {
            return events;
        }
        events.extend(batch);
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    }
}

/// What the log and the read models hold of a lead a read model did not show.
async fn diagnosis(pool: &PgPool, lead: &str) -> String {
    let stream: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT position, event_type, tx_id::text FROM eventlog.events \
          WHERE stream_id = $1 ORDER BY position",
    )
    .bind(format!("lead-{lead}"))
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let checkpoints: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, cursor, status FROM projections.checkpoints")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    let row: Option<String> = sqlx::query_scalar(
        "SELECT row_to_json(l)::text FROM projections.leads l WHERE lead_id::text = $1",
    )
    .bind(lead)
    .fetch_optional(pool)
    .await
    .unwrap_or_default();
    format!(
        "stream (position, type, tx): {stream:?}\nrow now: {row:?}\ncheckpoints: {checkpoints:#?}"
    )
}

/// The automation runner's checkpoint has passed every event it follows.
async fn runner_caught_up(pool: &PgPool) -> bool {
    let last: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(position), 0) FROM eventlog.events WHERE event_type = ANY($1)",
    )
    .bind(crm_api::automation::plan::FOLLOWED)
    .fetch_one(pool)
    .await
    .unwrap();
    let at: Option<i64> = sqlx::query_scalar("SELECT position FROM api.automation_checkpoint")
        .fetch_optional(pool)
        .await
        .unwrap();
    at.unwrap_or(0) >= last
}

/// Who holds the webhook's lease.
async fn lease_owner(pool: &PgPool) -> Option<Uuid> {
    sqlx::query_scalar("SELECT lease_owner FROM api.webhooks")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn id(value: &Value) -> String {
    value.as_str().unwrap().to_owned()
}

/// The automation events of `rule` caused by `cause`, as `(type, data)`.
fn effects<'a>(events: &'a [Value], rule: &str, cause: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["metadata"]["source"] == "automation")
        .filter(|e| e["metadata"]["rule_id"] == rule && e["metadata"]["causation_id"] == cause)
        .collect()
}

#[sqlx::test(migrations = false)]
async fn two_nodes_one_killed_mid_stream_act_once_and_deliver_every_event_in_order(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let url = database_url(&conn);
    let logs = Logs(PathBuf::from(format!(
        "/tmp/crm-two-nodes-{}",
        Uuid::new_v4().simple()
    )));
    std::fs::create_dir_all(&logs.0).unwrap();
    let mut a = Node::new("a", &url, &logs.0);
    let mut b = Node::new("b", &url, &logs.0);

    // Node a alone first (it migrates the database): the active runner and deliverer.
    a.start().await;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(conn)
        .await
        .unwrap();
    let mut team = Vec::new();
    for name in ["Ira", "Oleh", "Taras"] {
        let body = json!({"name": name, "department": "Retail", "role": "manager"});
        team.push(id(&command(&[&a], "/managers", body).await["id"]));
    }
    let petro = id(&command(
        &[&a],
        "/managers",
        json!({"name": "Petro", "department": "Wholesale", "role": "manager"}),
    )
    .await["id"]);
    let offer = Uuid::new_v4().to_string();
    let pipeline = id(&command(
        &[&a],
        "/pipelines",
        json!({"name": "Sales", "stages": [{"name": "New", "probability": 0.1},
            {"id": offer, "name": "Offer", "probability": 0.5}]}),
    )
    .await["id"]);
    let client = id(&command(
        &[&a],
        "/clients",
        json!({"name": "Acme", "kind": "company", "manager_id": petro, "contacts": []}),
    )
    .await["id"]);
    let mut rules = HashMap::new();
    for (kind, params) in [
        (
            "lead_round_robin",
            json!({"department": "Retail", "strategy": "round_robin"}),
        ),
        (
            "task_on_stage",
            json!({"pipeline_id": pipeline, "stage_id": offer, "title": "Send the offer",
                "due_in_hours": 1}),
        ),
        // Tasks due within two hours: reminded at once.
        ("task_reminder", json!({"before_minutes": 120})),
    ] {
        let body = json!({"name": kind, "kind": kind, "params": params});
        let answer = command(&[&a], "/automation/rules", body).await;
        rules.insert(kind, id(&answer["id"]));
    }
    let (receiver, hook_url) = Receiver::start(vec![2, 9, 10, 23, 41]).await;
    command(
        &[&a],
        "/webhooks",
        json!({"url": hook_url, "event_types": HOOKED, "secret": SECRET}),
    )
    .await;
    logged(&a, "node a runs automation", "automation runner active").await;
    let patience = Patience::new("node a leases the webhook");
    let a_owner = loop {
        if let Some(owner) = lease_owner(&pool).await {
            break owner;
        }
        patience.tick().await;
    };

    // Node b joins and stands by for both.
    b.start().await;
    let standby = "another automation runner is active";
    logged(&b, "node b stands by", standby).await;

    // The stream: a lead each step (round robin), every third step a deal opened at
    // Offer, every third a deal opened at New and moved to Offer on the other node.
    // Node a is killed at step 10 and started again at step 17, once node b has
    // taken automation over.
    let steps = 24;
    let mut killed_at = None;
    for step in 0..steps {
        if step == 10 {
            assert_eq!(lease_owner(&pool).await, Some(a_owner), "a delivers");
            a.kill().await;
            killed_at = Some(Utc::now());
        }
        if step == 17 {
            // Node b runs automation now; node a comes back beside it.
            logged(
                &b,
                "node b took automation over",
                "automation runner active",
            )
            .await;
            a.start().await;
        }
        let (here, there) = if step % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let nodes = [here, there];
        let lead = Uuid::new_v4();
        command(
            &nodes,
            "/leads",
            json!({"id": lead, "source": "site", "name": format!("Lead {step}")}),
        )
        .await;
        let deal = Uuid::new_v4();
        let deal_body = |stage: Option<&str>| {
            let mut body = json!({"id": deal, "client_id": client, "pipeline_id": pipeline,
                "title": format!("Deal {step}"), "amount": 1000, "manager_id": petro});
            if let Some(stage) = stage {
                body["stage_id"] = json!(stage);
            }
            body
        };
        match step % 3 {
            0 => {
                command(&nodes, "/deals", deal_body(Some(&offer))).await;
            }
            1 => {
                command(&nodes, "/deals", deal_body(None)).await;
                let moved = json!({"stage_id": offer});
                command(&[there, here], &format!("/deals/{deal}/stage"), moved).await;
            }
            _ => {}
        }
    }
    let killed_at = killed_at.unwrap();

    // The effects expected, computed from the triggers in the log.
    let log = feed(&b, &pool, None).await;
    let of = |t: &str| -> Vec<Value> { log.iter().filter(|e| e["type"] == t).cloned().collect() };
    let captured = of("LeadCaptured");
    assert_eq!(captured.len(), steps);
    let entered: Vec<Value> = log
        .iter()
        .filter(|e| {
            (e["type"] == "DealOpened" && e["data"]["stage_id"] == offer.as_str())
                || (e["type"] == "DealStageChanged" && e["data"]["to_stage_id"] == offer.as_str())
        })
        .cloned()
        .collect();
    assert_eq!(entered.len(), 16);
    let expected_effects = captured.len() + 2 * entered.len();
    let patience = Patience::new("automation did everything");
    let log = loop {
        let log = feed(&b, &pool, None).await;
        let done = log
            .iter()
            .filter(|e| e["metadata"]["source"] == "automation")
            .count();
        if done >= expected_effects && runner_caught_up(&pool).await {
            break log;
        }
        patience.tick().await;
    };
    let automated: Vec<&Value> = log
        .iter()
        .filter(|e| e["metadata"]["source"] == "automation")
        .collect();
    assert_eq!(automated.len(), expected_effects, "{automated:#?}");

    // Each lead assigned once, in turn, caused by its capture.
    for (k, capture) in captured.iter().enumerate() {
        let cause = id(&capture["event_id"]);
        let done = effects(&log, &rules["lead_round_robin"], &cause);
        assert_eq!(done.len(), 1, "lead {k}: {done:#?}");
        assert_eq!(done[0]["type"], "LeadAssigned");
        assert_eq!(done[0]["data"]["lead_id"], capture["data"]["lead_id"]);
        assert_eq!(
            done[0]["data"]["manager_id"],
            team[k % 3].as_str(),
            "lead {k}"
        );
    }
    // Each entry into Offer gave one task, and each task one reminder.
    for entry in &entered {
        let cause = id(&entry["event_id"]);
        let done = effects(&log, &rules["task_on_stage"], &cause);
        assert_eq!(done.len(), 1, "entry {entry}: {done:#?}");
        assert_eq!(done[0]["type"], "TaskScheduled");
        assert_eq!(done[0]["data"]["deal_id"], entry["data"]["deal_id"]);
        assert_eq!(done[0]["data"]["assignee_id"], petro.as_str());
        let scheduled = id(&done[0]["event_id"]);
        let reminded = effects(&log, &rules["task_reminder"], &scheduled);
        assert_eq!(reminded.len(), 1, "task {}: {reminded:#?}", done[0]);
        assert_eq!(reminded[0]["type"], "TaskReminderDue");
        assert_eq!(reminded[0]["data"]["task_id"], done[0]["data"]["task_id"]);
    }

    // The same through the read models: one open task per entry, every lead assigned.
    let last = log.last().unwrap()["position"].as_i64().unwrap();
    let tasks = read(&b, &format!("/tasks?limit=1000&min_position={last}")).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), entered.len());
    for (k, capture) in captured.iter().enumerate() {
        let lead = id(&capture["data"]["lead_id"]);
        let node = if k % 2 == 0 { &a } else { &b };
        let path = format!("/leads/{lead}?min_position={last}");
        let (status, shown) = read_status(node, &path).await;
        if status != 200 {
            let found = diagnosis(&pool, &lead).await;
            panic!("lead {k} on node {}: {status} {shown}\n{found}", node.name);
        }
        assert_eq!(shown["manager_id"], team[k % 3].as_str(), "lead {k}");
        assert_eq!(shown["status"], "assigned", "lead {k}");
    }

    // One more lead after everything, and its assignment: they arrive last, so no
    // duplicate of an earlier event can still be on its way once they have.
    let last_lead = Uuid::new_v4();
    command(
        &[&a, &b],
        "/leads",
        json!({"id": last_lead, "source": "site", "name": "The last lead"}),
    )
    .await;
    let hooked = HOOKED.join(",");
    let patience = Patience::new("the last lead assigned");
    let expected = loop {
        let expected = feed(&b, &pool, Some(&hooked)).await;
        let last = expected.last().unwrap();
        if last["type"] == "LeadAssigned" && last["data"]["lead_id"] == last_lead.to_string() {
            break expected;
        }
        patience.tick().await;
    };
    // Leads and their assignments, deals opened and moved, tasks and reminders.
    assert_eq!(expected.len(), 2 * (steps + 1) + 16 + 8 + 2 * 16);
    let patience = Patience::new("the receiver got every event");
    while !expected.iter().all(|e| {
        receiver
            .delivered()
            .contains(e["event_id"].as_str().unwrap())
    }) {
        patience.tick().await;
    }

    // Walk the arrivals along the log: the next event after a success, the same one
    // after a failure, or once again when the server delivering it was killed.
    let arrivals = receiver.arrivals();
    let ids: Vec<&str> = expected
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let mut at = 0usize;
    let mut repeats_after_the_kill = 0;
    for (i, arrival) in arrivals.iter().enumerate() {
        let got = arrival.body["event_id"].as_str().unwrap();
        if i > 0 {
            let before = &arrivals[i - 1];
            if got == ids[at] && !before.ok {
                // A retry after a failed attempt.
            } else if got == ids[at] && before.at <= killed_at && arrival.at > killed_at {
                repeats_after_the_kill += 1;
            } else {
                assert!(before.ok, "arrival {i} moved on after a failure");
                at += 1;
            }
        }
        assert_eq!(got, ids[at], "arrival {i}: {arrivals:#?}");
        assert_eq!(arrival.signature, sign(&arrival.raw), "arrival {i}");
        for key in ["type", "stream", "version", "position", "data", "metadata"] {
            assert_eq!(arrival.body[key], expected[at][key], "{key} of arrival {i}");
        }
    }
    assert_eq!(at, ids.len() - 1, "every event arrived");
    assert!(arrivals.last().unwrap().ok);
    assert!(repeats_after_the_kill <= 1);
    assert_eq!(
        arrivals.iter().filter(|a| !a.ok).count(),
        5,
        "the failures planned happened"
    );
    pool.close().await;
}
