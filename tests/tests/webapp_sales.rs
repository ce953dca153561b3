//! The web app's sales pages (issue 18): a manager's day on his home, the month's
//! plans beside the managers' KPIs, the duplicate clients with their merge and
//! unmerge; each table equals the API's answer for the same person.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use crm_api::hidden::HiddenFields;
use crm_tests::company::Company;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::webpage::{
    csrf_in, figure, html, page, page_at, post_form, select, session, table_rows, text_of,
};

/// The rows of an API list, each the named fields' figures.
fn api_rows(list: &Value, fields: &[&str]) -> Vec<Vec<String>> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| fields.iter().map(|f| figure(&row[*f])).collect())
        .collect()
}

/// Andriy's day on 2 March: a second, larger client (Delta) with a 5000 deal beside
/// Alpha's, and a call to Alpha due that day; returns Delta's id once all is read.
async fn give_andriy_a_day(c: &Company) -> String {
    let delta = c
        .post(
            &c.tokens.andriy,
            "/clients",
            json!({"name": "Delta", "kind": "company", "manager_id": c.andriy}),
        )
        .await;
    assert_eq!(delta.status, StatusCode::CREATED, "{}", delta.body);
    let delta = delta.body["id"].as_str().unwrap().to_owned();
    let deal = c
        .post(
            &c.tokens.andriy,
            "/deals",
            json!({"client_id": delta, "pipeline_id": c.pipeline, "title": "Delta deal",
                   "amount": 5000, "manager_id": c.andriy}),
        )
        .await;
    assert_eq!(deal.status, StatusCode::CREATED, "{}", deal.body);
    let call = c
        .post(
            &c.tokens.andriy,
            "/tasks",
            json!({"title": "Call Alpha back", "kind": "call", "assignee_id": c.andriy,
                   "client_id": c.clients[0], "due_at": "2026-03-02T09:00:00Z"}),
        )
        .await;
    assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
    c.settle().await;
    delta
}

