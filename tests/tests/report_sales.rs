//! The sales department's reports (issue 18) against a story whose every figure the
//! test works out by hand: revenue by product, category, novelty and first contact
//! (a line removed before the win, a deal won, reopened and won again, a first
//! interaction recorded late), invoices (a partial payment, an invoice paid late),
//! plans (one replaced mid-month), the managers report's calls with a goal, the
//! catalogue, and each within the caller's reach.

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{client, manager, pipeline, registered, token};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The story's app, its people and what the posts' answers said.
struct Story {
    app: TestApp,
    last: i64,
}

impl Story {
    /// POSTs as the admin, checked; the id it made.
    async fn post(&mut self, path: String, body: Value) -> String {
        let answer = self.app.post_ok(path, body).await;
        if let Some(p) = answer["position"].as_i64() {
            self.last = self.last.max(p);
        }
        answer["id"].as_str().unwrap_or_default().to_owned()
    }

    /// GETs `path` (with `min_position`) as `token` (None: the admin), checked to be a 200.
    async fn get(&self, token: Option<&str>, path: &str) -> Value {
        let join = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{join}min_position={}", self.last);
        let answer = match token {
            Some(token) => {
                self.app
                    .send(Method::GET, &path, Some(token), None, &[])
                    .await
            }
            None => self.app.get(&path).await,
        };
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        answer.body
    }
}

