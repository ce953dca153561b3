//! The sales department's reports end to end (issue 18): a manager's day, who is in
//! the open tasks, likely duplicate clients, and what a client merge does to the
//! cards, lists and reports (and an unmerge undoes), each figure computed here by
//! hand.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{pipeline, token};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The app with its projectors, and the position of the last write.
struct World {
    app: TestApp,
    _projectors: crm_projections::RunningProjectors,
    position: i64,
}

impl World {
    async fn new(pool: PgPool) -> World {
        let app = TestApp::new(pool).await.unwrap();
        let projectors = app.start_projectors();
        World {
            app,
            _projectors: projectors,
            position: 0,
        }
    }

    /// POST as `token` (the admin when None), checked to succeed; the id it answers.
    async fn post_as(&mut self, token: Option<&str>, path: &str, body: Value) -> Uuid {
        let answer = self
            .app
            .send(
                Method::POST,
                path,
                Some(token.unwrap_or(ADMIN_TOKEN)),
                Some(&body),
                &[],
            )
            .await;
        assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
        self.position = self.position.max(answer.body["position"].as_i64().unwrap());
        answer.body["id"].as_str().unwrap().parse().unwrap()
    }

    async fn post(&mut self, path: &str, body: Value) -> Uuid {
        self.post_as(None, path, body).await
    }

    /// GET as `token` once every read model reflects the last write.
    async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}min_position={}", self.position);
        let answer = self
            .app
            .send(Method::GET, &path, Some(token), None, &[])
            .await;
        (answer.status, answer.body)
    }

    /// GET as the admin, checked to be a 200.
    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_as(ADMIN_TOKEN, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// A registered member of the team.
    async fn member(&mut self, name: &str, department: &str, role: &str) -> Uuid {
        self.post(
            "/managers",
            json!({"name": name, "department": department, "role": role}),
        )
        .await
    }

    async fn client(&mut self, manager: Uuid, name: &str, contacts: Value) -> Uuid {
        self.post(
            "/clients",
            json!({"name": name, "kind": "company", "manager_id": manager, "contacts": contacts}),
        )
        .await
    }

    async fn deal(&mut self, pipeline: Uuid, client: Uuid, manager: Uuid, amount: i64) -> Uuid {
        self.post(
            "/deals",
            json!({"client_id": client, "pipeline_id": pipeline, "title": "Order",
                   "amount": amount, "manager_id": manager, "occurred_at": "2026-02-01T09:00:00Z"}),
        )
        .await
    }

    async fn call(&mut self, manager: Uuid, client: Uuid, at: &str) -> Uuid {
        self.post(
            "/interactions",
            json!({"kind": "call", "direction": "outbound", "manager_id": manager,
                   "client_id": client, "occurred_at": at}),
        )
        .await
    }
}

fn ids(items: &Value, key: &str) -> Vec<Uuid> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().parse().unwrap())
        .collect()
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

/// Everything a merge of `merged` into `survivor` may change, read as the admin.
async fn views(w: &World, survivor: Uuid, merged: Uuid, manager: Uuid) -> BTreeMap<String, Value> {
    let now = "now=2026-03-10T00:00:00Z";
    let mut seen = BTreeMap::new();
    for path in [
        format!("/clients/{survivor}?{now}"),
        "/clients?now=2026-03-10T00:00:00Z".to_owned(),
        "/clients?segment=active&now=2026-03-10T00:00:00Z".to_owned(),
        format!("/clients/{survivor}/timeline"),
        format!("/deals?client_id={survivor}"),
        format!("/interactions?client_id={survivor}"),
        "/reports/revenue?by=client&from=2026-01-01&to=2027-01-01".to_owned(),
        format!("/managers/{manager}/day?date=2026-03-10"),
        "/clients/duplicates".to_owned(),
        "/reports/managers?from=2026-03-01&to=2026-04-01".to_owned(),
    ] {
        let mut answer = w.get(&path).await;
        // A merge and an unmerge move the merged client's stream version, no figure.
        if path.starts_with("/clients?") {
            for item in answer["items"].as_array_mut().unwrap() {
                if item["id"] == json!(merged) {
                    item["version"] = Value::Null;
                }
            }
        }
        seen.insert(path.clone(), answer);
    }
    // The merged client's own card, but its stream's version and the merge.
    let mut card = w.get(&format!("/clients/{merged}?{now}")).await;
    card["version"] = Value::Null;
    seen.insert(format!("/clients/{merged}"), card);
    seen
}

