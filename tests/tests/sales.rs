//! The sales department's commands end to end (issue 18): products, deal lines,
//! invoices and payments, shipments, plans, client merges and `goal_reached`; each
//! refusal a problem that appends nothing, each role as the contract says.

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{client, events, manager, pipeline, refused, response_id, token};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A manager with a client, a pipeline, a deal of 1000.00 and a product of 15.00.
struct World {
    app: TestApp,
    manager: Uuid,
    client: Uuid,
    deal: Uuid,
    product: Uuid,
}

async fn world(pool: PgPool) -> World {
    let app = TestApp::new(pool).await.unwrap();
    let manager = manager(&app, "Olena").await;
    let client = client(&app, manager).await;
    let pipeline = pipeline(&app).await;
    let deal = app
        .post(
            "/deals",
            &json!({"client_id": client, "pipeline_id": pipeline, "title": "Order",
                    "amount": 100_000, "manager_id": manager}),
        )
        .await;
    let deal = response_id(&deal, StatusCode::CREATED, "deal", 1);
    let product = app
        .post(
            "/products",
            &json!({"name": "Pallet", "category": "Packaging", "price": 1_500}),
        )
        .await;
    let product = response_id(&product, StatusCode::CREATED, "product", 1);
    World {
        app,
        manager,
        client,
        deal,
        product,
    }
}

/// The payloads of `stream`'s events, with their types.
async fn payloads(app: &TestApp, stream: &str) -> Vec<(String, Value)> {
    events(app, stream)
        .await
        .into_iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                e["data"].clone(),
            )
        })
        .collect()
}

