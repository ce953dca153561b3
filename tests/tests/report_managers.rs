//! The manager KPIs report against figures a small model computes from the facts the
//! test itself produced: interactions (calls in and out, without a client, the same
//! client twice, logged out of business-time order), leads assigned, reassigned,
//! converted and rejected (also with no manager), deals opened, reassigned, won, lost,
//! reopened and lost again, tasks rescheduled, reassigned and completed late or on
//! time, over many periods (whole months, whole days, partial edges), with filters.

use std::collections::{BTreeSet, HashMap};

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use crm_tests::read::{at, id_of};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// What a counted event was, as the test knows it.
#[derive(Debug, Clone)]
enum What {
    Interaction {
        kind: &'static str,
        outbound: bool,
        seconds: i64,
        client: Option<Uuid>,
    },
    LeadAssigned,
    LeadConverted,
    LeadRejected,
    DealOpened,
    DealWon(i64),
    DealLost,
    TaskCompleted {
        late: bool,
    },
}

/// A counted event: when, for whom, what.
#[derive(Debug, Clone)]
struct Happened {
    at: DateTime<Utc>,
    manager: Uuid,
    what: What,
}

/// A registered manager.
struct Manager {
    id: Uuid,
    name: &'static str,
    department: &'static str,
}

/// The scenario: the app, what the test knows of each entity, and what counted.
struct Scenario {
    app: TestApp,
    pipeline: Uuid,
    managers: Vec<Manager>,
    lead_manager: HashMap<Uuid, Option<Uuid>>,
    /// deal → (manager, amount now)
    deals: HashMap<Uuid, (Uuid, i64)>,
    /// task → (assignee, due now)
    tasks: HashMap<Uuid, (Uuid, DateTime<Utc>)>,
    happened: Vec<Happened>,
    last_position: i64,
}

impl Scenario {
    async fn post(&mut self, path: &str, body: Value) -> Value {
        let answer = self.app.post(path, &body).await;
        assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
        self.last_position = answer.body["position"].as_i64().unwrap();
        answer.body
    }

    fn count(&mut self, at: DateTime<Utc>, manager: Uuid, what: What) {
        self.happened.push(Happened { at, manager, what });
    }

    async fn manager(&mut self, name: &'static str, department: &'static str) -> Uuid {
        let body = json!({"name": name, "department": department, "role": "manager"});
        let id = id_of(&self.post("/managers", body).await);
        self.managers.push(Manager {
            id,
            name,
            department,
        });
        id
    }

    async fn client(&mut self, manager: Uuid) -> Uuid {
        let body =
            json!({"name": "Acme", "kind": "company", "manager_id": manager, "contacts": []});
        id_of(&self.post("/clients", body).await)
    }

    async fn interaction(
        &mut self,
        kind: &'static str,
        outbound: bool,
        manager: Uuid,
        client: Option<Uuid>,
        seconds: Option<i64>,
        when: DateTime<Utc>,
    ) {
        let direction = if outbound { "outbound" } else { "inbound" };
        let mut body = json!({"kind": kind, "direction": direction, "manager_id": manager,
            "occurred_at": when});
        if let Some(c) = client {
            body["client_id"] = json!(c);
        }
        if let Some(s) = seconds {
            body["duration_s"] = json!(s);
        }
        self.post("/interactions", body).await;
        let what = What::Interaction {
            kind,
            outbound,
            seconds: seconds.unwrap_or(0),
            client,
        };
        self.count(when, manager, what);
    }

    async fn capture_lead(&mut self, manager: Option<Uuid>, when: DateTime<Utc>) -> Uuid {
        let mut body = json!({"source": "website", "name": "Ivan Petrov", "occurred_at": when});
        if let Some(m) = manager {
            body["manager_id"] = json!(m);
            self.count(when, m, What::LeadAssigned);
        }
        let id = id_of(&self.post("/leads", body).await);
        self.lead_manager.insert(id, manager);
        id
    }

    async fn assign_lead(&mut self, lead: Uuid, manager: Uuid, when: DateTime<Utc>) {
        let body = json!({"manager_id": manager, "occurred_at": when});
        self.post(&format!("/leads/{lead}/assign"), body).await;
        self.lead_manager.insert(lead, Some(manager));
        self.count(when, manager, What::LeadAssigned);
    }