/// `groups` as (key, deals, amount).
fn revenue(body: &Value) -> Vec<(String, i64, i64)> {
    body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or("null").to_owned(),
                g["deals"].as_i64().unwrap(),
                g["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `groups` as (key, issued, issued, paid, outstanding, overdue).
fn invoices(body: &Value) -> Vec<(String, i64, i64, i64, i64, i64)> {
    body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["issued"].as_i64().unwrap(),
                g["issued_amount"].as_i64().unwrap(),
                g["paid_amount"].as_i64().unwrap(),
                g["outstanding_amount"].as_i64().unwrap(),
                g["overdue_amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn row(key: &impl ToString, deals: i64, amount: i64) -> (String, i64, i64) {
    (key.to_string(), deals, amount)
}

#[sqlx::test(migrations = false)]
async fn the_sales_reports_follow_their_definitions(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let olena = manager(&app, "Olena").await;
    let ivan = manager(&app, "Ivan").await;
    let (c1, c2, c3) = (
        client(&app, olena).await,
        client(&app, olena).await,
        client(&app, ivan).await,
    );
    let sales = pipeline(&app).await;
    let mut s = Story { app, last: 0 };

    // The catalogue.
    let p1 = s
        .post(
            "/products".into(),
            json!({"name": "Pallet", "category": "Packaging", "price": 1_500}),
        )
        .await;
    let p2 = s
        .post(
            "/products".into(),
            json!({"name": "Box", "category": "Packaging", "price": 200}),
        )
        .await;
    let p3 = s
        .post(
            "/products".into(),
            json!({"name": "Forklift", "category": "Machines"}),
        )
        .await;

    // Interactions. c1: first an inbound call (with a goal, reached), then an outbound
    // one (goal not reached). c2: an inbound meeting, then an outbound message that
    // happened before it, recorded late: c2's first contact is outbound. c3: none.
    // Ivan: a call with no goal and one that says only `goal_reached: false`.
    let at = |d: &str| format!("2026-{d}T10:00:00Z");
    for body in [
        json!({"kind": "call", "direction": "inbound", "manager_id": olena, "client_id": c1,
               "duration_s": 60, "goal": "demo", "goal_reached": true, "occurred_at": at("01-02")}),
        json!({"kind": "call", "direction": "outbound", "manager_id": olena, "client_id": c1,
               "duration_s": 30, "goal": "offer", "goal_reached": false, "occurred_at": at("01-03")}),
        json!({"kind": "meeting", "direction": "inbound", "manager_id": olena, "client_id": c2,
               "occurred_at": at("01-04")}),
        json!({"kind": "message", "direction": "outbound", "manager_id": olena, "client_id": c2,
               "occurred_at": "2025-12-20T10:00:00Z"}),
        json!({"kind": "call", "direction": "outbound", "manager_id": ivan, "duration_s": 100,
               "occurred_at": at("01-05")}),
        json!({"kind": "call", "direction": "outbound", "manager_id": ivan, "duration_s": 50,
               "goal_reached": false, "occurred_at": at("01-06")}),
    ] {
        s.post("/interactions".into(), body).await;
    }

    let open = |client: Uuid, manager: Uuid, amount: i64| {
        json!({"client_id": client, "pipeline_id": sales, "title": "Order", "amount": amount,
               "manager_id": manager, "occurred_at": "2026-01-01T09:00:00Z"})
    };
    // dA (c1, Olena): lines 2 × 1500 and 10 × 200, a forklift added and removed before
    // the win; won at 5000; reopened, the boxes replaced by 5 × 180, won again at 3900.
    let da = s.post("/deals".into(), open(c1, olena, 10_000)).await;
    s.post(
        format!("/deals/{da}/lines"),
        json!({"product_id": p1, "quantity": 2, "price": 1_500, "occurred_at": at("01-05")}),
    )
    .await;
    let boxes = Uuid::new_v4();
    s.post(
        format!("/deals/{da}/lines"),
        json!({"line_id": boxes, "product_id": p2, "quantity": 10, "price": 200,
               "occurred_at": at("01-05")}),
    )
    .await;
    let forklift = Uuid::new_v4();
    s.post(
        format!("/deals/{da}/lines"),
        json!({"line_id": forklift, "product_id": p3, "quantity": 1, "price": 50_000,
               "occurred_at": at("01-06")}),
    )
    .await;
    s.post(
        format!("/deals/{da}/lines/{forklift}/remove"),
        json!({"occurred_at": at("01-07")}),
    )
    .await;
    s.post(
        format!("/deals/{da}/win"),
        json!({"amount": 5_000, "occurred_at": at("01-10")}),
    )
    .await;
    s.post(
        format!("/deals/{da}/reopen"),
        json!({"occurred_at": at("01-12")}),
    )
    .await;
    s.post(
        format!("/deals/{da}/lines/{boxes}/remove"),
        json!({"occurred_at": at("01-13")}),
    )
    .await;
    s.post(
        format!("/deals/{da}/lines"),
        json!({"product_id": p2, "quantity": 5, "price": 180, "occurred_at": at("01-13")}),
    )
    .await;
    s.post(
        format!("/deals/{da}/win"),
        json!({"amount": 3_900, "occurred_at": at("01-15")}),
    )
    .await;
    // dB (c1, Olena): a forklift at 48000, won: c1 had won before.
    let db = s.post("/deals".into(), open(c1, olena, 48_000)).await;
    s.post(
        format!("/deals/{db}/lines"),
        json!({"product_id": p3, "quantity": 1, "price": 48_000, "occurred_at": at("01-19")}),
    )
    .await;
    s.post(
        format!("/deals/{db}/win"),
        json!({"occurred_at": at("01-20")}),
    )
    .await;
    // dC (c2, Olena): 4 pallets at 1400, won at 5600.
    let dc = s.post("/deals".into(), open(c2, olena, 5_600)).await;
    s.post(
        format!("/deals/{dc}/lines"),
        json!({"product_id": p1, "quantity": 4, "price": 1_400, "occurred_at": at("01-24")}),
    )
    .await;
    s.post(
        format!("/deals/{dc}/win"),
        json!({"occurred_at": at("01-25")}),
    )
    .await;
    // dD (c3, Ivan): no lines, won at 2000. dE (c3, Ivan): a box, won in February.
    let dd = s.post("/deals".into(), open(c3, ivan, 2_000)).await;
    s.post(
        format!("/deals/{dd}/win"),
        json!({"occurred_at": at("01-28")}),
    )
    .await;
    let de = s.post("/deals".into(), open(c3, ivan, 200)).await;
    s.post(
        format!("/deals/{de}/lines"),
        json!({"product_id": p2, "quantity": 1, "price": 200, "occurred_at": at("02-01")}),
    )
    .await;
    s.post(
        format!("/deals/{de}/win"),
        json!({"occurred_at": at("02-05")}),
    )
    .await;

    // Revenue, January. By product: p1 = 2 × 1500 at each of dA's wins + 4 × 1400 (dC)
    // = 11600 over 2 deals; p2 = 10 × 200 (dA's first win) + 5 × 180 (its second) =
    // 2900, one deal; p3 = 48000 (dB; dA's forklift was removed before the win).
    let jan = "from=2026-01-01&to=2026-02-01";
    let by = |key: &str| format!("/reports/revenue?by={key}&{jan}");
    assert_eq!(
        revenue(&s.get(None, &by("product")).await),
        vec![row(&p3, 1, 48_000), row(&p1, 2, 11_600), row(&p2, 1, 2_900)]
    );
    // By category: Machines 48000 (dB); Packaging (3000 + 2000) + (3000 + 900) + 5600 =
    // 14500 (dA's two wins, dC).
    assert_eq!(
        revenue(&s.get(None, &by("category")).await),
        vec![row(&"Machines", 1, 48_000), row(&"Packaging", 2, 14_500)]
    );
    // By novelty, the amounts DealWon recorded: new = dA (5000 + 3900: c1's first won
    // deal, at both its wins) + dC 5600 + dD 2000 = 16500 over 3 deals; repeat = dB 48000.
    assert_eq!(
        revenue(&s.get(None, &by("novelty")).await),
        vec![row(&"repeat", 1, 48_000), row(&"new", 3, 16_500)]
    );
    // By first contact: c1 inbound (dA 8900 + dB 48000 = 56900); c2 outbound (the
    // message recorded late, 5600); c3 unknown (2000).
    assert_eq!(
        revenue(&s.get(None, &by("first_contact")).await),
        vec![
            row(&"inbound", 2, 56_900),
            row(&"outbound", 1, 5_600),
            row(&"unknown", 1, 2_000)
        ]
    );
    // The revenue by manager is unchanged: each DealWon counts, dA's twice.
    assert_eq!(
        revenue(&s.get(None, &by("manager")).await),
        vec![row(&olena, 4, 62_500), row(&ivan, 1, 2_000)]
    );
    // February: dE's box only.
    assert_eq!(
        revenue(
            &s.get(
                None,
                "/reports/revenue?by=product&from=2026-02-01&to=2026-03-01"
            )
            .await
        ),
        vec![row(&p2, 1, 200)]
    );

    // Reach: Olena sees her wins, Ivan his (dD has no lines: no product row).
    let olena_token = token(&s.app, Some(olena), "manager").await;
    let ivan_token = token(&s.app, Some(ivan), "manager").await;
    assert_eq!(
        revenue(&s.get(Some(&olena_token), &by("novelty")).await),
        vec![row(&"repeat", 1, 48_000), row(&"new", 2, 14_500)]
    );
    assert_eq!(
        revenue(&s.get(Some(&ivan_token), &by("novelty")).await),
        vec![row(&"new", 1, 2_000)]
    );
    assert_eq!(
        revenue(&s.get(Some(&ivan_token), &by("product")).await),
        vec![]
    );

    // Invoices. I1 (dA) 8900 due Jan 31, 3000 paid: partly. I2 (dB) 48000 due Jan 31,
    // paid in full on Feb 10: late. I3 (dD, Ivan) 2000 due Apr 30, unpaid. I4 (dE) in
    // February: outside the period.
    let issue = |number: &str, amount: i64, due_on: &str, day: &str| json!({"number": number, "amount": amount, "due_on": due_on, "occurred_at": at(day)});
    let i1 = s
        .post(
            format!("/deals/{da}/invoices"),
            issue("1", 8_900, "2026-01-31", "01-16"),
        )
        .await;
    let i2 = s
        .post(
            format!("/deals/{db}/invoices"),
            issue("2", 48_000, "2026-01-31", "01-21"),
        )
        .await;
    s.post(
        format!("/deals/{dd}/invoices"),
        issue("3", 2_000, "2026-04-30", "01-29"),
    )
    .await;
    s.post(
        format!("/deals/{de}/invoices"),
        issue("4", 200, "2026-02-20", "02-06"),
    )
    .await;
    s.post(
        format!("/invoices/{i1}/payments"),
        json!({"amount": 3_000, "paid_on": "2026-01-20", "occurred_at": at("01-20")}),
    )
    .await;
    s.post(
        format!("/invoices/{i2}/payments"),
        json!({"amount": 48_000, "paid_on": "2026-02-10", "occurred_at": at("02-10")}),
    )
    .await;
    let invoices_at = |by: &str, now: &str| format!("/reports/invoices?by={by}&{jan}&now={now}");
    // March 1: Olena's I1 and I2 = 56900 issued, 51000 paid, 5900 outstanding, all of
    // it overdue (I1 was due Jan 31); Ivan's I3 2000 outstanding, due later.
    let march = invoices_at("manager", "2026-03-01T00:00:00Z");
    let answer = s.get(None, &march).await;
    assert_eq!(answer["today"], "2026-03-01");
    assert_eq!(
        invoices(&answer),
        vec![
            (olena.to_string(), 2, 56_900, 51_000, 5_900, 5_900),
            (ivan.to_string(), 1, 2_000, 0, 2_000, 0),
        ]
    );
    assert_eq!(
        invoices(
            &s.get(None, &invoices_at("client", "2026-03-01T00:00:00Z"))
                .await
        ),
        vec![
            (c1.to_string(), 2, 56_900, 51_000, 5_900, 5_900),
            (c3.to_string(), 1, 2_000, 0, 2_000, 0),
        ]
    );
    // Judged on Jan 31 nothing is overdue yet (due_on before today, not on it).
    assert_eq!(
        invoices(
            &s.get(None, &invoices_at("manager", "2026-01-31T12:00:00Z"))
                .await
        ),
        vec![
            (olena.to_string(), 2, 56_900, 51_000, 5_900, 0),
            (ivan.to_string(), 1, 2_000, 0, 2_000, 0),
        ]
    );
    assert_eq!(
        invoices(&s.get(Some(&ivan_token), &march).await),
        vec![(ivan.to_string(), 1, 2_000, 0, 2_000, 0)]
    );

    // Plans for January: Olena's first plan (calls 10, deals_won 2) replaced mid-month
    // by calls 4, meetings 2, won_amount 100000; Ivan's calls 3, call_seconds 250; a
    // February plan of Olena's is another month.
    let plan = |m: Uuid, month: &str, targets: Value, day: &str| json!({"manager_id": m, "month": month, "targets": targets, "occurred_at": at(day)});
    s.post(
        "/plans".into(),
        plan(
            olena,
            "2026-01",
            json!({"calls": 10, "deals_won": 2}),
            "01-01",
        ),
    )
    .await;
    s.post(
        "/plans".into(),
        plan(
            ivan,
            "2026-01",
            json!({"calls": 3, "call_seconds": 250}),
            "01-01",
        ),
    )
    .await;
    s.post(
        "/plans".into(),
        plan(
            olena,
            "2026-01",
            json!({"calls": 4, "meetings": 2, "won_amount": 100_000}),
            "01-15",
        ),
    )
    .await;
    s.post(
        "/plans".into(),
        plan(olena, "2026-02", json!({"calls": 1}), "01-20"),
    )
    .await;
    let plans = s.get(None, "/reports/plans?month=2026-01").await;
    // Olena in January: 2 calls (90 s), 1 meeting, 4 DealWon (dA twice, dB, dC) for
    // 62500. Percent: calls 2/4 = 50.0, meetings 1/2 = 50.0, 62500/100000 = 62.5.
    // Ivan: 2 calls, 150 s, dD won (2000). Percent: 2/3 = 66.7, 150/250 = 60.0.
    assert_eq!(
        plans,
        json!({"month": "2026-01", "managers": [
            {"manager_id": ivan, "name": "Ivan",
             "targets": {"calls": 3, "meetings": null, "call_seconds": 250, "deals_won": null,
                         "won_amount": null},
             "actual": {"calls": 2, "meetings": 0, "call_seconds": 150, "deals_won": 1,
                        "won_amount": 2_000},
             "percent": {"calls": 66.7, "meetings": null, "call_seconds": 60.0,
                         "deals_won": null, "won_amount": null}},
            {"manager_id": olena, "name": "Olena",
             "targets": {"calls": 4, "meetings": 2, "call_seconds": null, "deals_won": null,
                         "won_amount": 100_000},
             "actual": {"calls": 2, "meetings": 1, "call_seconds": 90, "deals_won": 4,
                        "won_amount": 62_500},
             "percent": {"calls": 50.0, "meetings": 50.0, "call_seconds": null,
                         "deals_won": null, "won_amount": 62.5}},
        ]})
    );
    let mine = s
        .get(Some(&ivan_token), "/reports/plans?month=2026-01")
        .await;
    assert_eq!(mine["managers"].as_array().unwrap().len(), 1);
    assert_eq!(mine["managers"][0]["manager_id"], json!(ivan));
    let february = s.get(None, "/reports/plans?month=2026-02").await;
    assert_eq!(february["managers"][0]["targets"]["calls"], 1);
    assert_eq!(february["managers"][0]["targets"]["meetings"], Value::Null);
    assert_eq!(february["managers"][0]["actual"]["calls"], 0);
    assert_eq!(february["managers"][0]["percent"]["calls"], 0.0);

    // The managers report: Olena's calls both carry a goal, one reached; Ivan's second
    // call says only `goal_reached: false`: with a goal, not reached.
    let kpis = s.get(None, &format!("/reports/managers?{jan}")).await;
    let figures: Vec<(String, i64, i64, i64)> = kpis["managers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["calls"].as_i64().unwrap(),
                m["calls_with_goal"].as_i64().unwrap(),
                m["calls_goal_reached"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        vec![("Ivan".into(), 2, 1, 0), ("Olena".into(), 2, 2, 1)]
    );

    // The catalogue, by name, for every role.
    let products = s.get(Some(&ivan_token), "/products").await;
    assert_eq!(
        products,
        json!({"items": [
            {"id": p2, "name": "Box", "category": "Packaging", "price": 200},
            {"id": p3, "name": "Forklift", "category": "Machines", "price": null},
            {"id": p1, "name": "Pallet", "category": "Packaging", "price": 1_500},
        ], "next_cursor": null})
    );
    let first = s.get(None, "/products?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let rest = s
        .get(None, &format!("/products?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"][0]["id"], json!(p1));
    assert_eq!(rest["next_cursor"], Value::Null);

    // A head reaches his department only: Petro of Support wins, invoices and plans
    // in March; Hanna, head of Sales, sees none of it, the admin all of it.
    let petro = registered(&s.app, "Petro", "Support", "manager").await;
    let hanna = registered(&s.app, "Hanna", "Sales", "head").await;
    let head = token(&s.app, Some(hanna), "head").await;
    let cp = client(&s.app, petro).await;
    let mut dp_body = open(cp, petro, 1_000);
    dp_body["occurred_at"] = json!(at("03-01"));
    let dp = s.post("/deals".into(), dp_body).await;
    s.post(
        format!("/deals/{dp}/lines"),
        json!({"product_id": p1, "quantity": 1, "price": 1_000, "occurred_at": at("03-02")}),
    )
    .await;
    s.post(
        format!("/deals/{dp}/win"),
        json!({"occurred_at": at("03-05")}),
    )
    .await;
    s.post(
        format!("/deals/{dp}/invoices"),
        issue("5", 1_000, "2026-03-31", "03-06"),
    )
    .await;
    s.post(
        "/plans".into(),
        plan(petro, "2026-03", json!({"calls": 5}), "03-01"),
    )
    .await;
    let march_revenue = "/reports/revenue?by=product&from=2026-03-01&to=2026-04-01";
    let march_invoices =
        "/reports/invoices?by=manager&from=2026-03-01&to=2026-04-01&now=2026-03-10T00:00:00Z";
    assert_eq!(
        revenue(&s.get(None, march_revenue).await),
        vec![row(&p1, 1, 1_000)]
    );
    assert_eq!(revenue(&s.get(Some(&head), march_revenue).await), vec![]);
    assert_eq!(
        invoices(&s.get(None, march_invoices).await),
        vec![(petro.to_string(), 1, 1_000, 0, 1_000, 0)]
    );
    assert_eq!(invoices(&s.get(Some(&head), march_invoices).await), vec![]);
    // …while his department's are all his.
    assert_eq!(
        invoices(&s.get(Some(&head), &march).await),
        vec![
            (olena.to_string(), 2, 56_900, 51_000, 5_900, 5_900),
            (ivan.to_string(), 1, 2_000, 0, 2_000, 0),
        ]
    );
    let march_plans = "/reports/plans?month=2026-03";
    assert_eq!(
        s.get(None, march_plans).await["managers"][0]["manager_id"],
        json!(petro)
    );
    assert_eq!(s.get(Some(&head), march_plans).await["managers"], json!([]));

    // Bad queries are problems.
    for path in [
        "/reports/revenue?by=colour&from=2026-01-01&to=2026-02-01",
        "/reports/invoices?by=deal&from=2026-01-01&to=2026-02-01",
        "/reports/invoices?by=client&from=2026-02-01&to=2026-01-01",
        "/reports/plans?month=2026-13",
        "/reports/plans",
    ] {
        let answer = s.app.get(path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
    }
    projectors.shutdown().await;
    s.app.log.close().await;
}

/// A win's first contact follows the client's first interaction wherever it is
/// recorded: none yet (`unknown`), one recorded after the win, then an earlier one
/// recorded late.
#[sqlx::test(migrations = false)]
async fn a_first_contact_recorded_after_the_win_counts_for_it(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let olena = manager(&app, "Olena").await;
    let acme = client(&app, olena).await;
    let sales = pipeline(&app).await;
    let mut s = Story { app, last: 0 };
    let deal = s
        .post(
            "/deals".into(),
            json!({"client_id": acme, "pipeline_id": sales, "title": "Order", "amount": 700,
                   "manager_id": olena, "occurred_at": "2026-03-01T09:00:00Z"}),
        )
        .await;
    s.post(
        format!("/deals/{deal}/win"),
        json!({"occurred_at": "2026-03-10T10:00:00Z"}),
    )
    .await;
    let march = "/reports/revenue?by=first_contact&from=2026-03-01&to=2026-04-01";
    assert_eq!(
        revenue(&s.get(None, march).await),
        vec![row(&"unknown", 1, 700)]
    );
    // One recorded after the win, then an earlier one recorded late: each the first.
    for (direction, at) in [
        ("inbound", "2026-03-12T10:00:00Z"),
        ("outbound", "2026-02-20T10:00:00Z"),
    ] {
        s.post(
            "/interactions".into(),
            json!({"kind": "call", "direction": direction, "manager_id": olena,
                   "client_id": acme, "duration_s": 60, "occurred_at": at}),
        )
        .await;
        assert_eq!(
            revenue(&s.get(None, march).await),
            vec![row(&direction, 1, 700)]
        );
    }
    projectors.shutdown().await;
}
