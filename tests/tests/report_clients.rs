//! Client cards, segments, the client list and timelines against a model the test
//! keeps of its own commands: clients of every segment at several clocks (wins long
//! ago, recent, with an open deal, never, after `now`), a deal reopened after a win,
//! a deal reassigned, interactions naming a deal but not its client, a converted
//! lead's earlier events, paging, filters, 404 and 400.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use crm_projections::Projection;
use crm_tests::read::at;
use crm_tests::scenario::manager;
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A client as the test knows it.
#[derive(Debug, Clone)]
struct Client {
    id: String,
    name: String,
    kind: &'static str,
    manager: String,
    region: Option<String>,
    industry: Option<String>,
    source: Option<String>,
    contacts: Value,
    /// `occurred_at` of the interactions naming it.
    interactions: Vec<DateTime<Utc>>,
    /// The streams about it, by the rules of the timeline.
    streams: BTreeSet<String>,
}

/// A deal as the test knows it.
#[derive(Debug, Clone)]
struct Deal {
    client: String,
    amount: i64,
    status: &'static str,
    /// The amount its last DealWon recorded.
    won_amount: Option<i64>,
    /// When each of its DealWon occurred.
    wins: Vec<DateTime<Utc>>,
}

/// The scenario's facts, and the app they were sent to.
struct World {
    app: TestApp,
    clients: BTreeMap<String, Client>,
    deals: BTreeMap<String, Deal>,
    /// Each lead's clients and the interactions that named it.
    lead_clients: BTreeMap<String, BTreeSet<String>>,
    lead_interactions: BTreeMap<String, BTreeSet<String>>,
    pipeline: String,
    last_position: i64,
}

impl World {
    async fn send(&mut self, method: Method, path: &str, body: Value) -> Value {
        let answer = self
            .app
            .send(method, path, Some(ADMIN_TOKEN), Some(&body), &[])
            .await;
        assert!(
            answer.status.is_success(),
            "{path} {body}: {:?}",
            answer.body
        );
        self.last_position = answer.body["position"].as_i64().unwrap();
        answer.body
    }

    async fn post(&mut self, path: &str, body: Value) -> String {
        let answer = self.send(Method::POST, path, body).await;
        answer["id"].as_str().unwrap().to_owned()
    }

    async fn client(
        &mut self,
        name: &str,
        kind: &'static str,
        manager: Uuid,
        region: Option<&str>,
        industry: Option<&str>,
        source: Option<&str>,
    ) -> String {
        let contacts = json!([{"name": format!("{name} contact"), "phone": "+1 555 0100"}]);
        let id = self
            .post(
                "/clients",
                json!({"name": name, "kind": kind, "manager_id": manager, "region": region,
                       "industry": industry, "source": source, "contacts": contacts,
                       "occurred_at": "2024-12-01T00:00:00Z"}),
            )
            .await;
        self.clients.insert(
            id.clone(),
            Client {
                id: id.clone(),
                name: name.to_owned(),
                kind,
                manager: manager.to_string(),
                region: region.map(str::to_owned),
                industry: industry.map(str::to_owned),
                source: source.map(str::to_owned),
                contacts,
                interactions: Vec::new(),
                streams: BTreeSet::from([format!("client-{id}")]),
            },
        );
        id
    }

    async fn deal(&mut self, client: &str, manager: Uuid, amount: i64, opened: &str) -> String {
        let id = self
            .post(
                "/deals",
                json!({"client_id": client, "pipeline_id": self.pipeline, "title": "Deal",
                       "amount": amount, "manager_id": manager, "occurred_at": opened}),
            )
            .await;
        self.deals.insert(
            id.clone(),
            Deal {
                client: client.to_owned(),
                amount,
                status: "open",
                won_amount: None,
                wins: Vec::new(),
            },
        );
        self.link(client, format!("deal-{id}"));
        id
    }

    /// Wins a deal at `when`, with `amount` or (None) at its current amount.
    async fn win(&mut self, deal: &str, amount: Option<i64>, when: &str) {
        let body = match amount {
            Some(a) => json!({"amount": a, "occurred_at": when}),
            None => json!({"occurred_at": when}),
        };
        self.post(&format!("/deals/{deal}/win"), body).await;
        let d = self.deals.get_mut(deal).unwrap();
        d.status = "won";
        d.won_amount = Some(amount.unwrap_or(d.amount));
        d.amount = amount.unwrap_or(d.amount);
        d.wins.push(at(when));
    }