    async fn convert_lead(&mut self, lead: Uuid, amount: i64, when: DateTime<Utc>) -> Uuid {
        let deal = Uuid::new_v4();
        let body = json!({"deal": {"id": deal, "pipeline_id": self.pipeline, "title": "From lead",
            "amount": amount}, "occurred_at": when});
        self.post(&format!("/leads/{lead}/convert"), body).await;
        let manager = self.lead_manager[&lead].unwrap();
        self.count(when, manager, What::LeadConverted);
        self.count(when, manager, What::DealOpened);
        self.deals.insert(deal, (manager, amount));
        deal
    }

    async fn reject_lead(&mut self, lead: Uuid, when: DateTime<Utc>) {
        let body = json!({"reason": "spam", "occurred_at": when});
        self.post(&format!("/leads/{lead}/reject"), body).await;
        if let Some(m) = self.lead_manager[&lead] {
            self.count(when, m, What::LeadRejected);
        }
    }

    async fn open_deal(
        &mut self,
        client: Uuid,
        manager: Uuid,
        amount: i64,
        when: DateTime<Utc>,
    ) -> Uuid {
        let body = json!({"client_id": client, "pipeline_id": self.pipeline, "title": "Deal",
            "amount": amount, "manager_id": manager, "occurred_at": when});
        let id = id_of(&self.post("/deals", body).await);
        self.deals.insert(id, (manager, amount));
        self.count(when, manager, What::DealOpened);
        id
    }

    async fn assign_deal(&mut self, deal: Uuid, manager: Uuid, when: DateTime<Utc>) {
        let body = json!({"manager_id": manager, "occurred_at": when});
        self.post(&format!("/deals/{deal}/assign"), body).await;
        self.deals.get_mut(&deal).unwrap().0 = manager;
    }

    async fn win_deal(&mut self, deal: Uuid, amount: Option<i64>, when: DateTime<Utc>) {
        let mut body = json!({"occurred_at": when});
        if let Some(a) = amount {
            body["amount"] = json!(a);
        }
        self.post(&format!("/deals/{deal}/win"), body).await;
        let (manager, current) = self.deals[&deal];
        let won = amount.unwrap_or(current);
        self.deals.insert(deal, (manager, won));
        self.count(when, manager, What::DealWon(won));
    }

    async fn lose_deal(&mut self, deal: Uuid, when: DateTime<Utc>) {
        let body = json!({"reason": "price", "occurred_at": when});
        self.post(&format!("/deals/{deal}/lose"), body).await;
        let manager = self.deals[&deal].0;
        self.count(when, manager, What::DealLost);
    }

    async fn reopen_deal(&mut self, deal: Uuid, when: DateTime<Utc>) {
        let body = json!({"occurred_at": when});
        self.post(&format!("/deals/{deal}/reopen"), body).await;
    }

    async fn schedule_task(
        &mut self,
        assignee: Uuid,
        due: DateTime<Utc>,
        when: DateTime<Utc>,
    ) -> Uuid {
        let body = json!({"title": "Call back", "assignee_id": assignee, "due_at": due,
            "occurred_at": when});
        let id = id_of(&self.post("/tasks", body).await);
        self.tasks.insert(id, (assignee, due));
        id
    }

    async fn reschedule_task(&mut self, task: Uuid, due: DateTime<Utc>, when: DateTime<Utc>) {
        let body = json!({"due_at": due, "occurred_at": when});
        self.post(&format!("/tasks/{task}/reschedule"), body).await;
        self.tasks.get_mut(&task).unwrap().1 = due;
    }

    async fn assign_task(&mut self, task: Uuid, assignee: Uuid, when: DateTime<Utc>) {
        let body = json!({"assignee_id": assignee, "occurred_at": when});
        self.post(&format!("/tasks/{task}/assign"), body).await;
        self.tasks.get_mut(&task).unwrap().0 = assignee;
    }

    async fn complete_task(&mut self, task: Uuid, when: DateTime<Utc>) {
        let body = json!({"occurred_at": when});
        self.post(&format!("/tasks/{task}/complete"), body).await;
        let (assignee, due) = self.tasks[&task];
        self.count(when, assignee, What::TaskCompleted { late: when > due });
    }

