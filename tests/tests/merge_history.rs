//! A merge in time (issue 18): a client merged into another and unmerged around a
//! won deal and some calls. A card and a timeline `as_of` a time count the merges in
//! force then, and give what the live ones gave when the log stood there; the events
//! behind the managers report's `clients_contacted` count a merged client as its
//! survivor while merged. Every expected figure is computed here from the facts
//! written.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{manager, pipeline};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Which client an event's stream is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Survivor,
    Merged,
}

/// An event written: its position, whose stream it is on, when it occurred, and
/// whether it is a call.
#[derive(Debug, Clone, Copy)]
struct Written {
    position: i64,
    owner: Owner,
    at: &'static str,
    call: bool,
}

/// The app with its projectors and the events written so far.
struct World {
    app: TestApp,
    _projectors: crm_projections::RunningProjectors,
    written: Vec<Written>,
}

impl World {
    /// POST as the admin, checked to succeed; records the event it appended.
    async fn post(&mut self, owner: Owner, at: &'static str, path: &str, mut body: Value) -> Uuid {
        body["occurred_at"] = json!(at);
        let answer = self
            .app
            .send(Method::POST, path, Some(ADMIN_TOKEN), Some(&body), &[])
            .await;
        assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
        self.written.push(Written {
            position: answer.body["position"].as_i64().unwrap(),
            owner,
            at,
            call: path == "/interactions",
        });
        answer.body["id"].as_str().unwrap().parse().unwrap()
    }

    fn position(&self) -> i64 {
        self.written.iter().map(|w| w.position).max().unwrap_or(0)
    }

    /// GET as the admin once every read model reflects the last write, a 200.
    async fn get(&self, path: &str) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}min_position={}", self.position());
        let answer = self
            .app
            .send(Method::GET, &path, Some(ADMIN_TOKEN), None, &[])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        answer.body
    }

    async fn call(&mut self, manager: Uuid, client: Uuid, owner: Owner, at: &'static str) {
        self.post(
            owner,
            at,
            "/interactions",
            json!({"kind": "call", "direction": "outbound", "manager_id": manager,
                   "client_id": client}),
        )
        .await;
    }
}

/// The two periods whose `clients_contacted` is read: March, and March from the 3rd.
const PERIODS: [(&str, &str); 2] = [
    ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
    ("2026-03-03T00:00:00Z", "2026-04-01T00:00:00Z"),
];

/// What the live queries answer at one moment of the story.
struct Snapshot {
    /// A time after every event written so far and before the next one.
    at: &'static str,
    /// Whether the merge is in force.
    merged: bool,
    survivor_card: Value,
    merged_card: Value,
    survivor_timeline: Vec<i64>,
    merged_timeline: Vec<i64>,
    /// Per period: the report's `clients_contacted` and the events behind it.
    contacted: Vec<(i64, Vec<i64>)>,
}

fn positions(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect()
}