    async fn lose(&mut self, deal: &str, when: &str) {
        self.post(
            &format!("/deals/{deal}/lose"),
            json!({"reason": "price", "occurred_at": when}),
        )
        .await;
        self.deals.get_mut(deal).unwrap().status = "lost";
    }

    async fn reopen(&mut self, deal: &str, when: &str) {
        self.post(
            &format!("/deals/{deal}/reopen"),
            json!({"occurred_at": when}),
        )
        .await;
        self.deals.get_mut(deal).unwrap().status = "open";
    }

    /// Logs an interaction naming the client, deal and lead given.
    async fn interaction(
        &mut self,
        token: Option<&str>,
        manager: Uuid,
        client: Option<&str>,
        deal: Option<&str>,
        lead: Option<&str>,
        when: &str,
    ) -> String {
        let body = json!({"kind": "call", "direction": "outbound", "manager_id": manager,
                          "client_id": client, "deal_id": deal, "lead_id": lead,
                          "duration_s": 60, "occurred_at": when});
        let answer = self
            .app
            .send(Method::POST, "/interactions", token, Some(&body), &[])
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        self.last_position = answer.body["position"].as_i64().unwrap();
        let id = answer.body["id"].as_str().unwrap().to_owned();
        let stream = format!("interaction-{id}");
        if let Some(c) = client {
            self.clients.get_mut(c).unwrap().interactions.push(at(when));
        }
        self.link_named(client, deal, &stream);
        if let Some(l) = lead {
            self.lead_interactions
                .entry(l.to_owned())
                .or_default()
                .insert(stream.clone());
            for c in self.lead_clients.get(l).cloned().unwrap_or_default() {
                self.link(&c, stream.clone());
            }
        }
        id
    }

    async fn task(&mut self, manager: Uuid, client: Option<&str>, deal: Option<&str>) -> String {
        let id = self
            .post(
                "/tasks",
                json!({"title": "Follow up", "assignee_id": manager, "due_at": "2026-05-01T09:00:00Z",
                       "client_id": client, "deal_id": deal}),
            )
            .await;
        self.link_named(client, deal, &format!("task-{id}"));
        id
    }

    /// Links a lead to a client: the lead's stream and its interactions.
    fn link_lead(&mut self, lead: &str, client: &str) {
        self.lead_clients
            .entry(lead.to_owned())
            .or_default()
            .insert(client.to_owned());
        self.link(client, format!("lead-{lead}"));
        for s in self
            .lead_interactions
            .get(lead)
            .cloned()
            .unwrap_or_default()
        {
            self.link(client, s);
        }
    }

    fn link_named(&mut self, client: Option<&str>, deal: Option<&str>, stream: &str) {
        if let Some(c) = client {
            self.link(c, stream.to_owned());
        }
        if let Some(d) = deal {
            let c = self.deals[d].client.clone();
            self.link(&c, stream.to_owned());
        }
    }

    fn link(&mut self, client: &str, stream: String) {
        self.clients.get_mut(client).unwrap().streams.insert(stream);
    }