    /// The rows the report must answer, computed from what the test counted.
    fn expected(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        only: Option<Uuid>,
        department: Option<&str>,
    ) -> Value {
        let mut managers: Vec<&Manager> = self
            .managers
            .iter()
            .filter(|m| only.is_none_or(|id| id == m.id))
            .filter(|m| department.is_none_or(|d| d == m.department))
            .collect();
        managers.sort_by(|a, b| a.name.cmp(b.name).then(a.id.cmp(&b.id)));
        let rows: Vec<Value> = managers
            .into_iter()
            .map(|m| {
                let mine = self
                    .happened
                    .iter()
                    .filter(|h| h.manager == m.id && h.at >= from && h.at < to);
                let mut n: HashMap<&str, i64> = HashMap::new();
                let (mut clients, mut call_clients) = (BTreeSet::new(), BTreeSet::new());
                for h in mine {
                    let mut add = |key: &'static str, v: i64| *n.entry(key).or_default() += v;
                    match &h.what {
                        What::Interaction {
                            kind,
                            outbound,
                            seconds,
                            client,
                        } => {
                            if let Some(c) = client {
                                clients.insert(*c);
                            }
                            if *kind == "call" {
                                add("calls", 1);
                                add(
                                    if *outbound {
                                        "calls_outbound"
                                    } else {
                                        "calls_inbound"
                                    },
                                    1,
                                );
                                add("call_seconds", *seconds);
                                if let Some(c) = client {
                                    add("calls_with_client", 1);
                                    call_clients.insert(*c);
                                }
                            } else {
                                add(
                                    match *kind {
                                        "meeting" => "meetings",
                                        "email" => "emails",
                                        _ => "messages",
                                    },
                                    1,
                                );
                            }
                        }
                        What::LeadAssigned => add("leads_assigned", 1),
                        What::LeadConverted => add("leads_converted", 1),
                        What::LeadRejected => add("leads_rejected", 1),
                        What::DealOpened => add("deals_opened", 1),
                        What::DealWon(amount) => {
                            add("deals_won", 1);
                            add("won_amount", *amount);
                        }
                        What::DealLost => add("deals_lost", 1),
                        What::TaskCompleted { late } => {
                            add("tasks_completed", 1);
                            add("tasks_completed_late", i64::from(*late));
                        }
                    }
                }
                let get = |key: &str| n.get(key).copied().unwrap_or(0);
                let calls_per_client = (!call_clients.is_empty()).then(|| {
                    (get("calls_with_client") as f64 / call_clients.len() as f64 * 100.0).round()
                        / 100.0
                });
                let decided = get("deals_won") + get("deals_lost");
                let win_rate = (decided > 0).then(|| {
                    (get("deals_won") as f64 / decided as f64 * 10_000.0).round() / 10_000.0
                });
                json!({
                    "manager_id": m.id, "name": m.name, "department": m.department,
                    "calls": get("calls"), "calls_outbound": get("calls_outbound"),
                    "calls_inbound": get("calls_inbound"), "call_seconds": get("call_seconds"),
                    // No call of this scenario carries a goal (report_sales counts them).
                    "calls_with_goal": 0, "calls_goal_reached": 0,
                    "meetings": get("meetings"), "emails": get("emails"),
                    "messages": get("messages"), "clients_contacted": clients.len(),
                    "calls_per_client": calls_per_client,
                    "leads_assigned": get("leads_assigned"),
                    "leads_converted": get("leads_converted"),
                    "leads_rejected": get("leads_rejected"),
                    "deals_opened": get("deals_opened"), "deals_won": get("deals_won"),
                    "deals_lost": get("deals_lost"), "won_amount": get("won_amount"),
                    "win_rate": win_rate, "tasks_completed": get("tasks_completed"),
                    "tasks_completed_late": get("tasks_completed_late"),
                })
            })
            .collect();
        json!(rows)
    }