#[sqlx::test]
async fn a_managers_home_shows_his_day_as_the_api_gives_it(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let delta = give_andriy_a_day(&c).await;

    let path = "/ui?date=2026-03-02";
    let home = html(&page(app, path, None, Some(&c.tokens.andriy)).await);
    let api = c
        .get(
            &c.tokens.andriy,
            &format!("/managers/{}/day?date=2026-03-02", c.andriy),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    // Values known from what was written: his one lead, his two clients (the larger
    // first), the call due that day.
    let prospects = table_rows(&home, "New prospects");
    assert_eq!(
        prospects,
        vec![vec!["Lead 0".to_owned(), "2026-01-05T10:00:00Z".to_owned()]]
    );
    assert_eq!(
        prospects,
        api_rows(&api.body["prospects"], &["name", "received_at"])
    );
    let clients = table_rows(&home, "Working clients, largest open amount first");
    let names: Vec<&str> = clients.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Delta", "Alpha"]);
    assert_eq!(clients[0][1..], ["1".to_owned(), "5000".to_owned()]);
    assert_eq!(
        clients,
        api_rows(&api.body["clients"], &["name", "open_deals", "open_amount"])
    );
    let tails = table_rows(&home, "Tails of calls");
    assert_eq!(
        tails,
        vec![vec![
            "Call Alpha back".to_owned(),
            c.clients[0].to_string(),
            "2026-03-02T09:00:00Z".to_owned()
        ]]
    );
    assert_eq!(
        tails,
        api_rows(&api.body["tails"], &["title", "client_id", "due_at"])
    );
    // Each row leads to its lead, client or task's client.
    let links: Vec<String> = select(&home, "#day tbody th a")
        .iter()
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    assert!(links[0].starts_with("/ui/leads?"), "{links:?}");
    assert_eq!(links[1], format!("/ui/clients/{delta}"));
    assert_eq!(links[2], format!("/ui/clients/{}", c.clients[0]));
    assert_eq!(links[3], format!("/ui/clients/{}", c.clients[0]));

    // Another day: no tails, said in words; in Ukrainian too.
    let home = html(&page(app, "/ui?date=2026-03-20", None, Some(&c.tokens.andriy)).await);
    let empty: Vec<String> = select(&home, "#day-tails p.empty")
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(empty.len(), 1, "the empty list says why");
    let cookie = crate::webpage::session(app, "Olena", "manager").await;
    c.settle().await;
    let uk = app
        .send(
            axum::http::Method::GET,
            "/ui",
            None,
            None,
            &[("cookie", &format!("{cookie}; crm_lang=uk"))],
        )
        .await;
    let uk = html(&uk);
    assert!(select(&uk, "#day h2")[0].inner_html().contains("Мій день"));
    // A head's home has no day of his own.
    let head = html(&page(app, "/ui", None, Some(&c.tokens.hanna)).await);
    assert!(select(&head, "#day").is_empty());
}

#[sqlx::test]
async fn the_managers_page_shows_the_months_plans_as_the_api_gives_them(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    // Andriy: 3 calls of 2 minutes in March 2026 against a plan of 4 calls and 1
    // meeting; Ciril (another department) a plan too.
    for day in 2..5 {
        let call = c
            .post(
                &c.tokens.andriy,
                "/interactions",
                json!({"kind": "call", "direction": "outbound", "manager_id": c.andriy,
                       "client_id": c.clients[0], "duration_s": 120,
                       "occurred_at": format!("2026-03-0{day}T10:00:00Z")}),
            )
            .await;
        assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
    }
    for (manager, targets) in [
        (
            c.andriy,
            json!({"calls": 4, "meetings": 1, "call_seconds": 600}),
        ),
        (c.ciril, json!({"calls": 10})),
    ] {
        let plan = app
            .post(
                "/plans",
                &json!({"manager_id": manager, "month": "2026-03", "targets": targets}),
            )
            .await;
        assert!(plan.status.is_success(), "{}", plan.body);
    }
    c.settle().await;

    let path = "/ui/managers?from=2026-03-01&to=2026-04-01";
    let caption = "Plans of the month";
    // The head sees his department's: Andriy's plan, figures known from what was
    // written: 3 of 4 calls (75 %), 0 of 1 meeting, 360 of 600 seconds (60 %).
    let doc = html(&page(app, path, None, Some(&c.tokens.hanna)).await);
    let rows = table_rows(&doc, caption);
    let mut expected = vec!["Andriy".to_owned()];
    for (target, actual, percent) in [
        ("4", "3", "75.0"),
        ("1", "0", "0.0"),
        ("600", "360", "60.0"),
        ("null", "0", "null"),
        ("null", "0", "null"),
    ] {
        expected.extend([target.to_owned(), actual.to_owned(), percent.to_owned()]);
    }
    assert_eq!(rows, vec![expected]);
    // The director's page: every plan, equal to the API's answer for him.
    let doc = html(&page(app, path, None, Some(&c.tokens.director)).await);
    let api = c
        .get(&c.tokens.director, "/reports/plans?month=2026-03")
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let from_api: Vec<Vec<String>> = api.body["managers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut row = vec![figure(&m["name"])];
            for f in [
                "calls",
                "meetings",
                "call_seconds",
                "deals_won",
                "won_amount",
            ] {
                row.push(figure(&m["targets"][f]));
                row.push(figure(&m["actual"][f]));
                row.push(figure(&m["percent"][f]));
            }
            row
        })
        .collect();
    assert_eq!(from_api.len(), 2);
    assert_eq!(table_rows(&doc, caption), from_api);
    // A month without plans says so; a period that is no month asks for one.
    let doc = html(
        &page(
            app,
            "/ui/managers?from=2026-05-01&to=2026-06-01",
            None,
            Some(&c.tokens.director),
        )
        .await,
    );
    assert_eq!(select(&doc, "#plans p.empty").len(), 1);
    let doc = html(
        &page(
            app,
            "/ui/managers?from=2026-03-01&to=2026-03-15",
            None,
            Some(&c.tokens.director),
        )
        .await,
    );
    assert!(select(&doc, "#plans table").is_empty());
    assert_eq!(select(&doc, "#plans p.empty").len(), 1);
}