    fn deals_of<'a>(&'a self, client: &'a str) -> impl Iterator<Item = &'a Deal> + 'a {
        self.deals.values().filter(move |d| d.client == client)
    }

    /// The segment by the contract: wins after `now` do not count.
    fn segment(&self, client: &str, now: DateTime<Utc>, churn_days: i64) -> &'static str {
        let wins: Vec<DateTime<Utc>> = self
            .deals_of(client)
            .flat_map(|d| d.wins.iter().copied())
            .filter(|t| *t <= now)
            .collect();
        if wins.is_empty() {
            "inquiry"
        } else if wins.iter().any(|t| *t >= now - Duration::days(churn_days))
            || self.deals_of(client).any(|d| d.status == "open")
        {
            "active"
        } else {
            "churned"
        }
    }

    /// The card the contract describes, at `now` and `churn_days`.
    fn card(&self, client: &str, now: DateTime<Utc>, churn_days: i64) -> Value {
        let c = &self.clients[client];
        let count = |s: &str| self.deals_of(client).filter(|d| d.status == s).count();
        let won_amount: i64 = self
            .deals_of(client)
            .filter(|d| d.status == "won")
            .map(|d| d.won_amount.unwrap())
            .sum();
        let last_won = self.deals_of(client).flat_map(|d| d.wins.iter()).max();
        json!({
            "id": c.id, "name": c.name, "kind": c.kind, "manager_id": c.manager,
            "region": c.region, "industry": c.industry, "source": c.source, "size": null,
            "contacts": c.contacts, "segment": self.segment(client, now, churn_days),
            "deals": {"open": count("open"), "won": count("won"), "lost": count("lost"), "won_amount": won_amount},
            "interactions": c.interactions.len(),
            "last_interaction_at": c.interactions.iter().max().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            "last_won_at": last_won.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            // Nobody is erased here (tests/tests/erasure.rs erases).
            "erased_at": null,
            // Nor merged (tests/tests/sales_reports.rs merges).
            "merged_into_client_id": null,
        })
    }

    /// The client's timeline: its streams' events from the log, by position.
    async fn timeline(&self, client: &str) -> Vec<Value> {
        let mut items = Vec::new();
        for stream in &self.clients[client].streams {
            let answer = self.app.get(&format!("/streams/{stream}/events")).await;
            assert_eq!(answer.status, StatusCode::OK, "{stream}");
            for e in answer.body["events"].as_array().unwrap() {
                items.push(
                    json!({"position": e["position"], "stream": e["stream"], "type": e["type"],
                                  "occurred_at": e["occurred_at"], "actor": e["metadata"]["actor"],
                                  "data": e["data"]}),
                );
            }
        }
        items.sort_by_key(|e| e["position"].as_i64().unwrap());
        items
    }
}

/// The card's fields the model knows (the answer also has `registered_at`, `version`).
fn known(card: &Value) -> Value {
    let mut card = card.clone();
    let map = card.as_object_mut().unwrap();
    map.remove("registered_at");
    map.remove("version");
    // Times as the model writes them.
    for key in ["last_interaction_at", "last_won_at"] {
        if let Some(t) = map[key].as_str() {
            map[key] = json!(at(t).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        }
    }
    card
}

/// Every item of a list, following `next_cursor` with pages of `limit`.
async fn all_pages(app: &TestApp, path: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let answer = app.get(&url).await;
        assert_eq!(answer.status, StatusCode::OK, "{url}: {:?}", answer.body);
        let page = answer.body["items"].as_array().unwrap().clone();
        assert!(page.len() <= limit, "{url}");
        items.extend(page.iter().cloned());
        match answer.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page.len(), limit, "{url}: a short page before the end");
                cursor = Some(c.to_owned());
            }
            None => return items,
        }
    }
}