    /// Asks the report and checks it against the model.
    async fn check(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        only: Option<Uuid>,
        department: Option<&str>,
    ) {
        let mut path = format!(
            "/reports/managers?from={}&to={}&min_position={}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.last_position
        );
        if let Some(m) = only {
            path.push_str(&format!("&manager_id={m}"));
        }
        if let Some(d) = department {
            path.push_str(&format!("&department={d}"));
        }
        let answer = self.app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_eq!(answer.body["from"], json!(from), "{path}");
        assert_eq!(answer.body["to"], json!(to), "{path}");
        let expected = self.expected(from, to, only, department);
        assert_eq!(answer.body["managers"], expected, "{path}");
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[sqlx::test(migrations = false)]
async fn manager_kpis_follow_their_definitions(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let mut s = Scenario {
        app: app.clone(),
        pipeline: Uuid::nil(),
        managers: Vec::new(),
        lead_manager: HashMap::new(),
        deals: HashMap::new(),
        tasks: HashMap::new(),
        happened: Vec::new(),
        last_position: 0,
    };
    // Registered out of name order; two share a name (then by id); one does nothing.
    let zoe = s.manager("Zoe", "Sales").await;
    let anna = s.manager("Anna", "Sales").await;
    let boris = s.manager("Boris", "Sales").await;
    let idle = s.manager("Anna", "Support").await;
    let body = json!({"name": "P", "stages": [{"name": "New", "probability": 0.2},
        {"name": "Offer", "probability": 0.6}]});
    s.pipeline = id_of(&s.post("/pipelines", body).await);
    let clients = [
        s.client(anna).await,
        s.client(anna).await,
        s.client(boris).await,
        s.client(zoe).await,
    ];

    // Interactions: the same client called twice, one without a client, a boundary.
    let feb = at("2026-02-01T00:00:00Z");
    s.interaction(
        "call",
        true,
        anna,
        Some(clients[0]),
        Some(120),
        at("2026-01-20T10:00:00Z"),
    )
    .await;
    s.interaction(
        "call",
        false,
        anna,
        Some(clients[0]),
        Some(30),
        at("2026-01-20T15:00:00Z"),
    )
    .await;
    s.interaction(
        "call",
        true,
        anna,
        None,
        Some(45),
        at("2026-01-21T09:00:00Z"),
    )
    .await;
    s.interaction("meeting", true, anna, Some(clients[1]), None, feb)
        .await;
    s.interaction(
        "email",
        true,
        boris,
        Some(clients[0]),
        None,
        at("2026-02-03T08:00:00Z"),
    )
    .await;
    s.interaction(
        "message",
        false,
        boris,
        None,
        None,
        at("2026-02-03T09:00:00Z"),
    )
    .await;
    // Then many, in no particular business-time order (history imported late).
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = at("2026-01-01T00:00:00Z");
    for _ in 0..120 {
        let manager = [anna, boris, zoe][rng.next(3) as usize];
        let kind = ["call", "call", "call", "meeting", "email", "message"][rng.next(6) as usize];
        let client = match rng.next(6) {
            0 => None,
            k => Some(clients[(k as usize - 1) % clients.len()]),
        };
        let when = start + Duration::minutes(rng.next(150 * 24 * 60) as i64);
        let seconds = (kind == "call" && rng.next(4) > 0).then(|| rng.next(900) as i64);
        s.interaction(kind, rng.next(2) == 0, manager, client, seconds, when)
            .await;
    }

    // Leads: assigned then reassigned and converted; rejected with and without a manager.
    let lead = s.capture_lead(Some(anna), at("2026-01-10T09:00:00Z")).await;
    s.assign_lead(lead, boris, at("2026-01-12T09:00:00Z")).await;
    let converted = s
        .convert_lead(lead, 7_000, at("2026-02-15T12:00:00Z"))
        .await;
    let rejected = s.capture_lead(Some(anna), at("2026-02-02T09:00:00Z")).await;
    s.reject_lead(rejected, at("2026-02-20T09:00:00Z")).await;
    let nobodys = s.capture_lead(None, at("2026-02-05T09:00:00Z")).await;
    s.reject_lead(nobodys, at("2026-02-06T09:00:00Z")).await;
    let late_assigned = s.capture_lead(None, at("2026-03-01T09:00:00Z")).await;
    s.assign_lead(late_assigned, zoe, at("2026-03-02T09:00:00Z"))
        .await;

    // Deals: won; lost, reopened, lost again; reassigned before winning; won after
    // the periods end; the converted lead's deal won with its own amount.
    let won = s
        .open_deal(clients[0], anna, 10_000, at("2026-01-15T10:00:00Z"))
        .await;
    s.win_deal(won, Some(12_500), at("2026-02-10T10:00:00Z"))
        .await;
    let twice = s
        .open_deal(clients[1], anna, 4_000, at("2026-01-16T10:00:00Z"))
        .await;
    s.lose_deal(twice, at("2026-02-11T10:00:00Z")).await;
    s.reopen_deal(twice, at("2026-02-12T10:00:00Z")).await;
    s.lose_deal(twice, at("2026-03-11T10:00:00Z")).await;
    let handed = s
        .open_deal(clients[2], anna, 8_000, at("2026-02-01T10:00:00Z"))
        .await;
    s.assign_deal(handed, boris, at("2026-02-20T10:00:00Z"))
        .await;
    s.win_deal(handed, None, at("2026-03-05T10:00:00Z")).await;
    let later = s
        .open_deal(clients[3], zoe, 3_000, at("2026-03-20T10:00:00Z"))
        .await;
    s.lose_deal(later, at("2026-03-21T10:00:00Z")).await;
    s.reopen_deal(later, at("2026-03-22T10:00:00Z")).await;
    s.win_deal(later, None, at("2026-07-01T10:00:00Z")).await;
    s.win_deal(converted, None, at("2026-03-01T00:00:00Z"))
        .await;

    // Tasks: rescheduled later then done before the new due (on time); rescheduled
    // earlier then done after it (late); reassigned then done late; done at the due
    // time exactly (on time); done outside the periods.
    let t = s
        .schedule_task(anna, at("2026-02-10T12:00:00Z"), at("2026-02-01T08:00:00Z"))
        .await;
    s.reschedule_task(t, at("2026-02-20T12:00:00Z"), at("2026-02-09T08:00:00Z"))
        .await;
    s.complete_task(t, at("2026-02-15T12:00:00Z")).await;
    let t = s
        .schedule_task(anna, at("2026-02-20T12:00:00Z"), at("2026-02-01T08:00:00Z"))
        .await;
    s.reschedule_task(t, at("2026-02-12T12:00:00Z"), at("2026-02-09T08:00:00Z"))
        .await;
    s.complete_task(t, at("2026-02-15T12:00:00Z")).await;
    let t = s
        .schedule_task(anna, at("2026-02-12T12:00:00Z"), at("2026-02-01T08:00:00Z"))
        .await;
    s.assign_task(t, boris, at("2026-02-05T08:00:00Z")).await;
    s.complete_task(t, at("2026-02-14T12:00:00Z")).await;
    let t = s
        .schedule_task(
            boris,
            at("2026-03-03T12:00:00Z"),
            at("2026-02-01T08:00:00Z"),
        )
        .await;
    s.complete_task(t, at("2026-03-03T12:00:00Z")).await;
    let t = s
        .schedule_task(zoe, at("2026-05-03T12:00:00Z"), at("2026-02-01T08:00:00Z"))
        .await;
    s.complete_task(t, at("2026-06-03T12:00:00Z")).await;

    // By hand, the figures of the first quarter that no random interaction touches.
    let answer = app
        .get(&format!(
            "/reports/managers?from=2026-01-01&to=2026-04-01&department=Sales&min_position={}",
            s.last_position
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let rows = answer.body["managers"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Anna", "Boris", "Zoe"]);
    let figures = |row: &Value| {
        json!([
            row["leads_assigned"],
            row["leads_converted"],
            row["leads_rejected"],
            row["deals_opened"],
            row["deals_won"],
            row["deals_lost"],
            row["won_amount"],
            row["win_rate"],
            row["tasks_completed"],
            row["tasks_completed_late"]
        ])
    };
    // Anna: two leads captured for her (one passed on, one rejected); three deals
    // opened, one won for 12,500, one lost twice; two tasks done, one late.
    assert_eq!(
        figures(&rows[0]),
        json!([2, 0, 1, 3, 1, 2, 12_500, 0.3333, 2, 1])
    );
    // Boris: the lead passed to him, converted (its deal won for 7,000); the deal
    // handed to him won for 8,000; the task handed to him done late, his own at its due time.
    assert_eq!(
        figures(&rows[1]),
        json!([1, 1, 0, 1, 2, 0, 15_000, 1.0, 2, 1])
    );
    // Zoe: a lead assigned in March; a deal opened and lost in March (won in July).
    assert_eq!(figures(&rows[2]), json!([1, 0, 0, 1, 0, 1, 0, 0.0, 0, 0]));

    // Periods: whole months, a calendar month, edges in the middle of days and months,
    // whole days, part of a day, one boundary exactly at an event.
    let mut periods = vec![
        ("2026-01-01T00:00:00Z", "2026-08-01T00:00:00Z"),
        ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2026-01-15T12:00:00Z", "2026-03-20T08:00:00Z"),
        ("2026-02-10T00:00:00Z", "2026-02-12T00:00:00Z"),
        ("2026-02-10T10:00:00Z", "2026-02-10T15:00:00Z"),
        ("2026-01-20T10:00:00Z", "2026-02-01T00:00:00Z"),
        ("2025-01-01T00:00:00Z", "2025-06-01T00:00:00Z"),
    ]
    .into_iter()
    .map(|(f, t)| (at(f), at(t)))
    .collect::<Vec<_>>();
    for _ in 0..40 {
        let from = start + Duration::hours(rng.next(150 * 24) as i64);
        let to = from + Duration::hours(1 + rng.next(100 * 24) as i64);
        periods.push((from, to));
    }
    for (from, to) in &periods {
        s.check(*from, *to, None, None).await;
    }
    let (from, to) = (at("2026-01-01T00:00:00Z"), at("2026-04-01T00:00:00Z"));
    s.check(from, to, None, Some("Sales")).await;
    s.check(from, to, None, Some("Support")).await;
    s.check(from, to, Some(boris), None).await;
    s.check(from, to, Some(idle), Some("Support")).await;
    s.check(from, to, Some(idle), Some("Sales")).await;
    s.check(from, to, Some(Uuid::new_v4()), None).await;

    // The idle manager: zeros, and null ratios.
    let answer = app
        .get(&format!(
            "/reports/managers?from=2026-01-01&to=2026-04-01&manager_id={idle}"
        ))
        .await;
    let row = &answer.body["managers"][0];
    assert_eq!(row["calls"], 0);
    assert!(row["calls_per_client"].is_null() && row["win_rate"].is_null());

    // Rebuilt from the log (in bigger batches, history relinked at once), the read
    // model is the same row for row, and so are the answers.
    let live = snapshot(&app).await;
    let projection = crm_projections::builtin()
        .into_iter()
        .find(|p| p.name() == "manager_kpis")
        .unwrap();
    crm_projections::rebuild(app.log.pool(), projection.as_ref())
        .await
        .unwrap();
    crm_projections::wait_until_reflects(
        &app.log,
        "manager_kpis",
        s.last_position,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(
        live == snapshot(&app).await,
        "the rebuilt read model differs"
    );
    for (from, to) in periods.iter().take(10) {
        s.check(*from, *to, None, None).await;
    }

    projectors.shutdown().await;
    app.log.close().await;
}

/// Every row of the read model's tables, as text, in a stable order.
async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, order) in [
        ("kpi_managers", "manager_id"),
        ("kpi_owners", "entity_id"),
        ("kpi_facts", "position"),
        ("kpi_daily", "day, manager_id"),
        ("kpi_monthly", "month, manager_id"),
        (
            "kpi_contact_links",
            "span, bucket, prev_dekad, calls, manager_id",
        ),
    ] {
        let sql = format!("SELECT t::text FROM projections.{table} t ORDER BY {order}");
        let texts: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(app.log.pool())
            .await
            .unwrap();
        assert!(!texts.is_empty(), "{table} is empty");
        rows.extend(texts.into_iter().map(|r| format!("{table} {r}")));
    }
    rows
}

#[sqlx::test(migrations = false)]
async fn manager_kpis_refuse_bad_periods(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    for query in [
        "from=2026-02-01&to=2026-02-01",
        "from=2026-03-01&to=2026-02-01",
        "from=yesterday&to=2026-02-01",
        "from=2026-02-01",
        "from=2026-01-01&to=2026-02-01&manager_id=42",
        "from=2026-01-01&to=2026-02-01&colour=red",
    ] {
        let answer = app.get(&format!("/reports/managers?{query}")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.body
        );
    }
    let answer = app
        .get("/reports/managers?from=2026-01-01&to=2026-02-01T00:00:00Z")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"from": "2026-01-01T00:00:00Z",
        "to": "2026-02-01T00:00:00Z", "managers": []})
    );
    let anonymous = app
        .send(
            axum::http::Method::GET,
            "/reports/managers?from=2026-01-01&to=2026-02-01",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // Documented, with its query parameters.
    let doc = app.get("/openapi.json").await;
    let params: Vec<&str> = doc.body["paths"]["/reports/managers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        ["from", "to", "manager_id", "department", "min_position"]
    );
    app.log.close().await;
}