/// The groups a duplicates page shows: (match, value, client ids).
fn groups_on(doc: &scraper::Html) -> Vec<(String, String, Vec<String>)> {
    let rows = scraper::Selector::parse("tbody th").unwrap();
    select(doc, "section.duplicates")
        .iter()
        .map(|s| {
            let attr = |name: &str| s.value().attr(name).unwrap().to_owned();
            let ids = s
                .select(&rows)
                .map(|th| th.value().attr("data-value").unwrap().to_owned())
                .collect();
            (attr("data-match"), attr("data-value"), ids)
        })
        .collect()
}

/// The groups of the API's `GET /clients/duplicates` as `token` sees them.
async fn groups_of_api(c: &Company, token: &str) -> Vec<(String, String, Vec<String>)> {
    let api = c.get(token, "/clients/duplicates").await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    api.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let ids = g["client_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(figure)
                .collect();
            (figure(&g["match"]), figure(&g["value"]), ids)
        })
        .collect()
}

#[sqlx::test]
async fn duplicates_are_merged_and_unmerged_from_their_pages(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    let cookie = session(app, "Dana", "director").await;
    c.settle().await;
    let [alpha, beta, gamma] = c.clients.map(|id| id.to_string());
    let mut three = vec![alpha.clone(), beta.clone(), gamma.clone()];
    three.sort();

    // The three clients share their contact's phone and e-mail (phone first, as the
    // API orders its groups).
    let doc = page_at(app, "/ui/clients/duplicates", &cookie).await;
    let shown = groups_on(&doc);
    assert_eq!(
        shown,
        vec![
            ("phone".to_owned(), "0501112233".to_owned(), three.clone()),
            (
                "email".to_owned(),
                "boss@example.com".to_owned(),
                three.clone()
            ),
        ]
    );
    assert_eq!(shown, groups_of_api(&c, &c.tokens.director).await);
    assert_eq!(
        select(&doc, "nav.menu a[href='/ui/clients/duplicates']").len(),
        1
    );
    // Not a page for an auditor (he may read but not merge), nor in his menu.
    let audit = page(app, "/ui/clients/duplicates", None, Some(&c.tokens.auditor)).await;
    assert_eq!(audit.status, StatusCode::FORBIDDEN);
    let home = html(&page(app, "/ui", None, Some(&c.tokens.auditor)).await);
    assert!(select(&home, "nav.menu a[href='/ui/clients/duplicates']").is_empty());

    // A merge without the CSRF token is refused and appends nothing.
    let before = c.last_position().await;
    let path = format!("/ui/clients/{beta}/merge");
    let refused = post_form(app, &path, &cookie, &[("into_client_id", &alpha)], &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(c.last_position().await, before);
    // Beta merged into Alpha from its row's form.
    let form = format!("section[data-match=phone] tr[data-client='{beta}'] form.merge");
    let csrf = csrf_in(&doc, &form);
    let merged = post_form(
        app,
        &path,
        &cookie,
        &[("csrf_token", &csrf), ("into_client_id", &alpha)],
        &[],
    )
    .await;
    assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.body);
    assert!(c.last_position().await > before);
    // Back on the page, which waits for the merge (its `min_position`).
    let back = merged.headers["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("/ui/clients/duplicates?min_position="),
        "{back}"
    );
    let doc = page_at(app, &back, &cookie).await;
    let mut two = vec![alpha.clone(), gamma.clone()];
    two.sort();
    assert_eq!(groups_on(&doc)[0].2, two);
    let card = c.get(&c.tokens.director, &format!("/clients/{beta}")).await;
    assert_eq!(figure(&card.body["merged_into_client_id"]), alpha);
    assert_eq!(groups_on(&doc), groups_of_api(&c, &c.tokens.director).await);

    // The merged client's card offers the unmerge; the survivor's does not.
    let survivor = page_at(app, &format!("/ui/clients/{alpha}"), &cookie).await;
    assert!(select(&survivor, "form.unmerge").is_empty());
    let card = page_at(app, &format!("/ui/clients/{beta}"), &cookie).await;
    let csrf = csrf_in(&card, "form.unmerge");
    let undone = post_form(
        app,
        &format!("/ui/clients/{beta}/unmerge"),
        &cookie,
        &[("csrf_token", &csrf)],
        &[],
    )
    .await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER, "{}", undone.body);
    let back = undone.headers["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("/ui/clients/{beta}?min_position=")),
        "{back}"
    );
    let card = page_at(app, &back, &cookie).await;
    assert!(select(&card, "form.unmerge").is_empty());
    let doc = page_at(app, "/ui/clients/duplicates", &cookie).await;
    assert_eq!(groups_on(&doc)[0].2, three);
    assert_eq!(groups_on(&doc), groups_of_api(&c, &c.tokens.director).await);
    // In Ukrainian too.
    let uk = app
        .send(
            axum::http::Method::GET,
            "/ui/clients/duplicates",
            None,
            None,
            &[("cookie", &format!("{cookie}; crm_lang=uk"))],
        )
        .await;
    assert!(html(&uk).html().contains("Ймовірні дублікати клієнтів"));
}

