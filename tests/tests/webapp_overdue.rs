//! The web app's overdue work (issue 16): the home's counts per kind, per department
//! (a director's) and per manager (a head's) equal the API's overdue reports for the
//! same person, a manager's are his own; `/ui/overdue` pages each list, the most
//! overdue first, [`PER_PAGE`] rows a page, the pages together the API's whole list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use axum::http::StatusCode;
use crm_api::hidden::HiddenFields;
use crm_api::webapp::overdue::{HOME_ROWS, PER_PAGE};
use crm_tests::company::Company;
use scraper::Html;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::webpage::{html, page, select, session, table_rows};

/// The three API reports' lists, as `person` (a token) sees them: tasks, deals, leads.
async fn api_lists(c: &Company, token: &str) -> [Vec<Value>; 3] {
    let mut lists: [Vec<Value>; 3] = Default::default();
    for (list, (path, key)) in lists.iter_mut().zip([
        ("/reports/overdue/tasks", "tasks"),
        ("/reports/overdue/deals", "deals"),
        ("/reports/overdue/leads", "leads"),
    ]) {
        let answer = c.get(token, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        *list = answer.body[key].as_array().unwrap().clone();
    }
    lists
}

/// The counts per kind a page shows.
fn totals_of(doc: &Html) -> Vec<i64> {
    ["overdue-tasks", "overdue-deals", "overdue-leads"]
        .iter()
        .map(|kind| {
            let found = select(doc, &format!("#overdue-counts strong[data-kind={kind}]"));
            found[0]
                .value()
                .attr("data-value")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// The API's lists counted per `group` of the responsible manager (tasks by
/// assignee, deals and leads by manager; a lead without one under "—").
fn grouped(
    lists: &[Vec<Value>; 3],
    group: impl Fn(Option<Uuid>) -> String,
) -> BTreeMap<String, Vec<String>> {
    let mut counts: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for (kind, (list, field)) in lists
        .iter()
        .zip(["assignee_id", "manager_id", "manager_id"])
        .enumerate()
    {
        for row in list {
            let manager = row[field].as_str().map(|s| s.parse().unwrap());
            counts.entry(group(manager)).or_default()[kind] += 1;
        }
    }
    counts
        .into_iter()
        .map(|(k, c)| (k, c.iter().map(i64::to_string).collect()))
        .collect()
}

/// A table's rows by their names: name → the other cells.
fn by_name(rows: Vec<Vec<String>>) -> BTreeMap<String, Vec<String>> {
    rows.into_iter().map(|mut r| (r.remove(0), r)).collect()
}

#[sqlx::test]
async fn overdue_counts_equal_the_apis_and_the_lists_are_paged(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let app = &c.app;
    // Enough of Bohdan's overdue tasks for two pages, one minute apart.
    let extra = PER_PAGE + 5;
    for n in 0..extra {
        let due = format!("2026-02-01T{:02}:{:02}:00Z", 8 + n / 60, n % 60);
        let answer = app
            .post(
                "/tasks",
                &json!({"title": format!("Chore {n:03}"), "assignee_id": c.bohdan, "due_at": due}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let cookie = session(app, "Dana", "director").await;
    c.settle().await;
    let names: BTreeMap<Uuid, &str> = [
        (c.andriy, "Andriy"),
        (c.bohdan, "Bohdan"),
        (c.ciril, "Ciril"),
        (c.hanna, "Hanna"),
    ]
    .into();
    let department = |m: Option<Uuid>| match m {
        Some(id) if id == c.ciril => "South".to_owned(),
        Some(_) => "North".to_owned(),
        None => "—".to_owned(),
    };

    // The director: the company's counts, per department.
    let all = api_lists(&c, &c.tokens.director).await;
    let home = html(&page(app, "/ui", Some(&cookie), None).await);
    let totals: Vec<i64> = all.iter().map(|l| l.len() as i64).collect();
    assert_eq!(totals, vec![3 + extra, 3, 2]);
    assert_eq!(totals_of(&home), totals);
    assert_eq!(
        by_name(table_rows(&home, "Overdue by department")),
        grouped(&all, department)
    );
    // The most overdue few, as the API lists them first.
    let shown: Vec<String> = table_rows(&home, "Overdue tasks")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let first: Vec<String> = all[0]
        .iter()
        .take(HOME_ROWS as usize)
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, first);

    // The head: his department's counts, per manager (tasks by assignee: Ciril's task
    // observed by Andriy is in reach, as in the API's by_manager).
    let his = api_lists(&c, &c.tokens.hanna).await;
    let home = html(&page(app, "/ui", None, Some(&c.tokens.hanna)).await);
    assert_eq!(
        totals_of(&home),
        his.iter().map(|l| l.len() as i64).collect::<Vec<_>>()
    );
    let name = |m: Option<Uuid>| m.map_or("—".to_owned(), |id| names[&id].to_owned());
    assert_eq!(
        by_name(table_rows(&home, "Overdue by manager")),
        grouped(&his, name)
    );
    let tasks = c.get(&c.tokens.hanna, "/reports/overdue/tasks").await;
    for m in tasks.body["by_manager"].as_array().unwrap() {
        let id: Uuid = m["manager_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            by_name(table_rows(&home, "Overdue by manager"))[names[&id]][0],
            m["overdue"].to_string()
        );
    }

    // A manager: his own, no table of others.
    let own = api_lists(&c, &c.tokens.andriy).await;
    let home = html(&page(app, "/ui", None, Some(&c.tokens.andriy)).await);
    assert_eq!(totals_of(&home), vec![2, 1, 1]);
    assert_eq!(
        totals_of(&home),
        own.iter().map(|l| l.len() as i64).collect::<Vec<_>>()
    );
    assert!(select(&home, "table caption")
        .iter()
        .all(|t| !t.text().collect::<String>().starts_with("Overdue by")));
    let others = page(
        app,
        &format!("/ui/overdue?manager_id={}", c.ciril),
        None,
        Some(&c.tokens.andriy),
    )
    .await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);

    // /ui/overdue pages the director's tasks: the pages together are the API's list.
    let mut titles = Vec::new();
    let mut next = Some("/ui/overdue".to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let doc = html(&page(app, &path, Some(&cookie), None).await);
        let rows = table_rows(&doc, "Overdue tasks");
        assert!(rows.len() as i64 <= PER_PAGE);
        titles.extend(rows.into_iter().map(|r| r[0].clone()));
        assert_eq!(table_rows(&doc, "Deals past their expected close").len(), 3);
        next = select(&doc, "nav.pager[data-list=overdue-tasks] a[rel=next]")
            .first()
            .map(|a| a.value().attr("href").unwrap().to_owned());
        pages += 1;
    }
    assert_eq!(pages, 2);
    let expected: Vec<String> = all[0]
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, expected);
    // Narrowed to a manager: the API's list of his tasks.
    let bohdan = c
        .get(
            &c.tokens.director,
            &format!("/reports/overdue/tasks?manager_id={}", c.bohdan),
        )
        .await;
    let doc = html(
        &page(
            app,
            &format!("/ui/overdue?manager_id={}", c.bohdan),
            Some(&cookie),
            None,
        )
        .await,
    );
    assert_eq!(
        totals_of(&doc)[0],
        bohdan.body["tasks"].as_array().unwrap().len() as i64
    );
    let bad = page(app, "/ui/overdue?tasks_page=0", Some(&cookie), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