#[sqlx::test(migrations = false)]
async fn a_merged_clients_work_counts_for_the_survivor_until_unmerged(pool: PgPool) {
    let mut w = World::new(pool).await;
    let olena = w.member("Olena", "Sales", "manager").await;
    let pipeline = pipeline(&w.app).await;
    let phone = json!([{"name": "Ivan", "phone": "+380 50 123 45 67"}]);
    let survivor = w.client(olena, "Acme", phone.clone()).await;
    let merged = w.client(olena, "ACME", phone).await;
    // The survivor: one open deal of 100.00. The duplicate: a deal won for 500.00 on
    // 1 March, a call on 2 March, a call task due on 10 March.
    let open = w.deal(pipeline, survivor, olena, 10_000).await;
    let won = w.deal(pipeline, merged, olena, 50_000).await;
    w.post(
        &format!("/deals/{won}/win"),
        json!({"occurred_at": "2026-03-01T10:00:00Z"}),
    )
    .await;
    let call = w.call(olena, merged, "2026-03-02T10:00:00Z").await;
    let survivor_call = w.call(olena, survivor, "2026-03-04T10:00:00Z").await;
    let task = w
        .post(
            "/tasks",
            json!({"title": "Call back", "kind": "call", "assignee_id": olena,
                   "due_at": "2026-03-10T09:00:00Z", "client_id": merged,
                   "occurred_at": "2026-03-03T12:00:00Z"}),
        )
        .await;
    let before = views(&w, survivor, merged, olena).await;

    // Before: each client counts its own.
    let card = &before[&format!("/clients/{survivor}?now=2026-03-10T00:00:00Z")];
    assert_eq!(
        card["deals"],
        json!({"open": 1, "won": 0, "lost": 0, "won_amount": 0})
    );
    assert_eq!(card["interactions"], 1);
    assert_eq!(card["segment"], "inquiry");
    assert_eq!(card["merged_into_client_id"], Value::Null);
    let list = &before["/clients?now=2026-03-10T00:00:00Z"]["items"];
    assert_eq!(sorted(ids(list, "id")), sorted(vec![survivor, merged]));
    assert_eq!(
        ids(
            &before["/clients?segment=active&now=2026-03-10T00:00:00Z"]["items"],
            "id"
        ),
        vec![merged]
    );
    assert_eq!(
        before["/reports/revenue?by=client&from=2026-01-01&to=2027-01-01"]["groups"],
        json!([{"key": merged.to_string(), "deals": 1, "amount": 50_000}])
    );
    assert_eq!(
        ids(
            &before[&format!("/deals?client_id={survivor}")]["items"],
            "id"
        ),
        vec![open]
    );
    assert_eq!(
        ids(
            &before[&format!("/interactions?client_id={survivor}")]["items"],
            "id"
        ),
        vec![survivor_call]
    );
    let day = &before[&format!("/managers/{olena}/day?date=2026-03-10")];
    assert_eq!(
        day["clients"],
        json!([{"client_id": survivor, "name": "Acme", "open_deals": 1, "open_amount": 10_000}])
    );
    assert_eq!(ids(&day["tails"], "task_id"), vec![task]);
    let duplicates = &before["/clients/duplicates"]["groups"];
    assert_eq!(
        duplicates,
        &json!([
            {"match": "phone", "value": "0501234567", "client_ids": sorted(vec![survivor, merged])},
            {"match": "name", "value": "acme", "client_ids": sorted(vec![survivor, merged])},
        ])
    );
    let timeline_before = before[&format!("/clients/{survivor}/timeline")]["items"]
        .as_array()
        .unwrap()
        .len();
    // ClientRegistered, DealOpened, InteractionLogged.
    assert_eq!(timeline_before, 3);

    // Olena called each client once in March: two clients, one call each.
    let kpis = &before["/reports/managers?from=2026-03-01&to=2026-04-01"]["managers"][0];
    assert_eq!(
        (&kpis["clients_contacted"], &kpis["calls_per_client"]),
        (&json!(2), &json!(1.0))
    );

    // Merged: the survivor counts both clients' deals, wins and interactions.
    w.post(
        &format!("/clients/{merged}/merge"),
        json!({"into_client_id": survivor, "occurred_at": "2026-03-05T00:00:00Z"}),
    )
    .await;
    let after = views(&w, survivor, merged, olena).await;
    let card = &after[&format!("/clients/{survivor}?now=2026-03-10T00:00:00Z")];
    assert_eq!(
        card["deals"],
        json!({"open": 1, "won": 1, "lost": 0, "won_amount": 50_000})
    );
    assert_eq!(card["interactions"], 2);
    assert_eq!(card["last_interaction_at"], "2026-03-04T10:00:00Z");
    assert_eq!(card["last_won_at"], "2026-03-01T10:00:00Z");
    assert_eq!(card["segment"], "active");
    assert_eq!(
        after[&format!("/clients/{merged}")]["merged_into_client_id"],
        json!(survivor)
    );
    assert_eq!(
        ids(&after["/clients?now=2026-03-10T00:00:00Z"]["items"], "id"),
        vec![survivor]
    );
    assert_eq!(
        ids(
            &after["/clients?segment=active&now=2026-03-10T00:00:00Z"]["items"],
            "id"
        ),
        vec![survivor]
    );
    assert_eq!(
        after["/reports/revenue?by=client&from=2026-01-01&to=2027-01-01"]["groups"],
        json!([{"key": survivor.to_string(), "deals": 1, "amount": 50_000}])
    );
    assert_eq!(
        sorted(ids(
            &after[&format!("/deals?client_id={survivor}")]["items"],
            "id"
        )),
        sorted(vec![open, won])
    );
    assert_eq!(
        ids(
            &after[&format!("/interactions?client_id={survivor}")]["items"],
            "id"
        ),
        vec![survivor_call, call]
    );
    let day = &after[&format!("/managers/{olena}/day?date=2026-03-10")];
    assert_eq!(
        day["clients"],
        json!([{"client_id": survivor, "name": "Acme", "open_deals": 1, "open_amount": 10_000}])
    );
    // The task's client is the survivor now, called on 4 March, after the task was
    // scheduled (3 March): no tail.
    assert_eq!(day["tails"], json!([]));
    assert_eq!(after["/clients/duplicates"]["groups"], json!([]));
    // One client now, called twice.
    let kpis = &after["/reports/managers?from=2026-03-01&to=2026-04-01"]["managers"][0];
    assert_eq!(
        (&kpis["clients_contacted"], &kpis["calls_per_client"]),
        (&json!(1), &json!(2.0))
    );
    // The duplicate's registration, deal (opened, won), call, task and merge join.
    let timeline: Vec<String> = after[&format!("/clients/{survivor}/timeline")]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        timeline,
        [
            "ClientRegistered",
            "ClientRegistered",
            "DealOpened",
            "DealOpened",
            "DealWon",
            "InteractionLogged",
            "InteractionLogged",
            "TaskScheduled",
            "ClientMerged",
        ]
    );

    // Unmerged: every view as before, figure for figure.
    w.post(&format!("/clients/{merged}/unmerge"), json!({}))
        .await;
    let undone = views(&w, survivor, merged, olena).await;
    for (path, was) in &before {
        assert_eq!(&undone[path], was, "{path}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_merge_chain_counts_for_its_end(pool: PgPool) {
    let mut w = World::new(pool).await;
    let olena = w.member("Olena", "Sales", "manager").await;
    let pipeline = pipeline(&w.app).await;
    let (a, b, c) = (
        w.client(olena, "A", json!([])).await,
        w.client(olena, "B", json!([])).await,
        w.client(olena, "C", json!([])).await,
    );
    w.deal(pipeline, a, olena, 100).await;
    w.deal(pipeline, b, olena, 20).await;
    w.deal(pipeline, c, olena, 3).await;
    w.post(&format!("/clients/{a}/merge"), json!({"into_client_id": b}))
        .await;
    w.post(&format!("/clients/{b}/merge"), json!({"into_client_id": c}))
        .await;
    let day = w
        .get(&format!("/managers/{olena}/day?date=2026-03-10"))
        .await;
    assert_eq!(
        day["clients"],
        json!([{"client_id": c, "name": "C", "open_deals": 3, "open_amount": 123}])
    );
    // B leaves the chain: A counts for B again.
    w.post(&format!("/clients/{b}/unmerge"), json!({})).await;
    let day = w
        .get(&format!("/managers/{olena}/day?date=2026-03-10"))
        .await;
    assert_eq!(
        day["clients"],
        json!([
            {"client_id": b, "name": "B", "open_deals": 2, "open_amount": 120},
            {"client_id": c, "name": "C", "open_deals": 1, "open_amount": 3},
        ])
    );
    let card = w.get(&format!("/clients/{b}")).await;
    assert_eq!(card["deals"]["open"], 2);
    assert_eq!(card["merged_into_client_id"], Value::Null);
}

/// Each answer's `groups`, as the admin reads them.
async fn groups_of(w: &World, paths: &[String]) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in paths {
        seen.push(w.get(path).await["groups"].clone());
    }
    seen
}