#[sqlx::test]
async fn the_revenue_page_offers_the_sales_groupings_as_the_api_gives_them(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    // Alpha's deal (1000) with 2 × 300 of a tool, Beta's (2000) without lines, both
    // won on 5 March: each its client's first win.
    let product = app
        .post("/products", &json!({"name": "Widget", "category": "Tools"}))
        .await;
    assert!(product.status.is_success(), "{}", product.body);
    let line = app
        .post(
            &format!("/deals/{}/lines", c.deals[0]),
            &json!({"product_id": product.body["id"], "quantity": 2, "price": 300}),
        )
        .await;
    assert!(line.status.is_success(), "{}", line.body);
    for deal in &c.deals[..2] {
        let won = app
            .post(
                &format!("/deals/{deal}/win"),
                &json!({"occurred_at": "2026-03-05T10:00:00Z"}),
            )
            .await;
        assert!(won.status.is_success(), "{}", won.body);
    }
    c.settle().await;
    let period = "from=2026-03-01&to=2026-04-01";
    let expected = [
        ("category", vec![vec!["Tools", "1", "600"]]),
        ("novelty", vec![vec!["new", "2", "3000"]]),
        ("first_contact", vec![vec!["unknown", "2", "3000"]]),
    ];
    for (by, rows) in expected {
        let doc = html(
            &page(
                app,
                &format!("/ui/revenue?by={by}&{period}"),
                None,
                Some(&c.tokens.director),
            )
            .await,
        );
        let shown = table_rows(&doc, "Revenue");
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
            .collect();
        assert_eq!(shown, rows, "by={by}");
    }
    for by in ["product", "category", "novelty", "first_contact"] {
        let doc = html(
            &page(
                app,
                &format!("/ui/revenue?by={by}&{period}"),
                None,
                Some(&c.tokens.director),
            )
            .await,
        );
        let api = c
            .get(
                &c.tokens.director,
                &format!("/reports/revenue?by={by}&{period}"),
            )
            .await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.body);
        assert_eq!(
            table_rows(&doc, "Revenue"),
            api_rows(&api.body["groups"], &["key", "deals", "amount"]),
            "by={by}"
        );
        let offered = select(&doc, &format!("select#by option[value={by}]"));
        assert_eq!(offered.len(), 1);
    }
    // By product, people read the product's name; the row's `data-value` stays the
    // API's key (the product's id); in the chart too.
    let doc = html(
        &page(
            app,
            &format!("/ui/revenue?by=product&{period}"),
            None,
            Some(&c.tokens.director),
        )
        .await,
    );
    let product_id = product.body["id"].as_str().unwrap();
    let names: Vec<(String, String)> = select(&doc, "table.figures tbody th")
        .iter()
        .map(|th| {
            (
                th.value().attr("data-value").unwrap().to_owned(),
                text_of(th).trim().to_owned(),
            )
        })
        .collect();
    assert_eq!(names, [(product_id.to_owned(), "Widget".to_owned())]);
    let labels: Vec<String> = select(&doc, "svg text.label").iter().map(text_of).collect();
    assert_eq!(labels, ["Widget"]);
    assert!(
        !doc.html().contains(&format!(">{product_id}<")),
        "no id shown"
    );
}