/// Builds the scenario: every segment, reopen, reassignment, deal-only interactions,
/// a converted lead with earlier events, a lead of an existing client.
async fn scenario(app: &TestApp) -> (World, Uuid, BTreeMap<&'static str, String>) {
    let (m1, m2) = (manager(app, "Olena").await, manager(app, "Ivan").await);
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "Sales", "stages": [{"name": "New", "probability": 0.1},
                                                {"name": "Offer", "probability": 0.5}]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut w = World {
        app: app.clone(),
        clients: BTreeMap::new(),
        deals: BTreeMap::new(),
        lead_clients: BTreeMap::new(),
        lead_interactions: BTreeMap::new(),
        pipeline,
        last_position: 0,
    };
    let mut ids = BTreeMap::new();
    let (n, s) = (Some("North"), Some("South"));
    let (retail, energy) = (Some("Retail"), Some("Energy"));
    let aurora = w
        .client("Aurora", "company", m1, n, retail, Some("web"))
        .await;
    let borealis = w
        .client("Borealis", "company", m1, s, retail, Some("referral"))
        .await;
    let cobalt = w
        .client("Cobalt", "company", m2, n, energy, Some("web"))
        .await;
    let cobalt2 = w.client("Cobalt", "company", m1, None, None, None).await;
    let delta = w.client("delta", "person", m2, s, energy, None).await;
    let echo = w
        .client("Echo", "company", m1, n, energy, Some("referral"))
        .await;
    let fjord = w
        .client("Fjord", "company", m2, Some("West"), retail, Some("web"))
        .await;
    let olga = w
        .client("Ольга Сервис", "person", m2, Some("East"), None, None)
        .await;

    // Aurora: won long ago, another deal reassigned and lost: churned.
    let a1 = w.deal(&aurora, m1, 1_000, "2025-05-01T10:00:00Z").await;
    w.win(&a1, None, "2025-06-01T10:00:00Z").await;
    let a2 = w.deal(&aurora, m1, 400, "2025-05-02T10:00:00Z").await;
    w.post(
        &format!("/deals/{a2}/assign"),
        json!({"manager_id": m2, "occurred_at": "2025-05-20T10:00:00Z"}),
    )
    .await;
    w.lose(&a2, "2025-07-01T10:00:00Z").await;
    // Borealis: won recently; another deal won, reopened and lost.
    let b1 = w.deal(&borealis, m1, 2_000, "2026-02-01T10:00:00Z").await;
    w.win(&b1, None, "2026-04-01T10:00:00Z").await;
    let b2 = w.deal(&borealis, m1, 3_000, "2026-02-02T10:00:00Z").await;
    w.win(&b2, Some(2_900), "2026-03-01T10:00:00Z").await;
    w.reopen(&b2, "2026-03-10T10:00:00Z").await;
    w.lose(&b2, "2026-03-20T10:00:00Z").await;
    // Cobalt: won long ago, and has an open deal: active.
    let c1 = w.deal(&cobalt, m2, 500, "2024-12-10T10:00:00Z").await;
    w.win(&c1, None, "2025-01-10T10:00:00Z").await;
    let c2 = w.deal(&cobalt, m2, 700, "2026-01-01T10:00:00Z").await;
    // delta: an open deal and a lost one, never won: inquiry.
    w.deal(&delta, m2, 50, "2026-01-02T10:00:00Z").await;
    let d2 = w.deal(&delta, m2, 60, "2026-01-03T10:00:00Z").await;
    w.lose(&d2, "2026-01-20T10:00:00Z").await;
    // Echo: won after the main `now`.
    let e1 = w.deal(&echo, m1, 900, "2026-05-01T10:00:00Z").await;
    w.win(&e1, Some(950), "2026-07-01T10:00:00Z").await;
    // Fjord: won, reopened, won again at another amount (the last win's counts).
    let f1 = w.deal(&fjord, m2, 100, "2024-12-15T10:00:00Z").await;
    w.win(&f1, None, "2025-01-01T10:00:00Z").await;
    w.reopen(&f1, "2025-02-01T10:00:00Z").await;
    w.win(&f1, Some(700), "2025-03-01T10:00:00Z").await;

    // Interactions: naming Aurora (counted), Aurora and its deal (counted), only
    // Borealis's deal (timeline only), Cobalt by a manager's own token.
    w.interaction(
        Some(ADMIN_TOKEN),
        m1,
        Some(&aurora),
        None,
        None,
        "2025-08-01T10:00:00Z",
    )
    .await;
    w.interaction(
        Some(ADMIN_TOKEN),
        m1,
        Some(&aurora),
        Some(&a1),
        None,
        "2025-09-01T10:00:00Z",
    )
    .await;
    w.interaction(
        Some(ADMIN_TOKEN),
        m1,
        None,
        Some(&b1),
        None,
        "2026-02-10T10:00:00Z",
    )
    .await;
    let token = crm_api::auth::create_token(w.app.log.pool(), Some(m2), "manager", None)
        .await
        .unwrap();
    let by_m2 = w
        .interaction(
            Some(&token),
            m2,
            Some(&cobalt),
            None,
            None,
            "2026-01-05T10:00:00Z",
        )
        .await;
    ids.insert("by_m2", format!("interaction-{by_m2}"));
    // Tasks: naming Borealis (then completed), naming only Cobalt's open deal.
    let t1 = w.task(m1, Some(&borealis), None).await;
    w.post(&format!("/tasks/{t1}/complete"), json!({})).await;
    w.task(m2, None, Some(&c2)).await;

    // A lead captured and answered before it became a client: its earlier events and
    // the interaction naming only the lead belong to the new client's timeline.
    let lead = w
        .post(
            "/leads",
            json!({"source": "expo", "name": "Gamma from lead", "phone": "+1 555 0199",
                   "manager_id": m1, "occurred_at": "2026-01-10T10:00:00Z"}),
        )
        .await;
    w.interaction(
        Some(ADMIN_TOKEN),
        m1,
        None,
        None,
        Some(&lead),
        "2026-01-11T10:00:00Z",
    )
    .await;
    let converted = w
        .send(
            Method::POST,
            &format!("/leads/{lead}/convert"),
            json!({"deal": {"pipeline_id": w.pipeline, "title": "From expo", "amount": 800},
                   "occurred_at": "2026-01-12T10:00:00Z"}),
        )
        .await;
    let lead_events = w.app.get(&format!("/streams/lead-{lead}/events")).await;
    let gamma_data = &lead_events.body["events"][2]["data"];
    let (gamma, g1) = (
        gamma_data["client_id"].as_str().unwrap().to_owned(),
        gamma_data["deal_id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(converted["position"].as_i64(), Some(w.last_position));
    w.clients.insert(
        gamma.clone(),
        Client {
            id: gamma.clone(),
            name: "Gamma from lead".into(),
            kind: "person",
            manager: m1.to_string(),
            region: None,
            industry: None,
            source: Some("expo".into()),
            contacts: json!([{"name": "Gamma from lead", "phone": "+1 555 0199"}]),
            interactions: Vec::new(),
            streams: BTreeSet::from([format!("client-{gamma}")]),
        },
    );
    w.deals.insert(
        g1.clone(),
        Deal {
            client: gamma.clone(),
            amount: 800,
            status: "open",
            won_amount: None,
            wins: Vec::new(),
        },
    );
    w.link(&gamma, format!("deal-{g1}"));
    w.link_lead(&lead, &gamma);
    // An interaction naming the lead after the conversion.
    w.interaction(
        Some(ADMIN_TOKEN),
        m1,
        None,
        None,
        Some(&lead),
        "2026-01-13T10:00:00Z",
    )
    .await;
    // A lead of an existing client.
    let lead2 = w
        .post(
            "/leads",
            json!({"source": "web", "name": "Aurora buyer", "client_id": aurora}),
        )
        .await;
    w.link_lead(&lead2, &aurora);

    // Changes to clients: Echo moves region, delta passes to Olena, Fjord renamed.
    w.send(
        Method::PATCH,
        &format!("/clients/{echo}"),
        json!({"region": "South"}),
    )
    .await;
    w.clients.get_mut(&echo).unwrap().region = Some("South".into());
    w.post(
        &format!("/clients/{delta}/assign"),
        json!({"manager_id": m1}),
    )
    .await;
    w.clients.get_mut(&delta).unwrap().manager = m1.to_string();
    w.send(
        Method::PATCH,
        &format!("/clients/{fjord}"),
        json!({"name": "Fjord Group", "contacts": []}),
    )
    .await;
    let f = w.clients.get_mut(&fjord).unwrap();
    f.name = "Fjord Group".into();
    f.contacts = json!([]);

    for (key, id) in [
        ("aurora", aurora),
        ("borealis", borealis),
        ("cobalt", cobalt),
        ("cobalt2", cobalt2),
        ("delta", delta),
        ("echo", echo),
        ("fjord", fjord),
        ("olga", olga),
        ("gamma", gamma),
        ("lead", lead),
    ] {
        ids.insert(key, id);
    }
    (w, m1, ids)
}

#[sqlx::test(migrations = false)]
async fn client_cards_and_segments_follow_their_definitions(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let (w, _, ids) = scenario(&app).await;
    let p = w.last_position;

    // The main clock, by hand: one client per segment rule.
    let now = "2026-06-01T00:00:00Z";
    let expected = [
        ("aurora", "churned"),
        ("borealis", "active"),
        ("cobalt", "active"),
        ("cobalt2", "inquiry"),
        ("delta", "inquiry"),
        ("echo", "inquiry"),
        ("fjord", "churned"),
        ("olga", "inquiry"),
        ("gamma", "inquiry"),
    ];
    for (key, segment) in expected {
        let answer = app
            .get(&format!("/clients/{}?now={now}&min_position={p}", ids[key]))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{key}: {:?}", answer.body);
        assert_eq!(answer.body["segment"], segment, "{key}");
        assert_eq!(w.segment(&ids[key], at(now), 180), segment, "model {key}");
    }
    // By hand: Borealis won 2 000 (b1); b2's 2 900 was reopened and lost.
    let borealis = app
        .get(&format!("/clients/{}?now={now}", ids["borealis"]))
        .await;
    assert_eq!(
        borealis.body["deals"],
        json!({"open": 0, "won": 1, "lost": 1, "won_amount": 2_000})
    );
    assert_eq!(borealis.body["interactions"], 0);
    let fjord = app.get(&format!("/clients/{}", ids["fjord"])).await;
    assert_eq!(fjord.body["deals"]["won_amount"], 700);
    assert_eq!(fjord.body["last_won_at"], "2025-03-01T10:00:00Z");

    // The window's edge, by hand: a win exactly churn_days before now still counts.
    for (clock, segment) in [
        ("2025-11-28T10:00:00Z", "active"),
        ("2025-11-28T10:00:01Z", "churned"),
    ] {
        let answer = app
            .get(&format!(
                "/clients/{}?now={clock}&churn_days=180",
                ids["aurora"]
            ))
            .await;
        assert_eq!(answer.body["segment"], segment, "{clock}");
    }

    // Every card at several clocks, against the model.
    let clocks = [
        (now, None),
        ("2026-03-15T00:00:00Z", Some(30)), // Borealis: a win within, a later one after now
        ("2026-08-01T00:00:00Z", Some(30)), // Echo's win counts
        ("2025-02-15T00:00:00Z", None),     // Fjord's first win is recent, Aurora not yet won
        ("2024-01-01T00:00:00Z", None),     // nobody has won yet
        ("2025-11-28T10:00:00Z", Some(180)), // Aurora's win exactly 180 days before
        ("2025-11-28T10:00:01Z", Some(180)), // ...and a second more
        ("2025-11-29T10:00:00Z", Some(181)),
    ];
    for (clock, churn) in clocks {
        let churn_days = churn.unwrap_or(180);
        let query = match churn {
            Some(d) => format!("now={clock}&churn_days={d}"),
            None => format!("now={clock}"),
        };
        for id in w.clients.keys() {
            let answer = app.get(&format!("/clients/{id}?{query}")).await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {:?}", answer.body);
            assert_eq!(
                known(&answer.body),
                w.card(id, at(clock), churn_days),
                "{query} {}",
                w.clients[id].name
            );
        }
        // The list by segment, a page of 2 at a time, equals the model's.
        for segment in ["inquiry", "active", "churned"] {
            let got: Vec<Value> =
                all_pages(&app, &format!("/clients?{query}&segment={segment}"), 2)
                    .await
                    .iter()
                    .map(known)
                    .collect();
            let mut want: Vec<&Client> = w
                .clients
                .values()
                .filter(|c| w.segment(&c.id, at(clock), churn_days) == segment)
                .collect();
            want.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
            let want: Vec<Value> = want
                .iter()
                .map(|c| w.card(&c.id, at(clock), churn_days))
                .collect();
            assert_eq!(got, want, "{query} segment={segment}");
        }
    }
    projectors.shutdown().await;
    app.log.close().await;
}

#[sqlx::test(migrations = false)]
async fn the_client_list_filters_and_pages_by_name(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let (w, m1, _) = scenario(&app).await;
    let p = w.last_position;
    let now = at("2026-06-01T00:00:00Z");
    let sorted = |keep: &dyn Fn(&Client) -> bool| -> Vec<String> {
        let mut list: Vec<&Client> = w.clients.values().filter(|c| keep(c)).collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        list.iter().map(|c| c.id.clone()).collect()
    };
    let ids_of = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // All of them, in code point order of the name (uppercase Latin, lowercase, then
    // Cyrillic), ties by id; the same whatever the page size.
    let first = app
        .get(&format!(
            "/clients?now=2026-06-01T00:00:00Z&min_position={p}"
        ))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert!(first.body["next_cursor"].is_null());
    let all = sorted(&|_| true);
    assert_eq!(ids_of(first.body["items"].as_array().unwrap()), all);
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Aurora",
            "Borealis",
            "Cobalt",
            "Cobalt",
            "Echo",
            "Fjord Group",
            "Gamma from lead",
            "delta",
            "Ольга Сервис"
        ]
    );
    for limit in [1, 2, 4] {
        let paged = all_pages(&app, "/clients?now=2026-06-01T00:00:00Z", limit).await;
        assert_eq!(ids_of(&paged), all, "limit {limit}");
    }

    // Each filter, alone and with a segment, paged by 2.
    let m1s = m1.to_string();
    type Keep<'a> = Box<dyn Fn(&Client) -> bool + 'a>;
    let filters: Vec<(String, Keep)> = vec![
        (format!("manager_id={m1}"), Box::new(|c| c.manager == m1s)),
        (
            "region=North".into(),
            Box::new(|c| c.region.as_deref() == Some("North")),
        ),
        (
            "industry=Energy".into(),
            Box::new(|c| c.industry.as_deref() == Some("Energy")),
        ),
        (
            "source=web".into(),
            Box::new(|c| c.source.as_deref() == Some("web")),
        ),
        (
            "q=OR".into(),
            Box::new(|c| c.name.to_lowercase().contains("or")),
        ),
        (
            "q=%D0%BE%D0%9B%D0%AC".into(), // "оЛЬ": Cyrillic, any case
            Box::new(|c| c.name.to_lowercase().contains("оль")),
        ),
        ("q=nobody".into(), Box::new(|_| false)),
        (
            "q=%25".into(), // "%" is no wildcard
            Box::new(|c| c.name.contains('%')),
        ),
    ];
    for (query, keep) in &filters {
        let got = all_pages(
            &app,
            &format!("/clients?now=2026-06-01T00:00:00Z&{query}"),
            2,
        )
        .await;
        let want = sorted(&|c| keep(c));
        assert_eq!(ids_of(&got), want, "{query}");
        for segment in ["inquiry", "active", "churned"] {
            let got = all_pages(
                &app,
                &format!("/clients?now=2026-06-01T00:00:00Z&{query}&segment={segment}"),
                2,
            )
            .await;
            let want = sorted(&|c| keep(c) && w.segment(&c.id, now, 180) == segment);
            assert_eq!(ids_of(&got), want, "{query} segment={segment}");
        }
    }
    // By hand: "or" is in three names; Echo left the North.
    let by_q = all_pages(&app, "/clients?q=OR", 10).await;
    let names: Vec<&str> = by_q.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Aurora", "Borealis", "Fjord Group"]);
    let north = all_pages(&app, "/clients?region=North", 10).await;
    assert_eq!(north.len(), 2);
    projectors.shutdown().await;
    app.log.close().await;
}