async fn refuse(app: &TestApp, path: &str, body: Value, status: StatusCode, code: &str) {
    refused(
        app,
        Method::POST,
        path,
        &body.to_string(),
        &[],
        status,
        code,
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn lines_are_added_and_removed_while_the_deal_is_open(pool: PgPool) {
    let w = world(pool).await;
    let (app, deal) = (&w.app, w.deal);
    let lines = format!("/deals/{deal}/lines");
    let line = Uuid::new_v4();
    let added = app
        .post(
            &lines,
            &json!({"line_id": line, "product_id": w.product, "quantity": 4, "price": 1_400}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["id"], json!(line));
    assert_eq!(added.body["stream"], format!("deal-{deal}"));
    assert_eq!(added.body["version"], 2);
    // Without a line id the server makes one, and answers it.
    let other = app
        .post(
            &lines,
            &json!({"product_id": w.product, "quantity": 1, "price": 0}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    let other: Uuid = other.body["id"].as_str().unwrap().parse().unwrap();
    assert_ne!(other, line);

    refuse(
        app,
        &lines,
        json!({"product_id": Uuid::new_v4(), "quantity": 1, "price": 1}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reference_not_found",
    )
    .await;
    refuse(
        app,
        &lines,
        json!({"line_id": line, "product_id": w.product, "quantity": 5, "price": 1_400}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "duplicate_line_id",
    )
    .await;
    refuse(
        app,
        &lines,
        json!({"product_id": w.product, "quantity": 1_000_000, "price": 1_000_000_000_000_i64}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "amount_too_large",
    )
    .await;
    refuse(
        app,
        &lines,
        json!({"product_id": w.product, "quantity": 0, "price": 1}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_quantity",
    )
    .await;
    refuse(
        app,
        &format!("/deals/{}/lines", Uuid::new_v4()),
        json!({"product_id": w.product, "quantity": 1, "price": 1}),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    refuse(
        app,
        &format!("{lines}/{}/remove", Uuid::new_v4()),
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "line_not_found",
    )
    .await;

    // The deal shows its lines, and as they stood at an earlier version.
    let shown = app.get(&format!("/deals/{deal}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(
        shown.body["lines"],
        json!([
            {"line_id": line, "product_id": w.product, "quantity": 4, "price": 1_400, "amount": 5_600},
            {"line_id": other, "product_id": w.product, "quantity": 1, "price": 0, "amount": 0},
        ])
    );
    let removed = app
        .post(&format!("{lines}/{other}/remove"), &json!({}))
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["id"], json!(other));
    let now = app.get(&format!("/deals/{deal}")).await;
    assert_eq!(now.body["lines"].as_array().unwrap().len(), 1);
    let then = app.get(&format!("/deals/{deal}?version=3")).await;
    assert_eq!(then.body["lines"].as_array().unwrap().len(), 2);

    // Won, the deal keeps its lines as they stood.
    let won = app.post(&format!("/deals/{deal}/win"), &json!({})).await;
    assert_eq!(won.status, StatusCode::OK, "{}", won.body);
    refuse(
        app,
        &lines,
        json!({"product_id": w.product, "quantity": 1, "price": 1}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "deal_closed",
    )
    .await;
    refuse(
        app,
        &format!("{lines}/{line}/remove"),
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "deal_closed",
    )
    .await;

    let stream = payloads(app, &format!("deal-{deal}")).await;
    let types: Vec<&str> = stream.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "DealOpened",
            "DealLineAdded",
            "DealLineAdded",
            "DealLineRemoved",
            "DealWon"
        ]
    );
    assert_eq!(
        stream[1].1,
        json!({"deal_id": deal, "line_id": line, "product_id": w.product, "quantity": 4, "price": 1_400})
    );
    assert_eq!(stream[3].1, json!({"deal_id": deal, "line_id": other}));
}

#[sqlx::test(migrations = false)]
async fn invoices_take_payments_up_to_what_is_outstanding(pool: PgPool) {
    let w = world(pool).await;
    let app = &w.app;
    let invoice = Uuid::new_v4();
    let issued = app
        .post(
            &format!("/deals/{}/invoices", w.deal),
            &json!({"id": invoice, "number": "INV-1", "amount": 120_000, "due_on": "2026-03-15"}),
        )
        .await;
    assert_eq!(
        response_id(&issued, StatusCode::CREATED, "invoice", 1),
        invoice
    );
    refuse(
        app,
        &format!("/deals/{}/invoices", Uuid::new_v4()),
        json!({"number": "INV-2", "amount": 1, "due_on": "2026-03-15"}),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    refuse(
        app,
        &format!("/deals/{}/invoices", w.deal),
        json!({"number": " ", "amount": 1, "due_on": "2026-03-15"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "empty_number",
    )
    .await;
    refuse(
        app,
        &format!("/deals/{}/invoices", w.deal),
        json!({"number": "INV-3", "amount": 0, "due_on": "2026-03-15"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "zero_amount",
    )
    .await;

    let payments = format!("/invoices/{invoice}/payments");
    let first = app
        .post(
            &payments,
            &json!({"amount": 50_000, "paid_on": "2026-03-10"}),
        )
        .await;
    assert_eq!(
        response_id(&first, StatusCode::CREATED, "invoice", 2),
        invoice
    );
    refuse(
        app,
        &payments,
        json!({"amount": 70_001, "paid_on": "2026-03-20"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment_exceeds_outstanding",
    )
    .await;
    refuse(
        app,
        &payments,
        json!({"amount": 0, "paid_on": "2026-03-20"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "zero_amount",
    )
    .await;
    refuse(
        app,
        &format!("/invoices/{}/payments", Uuid::new_v4()),
        json!({"amount": 1, "paid_on": "2026-03-20"}),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let rest = app
        .post(
            &payments,
            &json!({"amount": 70_000, "paid_on": "2026-03-20"}),
        )
        .await;
    response_id(&rest, StatusCode::CREATED, "invoice", 3);
    refuse(
        app,
        &payments,
        json!({"amount": 1, "paid_on": "2026-03-21"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment_exceeds_outstanding",
    )
    .await;

    let stream = payloads(app, &format!("invoice-{invoice}")).await;
    assert_eq!(
        stream[0].1,
        json!({"invoice_id": invoice, "deal_id": w.deal, "number": "INV-1", "amount": 120_000,
               "due_on": "2026-03-15"})
    );
    let paid: i64 = stream
        .iter()
        .filter(|(t, _)| t == "PaymentReceived")
        .map(|(_, d)| d["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(paid, 50_000 + 70_000);
    assert!(stream[1..]
        .iter()
        .all(|(_, d)| d["deal_id"] == json!(w.deal)));

    let shipment = app
        .post(
            &format!("/deals/{}/shipments", w.deal),
            &json!({"shipped_on": "2026-03-12", "note": "waybill 7731"}),
        )
        .await;
    let shipment = response_id(&shipment, StatusCode::CREATED, "shipment", 1);
    assert_eq!(
        payloads(app, &format!("shipment-{shipment}")).await[0].1,
        json!({"shipment_id": shipment, "deal_id": w.deal, "shipped_on": "2026-03-12",
               "note": "waybill 7731"})
    );
}

#[sqlx::test(migrations = false)]
async fn a_later_plan_for_the_same_month_replaces_it_and_an_unknown_manager_gets_none(
    pool: PgPool,
) {
    let w = world(pool).await;
    let app = &w.app;
    let body = |calls: i64| {
        json!({"manager_id": w.manager, "month": "2026-03",
               "targets": {"calls": calls, "won_amount": 500_000}})
    };
    let first = app.post("/plans", &body(100)).await;
    let plan = response_id(&first, StatusCode::CREATED, "plan", 1);
    let second = app.post("/plans", &body(80)).await;
    assert_eq!(response_id(&second, StatusCode::CREATED, "plan", 2), plan);
    let stream = payloads(app, &format!("plan-{plan}")).await;
    assert_eq!(
        stream[1].1,
        json!({"plan_id": plan, "manager_id": w.manager, "month": "2026-03",
               "targets": {"calls": 80, "won_amount": 500_000}})
    );
    // Another month is another plan.
    let april = app
        .post(
            "/plans",
            &json!({"manager_id": w.manager, "month": "2026-04", "targets": {"meetings": 4}}),
        )
        .await;
    assert_ne!(response_id(&april, StatusCode::CREATED, "plan", 1), plan);

    refuse(
        app,
        "/plans",
        json!({"manager_id": Uuid::new_v4(), "month": "2026-03", "targets": {"calls": 1}}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reference_not_found",
    )
    .await;
    refuse(
        app,
        "/plans",
        json!({"manager_id": w.manager, "month": "2026-03", "targets": {}}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_targets",
    )
    .await;
    for month in ["2026-13", "2026-3", "March"] {
        refuse(
            app,
            "/plans",
            json!({"manager_id": w.manager, "month": month, "targets": {"calls": 1}}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        )
        .await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_duplicate_is_merged_and_unmerged_with_every_refusal(pool: PgPool) {
    let w = world(pool).await;
    let app = &w.app;
    let (survivor, duplicate, third) = (
        w.client,
        client(app, w.manager).await,
        client(app, w.manager).await,
    );
    let merge = |id: Uuid| format!("/clients/{id}/merge");
    let unmerge = |id: Uuid| format!("/clients/{id}/unmerge");

    refuse(
        app,
        &unmerge(duplicate),
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "client_not_merged",
    )
    .await;
    refuse(
        app,
        &merge(duplicate),
        json!({"into_client_id": duplicate}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "merge_into_itself",
    )
    .await;
    refuse(
        app,
        &merge(duplicate),
        json!({"into_client_id": Uuid::new_v4()}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reference_not_found",
    )
    .await;
    let merged = app
        .post(&merge(duplicate), &json!({"into_client_id": survivor}))
        .await;
    assert_eq!(response_id(&merged, StatusCode::OK, "client", 2), duplicate);
    refuse(
        app,
        &merge(duplicate),
        json!({"into_client_id": third}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "client_merged",
    )
    .await;
    refuse(
        app,
        &merge(third),
        json!({"into_client_id": duplicate}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "merge_into_merged",
    )
    .await;
    refuse(
        app,
        &merge(Uuid::new_v4()),
        json!({"into_client_id": survivor}),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let back = app.post(&unmerge(duplicate), &json!({})).await;
    response_id(&back, StatusCode::OK, "client", 3);
    let stream = payloads(app, &format!("client-{duplicate}")).await;
    assert_eq!(
        stream[1..],
        [
            (
                "ClientMerged".to_owned(),
                json!({"client_id": duplicate, "into_client_id": survivor})
            ),
            (
                "ClientUnmerged".to_owned(),
                json!({"client_id": duplicate, "from_client_id": survivor})
            ),
        ]
    );
    // The survivor's stream is not written.
    assert_eq!(events(app, &format!("client-{survivor}")).await.len(), 1);
}

#[sqlx::test(migrations = false)]
async fn an_interaction_says_whether_it_reached_its_goal(pool: PgPool) {
    let w = world(pool).await;
    let call = w
        .app
        .post(
            "/interactions",
            &json!({"kind": "call", "direction": "outbound", "manager_id": w.manager,
                    "client_id": w.client, "goal": "demo", "goal_reached": true}),
        )
        .await;
    let call = response_id(&call, StatusCode::CREATED, "interaction", 1);
    let stream = payloads(&w.app, &format!("interaction-{call}")).await;
    assert_eq!(stream[0].1["goal_reached"], json!(true));
    assert_eq!(stream[0].1["goal"], json!("demo"));
}

#[sqlx::test(migrations = false)]
async fn roles_and_reach_decide_who_does_what(pool: PgPool) {
    let w = world(pool).await;
    let app = &w.app;
    let other = manager(app, "Taras").await;
    let mine = token(app, Some(w.manager), "manager").await;
    let theirs = token(app, Some(other), "manager").await;
    let post = |token: String, path: String, body: Value| async move {
        app.send(Method::POST, &path, Some(&token), Some(&body), &[])
            .await
    };
    // Products and plans are not a manager's to define or set.
    let product = post(
        mine.clone(),
        "/products".into(),
        json!({"name": "Box", "category": "Packaging"}),
    )
    .await;
    assert_eq!(
        (product.status, product.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let plan = post(
        mine.clone(),
        "/plans".into(),
        json!({"manager_id": w.manager, "month": "2026-03", "targets": {"calls": 1}}),
    )
    .await;
    assert_eq!(
        (plan.status, plan.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    // A deal's lines, invoices and shipments are for who reaches the deal.
    let line = json!({"product_id": w.product, "quantity": 1, "price": 10});
    let lines = format!("/deals/{}/lines", w.deal);
    let before = app.event_count().await;
    let refused = post(theirs.clone(), lines.clone(), line.clone()).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "out_of_reach")
    );
    let invoice = json!({"number": "INV-9", "amount": 10, "due_on": "2026-04-01"});
    let refused = post(
        theirs.clone(),
        format!("/deals/{}/invoices", w.deal),
        invoice.clone(),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "out_of_reach")
    );
    let refused = post(
        theirs.clone(),
        format!("/deals/{}/shipments", w.deal),
        json!({"shipped_on": "2026-04-01"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "out_of_reach")
    );
    assert_eq!(app.event_count().await, before);
    let added = post(mine.clone(), lines, line).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let issued = post(mine.clone(), format!("/deals/{}/invoices", w.deal), invoice).await;
    let invoice = response_id(&issued, StatusCode::CREATED, "invoice", 1);
    // Paying it is for who reaches its deal too, refused before the rules are applied.
    let before = app.event_count().await;
    let refused = post(
        theirs,
        format!("/invoices/{invoice}/payments"),
        json!({"amount": 1_000_000, "paid_on": "2026-04-02"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "out_of_reach")
    );
    assert_eq!(app.event_count().await, before);
    let paid = post(
        mine,
        format!("/invoices/{invoice}/payments"),
        json!({"amount": 10, "paid_on": "2026-04-02"}),
    )
    .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
}