#[sqlx::test]
async fn a_head_opens_his_managers_day_not_another_departments(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    // Andriy's day as on his home; Ciril (South) keeps his Gamma and its 3000 deal.
    give_andriy_a_day(&c).await;

    // Hanna, head of North, opens Andriy's day from the managers page.
    let managers = html(
        &page(
            app,
            "/ui/managers?from=2026-03-01&to=2026-04-01",
            None,
            Some(&c.tokens.hanna),
        )
        .await,
    );
    let days: Vec<String> = select(&managers, "table.figures tbody th a.day")
        .iter()
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    let andriys = format!("/ui/managers/{}/day", c.andriy);
    assert!(days.contains(&andriys), "{days:?}");
    assert!(days.contains(&format!("/ui/managers/{}/day", c.bohdan)));
    assert!(!days.contains(&format!("/ui/managers/{}/day", c.ciril)));
    let path = format!("{andriys}?date=2026-03-02");
    let doc = html(&page(app, &path, None, Some(&c.tokens.hanna)).await);
    assert!(text_of(&select(&doc, "h1")[0]).contains("Andriy"));
    // The figures, known from what was written: his one lead; Delta (1 deal, 5000)
    // before Alpha (its 1000 deal); the call due that day.
    assert_eq!(
        table_rows(&doc, "New prospects"),
        [["Lead 0", "2026-01-05T10:00:00Z"]]
    );
    assert_eq!(
        table_rows(&doc, "Working clients, largest open amount first"),
        [["Delta", "1", "5000"], ["Alpha", "1", "1000"]]
    );
    assert_eq!(
        table_rows(&doc, "Tails of calls"),
        [[
            "Call Alpha back".to_owned(),
            c.clients[0].to_string(),
            "2026-03-02T09:00:00Z".to_owned()
        ]]
    );
    // The same as the API's answer for her; the date picker stays on this page.
    let api = c
        .get(
            &c.tokens.hanna,
            &format!("/managers/{}/day?date=2026-03-02", c.andriy),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    assert_eq!(
        table_rows(&doc, "Working clients, largest open amount first"),
        api_rows(&api.body["clients"], &["name", "open_deals", "open_amount"])
    );
    assert_eq!(
        select(&doc, "#day form.filters")[0].value().attr("action"),
        Some(andriys.as_str())
    );

    // Ciril is of another department: her page is the app's 403, nothing of his day.
    let other = page(
        app,
        &format!("/ui/managers/{}/day?date=2026-03-02", c.ciril),
        None,
        Some(&c.tokens.hanna),
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let other = crate::webpage::parse(&other);
    assert_eq!(select(&other, "div.error").len(), 1);
    assert!(select(&other, "#day").is_empty());
    assert!(!other.html().contains("Gamma"));
    // An unknown manager: 404; a role that reads no days: 403.
    let unknown = format!("/ui/managers/{}/day", uuid::Uuid::new_v4());
    let missing = page(app, &unknown, None, Some(&c.tokens.hanna)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    for token in [&c.tokens.analyst, &c.tokens.auditor] {
        let refused = page(app, &andriys, None, Some(token)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
    let analysts = html(
        &page(
            app,
            "/ui/managers?from=2026-03-01&to=2026-04-01",
            None,
            Some(&c.tokens.analyst),
        )
        .await,
    );
    assert!(select(&analysts, "a.day").is_empty());
    // A manager reads his own day there, not his colleague's; a director anyone's.
    let own = page(app, &path, None, Some(&c.tokens.andriy)).await;
    assert_eq!(own.status, StatusCode::OK);
    let colleague = format!("/ui/managers/{}/day", c.bohdan);
    let refused = page(app, &colleague, None, Some(&c.tokens.andriy)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let cirils = html(
        &page(
            app,
            &format!("/ui/managers/{}/day?date=2026-03-02", c.ciril),
            None,
            Some(&c.tokens.director),
        )
        .await,
    );
    assert_eq!(
        table_rows(&cirils, "Working clients, largest open amount first"),
        [["Gamma", "1", "3000"]]
    );
}