#[sqlx::test(migrations = false)]
async fn two_merges_resolve_each_client_to_its_own_survivor_in_the_reports(pool: PgPool) {
    let mut w = World::new(pool).await;
    let olena = w.member("Olena", "Sales", "manager").await;
    let pipeline = pipeline(&w.app).await;
    // Acme and Beta each absorb a duplicate; Gamma stands alone. The duplicates won
    // 100.00 and 200.00, Gamma 300.00, invoiced in full, due 20 March.
    let mut clients = Vec::new();
    for name in ["Acme", "Acme Ltd", "Beta", "Beta Ltd", "Gamma"] {
        clients.push(w.client(olena, name, json!([])).await);
    }
    let [acme, acme_ltd, beta, beta_ltd, gamma] = clients[..] else {
        unreachable!()
    };
    for (day, client, amount) in [
        (1, acme_ltd, 10_000),
        (2, beta_ltd, 20_000),
        (3, gamma, 30_000),
    ] {
        let deal = w.deal(pipeline, client, olena, amount).await;
        w.post(
            &format!("/deals/{deal}/win"),
            json!({"occurred_at": format!("2026-03-0{day}T10:00:00Z")}),
        )
        .await;
        if client == gamma {
            w.post(
                &format!("/deals/{deal}/invoices"),
                json!({"number": "1", "amount": amount, "due_on": "2026-03-20",
                       "occurred_at": "2026-03-04T10:00:00Z"}),
            )
            .await;
        }
    }
    for (merged, survivor) in [(acme_ltd, acme), (beta_ltd, beta)] {
        w.post(
            &format!("/clients/{merged}/merge"),
            json!({"into_client_id": survivor}),
        )
        .await;
    }
    let period = "from=2026-01-01&to=2027-01-01";
    let paths = [
        format!("/reports/revenue?by=client&{period}"),
        format!("/reports/revenue?by=novelty&{period}"),
        format!("/reports/revenue?by=first_contact&{period}"),
        format!("/reports/invoices?by=client&{period}&now=2026-03-10T00:00:00Z"),
    ];
    assert_eq!(
        groups_of(&w, &paths).await,
        [
            json!([{"key": gamma.to_string(), "deals": 1, "amount": 30_000},
                   {"key": beta.to_string(), "deals": 1, "amount": 20_000},
                   {"key": acme.to_string(), "deals": 1, "amount": 10_000}]),
            json!([{"key": "new", "deals": 3, "amount": 60_000}]),
            json!([{"key": "unknown", "deals": 3, "amount": 60_000}]),
            json!([{"key": gamma.to_string(), "issued": 1, "issued_amount": 30_000,
                    "paid_amount": 0, "outstanding_amount": 30_000, "overdue_amount": 0}]),
        ]
    );
}

