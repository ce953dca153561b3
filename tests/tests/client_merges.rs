//! Client merges folded into the clients read model's cards (issue 18): at each step
//! of merges, wins, calls and unmerges (a chain among them), every card and the list
//! and revenue by client against figures this test computes from its own record of
//! the commands; and the read model rebuilt from the log in one batch equals the one
//! built live.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use crm_projections::Projection;
use crm_tests::scenario::pipeline;
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The clock the cards are read at, and the churn window (the default).
const NOW: &str = "2026-03-10T00:00:00Z";
const CHURN_DAYS: i64 = 180;

/// A deal as the test knows it: open, won (with the amount its last DealWon
/// recorded) or lost.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Open,
    Won(i64),
    Lost,
}

/// One client's own facts as the test recorded them.
#[derive(Debug, Clone, Default)]
struct Own {
    deals: BTreeMap<Uuid, Outcome>,
    /// Each DealWon: when, and the amount it recorded.
    wins: Vec<(DateTime<Utc>, i64)>,
    calls: Vec<DateTime<Utc>>,
}

/// The app with its projectors, the test's record, and the last write's position.
struct World {
    app: TestApp,
    projectors: Option<crm_projections::RunningProjectors>,
    position: i64,
    manager: Uuid,
    pipeline: Uuid,
    clients: BTreeMap<Uuid, Own>,
    /// Merges in force: merged client → the client it was merged into.
    into: BTreeMap<Uuid, Uuid>,
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

impl World {
    async fn new(pool: PgPool) -> World {
        let app = TestApp::new(pool).await.unwrap();
        let projectors = app.start_projectors();
        let pipeline = pipeline(&app).await;
        let mut w = World {
            app,
            projectors: Some(projectors),
            position: 0,
            manager: Uuid::nil(),
            pipeline,
            clients: BTreeMap::new(),
            into: BTreeMap::new(),
        };
        w.manager = w
            .post(
                "/managers",
                json!({"name": "Olena", "department": "Sales", "role": "manager"}),
            )
            .await;
        w
    }

    /// POST as the admin, checked to succeed; the id it answers.
    async fn post(&mut self, path: &str, body: Value) -> Uuid {
        let answer = self
            .app
            .send(Method::POST, path, Some(ADMIN_TOKEN), Some(&body), &[])
            .await;
        assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
        self.position = self.position.max(answer.body["position"].as_i64().unwrap());
        answer.body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_default()
    }