#[sqlx::test(migrations = false)]
async fn timelines_hold_every_event_about_the_client_in_log_order(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let (w, _, ids) = scenario(&app).await;
    let p = w.last_position;

    for (id, client) in &w.clients {
        let answer = app
            .get(&format!("/clients/{id}/timeline?min_position={p}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let want = w.timeline(id).await;
        assert_eq!(
            answer.body["items"].as_array().unwrap(),
            &want,
            "{}",
            client.name
        );
        assert!(answer.body["next_cursor"].is_null());
        for limit in [1, 3] {
            let paged = all_pages(&app, &format!("/clients/{id}/timeline"), limit).await;
            assert_eq!(paged, want, "{} limit {limit}", client.name);
        }
    }

    // By hand: the converted lead's earlier events, the interaction naming only the
    // lead, then the conversion's three events (one append: the new client, its deal,
    // the lead's conversion), then the later interaction.
    let gamma = app
        .get(&format!("/clients/{}/timeline", ids["gamma"]))
        .await;
    let types: Vec<&str> = gamma.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "LeadCaptured",
            "LeadAssigned",
            "InteractionLogged",
            "ClientRegistered",
            "DealOpened",
            "LeadConverted",
            "InteractionLogged"
        ]
    );
    assert_eq!(
        gamma.body["items"][0]["stream"],
        format!("lead-{}", ids["lead"])
    );
    assert_eq!(gamma.body["items"][0]["actor"], "role:admin");
    // Borealis: the interaction naming only its deal is there; so is the task.
    let borealis = app
        .get(&format!("/clients/{}/timeline", ids["borealis"]))
        .await;
    let types: Vec<&str> = borealis.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ClientRegistered",
            "DealOpened",
            "DealWon",
            "DealOpened",
            "DealWon",
            "DealReopened",
            "DealLost",
            "InteractionLogged",
            "TaskScheduled",
            "TaskCompleted"
        ]
    );
    // Aurora: the reassignment of its deal, and the lead naming it.
    let aurora = app
        .get(&format!("/clients/{}/timeline", ids["aurora"]))
        .await;
    let items = aurora.body["items"].as_array().unwrap();
    assert!(items.iter().any(|e| e["type"] == "DealReassigned"));
    assert_eq!(items.last().unwrap()["type"], "LeadCaptured");
    // Cobalt: the call its manager logged with her own token names her as the actor.
    let cobalt = app
        .get(&format!("/clients/{}/timeline", ids["cobalt"]))
        .await;
    let call = cobalt.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["stream"] == ids["by_m2"])
        .unwrap()
        .clone();
    assert_eq!(call["actor"], call["data"]["manager_id"]);
    assert!(!call["actor"].as_str().unwrap().starts_with("role:"));
    projectors.shutdown().await;
    app.log.close().await;
}