#[sqlx::test(migrations = false)]
async fn a_merged_clients_wins_contacts_and_invoices_count_for_the_survivor_in_the_sales_reports(
    pool: PgPool,
) {
    let mut w = World::new(pool).await;
    let olena = w.member("Olena", "Sales", "manager").await;
    let pipeline = pipeline(&w.app).await;
    let survivor = w.client(olena, "Acme", json!([])).await;
    let merged = w.client(olena, "Acme Ltd", json!([])).await;
    // The survivor: first contacted (outbound) on 10 January, won 100.00 on 10
    // February. The duplicate: first contacted (inbound) on 5 January, won 500.00 on
    // 1 March, invoiced 500.00 due 20 March, 200.00 paid.
    w.call(olena, survivor, "2026-01-10T10:00:00Z").await;
    w.post(
        "/interactions",
        json!({"kind": "call", "direction": "inbound", "manager_id": olena,
               "client_id": merged, "occurred_at": "2026-01-05T10:00:00Z"}),
    )
    .await;
    let first = w.deal(pipeline, survivor, olena, 10_000).await;
    w.post(
        &format!("/deals/{first}/win"),
        json!({"occurred_at": "2026-02-10T10:00:00Z"}),
    )
    .await;
    let second = w.deal(pipeline, merged, olena, 50_000).await;
    w.post(
        &format!("/deals/{second}/win"),
        json!({"occurred_at": "2026-03-01T10:00:00Z"}),
    )
    .await;
    let invoice = w
        .post(
            &format!("/deals/{second}/invoices"),
            json!({"number": "7", "amount": 50_000, "due_on": "2026-03-20",
                   "occurred_at": "2026-03-02T10:00:00Z"}),
        )
        .await;
    w.post(
        &format!("/invoices/{invoice}/payments"),
        json!({"amount": 20_000, "paid_on": "2026-03-05", "occurred_at": "2026-03-05T10:00:00Z"}),
    )
    .await;
    let period = "from=2026-01-01&to=2027-01-01";
    let paths = [
        format!("/reports/revenue?by=novelty&{period}"),
        format!("/reports/revenue?by=first_contact&{period}"),
        format!("/reports/invoices?by=client&{period}&now=2026-03-25T00:00:00Z"),
    ];
    let invoice_of = |client: Uuid| {
        json!([{"key": client.to_string(), "issued": 1, "issued_amount": 50_000,
                "paid_amount": 20_000, "outstanding_amount": 30_000, "overdue_amount": 30_000}])
    };

    // Before: each client's first win is new; each its own first contact.
    let before = groups_of(&w, &paths).await;
    assert_eq!(
        before,
        [
            json!([{"key": "new", "deals": 2, "amount": 60_000}]),
            json!([{"key": "inbound", "deals": 1, "amount": 50_000},
                   {"key": "outbound", "deals": 1, "amount": 10_000}]),
            invoice_of(merged),
        ]
    );

    // Merged: the survivor had won before 1 March, so that win is a repeat; its first
    // contact is the duplicate's inbound call of 5 January; the invoice is its.
    w.post(
        &format!("/clients/{merged}/merge"),
        json!({"into_client_id": survivor}),
    )
    .await;
    assert_eq!(
        groups_of(&w, &paths).await,
        [
            json!([{"key": "repeat", "deals": 1, "amount": 50_000},
                   {"key": "new", "deals": 1, "amount": 10_000}]),
            json!([{"key": "inbound", "deals": 2, "amount": 60_000}]),
            invoice_of(survivor),
        ]
    );

    // Unmerged: as before.
    w.post(&format!("/clients/{merged}/unmerge"), json!({}))
        .await;
    assert_eq!(groups_of(&w, &paths).await, before);
}