    /// GET as the admin once the read models reflect the last write, checked 200.
    async fn get(&self, path: &str) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}min_position={}", self.position);
        let answer = self
            .app
            .send(Method::GET, &path, Some(ADMIN_TOKEN), None, &[])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        answer.body
    }

    async fn client(&mut self, name: &str) -> Uuid {
        let body = json!({"name": name, "kind": "company", "manager_id": self.manager,
                          "contacts": []});
        let id = self.post("/clients", body).await;
        self.clients.insert(id, Own::default());
        id
    }

    async fn deal(&mut self, client: Uuid, amount: i64) -> Uuid {
        let body = json!({"client_id": client, "pipeline_id": self.pipeline, "title": "Order",
                          "amount": amount, "manager_id": self.manager,
                          "occurred_at": "2026-02-01T09:00:00Z"});
        let id = self.post("/deals", body).await;
        self.own(client).deals.insert(id, Outcome::Open);
        id
    }

    async fn win(&mut self, client: Uuid, deal: Uuid, amount: i64, when: &str) {
        self.post(
            &format!("/deals/{deal}/win"),
            json!({"amount": amount, "occurred_at": when}),
        )
        .await;
        let own = self.own(client);
        own.deals.insert(deal, Outcome::Won(amount));
        own.wins.push((at(when), amount));
    }

    async fn lose(&mut self, client: Uuid, deal: Uuid, when: &str) {
        self.post(
            &format!("/deals/{deal}/lose"),
            json!({"reason": "price", "occurred_at": when}),
        )
        .await;
        self.own(client).deals.insert(deal, Outcome::Lost);
    }

    async fn call(&mut self, client: Uuid, when: &str) {
        let body = json!({"kind": "call", "direction": "outbound", "manager_id": self.manager,
                          "client_id": client, "occurred_at": when});
        self.post("/interactions", body).await;
        self.own(client).calls.push(at(when));
    }

    async fn merge(&mut self, client: Uuid, into: Uuid) {
        self.post(
            &format!("/clients/{client}/merge"),
            json!({"into_client_id": into}),
        )
        .await;
        self.into.insert(client, into);
    }

    async fn unmerge(&mut self, client: Uuid) {
        self.post(&format!("/clients/{client}/unmerge"), json!({}))
            .await;
        self.into.remove(&client);
    }

    fn own(&mut self, client: Uuid) -> &mut Own {
        self.clients.get_mut(&client).unwrap()
    }

    /// The end of `client`'s chain of merges; None unless merged.
    fn survivor(&self, client: Uuid) -> Option<Uuid> {
        let mut survivor = *self.into.get(&client)?;
        while let Some(next) = self.into.get(&survivor) {
            survivor = *next;
        }
        Some(survivor)
    }

    /// The card's figures by the contract: a merged client's own, any other's summed
    /// over itself and the clients whose chain ends at it.
    fn expected(&self, client: Uuid) -> Value {
        let survivor = self.survivor(client);
        let members: Vec<&Own> = self
            .clients
            .iter()
            .filter(|(id, _)| {
                **id == client || (survivor.is_none() && self.survivor(**id) == Some(client))
            })
            .map(|(_, own)| own)
            .collect();
        let outcomes = || members.iter().flat_map(|m| m.deals.values());
        let count = |o: Outcome| outcomes().filter(|x| **x == o).count();
        let won_amount: i64 = outcomes()
            .map(|o| match o {
                Outcome::Won(a) => *a,
                _ => 0,
            })
            .sum();
        let won = outcomes().filter(|o| matches!(o, Outcome::Won(_))).count();
        let wins: Vec<DateTime<Utc>> = members
            .iter()
            .flat_map(|m| m.wins.iter().map(|(t, _)| *t))
            .collect();
        let calls: Vec<DateTime<Utc>> = members.iter().flat_map(|m| m.calls.clone()).collect();
        let now = at(NOW);
        let open = count(Outcome::Open);
        let segment = if !wins.iter().any(|t| *t <= now) {
            "inquiry"
        } else if open > 0
            || wins
                .iter()
                .any(|t| *t <= now && *t >= now - Duration::days(CHURN_DAYS))
        {
            "active"
        } else {
            "churned"
        };
        json!({
            "deals": {"open": open, "won": won, "lost": count(Outcome::Lost),
                      "won_amount": won_amount},
            "interactions": calls.len(),
            "last_interaction_at": time(calls.iter().max().copied()),
            "last_won_at": time(wins.iter().max().copied()),
            "segment": segment,
            "merged_into_client_id": survivor,
        })
    }

    /// Every card, and the list, against the expected figures (`step` names the
    /// moment in a failure).
    async fn check(&self, step: &str) {
        let fields = |card: &Value| -> Value {
            [
                "deals",
                "interactions",
                "last_interaction_at",
                "last_won_at",
                "segment",
                "merged_into_client_id",
            ]
            .iter()
            .map(|f| (f.to_string(), card[*f].clone()))
            .collect::<serde_json::Map<_, _>>()
            .into()
        };
        for id in self.clients.keys() {
            let card = self.get(&format!("/clients/{id}?now={NOW}")).await;
            assert_eq!(fields(&card), self.expected(*id), "{step}: card of {id}");
        }
        let list = self.get(&format!("/clients?now={NOW}&limit=1000")).await;
        let listed: BTreeMap<Uuid, Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["id"].as_str().unwrap().parse().unwrap(), fields(item)))
            .collect();
        let expected: BTreeMap<Uuid, Value> = self
            .clients
            .keys()
            .filter(|id| !self.into.contains_key(id))
            .map(|id| (*id, self.expected(*id)))
            .collect();
        assert_eq!(listed, expected, "{step}: the list");
        for segment in ["inquiry", "active", "churned"] {
            let list = self
                .get(&format!("/clients?segment={segment}&now={NOW}&limit=1000"))
                .await;
            let mut listed: Vec<String> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned())
                .collect();
            listed.sort();
            let wanted: Vec<String> = expected
                .iter()
                .filter(|(_, card)| card["segment"] == segment)
                .map(|(id, _)| id.to_string())
                .collect();
            assert_eq!(listed, wanted, "{step}: the {segment} list");
        }
        // Revenue by client: each DealWon for its client's survivor.
        let mut revenue: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (id, own) in &self.clients {
            let key = self.survivor(*id).unwrap_or(*id).to_string();
            for (_, amount) in &own.wins {
                let group = revenue.entry(key.clone()).or_default();
                *group = (group.0 + 1, group.1 + amount);
            }
        }
        let answer = self
            .get("/reports/revenue?by=client&from=2026-01-01&to=2027-01-01")
            .await;
        let groups: BTreeMap<String, (i64, i64)> = answer["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let key = g["key"].as_str().unwrap().to_owned();
                (
                    key,
                    (g["deals"].as_i64().unwrap(), g["amount"].as_i64().unwrap()),
                )
            })
            .collect();
        assert_eq!(groups, revenue, "{step}: revenue by client");
    }

    /// The clients read model rebuilt from the whole log (in one batch) holds the same
    /// rows as the one built live, event by event.
    async fn check_rebuild(mut self) {
        let wait = std::time::Duration::from_secs(30);
        crm_projections::wait_until_reflects(&self.app.log, "clients", self.position, wait)
            .await
            .unwrap();
        let tables = crm_projections::clients::Clients.tables();
        let live = self.app.table_rows(&tables).await;
        let clients = crm_projections::builtin()
            .into_iter()
            .find(|p| p.name() == "clients")
            .unwrap();
        crm_projections::rebuild(self.app.log.pool(), clients.as_ref())
            .await
            .unwrap();
        crm_projections::wait_until_reflects(&self.app.log, "clients", self.position, wait)
            .await
            .unwrap();
        let rebuilt = self.app.table_rows(&tables).await;
        assert_eq!(
            live, rebuilt,
            "the rebuilt read model differs from the live one"
        );
        if let Some(projectors) = self.projectors.take() {
            projectors.shutdown().await;
        }
        self.app.log.close().await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_merged_clients_win_moves_its_survivors_card_until_unmerged(pool: PgPool) {
    let mut w = World::new(pool).await;
    let survivor = w.client("Acme").await;
    let merged = w.client("ACME Ltd").await;
    // The survivor: a deal open, one lost, a call; never won.
    w.deal(survivor, 10_000).await;
    let lost = w.deal(survivor, 3_000).await;
    w.lose(survivor, lost, "2026-02-10T10:00:00Z").await;
    w.call(survivor, "2026-02-05T10:00:00Z").await;
    // The duplicate: a deal open, one won, two calls.
    let open = w.deal(merged, 50_000).await;
    let won = w.deal(merged, 7_000).await;
    w.win(merged, won, 7_000, "2026-02-15T10:00:00Z").await;
    w.call(merged, "2026-02-03T10:00:00Z").await;
    w.call(merged, "2026-02-20T10:00:00Z").await;
    w.check("before the merge").await;
    assert_eq!(w.expected(survivor)["segment"], "inquiry");

    w.merge(merged, survivor).await;
    w.check("merged").await;
    assert_eq!(w.expected(survivor)["segment"], "active");
    assert_eq!(w.expected(survivor)["deals"]["won_amount"], 7_000);

    // A deal of the merged client won, and a call to it: the survivor's card moves.
    w.win(merged, open, 45_000, "2026-03-06T10:00:00Z").await;
    w.check("the merged client's deal won").await;
    assert_eq!(
        w.expected(survivor)["deals"],
        json!({"open": 1, "won": 2, "lost": 1, "won_amount": 52_000})
    );
    w.call(merged, "2026-03-07T10:00:00Z").await;
    w.check("the merged client called").await;
    assert_eq!(w.expected(survivor)["interactions"], 4);

    // Unmerged: each counts its own again, the win included.
    w.unmerge(merged).await;
    w.check("unmerged").await;
    assert_eq!(
        w.expected(survivor)["deals"],
        json!({"open": 1, "won": 0, "lost": 1, "won_amount": 0})
    );
    assert_eq!(
        w.expected(merged)["deals"],
        json!({"open": 0, "won": 2, "lost": 0, "won_amount": 52_000})
    );

    // Merged again, then its survivor's own deal won.
    w.merge(merged, survivor).await;
    let second = w.deal(survivor, 1_000).await;
    w.win(survivor, second, 1_000, "2026-03-08T10:00:00Z").await;
    w.check("merged again").await;
    w.check_rebuild().await;
}

#[sqlx::test(migrations = false)]
async fn a_chain_of_merges_counts_for_its_end_and_unmerges_link_by_link(pool: PgPool) {
    let mut w = World::new(pool).await;
    let a = w.client("A").await;
    let b = w.client("B").await;
    let c = w.client("C").await;
    let a_deal = w.deal(a, 100).await;
    w.deal(b, 20).await;
    let c_deal = w.deal(c, 3).await;
    w.win(c, c_deal, 3, "2026-02-02T10:00:00Z").await;
    w.call(a, "2026-02-04T10:00:00Z").await;
    w.call(b, "2026-02-03T10:00:00Z").await;
    w.check("before").await;

    w.merge(a, b).await;
    w.check("A into B").await;
    w.merge(b, c).await;
    w.check("B into C").await;
    assert_eq!(w.survivor(a), Some(c));
    assert_eq!(
        w.expected(c)["deals"],
        json!({"open": 2, "won": 1, "lost": 0, "won_amount": 3})
    );

    // A's deal won while A counts for C (through B).
    w.win(a, a_deal, 90, "2026-03-01T10:00:00Z").await;
    w.check("A's deal won").await;
    assert_eq!(
        w.expected(c)["deals"],
        json!({"open": 1, "won": 2, "lost": 0, "won_amount": 93})
    );

    // A leaves the chain: it counts for itself, B still for C.
    w.unmerge(a).await;
    w.check("A unmerged").await;
    assert_eq!(
        w.expected(c)["deals"],
        json!({"open": 1, "won": 1, "lost": 0, "won_amount": 3})
    );

    // B leaves too; then A into B again: A counts for B.
    w.unmerge(b).await;
    w.check("B unmerged").await;
    w.merge(a, b).await;
    w.check("A into B again").await;
    assert_eq!(
        w.expected(b)["deals"],
        json!({"open": 1, "won": 1, "lost": 0, "won_amount": 90})
    );
    w.check_rebuild().await;
}
