//! The read side, complete (issue 13): the team, pipelines, leads, tasks and
//! interactions are listed and read, and lists carry the names a person reads, each
//! within the reader's reach, paginated, with read-your-writes, hidden fields and
//! erasure applied; every expected value is written from the scenario below.

use axum::http::{Method, StatusCode};
use crm_api::hidden::HiddenFields;
use crm_tests::read::has_key;
use crm_tests::scenario::{response_id, token};
use crm_tests::{Answer, TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A fixed id, so that orders by id are known when the test is written.
fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// Two departments: North (managers Andriy and Bohdan, head Hanna, and Oleh, who
/// left) and South (manager Ciril); Dana directs from the Board.
///
/// - Pipelines Wholesale and Retail (stages New 0.1, Offer 0.5).
/// - Clients Alpha (Andriy's) and Gamma (Ciril's); deals "Alpha deal" (Andriy, New),
///   "Gamma deal" (Ciril, Offer) and "Olga deal" (Andriy, New, converted from a lead).
/// - Leads, received on 2026-01-0N at 10:00: l1 Iryna (3rd … see `LEADS`).
/// - Tasks t0 (Andriy's, about Alpha, completed), t1 (Ciril's about Gamma, Andriy
///   observes), t2 (Bohdan's).
/// - Interactions i1 (Andriy's call with Alpha), i2 (Andriy's email answering l1),
///   i3 (Ciril's meeting with Gamma), i4 (Bohdan's call, at the same time as i1).
struct Firm {
    app: TestApp,
    andriy: Uuid,
    bohdan: Uuid,
    ciril: Uuid,
    hanna: Uuid,
    oleh: Uuid,
    dana: Uuid,
    tokens: Tokens,
    /// The position every read model must reflect.
    position: i64,
    _projectors: crm_projections::RunningProjectors,
}

struct Tokens {
    andriy: String,
    bohdan: String,
    ciril: String,
    hanna: String,
    director: String,
    analyst: String,
}

const RETAIL: u128 = 0x100;
const WHOLESALE: u128 = 0x200;
const NEW: u128 = 0x101;
const OFFER: u128 = 0x102;
const BULK: u128 = 0x201;
const ALPHA: u128 = 0x300;
const GAMMA: u128 = 0x301;
const ALEPH: u128 = 0x302;
const ALPHA_DEAL: u128 = 0x400;
const GAMMA_DEAL: u128 = 0x401;
const OLGA_DEAL: u128 = 0x402;
const L1: u128 = 0x501;
const L2: u128 = 0x502;
const L3: u128 = 0x503;
const L4: u128 = 0x504;
const L5: u128 = 0x505;
const T0: u128 = 0x600;
const T1: u128 = 0x601;
const T2: u128 = 0x602;
const I1: u128 = 0x7b1;
const I2: u128 = 0x702;
const I3: u128 = 0x703;
const I4: u128 = 0x7a4;

/// Registers a member of the team at a known time.
async fn member(app: &TestApp, body: Value) -> Uuid {
    let answer = app.post("/managers", &body).await;
    response_id(&answer, StatusCode::CREATED, "manager", 1)
}

/// A command the admin sends, which must succeed; its position.
async fn ok(app: &TestApp, path: &str, body: Value) -> i64 {
    let answer = app.post(path, &body).await;
    assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
    answer.body["position"].as_i64().unwrap()
}

async fn firm(pool: PgPool, hidden: HiddenFields) -> Firm {
    let app = TestApp::with(pool, |s| s.with_hidden_fields(hidden))
        .await
        .unwrap();
    let andriy = member(
        &app,
        json!({"name": "Andriy", "department": "North", "role": "manager",
        "email": "andriy@firm.example", "occurred_at": "2025-01-01T09:00:00Z"}),
    )
    .await;
    let bohdan = member(
        &app,
        json!({"name": "Bohdan", "department": "North", "role": "manager",
        "occurred_at": "2025-01-02T09:00:00Z"}),
    )
    .await;
    let ciril = member(
        &app,
        json!({"name": "Ciril", "department": "South", "role": "manager",
        "email": "ciril@firm.example", "occurred_at": "2025-01-03T09:00:00Z"}),
    )
    .await;
    let hanna = member(
        &app,
        json!({"name": "Hanna", "department": "North", "role": "head",
        "occurred_at": "2025-01-04T09:00:00Z"}),
    )
    .await;
    let oleh = member(
        &app,
        json!({"name": "Oleh", "department": "North", "role": "manager",
        "occurred_at": "2025-01-05T09:00:00Z"}),
    )
    .await;
    ok(&app, &format!("/managers/{oleh}/deactivate"), json!({})).await;
    let dana = member(
        &app,
        json!({"name": "Dana", "department": "Board", "role": "director",
        "occurred_at": "2025-01-06T09:00:00Z"}),
    )
    .await;
    ok(
        &app,
        "/pipelines",
        json!({"id": id(WHOLESALE), "name": "Wholesale",
        "stages": [{"id": id(BULK), "name": "Bulk", "probability": 0.3}]}),
    )
    .await;
    ok(
        &app,
        "/pipelines",
        json!({"id": id(RETAIL), "name": "Retail", "stages": [
        {"id": id(NEW), "name": "New", "probability": 0.1},
        {"id": id(OFFER), "name": "Offer", "probability": 0.5}]}),
    )
    .await;
    for (client, name, manager) in [
        (ALPHA, "Alpha", andriy),
        (GAMMA, "Gamma", ciril),
        (ALEPH, "Aleph", andriy),
    ] {
        ok(
            &app,
            "/clients",
            json!({"id": id(client), "name": name, "kind": "company",
            "manager_id": manager, "contacts": []}),
        )
        .await;
    }
    for (deal, client, title, stage, manager) in [
        (ALPHA_DEAL, ALPHA, "Alpha deal", NEW, andriy),
        (GAMMA_DEAL, GAMMA, "Gamma deal", OFFER, ciril),
    ] {
        ok(
            &app,
            "/deals",
            json!({"id": id(deal), "client_id": id(client),
            "pipeline_id": id(RETAIL), "stage_id": id(stage), "title": title, "amount": 1000,
            "manager_id": manager}),
        )
        .await;
    }
    for (lead, body) in [
        (
            L1,
            json!({"source": "web", "channel": "form", "name": "Iryna Koval",
            "phone": "+380671112233", "email": "Iryna@Example.com", "manager_id": andriy,
            "occurred_at": "2026-01-05T10:00:00Z"}),
        ),
        (
            L2,
            json!({"source": "web", "name": "Petro", "phone": "+380501234567",
            "manager_id": ciril, "occurred_at": "2026-01-06T10:00:00Z"}),
        ),
        (
            L3,
            json!({"source": "call", "name": "Nameless Caller",
            "occurred_at": "2026-01-07T10:00:00Z"}),
        ),
        (
            L4,
            json!({"source": "ads", "name": "Spam Bot", "manager_id": bohdan,
            "occurred_at": "2026-01-04T10:00:00Z"}),
        ),
        (
            L5,
            json!({"source": "web", "name": "Olga", "email": "olga@example.com",
            "manager_id": andriy, "occurred_at": "2026-01-03T10:00:00Z"}),
        ),
    ] {
        let mut body = body;
        body["id"] = json!(id(lead));
        ok(&app, "/leads", body).await;
    }
    ok(
        &app,
        &format!("/leads/{}/reject", id(L4)),
        json!({"reason": "spam"}),
    )
    .await;
    ok(
        &app,
        &format!("/leads/{}/convert", id(L5)),
        json!({"client_id": id(ALPHA),
        "deal": {"id": id(OLGA_DEAL), "pipeline_id": id(RETAIL), "title": "Olga deal",
                 "amount": 500}}),
    )
    .await;
    for (task, body) in [
        (
            T0,
            json!({"title": "Call Alpha", "kind": "call", "assignee_id": andriy,
            "due_at": "2026-01-20T09:00:00Z", "client_id": id(ALPHA),
            "deal_id": id(ALPHA_DEAL)}),
        ),
        (
            T1,
            json!({"title": "Visit Gamma", "assignee_id": ciril,
            "due_at": "2026-01-21T09:00:00Z", "client_id": id(GAMMA),
            "deal_id": id(GAMMA_DEAL), "observer_ids": [andriy]}),
        ),
        (
            T2,
            json!({"title": "Plan the week", "assignee_id": bohdan,
            "due_at": "2026-01-22T09:00:00Z"}),
        ),
    ] {
        let mut body = body;
        body["id"] = json!(id(task));
        ok(&app, "/tasks", body).await;
    }
    ok(
        &app,
        &format!("/tasks/{}/complete", id(T0)),
        json!({"result": "Signed", "occurred_at": "2026-01-15T12:00:00Z"}),
    )
    .await;
    for (interaction, body) in [
        (
            I1,
            json!({"kind": "call", "direction": "outbound", "manager_id": andriy,
            "client_id": id(ALPHA), "deal_id": id(ALPHA_DEAL), "duration_s": 60,
            "outcome": "agreed", "goal": "close", "notes": "Ready to sign",
            "occurred_at": "2026-01-10T09:00:00Z"}),
        ),
        (
            I2,
            json!({"kind": "email", "direction": "outbound", "manager_id": andriy,
            "lead_id": id(L1), "occurred_at": "2026-01-11T08:00:00Z"}),
        ),
        (
            I3,
            json!({"kind": "meeting", "direction": "inbound", "manager_id": ciril,
            "client_id": id(GAMMA), "deal_id": id(GAMMA_DEAL),
            "occurred_at": "2026-01-09T15:00:00Z"}),
        ),
        (
            I4,
            json!({"kind": "call", "direction": "inbound", "manager_id": bohdan,
            "duration_s": 30, "occurred_at": "2026-01-10T09:00:00Z"}),
        ),
    ] {
        let mut body = body;
        body["id"] = json!(id(interaction));
        ok(&app, "/interactions", body).await;
    }
    let tokens = Tokens {
        andriy: token(&app, Some(andriy), "manager").await,
        bohdan: token(&app, Some(bohdan), "manager").await,
        ciril: token(&app, Some(ciril), "manager").await,
        hanna: token(&app, Some(hanna), "head").await,
        director: token(&app, Some(dana), "director").await,
        analyst: token(&app, None, "analyst").await,
    };
    let projectors = app.start_projectors();
    let mut firm = Firm {
        app,
        andriy,
        bohdan,
        ciril,
        hanna,
        oleh,
        dana,
        tokens,
        position: 0,
        _projectors: projectors,
    };
    firm.position = last_position(&firm.app).await;
    // Heads' departments come from the team's read model: wait for it.
    let team = firm.get(&firm.tokens.director, "/managers").await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    firm
}

async fn last_position(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT max(position) FROM eventlog.events")
        .fetch_one(app.log.pool())
        .await
        .unwrap()
}

impl Firm {
    /// GET `path` as `token`, once the read models reflect every event so far.
    async fn get(&self, token: &str, path: &str) -> Answer {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}min_position={}", self.position);
        self.app
            .send(Method::GET, &path, Some(token), None, &[])
            .await
    }

    /// The items of the list at `path` as `token` (200 required).
    async fn items(&self, token: &str, path: &str) -> Vec<Value> {
        let answer = self.get(token, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        answer.body["items"].as_array().unwrap().clone()
    }

    /// The ids of the list at `path` as `token`, in the list's order.
    async fn ids(&self, token: &str, path: &str) -> Vec<Uuid> {
        self.items(token, path)
            .await
            .iter()
            .map(|i| i["id"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// Every item of the list at `path` as `token`, `limit` at a time.
    async fn paged(&self, token: &str, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}min_position={}", self.position);
        self.app.all_items_as(token, &path, limit).await
    }

    /// Reading `/{kind}/{id}` is a 403 `out_of_reach` for each `(token, id)` of
    /// `out_of_reach`, a 404 for an unknown id; the analyst may read neither the list
    /// nor an item (403 `forbidden`).
    async fn refuses_reading(&self, kind: &str, out_of_reach: &[(&String, u128)]) {
        for (token, n) in out_of_reach {
            let answer = self.get(token, &format!("/{kind}/{}", id(*n))).await;
            refused(&answer, StatusCode::FORBIDDEN, "out_of_reach");
        }
        let unknown = format!("/{kind}/{}", Uuid::new_v4());
        let (someone, _) = out_of_reach[0];
        refused(
            &self.get(someone, &unknown).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (_, known) = out_of_reach[0];
        for path in [format!("/{kind}"), format!("/{kind}/{}", id(known))] {
            let answer = self.get(&self.tokens.analyst, &path).await;
            refused(&answer, StatusCode::FORBIDDEN, "forbidden");
        }
    }

    /// The admin's command; the read models must then reflect it.
    async fn command(&mut self, path: &str, body: Value) {
        self.position = ok(&self.app, path, body).await;
    }
}

fn ids(list: &[u128]) -> Vec<Uuid> {
    list.iter().map(|n| id(*n)).collect()
}

/// Checks a refusal: its status and code, as a problem.
fn refused(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{}",
        answer.body
    );
    assert_eq!(answer.headers["content-type"], "application/problem+json");
}

/// A cursor's bytes (hex) as text.
fn unhex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_team_and_pipelines_are_read_by_every_role(pool: PgPool) {
    let mut f = firm(pool, HiddenFields::default()).await;
    let t = &f.tokens;
    let andriy = json!({"id": f.andriy, "name": "Andriy", "department": "North",
        "role": "manager", "email": "andriy@firm.example", "active": true,
        "registered_at": "2025-01-01T09:00:00Z"});
    let oleh = json!({"id": f.oleh, "name": "Oleh", "department": "North", "role": "manager",
        "email": null, "active": false, "registered_at": "2025-01-05T09:00:00Z"});
    let by_name = vec![f.andriy, f.bohdan, f.ciril, f.dana, f.hanna, f.oleh];
    // Everyone with a token sees the whole team, by name: a manager needs names.
    for token in [&t.andriy, &t.ciril, &t.hanna, &t.director, &t.analyst] {
        let team = f.items(token, "/managers").await;
        assert_eq!(team[0], andriy);
        assert_eq!(team[5], oleh);
        let order: Vec<Uuid> = team
            .iter()
            .map(|m| m["id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(order, by_name);
    }
    assert_eq!(
        f.get(&t.ciril, &format!("/managers/{}", f.andriy))
            .await
            .body,
        andriy
    );
    assert_eq!(
        f.get(&t.analyst, &format!("/managers/{}", f.oleh))
            .await
            .body,
        oleh
    );
    let hanna = f
        .get(&t.andriy, &format!("/managers/{}", f.hanna))
        .await
        .body;
    assert_eq!(
        (&hanna["role"], &hanna["email"], &hanna["active"]),
        (&json!("head"), &Value::Null, &json!(true))
    );

    // Filters, alone and together.
    assert_eq!(
        f.ids(&t.andriy, "/managers?department=North").await,
        [f.andriy, f.bohdan, f.hanna, f.oleh]
    );
    assert_eq!(f.ids(&t.andriy, "/managers?role=head").await, [f.hanna]);
    assert_eq!(f.ids(&t.andriy, "/managers?active=false").await, [f.oleh]);
    assert_eq!(
        f.ids(
            &t.andriy,
            "/managers?department=North&role=manager&active=true"
        )
        .await,
        [f.andriy, f.bohdan]
    );
    assert_eq!(
        f.ids(&t.andriy, "/managers?department=East").await,
        Vec::<Uuid>::new()
    );
    // Pages of 4 and of 1 walk the same list.
    for limit in [1, 4] {
        let paged = f.paged(&t.hanna, "/managers", limit).await;
        assert_eq!(
            paged
                .iter()
                .map(|m| m["id"].as_str().unwrap().parse::<Uuid>().unwrap())
                .collect::<Vec<_>>(),
            by_name
        );
    }

    // Refusals: bad filters, unknown ids, no token, bulk pages.
    for query in [
        "active=maybe",
        "role=boss",
        "colour=red",
        "limit=0",
        "cursor=zz",
        "department=a%00b",
    ] {
        refused(
            &f.get(&t.andriy, &format!("/managers?{query}")).await,
            StatusCode::BAD_REQUEST,
            if query.starts_with("cursor") {
                "invalid_cursor"
            } else if query.starts_with("limit") {
                "invalid_limit"
            } else {
                "invalid_query"
            },
        );
    }
    refused(
        &f.get(&t.andriy, &format!("/managers/{}", Uuid::new_v4()))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        &f.get(&t.andriy, "/managers?limit=201").await,
        StatusCode::FORBIDDEN,
        "bulk_export_refused",
    );
    assert_eq!(
        f.get(&t.director, "/managers?limit=1000").await.status,
        StatusCode::OK
    );
    let anonymous = f.app.send(Method::GET, "/managers", None, None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Pipelines by name, each with its stages in order.
    let retail = json!({"id": id(RETAIL), "name": "Retail", "stages": [
        {"id": id(NEW), "name": "New", "probability": 0.1},
        {"id": id(OFFER), "name": "Offer", "probability": 0.5}]});
    let wholesale = json!({"id": id(WHOLESALE), "name": "Wholesale",
        "stages": [{"id": id(BULK), "name": "Bulk", "probability": 0.3}]});
    for token in [&t.andriy, &t.analyst] {
        assert_eq!(
            f.items(token, "/pipelines").await,
            [retail.clone(), wholesale.clone()]
        );
        assert_eq!(
            f.get(token, &format!("/pipelines/{}", id(WHOLESALE)))
                .await
                .body,
            wholesale
        );
    }
    assert_eq!(
        f.paged(&t.ciril, "/pipelines", 1).await,
        [retail, wholesale]
    );
    refused(
        &f.get(&t.andriy, &format!("/pipelines/{}", id(ALPHA))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        &f.get(&t.andriy, "/pipelines?stage=1").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );

    // Read-your-writes: what was just registered is in the answer.
    let yurii = Uuid::new_v4();
    f.command(
        "/managers",
        json!({"id": yurii, "name": "Yurii", "department": "South",
        "role": "manager", "occurred_at": "2025-02-01T09:00:00Z"}),
    )
    .await;
    assert_eq!(
        f.ids(&f.tokens.ciril, "/managers?department=South").await,
        [f.ciril, yurii]
    );
    let zeta = Uuid::new_v4();
    f.command(
        "/pipelines",
        json!({"id": zeta, "name": "Zeta", "stages": [{"name": "Z", "probability": 1.0}]}),
    )
    .await;
    assert_eq!(
        f.get(&f.tokens.andriy, &format!("/pipelines/{zeta}"))
            .await
            .body["stages"][0]["name"],
        "Z"
    );
}

/// The leads as the director sees them, newest first.
fn all_leads(f: &Firm) -> Vec<Value> {
    vec![
        json!({"id": id(L3), "name": "Nameless Caller", "phone": null, "email": null,
            "source": "call", "channel": null, "status": "new", "manager_id": null,
            "manager_name": null, "client_id": null, "deal_id": null,
            "received_at": "2026-01-07T10:00:00Z", "rejected_reason": null, "version": 1}),
        json!({"id": id(L2), "name": "Petro", "phone": "+380501234567", "email": null,
            "source": "web", "channel": null, "status": "assigned", "manager_id": f.ciril,
            "manager_name": "Ciril", "client_id": null, "deal_id": null,
            "received_at": "2026-01-06T10:00:00Z", "rejected_reason": null, "version": 2}),
        json!({"id": id(L1), "name": "Iryna Koval", "phone": "+380671112233",
            "email": "Iryna@Example.com", "source": "web", "channel": "form",
            "status": "assigned", "manager_id": f.andriy, "manager_name": "Andriy",
            "client_id": null, "deal_id": null, "received_at": "2026-01-05T10:00:00Z",
            "rejected_reason": null, "version": 2}),
        json!({"id": id(L4), "name": "Spam Bot", "phone": null, "email": null, "source": "ads",
            "channel": null, "status": "rejected", "manager_id": f.bohdan,
            "manager_name": "Bohdan", "client_id": null, "deal_id": null,
            "received_at": "2026-01-04T10:00:00Z", "rejected_reason": "spam", "version": 3}),
        json!({"id": id(L5), "name": "Olga", "phone": null, "email": "olga@example.com",
            "source": "web", "channel": null, "status": "converted", "manager_id": f.andriy,
            "manager_name": "Andriy", "client_id": id(ALPHA), "deal_id": id(OLGA_DEAL),
            "received_at": "2026-01-03T10:00:00Z", "rejected_reason": null, "version": 3}),
    ]
}

#[sqlx::test(migrations = false)]
async fn leads_are_listed_newest_first_within_reach(pool: PgPool) {
    let f = firm(pool, HiddenFields::default()).await;
    let t = &f.tokens;
    let all = all_leads(&f);
    assert_eq!(f.items(&t.director, "/leads").await, all);
    for limit in [1, 2, 4] {
        assert_eq!(f.paged(&t.director, "/leads", limit).await, all);
    }
    for (n, lead) in all.iter().enumerate() {
        let answer = f
            .get(
                &t.director,
                &format!("/leads/{}", lead["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(answer.body, all[n]);
    }
    // Each reader his reach: a manager his own, a head his department's (Oleh's and
    // Bohdan's included), unassigned leads only company-wide.
    assert_eq!(f.ids(&t.andriy, "/leads").await, ids(&[L1, L5]));
    assert_eq!(f.ids(&t.bohdan, "/leads").await, ids(&[L4]));
    assert_eq!(f.ids(&t.ciril, "/leads").await, ids(&[L2]));
    assert_eq!(f.ids(&t.hanna, "/leads").await, ids(&[L1, L4, L5]));
    assert_eq!(
        f.paged(&t.hanna, "/leads", 1).await,
        [all[2].clone(), all[3].clone(), all[4].clone()]
    );
    assert_eq!(
        f.get(&t.andriy, &format!("/leads/{}", id(L5))).await.body,
        all[4]
    );
    f.refuses_reading(
        "leads",
        &[
            (&t.andriy, L2),
            (&t.ciril, L1),
            (&t.hanna, L2),
            (&t.andriy, L3),
            (&t.bohdan, L1),
        ],
    )
    .await;
    refused(
        &f.get(&t.andriy, &format!("/leads?manager_id={}", f.ciril))
            .await,
        StatusCode::FORBIDDEN,
        "out_of_reach",
    );

    // Filters.
    assert_eq!(
        f.ids(&t.director, "/leads?status=rejected").await,
        ids(&[L4])
    );
    assert_eq!(
        f.ids(&t.director, "/leads?status=assigned").await,
        ids(&[L2, L1])
    );
    assert_eq!(f.ids(&t.director, "/leads?status=new").await, ids(&[L3]));
    assert_eq!(
        f.ids(&t.director, "/leads?source=web").await,
        ids(&[L2, L1, L5])
    );
    assert_eq!(
        f.ids(&t.director, &format!("/leads?manager_id={}", f.andriy))
            .await,
        ids(&[L1, L5])
    );
    assert_eq!(
        f.ids(
            &t.hanna,
            &format!("/leads?manager_id={}&source=ads", f.bohdan)
        )
        .await,
        ids(&[L4])
    );
    // `q`: the name, phone or email, ignoring case.
    assert_eq!(f.ids(&t.director, "/leads?q=iRYNA").await, ids(&[L1]));
    assert_eq!(
        f.ids(&t.director, "/leads?q=EXAMPLE.com").await,
        ids(&[L1, L5])
    );
    assert_eq!(f.ids(&t.director, "/leads?q=0501234").await, ids(&[L2]));
    assert_eq!(
        f.ids(&t.ciril, "/leads?q=example").await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        f.ids(&t.andriy, "/leads?q=o&status=converted").await,
        ids(&[L5])
    );
    for query in [
        "status=foo",
        "status=open",
        "manager_id=42",
        "limit=1001",
        "cursor=nope",
        "q=a%00",
        "source=%00",
    ] {
        let answer = f.get(&t.director, &format!("/leads?{query}")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    refused(
        &f.get(&t.andriy, "/leads?limit=201").await,
        StatusCode::FORBIDDEN,
        "bulk_export_refused",
    );
    refused(
        &f.get(&t.hanna, "/leads?limit=1000").await,
        StatusCode::FORBIDDEN,
        "bulk_export_refused",
    );
    assert_eq!(
        f.get(&t.director, "/leads?limit=1000").await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrations = false)]
async fn tasks_are_read_with_their_clients_and_deals_within_reach(pool: PgPool) {
    let f = firm(pool, HiddenFields::default()).await;
    let t = &f.tokens;
    let t0 = json!({"id": id(T0), "title": "Call Alpha", "kind": "call", "assignee_id": f.andriy,
        "due_at": "2026-01-20T09:00:00Z", "status": "completed", "client_id": id(ALPHA),
        "client_name": "Alpha", "deal_id": id(ALPHA_DEAL), "deal_title": "Alpha deal",
        "co_executor_ids": [], "observer_ids": [], "completed_at": "2026-01-15T12:00:00Z",
        "result": "Signed", "version": 2});
    let t1 = json!({"id": id(T1), "title": "Visit Gamma", "kind": "task", "assignee_id": f.ciril,
        "due_at": "2026-01-21T09:00:00Z", "status": "open", "client_id": id(GAMMA),
        "client_name": "Gamma", "deal_id": id(GAMMA_DEAL), "deal_title": "Gamma deal",
        "co_executor_ids": [], "observer_ids": [f.andriy], "completed_at": null,
        "result": null, "version": 1});
    let t2 = json!({"id": id(T2), "title": "Plan the week", "kind": "task",
        "assignee_id": f.bohdan, "due_at": "2026-01-22T09:00:00Z", "status": "open",
        "client_id": null, "client_name": null, "deal_id": null, "deal_title": null,
        "co_executor_ids": [], "observer_ids": [], "completed_at": null, "result": null,
        "version": 1});
    assert_eq!(
        f.items(&t.director, "/tasks").await,
        [t0.clone(), t1.clone(), t2.clone()]
    );
    assert_eq!(
        f.paged(&t.director, "/tasks", 1).await,
        [t0.clone(), t1.clone(), t2.clone()]
    );
    for task in [&t0, &t1, &t2] {
        let path = format!("/tasks/{}", task["id"].as_str().unwrap());
        assert_eq!(&f.get(&t.director, &path).await.body, task);
    }
    // Andriy observes Ciril's task: he reads it, but not the name of a client or the
    // title of a deal outside his reach.
    let mut observed = t1.clone();
    observed["client_name"] = Value::Null;
    observed["deal_title"] = Value::Null;
    assert_eq!(
        f.items(&t.andriy, "/tasks").await,
        [t0.clone(), observed.clone()]
    );
    assert_eq!(
        f.get(&t.andriy, &format!("/tasks/{}", id(T1))).await.body,
        observed
    );
    assert_eq!(
        f.items(&t.hanna, "/tasks").await,
        [t0.clone(), observed, t2.clone()]
    );
    assert_eq!(f.items(&t.ciril, "/tasks").await, [t1]);
    assert_eq!(f.items(&t.andriy, "/tasks?status=completed").await, [t0]);
    f.refuses_reading(
        "tasks",
        &[
            (&t.ciril, T0),
            (&t.ciril, T2),
            (&t.andriy, T2),
            (&t.bohdan, T1),
        ],
    )
    .await;
    refused(
        &f.get(&t.andriy, "/tasks?status=done").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    refused(
        &f.get(&t.andriy, &format!("/tasks/{}?as_of=2026-01-01", id(T0)))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
}

#[sqlx::test(migrations = false)]
async fn interactions_are_listed_newest_first_within_reach(pool: PgPool) {
    let f = firm(pool, HiddenFields::default()).await;
    let t = &f.tokens;
    let i1 = json!({"id": id(I1), "kind": "call", "direction": "outbound", "manager_id": f.andriy,
        "manager_name": "Andriy", "client_id": id(ALPHA), "client_name": "Alpha",
        "deal_id": id(ALPHA_DEAL), "lead_id": null, "occurred_at": "2026-01-10T09:00:00Z",
        "duration_s": 60, "outcome": "agreed", "goal": "close", "notes": "Ready to sign"});
    let i2 = json!({"id": id(I2), "kind": "email", "direction": "outbound", "manager_id": f.andriy,
        "manager_name": "Andriy", "client_id": null, "client_name": null, "deal_id": null,
        "lead_id": id(L1), "occurred_at": "2026-01-11T08:00:00Z", "duration_s": null,
        "outcome": null, "goal": null, "notes": null});
    let i3 = json!({"id": id(I3), "kind": "meeting", "direction": "inbound", "manager_id": f.ciril,
        "manager_name": "Ciril", "client_id": id(GAMMA), "client_name": "Gamma",
        "deal_id": id(GAMMA_DEAL), "lead_id": null, "occurred_at": "2026-01-09T15:00:00Z",
        "duration_s": null, "outcome": null, "goal": null, "notes": null});
    let i4 = json!({"id": id(I4), "kind": "call", "direction": "inbound", "manager_id": f.bohdan,
        "manager_name": "Bohdan", "client_id": null, "client_name": null, "deal_id": null,
        "lead_id": null, "occurred_at": "2026-01-10T09:00:00Z", "duration_s": 30,
        "outcome": null, "goal": null, "notes": null});
    // Newest first; i1 and i4 at the same time: the larger id first.
    let all = vec![i2.clone(), i1.clone(), i4.clone(), i3.clone()];
    assert_eq!(f.items(&t.director, "/interactions").await, all);
    for limit in [1, 3] {
        assert_eq!(f.paged(&t.director, "/interactions", limit).await, all);
    }
    assert_eq!(
        f.items(&t.andriy, "/interactions").await,
        [i2.clone(), i1.clone()]
    );
    assert_eq!(
        f.items(&t.hanna, "/interactions").await,
        [i2.clone(), i1.clone(), i4.clone()]
    );
    assert_eq!(
        f.paged(&t.hanna, "/interactions", 2).await,
        [i2.clone(), i1.clone(), i4.clone()]
    );
    assert_eq!(
        f.items(&t.ciril, "/interactions").await,
        std::slice::from_ref(&i3)
    );
    assert_eq!(
        f.get(&t.ciril, &format!("/interactions/{}", id(I3)))
            .await
            .body,
        i3
    );
    assert_eq!(
        f.get(&t.hanna, &format!("/interactions/{}", id(I4)))
            .await
            .body,
        i4
    );
    // Filters.
    assert_eq!(
        f.ids(
            &t.director,
            &format!("/interactions?client_id={}", id(ALPHA))
        )
        .await,
        ids(&[I1])
    );
    assert_eq!(
        f.ids(
            &t.director,
            &format!("/interactions?deal_id={}", id(GAMMA_DEAL))
        )
        .await,
        ids(&[I3])
    );
    assert_eq!(
        f.ids(&t.director, &format!("/interactions?lead_id={}", id(L1)))
            .await,
        ids(&[I2])
    );
    assert_eq!(
        f.ids(&t.hanna, &format!("/interactions?manager_id={}", f.bohdan))
            .await,
        ids(&[I4])
    );
    assert_eq!(
        f.ids(
            &t.director,
            &format!(
                "/interactions?manager_id={}&client_id={}",
                f.andriy,
                id(ALPHA)
            )
        )
        .await,
        ids(&[I1])
    );
    // Nothing of another department, even asked by its client or deal.
    assert_eq!(
        f.ids(&t.andriy, &format!("/interactions?client_id={}", id(GAMMA)))
            .await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        f.ids(&t.ciril, &format!("/interactions?lead_id={}", id(L1)))
            .await,
        Vec::<Uuid>::new()
    );
    refused(
        &f.get(&t.andriy, &format!("/interactions?manager_id={}", f.ciril))
            .await,
        StatusCode::FORBIDDEN,
        "out_of_reach",
    );
    f.refuses_reading(
        "interactions",
        &[
            (&t.andriy, I3),
            (&t.ciril, I1),
            (&t.bohdan, I2),
            (&t.hanna, I3),
        ],
    )
    .await;
    refused(
        &f.get(&t.andriy, "/interactions?client_id=alpha").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    refused(
        &f.get(&t.andriy, "/interactions?cursor=00").await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    refused(
        &f.get(&t.andriy, "/interactions?limit=300").await,
        StatusCode::FORBIDDEN,
        "bulk_export_refused",
    );
}

#[sqlx::test(migrations = false)]
async fn deal_rows_name_their_client_stage_and_manager_and_follow_renames_and_erasures(
    pool: PgPool,
) {
    let mut f = firm(pool, HiddenFields::default()).await;
    let names = |client: &str, stage: &str, manager: &str| json!({"client_name": client, "stage_name": stage, "manager_name": manager});
    let picked = |items: Vec<Value>| -> Vec<(Uuid, Value)> {
        items
            .iter()
            .map(|d| {
                (
                    d["id"].as_str().unwrap().parse().unwrap(),
                    json!({"client_name": d["client_name"], "stage_name": d["stage_name"],
                           "manager_name": d["manager_name"]}),
                )
            })
            .collect()
    };
    let deals = f.items(&f.tokens.director, "/deals").await;
    assert_eq!(
        picked(deals.clone()),
        [
            (id(ALPHA_DEAL), names("Alpha", "New", "Andriy")),
            (id(GAMMA_DEAL), names("Gamma", "Offer", "Ciril")),
            (id(OLGA_DEAL), names("Alpha", "New", "Andriy")),
        ]
    );
    // The deal's own fields are still there.
    assert_eq!(deals[1]["title"], "Gamma deal");
    assert_eq!(deals[1]["amount"], 1000);
    assert_eq!(deals[1]["status"], "open");
    assert_eq!(
        picked(f.items(&f.tokens.ciril, "/deals").await),
        [(id(GAMMA_DEAL), names("Gamma", "Offer", "Ciril"))]
    );
    assert_eq!(
        picked(
            f.items(
                &f.tokens.director,
                "/deals?as_of=2030-01-01T00:00:00Z&limit=1"
            )
            .await
        ),
        [(id(ALPHA_DEAL), names("Alpha", "New", "Andriy"))]
    );
    // A deal moved to another stage and manager, its client renamed: the names follow.
    f.command(
        &format!("/deals/{}/stage", id(ALPHA_DEAL)),
        json!({"stage_id": id(OFFER)}),
    )
    .await;
    f.command(
        &format!("/deals/{}/assign", id(ALPHA_DEAL)),
        json!({"manager_id": f.bohdan}),
    )
    .await;
    let answer = f
        .app
        .send(
            Method::PATCH,
            &format!("/clients/{}", id(ALPHA)),
            Some(ADMIN_TOKEN),
            Some(&json!({"name": "Alpha Ltd"})),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    f.position = answer.body["position"].as_i64().unwrap();
    assert_eq!(
        picked(f.items(&f.tokens.director, "/deals").await),
        [
            (id(ALPHA_DEAL), names("Alpha Ltd", "Offer", "Bohdan")),
            (id(GAMMA_DEAL), names("Gamma", "Offer", "Ciril")),
            (id(OLGA_DEAL), names("Alpha Ltd", "New", "Andriy")),
        ]
    );
    // Bohdan reaches the deal, not its client (Andriy's): no client name for him.
    assert_eq!(
        picked(f.items(&f.tokens.bohdan, "/deals").await),
        [(
            id(ALPHA_DEAL),
            json!({"client_name": null, "stage_name": "Offer", "manager_name": "Bohdan"})
        )]
    );
    let t0 = f
        .get(&f.tokens.andriy, &format!("/tasks/{}", id(T0)))
        .await
        .body;
    assert_eq!(t0["client_name"], "Alpha Ltd");
    // Bohdan has the deal now: Andriy reads his task, not the deal's title.
    assert_eq!(t0["deal_title"], Value::Null);
    let i1 = f
        .get(&f.tokens.andriy, &format!("/interactions/{}", id(I1)))
        .await
        .body;
    assert_eq!(i1["client_name"], "Alpha Ltd");

    // Alpha erased (with Olga's lead, converted into it): [erased] wherever its name
    // shows, at once.
    f.command(&format!("/clients/{}/erase", id(ALPHA)), json!({}))
        .await;
    let erased: Vec<Value> = f.items(&f.tokens.director, "/deals").await;
    assert_eq!(
        (
            erased[0]["client_name"].as_str(),
            erased[2]["client_name"].as_str()
        ),
        (Some("[erased]"), Some("[erased]"))
    );
    for path in [
        format!("/tasks/{}", id(T0)),
        format!("/interactions/{}", id(I1)),
    ] {
        let body = f.get(&f.tokens.andriy, &path).await.body;
        assert_eq!(body["client_name"], "[erased]", "{path}");
    }
    for path in ["/tasks", "/interactions"] {
        let text = Value::Array(f.items(&f.tokens.director, path).await).to_string();
        assert!(
            !text.contains("Alpha Ltd") && text.contains("[erased]"),
            "{path}: {text}"
        );
    }
    let olga = f
        .get(&f.tokens.andriy, &format!("/leads/{}", id(L5)))
        .await
        .body;
    assert_eq!(
        (
            &olga["name"],
            &olga["phone"],
            &olga["email"],
            &olga["status"]
        ),
        (
            &json!("[erased]"),
            &Value::Null,
            &json!("[erased]"),
            &json!("converted")
        )
    );
    // A lead erased alone: its personal values read [erased] and `q` finds them no more.
    f.command(&format!("/leads/{}/erase", id(L1)), json!({}))
        .await;
    let iryna = f
        .get(&f.tokens.andriy, &format!("/leads/{}", id(L1)))
        .await
        .body;
    assert_eq!(
        (
            &iryna["name"],
            &iryna["phone"],
            &iryna["email"],
            &iryna["source"]
        ),
        (
            &json!("[erased]"),
            &json!("[erased]"),
            &json!("[erased]"),
            &json!("web")
        )
    );
    assert_eq!(
        f.ids(&f.tokens.director, "/leads?q=iryna").await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        f.ids(&f.tokens.director, "/leads?q=67111").await,
        Vec::<Uuid>::new()
    );
    let text = Value::Array(f.items(&f.tokens.director, "/leads").await).to_string();
    assert!(!text.contains("Iryna") && !text.contains("olga@"), "{text}");
}

#[sqlx::test(migrations = false)]
async fn hidden_fields_are_absent_from_the_new_lists_and_cannot_be_searched(pool: PgPool) {
    let hidden = HiddenFields::parse(
        r#"{"manager": {"client": ["name"], "lead": ["email", "manager_id"]},
            "head": {"lead": ["name", "phone", "email"]}}"#,
    )
    .unwrap();
    let f = firm(pool, hidden).await;
    let t = &f.tokens;
    // The manager: no client names beside deals, tasks and interactions.
    for path in [
        "/deals".to_owned(),
        "/tasks".to_owned(),
        "/interactions".to_owned(),
        format!("/tasks/{}", id(T0)),
        format!("/interactions/{}", id(I1)),
    ] {
        let body = f.get(&t.andriy, &path).await.body;
        assert!(!has_key(&body, "client_name"), "{path}: {body}");
        assert!(!body.to_string().contains("\"Alpha\""), "{path}: {body}");
    }
    let deals = f.items(&t.andriy, "/deals").await;
    assert_eq!(
        (&deals[0]["stage_name"], &deals[0]["manager_name"]),
        (&json!("New"), &json!("Andriy"))
    );
    // His leads without email, manager and manager's name.
    let leads = f.items(&t.andriy, "/leads").await;
    assert_eq!(
        leads[0],
        json!({"id": id(L1), "name": "Iryna Koval", "phone": "+380671112233", "source": "web",
            "channel": "form", "status": "assigned", "client_id": null, "deal_id": null,
            "received_at": "2026-01-05T10:00:00Z", "rejected_reason": null, "version": 2})
    );
    assert_eq!(
        f.get(&t.andriy, &format!("/leads/{}", id(L1))).await.body,
        leads[0]
    );
    // `q` looks only where he may look: the name, not the email.
    assert_eq!(f.ids(&t.andriy, "/leads?q=iryna").await, ids(&[L1]));
    assert_eq!(
        f.ids(&t.andriy, "/leads?q=example.com").await,
        Vec::<Uuid>::new()
    );
    refused(
        &f.get(&t.andriy, &format!("/leads?manager_id={}", f.andriy))
            .await,
        StatusCode::FORBIDDEN,
        "hidden_field",
    );
    // A cursor tells nothing hidden either: not the lead's email, not the name of
    // the client a page of clients ends with (Aleph, before Alpha).
    let cursor = unhex(
        f.get(&t.andriy, "/leads?limit=1").await.body["next_cursor"]
            .as_str()
            .unwrap(),
    );
    assert!(!cursor.to_lowercase().contains("example"), "{cursor}");
    let first = f.get(&t.andriy, "/clients?limit=1").await.body;
    assert!(!has_key(&first, "name"), "{first}");
    // The clients' cursor is sealed: neither the name nor its hex spelling shows.
    let next = first["next_cursor"].as_str().unwrap();
    for hidden in ["Aleph", "aleph", "416c657068"] {
        assert!(!next.contains(hidden), "{next}");
    }
    let second = f
        .get(&t.andriy, &format!("/clients?limit=1&cursor={next}"))
        .await
        .body;
    assert_eq!(
        (&second["items"][0]["id"], &second["next_cursor"]),
        (&json!(id(ALPHA)), &Value::Null)
    );
    // Nor may a cursor made up of a client out of reach place the page by its name.
    let made_up: String = id(GAMMA)
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    refused(
        &f.get(&t.andriy, &format!("/clients?cursor={made_up}"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    // The head: no personal values of leads, and no search among them.
    let leads = f.items(&t.hanna, "/leads").await;
    assert_eq!(leads.len(), 3);
    for lead in &leads {
        assert!(
            !has_key(lead, "name") && !has_key(lead, "phone") && !has_key(lead, "email"),
            "{lead}"
        );
        assert!(has_key(lead, "manager_name"), "{lead}");
    }
    refused(
        &f.get(&t.hanna, "/leads?q=iryna").await,
        StatusCode::FORBIDDEN,
        "hidden_field",
    );
    // The head sees client names (hidden from managers only); the director everything.
    assert_eq!(
        f.get(&t.hanna, &format!("/tasks/{}", id(T0))).await.body["client_name"],
        "Alpha"
    );
    assert_eq!(f.items(&t.director, "/leads").await, all_leads(&f));
}

/// Runs the built-in read models but `left_out` on the app's database.
fn projectors_without(app: &TestApp, left_out: &str) -> crm_projections::RunningProjectors {
    crm_projections::builtin()
        .into_iter()
        .filter(|p| p.name() != left_out)
        .fold(
            crm_projections::ProjectorSet::new(app.log.clone()),
            |set, p| set.with(p),
        )
        .spawn()
        .unwrap()
}

/// The reads of the new routes and of the deal list, all at once, each with
/// `min_position=position`: which answered 200 and which 503 `projection_lagging`
/// (after 5 s).
async fn lagging_reads(app: &TestApp, manager: Uuid, position: i64) -> (Vec<String>, Vec<String>) {
    let paths = [
        "/deals".to_owned(),
        "/tasks".to_owned(),
        format!("/tasks/{}", id(T0)),
        "/interactions".to_owned(),
        format!("/interactions/{}", id(I1)),
        "/leads".to_owned(),
        format!("/leads/{}", id(L1)),
        "/managers".to_owned(),
        format!("/managers/{manager}"),
        "/pipelines".to_owned(),
        format!("/pipelines/{}", id(RETAIL)),
    ];
    let reads = paths.iter().map(|path| async move {
        let sep = if path.contains('?') { '&' } else { '?' };
        let answer = app
            .get(&format!("{path}{sep}min_position={position}"))
            .await;
        (path.clone(), answer.status, answer.code().to_owned())
    });
    let (mut lagging, mut answered) = (Vec::new(), Vec::new());
    for (path, status, code) in futures::future::join_all(reads).await {
        match (status, code.as_str()) {
            (StatusCode::OK, _) => answered.push(path),
            (StatusCode::SERVICE_UNAVAILABLE, "projection_lagging") => lagging.push(path),
            other => panic!("{path}: {other:?}"),
        }
    }
    (lagging, answered)
}

#[sqlx::test(migrations = false)]
async fn min_position_waits_for_every_read_model_an_answer_draws_from(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager = member(
        &app,
        json!({"name": "Andriy", "department": "North", "role": "manager"}),
    )
    .await;
    ok(
        &app,
        "/pipelines",
        json!({"id": id(RETAIL), "name": "Retail",
        "stages": [{"id": id(NEW), "name": "New", "probability": 0.1}]}),
    )
    .await;
    ok(
        &app,
        "/clients",
        json!({"id": id(ALPHA), "name": "Alpha", "kind": "company",
        "manager_id": manager, "contacts": []}),
    )
    .await;
    ok(
        &app,
        "/deals",
        json!({"id": id(ALPHA_DEAL), "client_id": id(ALPHA),
        "pipeline_id": id(RETAIL), "title": "Alpha deal", "amount": 1, "manager_id": manager}),
    )
    .await;
    ok(
        &app,
        "/tasks",
        json!({"id": id(T0), "title": "Call", "assignee_id": manager,
        "due_at": "2026-01-20T09:00:00Z", "client_id": id(ALPHA)}),
    )
    .await;
    ok(
        &app,
        "/leads",
        json!({"id": id(L1), "source": "web", "name": "Iryna",
        "manager_id": manager}),
    )
    .await;
    let call = json!({"kind": "call", "direction": "outbound", "manager_id": manager,
        "client_id": id(ALPHA)});
    let mut first = call.clone();
    first["id"] = json!(id(I1));
    let last = ok(&app, "/interactions", first).await;
    let strings =
        |paths: &[&str]| -> Vec<String> { paths.iter().map(|p| (*p).to_owned()).collect() };

    // Each time one read model is left out, and the log has an event of its own since
    // it last ran: the answers drawing from it wait for it (5 s, then 503), the others
    // answer.
    let projectors = projectors_without(&app, crm_projections::clients::NAME);
    let (lagging, _) = lagging_reads(&app, manager, last).await;
    let tasks_and_interactions = [
        "/tasks".to_owned(),
        format!("/tasks/{}", id(T0)),
        "/interactions".to_owned(),
        format!("/interactions/{}", id(I1)),
    ];
    let mut expected = strings(&["/deals"]);
    expected.extend(tasks_and_interactions.iter().cloned());
    assert_eq!(lagging, expected, "without clients");
    projectors.shutdown().await;

    let last = ok(&app, "/interactions", call.clone()).await;
    let projectors = projectors_without(&app, crm_projections::managers::NAME);
    let (lagging, _) = lagging_reads(&app, manager, last).await;
    let expected = vec![
        "/deals".to_owned(),
        "/interactions".to_owned(),
        format!("/interactions/{}", id(I1)),
        "/leads".to_owned(),
        format!("/leads/{}", id(L1)),
        "/managers".to_owned(),
        format!("/managers/{manager}"),
    ];
    assert_eq!(lagging, expected, "without manager_kpis");
    projectors.shutdown().await;

    let last = ok(
        &app,
        &format!("/deals/{}/amount", id(ALPHA_DEAL)),
        json!({"amount": 2}),
    )
    .await;
    let projectors = projectors_without(&app, crm_projections::deals::NAME);
    let (lagging, _) = lagging_reads(&app, manager, last).await;
    let expected = vec![
        "/deals".to_owned(),
        "/tasks".to_owned(),
        format!("/tasks/{}", id(T0)),
        "/pipelines".to_owned(),
        format!("/pipelines/{}", id(RETAIL)),
    ];
    assert_eq!(lagging, expected, "without deals");
    projectors.shutdown().await;

    // All of them: every answer at once.
    let projectors = app.start_projectors();
    let (lagging, answered) = lagging_reads(&app, manager, last).await;
    assert_eq!((lagging.len(), answered.len()), (0, 11));
    projectors.shutdown().await;
    app.log.close().await;
}