#[sqlx::test(migrations = false)]
async fn a_managers_day_lists_his_prospects_clients_and_call_tails(pool: PgPool) {
    let mut w = World::new(pool).await;
    let olena = w.member("Olena", "Sales", "manager").await;
    let petro = w.member("Petro", "Sales", "manager").await;
    let ivan = w.member("Ivan", "North", "manager").await;
    let pipeline = pipeline(&w.app).await;

    // Leads: two waiting (the older first), one called, one rejected, one converted,
    // one of Petro's.
    let lead = |name: &str, manager: Uuid, at: &str| json!({"source": "web", "name": name, "manager_id": manager, "occurred_at": at});
    let newer = w
        .post("/leads", lead("Newer", olena, "2026-03-09T10:00:00Z"))
        .await;
    let older = w
        .post("/leads", lead("Older", olena, "2026-03-01T10:00:00Z"))
        .await;
    let called = w
        .post("/leads", lead("Called", olena, "2026-03-02T10:00:00Z"))
        .await;
    w.post(
        "/interactions",
        json!({"kind": "call", "direction": "outbound", "manager_id": olena, "lead_id": called}),
    )
    .await;
    let rejected = w
        .post("/leads", lead("Rejected", olena, "2026-03-02T10:00:00Z"))
        .await;
    w.post(
        &format!("/leads/{rejected}/reject"),
        json!({"reason": "spam"}),
    )
    .await;
    let converted = w
        .post("/leads", lead("Converted", olena, "2026-03-03T10:00:00Z"))
        .await;
    w.post(
        &format!("/leads/{converted}/convert"),
        json!({"deal": {"pipeline_id": pipeline, "title": "From a lead", "amount": 1}}),
    )
    .await;
    w.post("/leads", lead("Petro's", petro, "2026-02-01T10:00:00Z"))
        .await;

    // Clients: Beta with 300.00 + 200.00 open, Gamma 700.00 open, Delta only won,
    // Petro's client with an open deal.
    let beta = w.client(olena, "Beta", json!([])).await;
    let gamma = w.client(olena, "Gamma", json!([])).await;
    let delta = w.client(olena, "Delta", json!([])).await;
    let petros = w.client(petro, "Epsilon", json!([])).await;
    w.deal(pipeline, beta, olena, 30_000).await;
    w.deal(pipeline, beta, petro, 20_000).await;
    w.deal(pipeline, gamma, olena, 70_000).await;
    let won = w.deal(pipeline, delta, olena, 99_000).await;
    w.post(&format!("/deals/{won}/win"), json!({})).await;
    w.deal(pipeline, petros, petro, 5_000).await;

    // Call tasks around 10 March.
    let task = |title: &str, kind: &str, client: Uuid, due: &str, scheduled: &str| {
        json!({"title": title, "kind": kind, "assignee_id": olena, "client_id": client,
               "due_at": due, "occurred_at": scheduled})
    };
    // Due yesterday, no call to Delta: a tail.
    let yesterday = w
        .post(
            "/tasks",
            task(
                "Yesterday",
                "call",
                delta,
                "2026-03-09T15:00:00Z",
                "2026-03-05T09:00:00Z",
            ),
        )
        .await;
    // Due today, Gamma called after it was scheduled: no tail.
    w.post(
        "/tasks",
        task(
            "Called since",
            "call",
            gamma,
            "2026-03-10T10:00:00Z",
            "2026-03-05T09:00:00Z",
        ),
    )
    .await;
    // Due today, Gamma's call came before it was scheduled: a tail.
    let before_call = w
        .post(
            "/tasks",
            task(
                "Called before",
                "call",
                gamma,
                "2026-03-10T11:00:00Z",
                "2026-03-07T09:00:00Z",
            ),
        )
        .await;
    w.call(olena, gamma, "2026-03-06T09:00:00Z").await;
    // Not a call, two days before, tomorrow, completed: none of them.
    w.post(
        "/tasks",
        task(
            "Email",
            "email",
            delta,
            "2026-03-10T10:00:00Z",
            "2026-03-05T09:00:00Z",
        ),
    )
    .await;
    w.post(
        "/tasks",
        task(
            "Too early",
            "call",
            delta,
            "2026-03-08T23:59:59Z",
            "2026-03-05T09:00:00Z",
        ),
    )
    .await;
    w.post(
        "/tasks",
        task(
            "Tomorrow",
            "call",
            delta,
            "2026-03-11T00:00:00Z",
            "2026-03-05T09:00:00Z",
        ),
    )
    .await;
    let done = w
        .post(
            "/tasks",
            task(
                "Done",
                "call",
                delta,
                "2026-03-10T12:00:00Z",
                "2026-03-05T09:00:00Z",
            ),
        )
        .await;
    w.post(&format!("/tasks/{done}/complete"), json!({})).await;

    let path = format!("/managers/{olena}/day?date=2026-03-10");
    let day = w.get(&path).await;
    assert_eq!(day["date"], "2026-03-10");
    assert_eq!(
        day["prospects"],
        json!([
            {"lead_id": older, "name": "Older", "received_at": "2026-03-01T10:00:00Z"},
            {"lead_id": newer, "name": "Newer", "received_at": "2026-03-09T10:00:00Z"},
        ])
    );
    // The converted lead's client (Converted) has its 0.01 deal open.
    let converted_client = w.get(&format!("/leads/{converted}")).await["client_id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    assert_eq!(
        day["clients"],
        json!([
            {"client_id": gamma, "name": "Gamma", "open_deals": 1, "open_amount": 70_000},
            {"client_id": beta, "name": "Beta", "open_deals": 2, "open_amount": 50_000},
            {"client_id": converted_client, "name": "Converted", "open_deals": 1, "open_amount": 1},
        ])
    );
    assert_eq!(
        day["tails"],
        json!([
            {"task_id": yesterday, "title": "Yesterday", "client_id": delta, "due_at": "2026-03-09T15:00:00Z"},
            {"task_id": before_call, "title": "Called before", "client_id": gamma, "due_at": "2026-03-10T11:00:00Z"},
        ])
    );
    // A call to Delta now: the tail of yesterday is done with.
    w.call(petro, delta, "2026-03-10T08:00:00Z").await;
    let day = w.get(&path).await;
    assert_eq!(ids(&day["tails"], "task_id"), vec![before_call]);

    // Reach: his own day, his head's, a director's; not another manager's, not
    // another department's head, not an analyst or auditor; 404 for no manager.
    let head = w.member("Halyna", "Sales", "head").await;
    let north_head = w.member("Nazar", "North", "head").await;
    let tokens = [
        (token(&w.app, Some(olena), "manager").await, StatusCode::OK),
        (token(&w.app, Some(head), "head").await, StatusCode::OK),
        (token(&w.app, None, "director").await, StatusCode::OK),
        (
            token(&w.app, Some(petro), "manager").await,
            StatusCode::FORBIDDEN,
        ),
        (
            token(&w.app, Some(ivan), "manager").await,
            StatusCode::FORBIDDEN,
        ),
        (
            token(&w.app, Some(north_head), "head").await,
            StatusCode::FORBIDDEN,
        ),
        (token(&w.app, None, "analyst").await, StatusCode::FORBIDDEN),
        (token(&w.app, None, "auditor").await, StatusCode::FORBIDDEN),
    ];
    for (token, status) in &tokens {
        let (got, body) = w.get_as(token, &path).await;
        assert_eq!(got, *status, "{body}");
        if got == StatusCode::OK {
            assert_eq!(body, day);
        }
    }
    let (got, _) = w
        .get_as(
            ADMIN_TOKEN,
            &format!("/managers/{}/day?date=2026-03-10", Uuid::new_v4()),
        )
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    let (got, _) = w
        .get_as(
            ADMIN_TOKEN,
            &format!("/managers/{olena}/day?date=10.03.2026"),
        )
        .await;
    assert_eq!(got, StatusCode::BAD_REQUEST);

    // Tagged with a date; without one it is today's by the server's clock: no tag.
    for (path, tagged) in [
        (path.clone(), true),
        (format!("/managers/{olena}/day"), false),
        ("/reports/tasks/people".to_owned(), true),
        ("/clients/duplicates".to_owned(), true),
    ] {
        let answer = w
            .app
            .send(Method::GET, &path, Some(ADMIN_TOKEN), None, &[])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.headers.contains_key("etag"), tagged, "{path}");
    }
}