#[sqlx::test(migrations = false)]
async fn client_queries_refuse_bad_input_and_unknown_clients(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let answer = app
        .post(
            "/clients",
            &json!({"name": "Acme", "kind": "company", "manager_id": m, "contacts": []}),
        )
        .await;
    let (id, p) = (
        answer.body["id"].as_str().unwrap().to_owned(),
        answer.body["position"].as_i64().unwrap(),
    );
    let card = app.get(&format!("/clients/{id}?min_position={p}")).await;
    assert_eq!(card.status, StatusCode::OK, "{:?}", card.body);
    assert_eq!(card.body["segment"], "inquiry");
    assert_eq!(
        card.body["deals"],
        json!({"open": 0, "won": 0, "lost": 0, "won_amount": 0})
    );
    assert!(card.body["last_won_at"].is_null() && card.body["last_interaction_at"].is_null());

    let unknown = Uuid::new_v4();
    for path in [
        format!("/clients/{unknown}?min_position={p}"),
        format!("/clients/{unknown}/timeline?min_position={p}"),
    ] {
        let answer = app.get(&path).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    for path in [
        "/clients?segment=vip".to_owned(),
        "/clients?now=yesterday".to_owned(),
        "/clients?churn_days=0".to_owned(),
        "/clients?churn_days=-3".to_owned(),
        "/clients?churn_days=many".to_owned(),
        "/clients?churn_days=36501".to_owned(),
        "/clients?limit=0".to_owned(),
        "/clients?limit=1001".to_owned(),
        "/clients?cursor=zz".to_owned(),
        "/clients?colour=red".to_owned(),
        format!("/clients/{id}?now=2026-13-01T00:00:00Z"),
        format!("/clients/{id}?churn_days=0"),
        format!("/clients/{id}?segment=active"),
        format!("/clients/{id}/timeline?cursor=-1"),
        format!("/clients/{id}/timeline?cursor=abc"),
        format!("/clients/{id}/timeline?limit=5000"),
        "/clients/not-a-uuid".to_owned(),
    ] {
        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            answer.headers["content-type"], "application/problem+json",
            "{path}"
        );
    }
    // The list and the timeline need a token too.
    let anonymous = app.send(Method::GET, "/clients", None, None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // The routes are in the OpenAPI document.
    let doc = app.get("/openapi.json").await;
    for path in ["/clients", "/clients/{id}", "/clients/{id}/timeline"] {
        assert!(doc.body["paths"][path]["get"].is_object(), "{path}");
    }
    projectors.shutdown().await;
    app.log.close().await;
}

/// Every row of the clients read model, as text, in a stable order.
async fn snapshot(app: &TestApp) -> Vec<String> {
    app.table_rows(&crm_projections::clients::Clients.tables())
        .await
}

#[sqlx::test(migrations = false)]
async fn the_clients_read_model_rebuilt_in_batches_equals_the_live_one(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    // Built live, mostly an event or two per batch.
    let (w, _, _) = scenario(&app).await;
    let wait = std::time::Duration::from_secs(30);
    crm_projections::wait_until_reflects(&app.log, "clients", w.last_position, wait)
        .await
        .unwrap();
    let live = snapshot(&app).await;
    assert!(live.iter().any(|r| r.starts_with("client_lead_streams ")));
    // Rebuilt from the whole log in one batch: a deal opened and won, a lead
    // answered and converted, all within the batch.
    let clients = crm_projections::builtin()
        .into_iter()
        .find(|p| p.name() == "clients")
        .unwrap();
    crm_projections::rebuild(app.log.pool(), clients.as_ref())
        .await
        .unwrap();
    crm_projections::wait_until_reflects(&app.log, "clients", w.last_position, wait)
        .await
        .unwrap();
    let rebuilt = snapshot(&app).await;
    assert!(
        live == rebuilt,
        "the rebuilt read model differs from the live one"
    );
    projectors.shutdown().await;
    app.log.close().await;
}