impl World {
    async fn snapshot(
        &self,
        at: &'static str,
        merged: bool,
        (olena, survivor, duplicate): (Uuid, Uuid, Uuid),
    ) -> Snapshot {
        let mut contacted = Vec::new();
        for (from, to) in PERIODS {
            let report = self
                .get(&format!("/reports/managers?from={from}&to={to}"))
                .await;
            let row = report["managers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["manager_id"] == json!(olena))
                .unwrap()
                .clone();
            let events = self
                .get(&format!(
                    "/managers/{olena}/events?figure=clients_contacted&from={from}&to={to}"
                ))
                .await;
            contacted.push((
                row["clients_contacted"].as_i64().unwrap(),
                positions(&events["items"]),
            ));
        }
        Snapshot {
            at,
            merged,
            survivor_card: self.get(&format!("/clients/{survivor}?now={at}")).await,
            merged_card: self.get(&format!("/clients/{duplicate}?now={at}")).await,
            survivor_timeline: positions(
                &self.get(&format!("/clients/{survivor}/timeline")).await["items"],
            ),
            merged_timeline: positions(
                &self.get(&format!("/clients/{duplicate}/timeline")).await["items"],
            ),
            contacted,
        }
    }

    /// The timeline of `whose` at `at` computed from the events written: the events of
    /// its streams (and, for the survivor while merged, the merged client's) that
    /// occurred by then, by position.
    fn timeline_at(&self, whose: Owner, at: &str, merged: bool) -> Vec<i64> {
        let counts = |o: Owner| o == whose || (merged && whose == Owner::Survivor);
        let mut found: Vec<i64> = self
            .written
            .iter()
            .filter(|w| counts(w.owner) && w.at <= at)
            .map(|w| w.position)
            .collect();
        found.sort_unstable();
        found
    }

    /// The events behind `clients_contacted` over `[from, to)` computed from the calls
    /// written by `at`: the first call (by time, then position) with each client, the
    /// merged client counted as the survivor while merged; by position.
    fn contacted(&self, (from, to): (&str, &str), at: &str, merged: bool) -> Vec<i64> {
        let mut first: BTreeMap<Owner, (&str, i64)> = BTreeMap::new();
        for w in self
            .written
            .iter()
            .filter(|w| w.call && w.at <= at && w.at >= from && w.at < to)
        {
            let client = if merged { Owner::Survivor } else { w.owner };
            let seen = first.entry(client).or_insert((w.at, w.position));
            *seen = (*seen).min((w.at, w.position));
        }
        let mut found: Vec<i64> = first.values().map(|(_, p)| *p).collect();
        found.sort_unstable();
        found
    }
}

/// A card's figures as `(deals, interactions, last_interaction_at, last_won_at,
/// segment, merged_into_client_id)`.
fn figures(card: &Value) -> Value {
    json!([
        card["deals"],
        card["interactions"],
        card["last_interaction_at"],
        card["last_won_at"],
        card["segment"],
        card["merged_into_client_id"]
    ])
}

#[sqlx::test(migrations = false)]
async fn a_card_and_timeline_as_of_a_time_count_the_merges_in_force_then(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let mut w = World {
        app,
        _projectors: projectors,
        written: Vec::new(),
    };
    let olena = manager(&w.app, "Olena").await;
    let pipeline = pipeline(&w.app).await;
    let phone = json!([{"name": "Ivan", "phone": "+380 50 123 45 67"}]);
    let survivor = w
        .post(
            Owner::Survivor,
            "2026-01-10T09:00:00Z",
            "/clients",
            json!({"name": "Acme", "kind": "company", "manager_id": olena, "contacts": phone}),
        )
        .await;
    let duplicate = w
        .post(
            Owner::Merged,
            "2026-01-10T10:00:00Z",
            "/clients",
            json!({"name": "ACME", "kind": "company", "manager_id": olena, "contacts": phone}),
        )
        .await;
    let deal = |client: Uuid, amount: i64| {
        json!({"client_id": client, "pipeline_id": pipeline, "title": "Order",
               "amount": amount, "manager_id": olena})
    };
    w.post(
        Owner::Survivor,
        "2026-02-01T09:00:00Z",
        "/deals",
        deal(survivor, 10_000),
    )
    .await;
    let won = w
        .post(
            Owner::Merged,
            "2026-02-01T09:30:00Z",
            "/deals",
            deal(duplicate, 50_000),
        )
        .await;
    let ids = (olena, survivor, duplicate);
    let mut snapshots = Vec::new();

    // Each client called once before the merge.
    w.call(olena, duplicate, Owner::Merged, "2026-03-02T10:00:00Z")
        .await;
    w.call(olena, survivor, Owner::Survivor, "2026-03-04T10:00:00Z")
        .await;
    snapshots.push(w.snapshot("2026-03-04T12:00:00Z", false, ids).await);
    // Merged on 5 March.
    let merge = json!({"into_client_id": survivor});
    w.post(
        Owner::Merged,
        "2026-03-05T00:00:00Z",
        &format!("/clients/{duplicate}/merge"),
        merge,
    )
    .await;
    snapshots.push(w.snapshot("2026-03-05T12:00:00Z", true, ids).await);
    // While merged: the duplicate called again, its deal won for 500.00.
    w.call(olena, duplicate, Owner::Merged, "2026-03-06T10:00:00Z")
        .await;
    w.post(
        Owner::Merged,
        "2026-03-07T10:00:00Z",
        &format!("/deals/{won}/win"),
        json!({}),
    )
    .await;
    snapshots.push(w.snapshot("2026-03-08T00:00:00Z", true, ids).await);
    // Unmerged on 10 March, the survivor called on the 12th.
    w.post(
        Owner::Merged,
        "2026-03-10T00:00:00Z",
        &format!("/clients/{duplicate}/unmerge"),
        json!({}),
    )
    .await;
    snapshots.push(w.snapshot("2026-03-10T12:00:00Z", false, ids).await);
    w.call(olena, survivor, Owner::Survivor, "2026-03-12T10:00:00Z")
        .await;
    snapshots.push(w.snapshot("2026-03-13T00:00:00Z", false, ids).await);

    // The cards, by hand: (deals, interactions, last interaction, last win, segment
    // at the moment, survivor).
    let deals = |open: i64, won: i64, amount: i64| json!({"open": open, "won": won, "lost": 0, "won_amount": amount});
    let expected = [
        (
            json!([
                deals(1, 0, 0),
                1,
                "2026-03-04T10:00:00Z",
                null,
                "inquiry",
                null
            ]),
            json!([
                deals(1, 0, 0),
                1,
                "2026-03-02T10:00:00Z",
                null,
                "inquiry",
                null
            ]),
        ),
        (
            // Both deals open, both calls.
            json!([
                deals(2, 0, 0),
                2,
                "2026-03-04T10:00:00Z",
                null,
                "inquiry",
                null
            ]),
            json!([
                deals(1, 0, 0),
                1,
                "2026-03-02T10:00:00Z",
                null,
                "inquiry",
                survivor
            ]),
        ),
        (
            json!([
                deals(1, 1, 50_000),
                3,
                "2026-03-06T10:00:00Z",
                "2026-03-07T10:00:00Z",
                "active",
                null
            ]),
            json!([
                deals(0, 1, 50_000),
                2,
                "2026-03-06T10:00:00Z",
                "2026-03-07T10:00:00Z",
                "active",
                survivor
            ]),
        ),
        (
            json!([
                deals(1, 0, 0),
                1,
                "2026-03-04T10:00:00Z",
                null,
                "inquiry",
                null
            ]),
            json!([
                deals(0, 1, 50_000),
                2,
                "2026-03-06T10:00:00Z",
                "2026-03-07T10:00:00Z",
                "active",
                null
            ]),
        ),
        (
            json!([
                deals(1, 0, 0),
                2,
                "2026-03-12T10:00:00Z",
                null,
                "inquiry",
                null
            ]),
            json!([
                deals(0, 1, 50_000),
                2,
                "2026-03-06T10:00:00Z",
                "2026-03-07T10:00:00Z",
                "active",
                null
            ]),
        ),
    ];
    for (s, (survivor_card, merged_card)) in snapshots.iter().zip(expected) {
        let at = s.at;
        // The live answers then, against the figures by hand.
        assert_eq!(
            figures(&s.survivor_card),
            survivor_card,
            "survivor live {at}"
        );
        assert_eq!(figures(&s.merged_card), merged_card, "merged live {at}");
        assert_eq!(
            s.survivor_timeline,
            w.timeline_at(Owner::Survivor, at, s.merged),
            "survivor timeline live {at}"
        );
        assert_eq!(
            s.merged_timeline,
            w.timeline_at(Owner::Merged, at, s.merged),
            "merged timeline live {at}"
        );
        for ((count, events), period) in s.contacted.iter().zip(PERIODS) {
            let by_hand = w.contacted(period, at, s.merged);
            assert_eq!(events, &by_hand, "clients_contacted events {period:?} {at}");
            assert_eq!(
                *count,
                by_hand.len() as i64,
                "clients_contacted {period:?} {at}"
            );
        }

        // As of then, read at the end: the same, field for field.
        let card = w.get(&format!("/clients/{survivor}?as_of={at}")).await;
        assert_eq!(card, s.survivor_card, "survivor as of {at}");
        let card = w.get(&format!("/clients/{duplicate}?as_of={at}")).await;
        assert_eq!(card, s.merged_card, "merged as of {at}");
        let timeline = w
            .get(&format!("/clients/{survivor}/timeline?as_of={at}"))
            .await;
        assert_eq!(
            positions(&timeline["items"]),
            s.survivor_timeline,
            "survivor timeline as of {at}"
        );
        let timeline = w
            .get(&format!("/clients/{duplicate}/timeline?as_of={at}"))
            .await;
        assert_eq!(
            positions(&timeline["items"]),
            s.merged_timeline,
            "merged timeline as of {at}"
        );
    }

    // While merged the survivor's timeline holds the duplicate's stream, the merge
    // included; before and after it, not.
    let during = w
        .get(&format!(
            "/clients/{survivor}/timeline?as_of=2026-03-08T00:00:00Z"
        ))
        .await;
    let types: Vec<&str> = during["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ClientRegistered",
            "ClientRegistered",
            "DealOpened",
            "DealOpened",
            "InteractionLogged",
            "InteractionLogged",
            "ClientMerged",
            "InteractionLogged",
            "DealWon",
        ]
    );
    // The live card now is the card as of the last moment.
    let last = snapshots.last().unwrap().at;
    assert_eq!(
        w.get(&format!("/clients/{survivor}?now={last}")).await,
        w.get(&format!("/clients/{survivor}?as_of={last}")).await
    );
}