#[sqlx::test(migrations = false)]
async fn task_people_count_who_scheduled_does_helps_and_watches(pool: PgPool) {
    let mut w = World::new(pool).await;
    let anna = w.member("Anna", "Sales", "manager").await;
    let bohdan = w.member("Bohdan", "Sales", "manager").await;
    let halyna = w.member("Halyna", "Sales", "head").await;
    let head = token(&w.app, Some(halyna), "head").await;
    let own = token(&w.app, Some(anna), "manager").await;
    // The head's reach comes from the team's read model: wait for it.
    w.get("/managers").await;
    let task = |assignee: Uuid, co: Vec<Uuid>, obs: Vec<Uuid>| {
        json!({"title": "T", "assignee_id": assignee, "due_at": "2026-04-01T09:00:00Z",
               "co_executor_ids": co, "observer_ids": obs})
    };
    // Halyna schedules two, Anna one for herself, the admin two (one completed).
    w.post_as(
        Some(&head),
        "/tasks",
        task(anna, vec![bohdan], vec![halyna]),
    )
    .await;
    let helped = w
        .post_as(
            Some(&head),
            "/tasks",
            task(bohdan, vec![anna, halyna], vec![]),
        )
        .await;
    let own_task = w
        .post_as(Some(&own), "/tasks", task(anna, vec![], vec![]))
        .await;
    let done = w.post("/tasks", task(bohdan, vec![], vec![anna])).await;
    w.post(&format!("/tasks/{done}/complete"), json!({})).await;
    w.post("/tasks", task(anna, vec![bohdan], vec![])).await;

    let report = w.get("/reports/tasks/people").await;
    let row = |id: Uuid, name: &str, counts: [i64; 4]| {
        json!({"manager_id": id, "name": name, "assigned": counts[0], "doing": counts[1],
               "helping": counts[2], "observing": counts[3]})
    };
    assert_eq!(
        report["managers"],
        json!([
            row(anna, "Anna", [1, 3, 1, 0]),
            row(bohdan, "Bohdan", [0, 1, 2, 0]),
            row(halyna, "Halyna", [2, 0, 1, 1]),
        ])
    );
    // A manager sees his own row.
    let (status, mine) = w.get_as(&own, "/reports/tasks/people").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["managers"], json!([row(anna, "Anna", [1, 3, 1, 0])]));

    // Anna's own task goes to Bohdan (she still scheduled it); one of Halyna's is
    // cancelled: its scheduler, assignee and co-executors have it no more.
    w.post(
        &format!("/tasks/{own_task}/assign"),
        json!({"assignee_id": bohdan}),
    )
    .await;
    w.post(&format!("/tasks/{helped}/cancel"), json!({})).await;
    let report = w.get("/reports/tasks/people").await;
    assert_eq!(
        report["managers"],
        json!([
            row(anna, "Anna", [1, 2, 0, 0]),
            row(bohdan, "Bohdan", [0, 1, 2, 0]),
            row(halyna, "Halyna", [1, 0, 0, 1]),
        ])
    );
}

#[sqlx::test(migrations = false)]
async fn duplicates_match_normalised_values_within_reach_and_never_erased_ones(pool: PgPool) {
    let mut w = World::new(pool).await;
    let olena = w.member("Olena", "Sales", "manager").await;
    let ivan = w.member("Ivan", "North", "manager").await;
    let acme = w
        .client(
            olena,
            "Acme  Corp",
            json!([{"name": "Ivan", "phone": "+38 (050) 123-45-67", "email": "Ivan@Acme.com"}]),
        )
        .await;
    let acme_again = w
        .client(
            olena,
            " acme corp",
            json!([{"name": "Petro", "phone": "0501234567"}]),
        )
        .await;
    let beta = w
        .client(
            olena,
            "Beta",
            json!([{"name": "X", "email": "ivan@acme.COM"}]),
        )
        .await;
    let beta_again = w
        .client(
            olena,
            "BETA",
            json!([{"name": "Y", "phone": "050-123-45-67"}]),
        )
        .await;
    let north = w.client(ivan, "ACME CORP", json!([])).await;
    let lone = w
        .client(olena, "Lone", json!([{"name": "Z", "phone": "12345"}]))
        .await;
    let _ = lone;

    let groups = w.get("/clients/duplicates").await["groups"].clone();
    assert_eq!(
        groups,
        json!([
            {"match": "phone", "value": "0501234567", "client_ids": sorted(vec![acme, acme_again, beta_again])},
            {"match": "email", "value": "ivan@acme.com", "client_ids": sorted(vec![acme, beta])},
            {"match": "name", "value": "acme corp", "client_ids": sorted(vec![acme, acme_again, north])},
            {"match": "name", "value": "beta", "client_ids": sorted(vec![beta, beta_again])},
        ])
    );
    // Within reach: Olena's clients only; Ivan's one client matches nothing.
    let olenas = token(&w.app, Some(olena), "manager").await;
    let ivans = token(&w.app, Some(ivan), "manager").await;
    let (status, mine) = w.get_as(&olenas, "/clients/duplicates").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        mine["groups"][2]["client_ids"],
        json!(sorted(vec![acme, acme_again]))
    );
    let (_, his) = w.get_as(&ivans, "/clients/duplicates").await;
    assert_eq!(his["groups"], json!([]));
    let analyst = token(&w.app, None, "analyst").await;
    let (status, _) = w.get_as(&analyst, "/clients/duplicates").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The document names the fields as served.
    let doc = w.app.openapi().await;
    let fields = doc["components"]["schemas"]["DuplicateGroupView"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(fields, ["client_ids", "match", "value"]);

    // Erased: its values are gone, so it matches nothing (and two erased clients do
    // not match each other on `[erased]`).
    w.post(&format!("/clients/{beta_again}/erase"), json!({}))
        .await;
    w.post(&format!("/clients/{lone}/erase"), json!({})).await;
    let groups = w.get("/clients/duplicates").await["groups"].clone();
    assert_eq!(
        groups,
        json!([
            {"match": "phone", "value": "0501234567", "client_ids": sorted(vec![acme, acme_again])},
            {"match": "email", "value": "ivan@acme.com", "client_ids": sorted(vec![acme, beta])},
            {"match": "name", "value": "acme corp", "client_ids": sorted(vec![acme, acme_again, north])},
        ])
    );

    // Updated: a contact's new phone matches no more the old one's, a new name
    // matches another client's.
    for (client, changes) in [
        (
            acme_again,
            json!({"contacts": [{"name": "Petro", "phone": "067 111 22 33"}]}),
        ),
        (north, json!({"name": "  Beta"})),
    ] {
        let answer = w
            .app
            .send(
                Method::PATCH,
                &format!("/clients/{client}"),
                Some(ADMIN_TOKEN),
                Some(&changes),
                &[],
            )
            .await;
        assert!(answer.status.is_success(), "{changes}: {}", answer.body);
        w.position = w.position.max(answer.body["position"].as_i64().unwrap());
    }
    let expected = json!([
        {"match": "email", "value": "ivan@acme.com", "client_ids": sorted(vec![acme, beta])},
        {"match": "name", "value": "acme corp", "client_ids": sorted(vec![acme, acme_again])},
        {"match": "name", "value": "beta", "client_ids": sorted(vec![beta, north])},
    ]);
    assert_eq!(w.get("/clients/duplicates").await["groups"], expected);
    // The same from the log: the clients model rebuilt.
    let clients = crm_projections::builtin()
        .into_iter()
        .find(|p| p.name() == crm_projections::clients::NAME)
        .unwrap();
    crm_projections::rebuild(w.app.log.pool(), clients.as_ref())
        .await
        .unwrap();
    w.app.wait_rebuilt(crm_projections::clients::NAME).await;
    assert_eq!(w.get("/clients/duplicates").await["groups"], expected);
}
