//! Who may see and do what: each role's reach over lists, cards, timelines, reports
//! and the log; 403s that append nothing; bulk pages; hidden fields.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use crm_api::hidden::HiddenFields;
use crm_tests::company::{forbidden, Company};
use crm_tests::read::has_key;
use crm_tests::Answer;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

fn set<const N: usize>(ids: [Uuid; N]) -> BTreeSet<Uuid> {
    ids.into_iter().collect()
}

#[sqlx::test(migrations = false)]
async fn lists_cards_and_timelines_show_each_role_its_reach(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let [ca, cb, cc] = c.clients;
    let [da, db, dc] = c.deals;
    let [ta, tc, tb] = c.tasks;

    // Clients: his own for a manager, the department's for a head, all above.
    assert_eq!(c.ids(&t.andriy, "/clients", "id").await, set([ca]));
    assert_eq!(c.ids(&t.ciril, "/clients", "id").await, set([cc]));
    assert_eq!(c.ids(&t.hanna, "/clients", "id").await, set([ca, cb]));
    for token in [&t.director, &t.auditor] {
        assert_eq!(c.ids(token, "/clients", "id").await, set([ca, cb, cc]));
    }
    // A filter by a manager out of reach is refused, within reach it narrows.
    forbidden(
        &c.get(&t.andriy, &format!("/clients?manager_id={}", c.bohdan))
            .await,
        "out_of_reach",
    );
    assert_eq!(
        c.ids(&t.hanna, &format!("/clients?manager_id={}", c.bohdan), "id")
            .await,
        set([cb])
    );
    // Cards and timelines.
    assert_eq!(
        c.get(&t.andriy, &format!("/clients/{ca}")).await.status,
        StatusCode::OK
    );
    forbidden(
        &c.get(&t.andriy, &format!("/clients/{cb}")).await,
        "out_of_reach",
    );
    forbidden(
        &c.get(&t.andriy, &format!("/clients/{cb}/timeline")).await,
        "out_of_reach",
    );
    assert_eq!(
        c.get(&t.hanna, &format!("/clients/{cb}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        c.get(&t.hanna, &format!("/clients/{cb}/timeline"))
            .await
            .status,
        StatusCode::OK
    );
    forbidden(
        &c.get(&t.hanna, &format!("/clients/{cc}")).await,
        "out_of_reach",
    );
    assert_eq!(
        c.get(&t.auditor, &format!("/clients/{cc}/timeline"))
            .await
            .status,
        StatusCode::OK
    );

    // Deals.
    assert_eq!(c.ids(&t.andriy, "/deals", "id").await, set([da]));
    assert_eq!(c.ids(&t.hanna, "/deals", "id").await, set([da, db]));
    assert_eq!(c.ids(&t.director, "/deals", "id").await, set([da, db, dc]));
    forbidden(
        &c.get_raw(&t.andriy, &format!("/deals/{dc}")).await,
        "out_of_reach",
    );
    assert_eq!(
        c.get_raw(&t.ciril, &format!("/deals/{dc}")).await.status,
        StatusCode::OK
    );

    // Tasks: assignee, co-executor or observer.
    assert_eq!(c.ids(&t.andriy, "/tasks", "id").await, set([ta, tc]));
    assert_eq!(c.ids(&t.ciril, "/tasks", "id").await, set([tc]));
    assert_eq!(c.ids(&t.bohdan, "/tasks", "id").await, set([tb]));
    assert_eq!(c.ids(&t.hanna, "/tasks", "id").await, set([ta, tc, tb]));
    // Ciril's tasks, as Andriy sees them: the one he observes.
    assert_eq!(
        c.ids(&t.andriy, &format!("/tasks?assignee_id={}", c.ciril), "id")
            .await,
        set([tc])
    );

    // Analysts read no clients, deals or tasks at all.
    for path in [
        "/clients".to_owned(),
        format!("/clients/{ca}"),
        "/deals".into(),
        "/tasks".into(),
    ] {
        forbidden(&c.get(&t.analyst, &path).await, "forbidden");
    }
}

#[sqlx::test(migrations = false)]
async fn reports_count_only_what_each_role_reaches(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let rows = |answer: &Answer| -> BTreeSet<Uuid> {
        answer.body["managers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["manager_id"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let kpis = "/reports/managers?from=2026-01-01&to=2027-01-01";
    assert_eq!(rows(&c.get(&t.andriy, kpis).await), set([c.andriy]));
    assert_eq!(
        rows(&c.get(&t.hanna, kpis).await),
        set([c.andriy, c.bohdan, c.hanna])
    );
    assert_eq!(
        rows(&c.get(&t.analyst, kpis).await),
        set([c.andriy, c.bohdan, c.ciril, c.hanna])
    );
    forbidden(
        &c.get(&t.andriy, &format!("{kpis}&manager_id={}", c.ciril))
            .await,
        "out_of_reach",
    );

    // The funnel: open deals by stage, 1000 (Andriy), 2000 (Bohdan), 3000 (Ciril).
    let funnel = format!("/reports/funnel?pipeline_id={}", c.pipeline);
    let first_stage = |answer: &Answer| {
        assert_eq!(
            answer.body["stages"][0]["stage_id"],
            c.stages[0].to_string()
        );
        (
            answer.body["stages"][0]["deals"].as_i64().unwrap(),
            answer.body["stages"][0]["amount"].as_i64().unwrap(),
        )
    };
    assert_eq!(first_stage(&c.get(&t.andriy, &funnel).await), (1, 1000));
    assert_eq!(first_stage(&c.get(&t.hanna, &funnel).await), (2, 3000));
    assert_eq!(first_stage(&c.get(&t.director, &funnel).await), (3, 6000));
    assert_eq!(first_stage(&c.get(&t.analyst, &funnel).await), (3, 6000));

    // Overdue deals and tasks (everything is due early in January 2026).
    let now = "now=2026-02-01T00:00:00Z";
    let overdue = c
        .get(&t.ciril, &format!("/reports/overdue/deals?{now}"))
        .await;
    let deals: Vec<&str> = overdue.body["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deal_id"].as_str().unwrap())
        .collect();
    assert_eq!(deals, [c.deals[2].to_string()]);
    let overdue = c
        .get(&t.andriy, &format!("/reports/overdue/tasks?{now}"))
        .await;
    let tasks: BTreeSet<Uuid> = overdue.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["task_id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(tasks, set([c.tasks[0], c.tasks[1]]));

    // Forecast and revenue: only reachable deals.
    let forecast = c.get(&t.hanna, "/reports/forecast").await;
    assert_eq!(forecast.body["months"][0]["amount"], 3000);
    let leads = c
        .get(
            &t.andriy,
            "/reports/leads?by=manager&from=2026-01-01&to=2026-02-01",
        )
        .await;
    assert_eq!(
        leads.body["groups"],
        json!([{"key": c.andriy.to_string(), "leads": 1}])
    );
    let leads = c
        .get(
            &t.director,
            "/reports/leads?by=manager&from=2026-01-01&to=2026-02-01",
        )
        .await;
    assert_eq!(leads.body["groups"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrations = false)]
async fn outcomes_cohorts_and_custom_rows_follow_the_reach(pool: PgPool) {
    let mut c = Company::new(pool, HiddenFields::default()).await;
    let [da, db, dc] = c.deals;
    // Andriy's and Ciril's deals won, Bohdan's lost, in March 2026.
    let at = "2026-03-02T10:00:00Z";
    for (deal, outcome, body) in [
        (da, "win", json!({"occurred_at": at})),
        (dc, "win", json!({"occurred_at": at})),
        (db, "lose", json!({"reason": "price", "occurred_at": at})),
    ] {
        let path = format!("/deals/{deal}/{outcome}");
        let answer = c.post(&c.tokens.director, &path, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    c.position = c.last_position().await;
    let t = &c.tokens;
    let period = "from=2026-03-01&to=2026-04-01";
    let revenue = |answer: &Answer| -> Vec<(String, i64)> {
        answer.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["key"].as_str().unwrap().to_owned(),
                    g["amount"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let by_manager = format!("/reports/revenue?by=manager&{period}");
    assert_eq!(
        revenue(&c.get(&t.andriy, &by_manager).await),
        [(c.andriy.to_string(), 1000)]
    );
    assert_eq!(
        revenue(
            &c.get(&t.ciril, &format!("/reports/revenue?by=pipeline&{period}"))
                .await
        ),
        [(c.pipeline.to_string(), 3000)]
    );
    assert_eq!(
        revenue(&c.get(&t.director, &by_manager).await),
        [(c.ciril.to_string(), 3000), (c.andriy.to_string(), 1000)]
    );
    let losses = format!("/reports/loss-reasons?{period}");
    assert_eq!(c.get(&t.andriy, &losses).await.body["reasons"], json!([]));
    assert_eq!(
        c.get(&t.hanna, &losses).await.body["reasons"],
        json!([{"reason": "price", "deals": 1, "amount": 2000}])
    );
    // Cohorts: the deals were opened now, in the year from 2026-01-01.
    let conversion = format!(
        "/reports/conversion?pipeline_id={}&from=2026-01-01&to=2100-01-01",
        c.pipeline
    );
    let cohort = |answer: &Answer| {
        (
            answer.body["cohort"].as_i64().unwrap(),
            answer.body["won"].as_i64().unwrap(),
            answer.body["lost"].as_i64().unwrap(),
        )
    };
    assert_eq!(cohort(&c.get(&t.andriy, &conversion).await), (1, 1, 0));
    assert_eq!(cohort(&c.get(&t.hanna, &conversion).await), (2, 1, 1));
    assert_eq!(cohort(&c.get(&t.auditor, &conversion).await), (3, 2, 1));
    forbidden(
        &c.get(&t.ciril, &format!("{conversion}&manager_id={}", c.andriy))
            .await,
        "out_of_reach",
    );

    // Custom projections hold company-wide figures: not for managers and heads.
    let defined = c
        .post(
            &t.analyst,
            "/projections",
            json!({"name": "wins", "event_types": ["DealWon"],
                   "measures": [{"name": "n", "fn": "count"}]}),
        )
        .await;
    assert_eq!(defined.status, StatusCode::ACCEPTED, "{}", defined.body);
    for token in [&t.andriy, &t.hanna] {
        forbidden(
            &c.get_raw(token, "/projections/wins/rows").await,
            "forbidden",
        );
    }
    // Once built (the catalog and the first build follow the log), its rows for each
    // of the roles that read them: the two wins.
    for token in [&t.analyst, &t.director, &t.auditor] {
        let rows = crm_tests::retry(
            std::time::Duration::from_secs(10),
            |a: &Answer| [StatusCode::NOT_FOUND, StatusCode::CONFLICT].contains(&a.status),
            || async {
                let a = c.get_raw(token, "/projections/wins/rows").await;
                if a.status == StatusCode::OK {
                    Ok(a)
                } else {
                    Err(a)
                }
            },
        )
        .await
        .unwrap_or_else(|a| panic!("{}", a.body));
        assert_eq!(rows.body["items"][0]["n"], 2, "{}", rows.body);
    }
}

#[sqlx::test(migrations = false)]
async fn commands_outside_ones_reach_are_403_and_append_nothing(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let [ca, cb, _] = c.clients;
    let [_, _, dc] = c.deals;
    let before = c.app.event_count().await;
    let refused = [
        // Someone else's client, deal or task.
        (
            &t.andriy,
            format!("/clients/{cb}/assign"),
            json!({"manager_id": c.andriy}),
        ),
        (
            &t.andriy,
            format!("/deals/{dc}/amount"),
            json!({"amount": 1}),
        ),
        (
            &t.andriy,
            format!("/tasks/{}/complete", c.tasks[2]),
            json!({}),
        ),
        // The task he only observes.
        (
            &t.andriy,
            format!("/tasks/{}/complete", c.tasks[1]),
            json!({}),
        ),
        // A new client for someone else; his own client handed to someone else.
        (
            &t.andriy,
            "/clients".into(),
            json!({"name": "X", "kind": "person", "manager_id": c.bohdan}),
        ),
        (
            &t.andriy,
            format!("/clients/{ca}/assign"),
            json!({"manager_id": c.bohdan}),
        ),
        // A head outside his department.
        (
            &t.hanna,
            format!("/clients/{ca}/assign"),
            json!({"manager_id": c.ciril}),
        ),
        (&t.hanna, format!("/deals/{dc}/win"), json!({})),
        // Roles that change nothing, or not this.
        (
            &t.auditor,
            "/clients".into(),
            json!({"name": "X", "kind": "person", "manager_id": c.andriy}),
        ),
        (
            &t.analyst,
            "/interactions".into(),
            json!({"kind": "call", "direction": "outbound", "manager_id": c.andriy}),
        ),
        (
            &t.andriy,
            "/managers".into(),
            json!({"name": "Y", "department": "North", "role": "manager"}),
        ),
        (
            &t.hanna,
            "/pipelines".into(),
            json!({"name": "P", "stages": [{"name": "S", "probability": 0.5}]}),
        ),
        (
            &t.andriy,
            format!("/managers/{}/deactivate", c.bohdan),
            json!({}),
        ),
    ];
    for (token, path, body) in &refused {
        let answer = c.post(token, path, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
        assert!(
            ["forbidden", "out_of_reach"].contains(&answer.code()),
            "{path}: {}",
            answer.body
        );
    }
    assert_eq!(c.app.event_count().await, before);

    // Within reach: his own deal and task, a head inside his department.
    let ok = [
        (
            &t.andriy,
            format!("/deals/{}/amount", c.deals[0]),
            json!({"amount": 5}),
        ),
        (
            &t.andriy,
            format!("/tasks/{}/complete", c.tasks[0]),
            json!({}),
        ),
        (
            &t.hanna,
            format!("/clients/{ca}/assign"),
            json!({"manager_id": c.bohdan}),
        ),
        (
            &t.andriy,
            "/clients".into(),
            json!({"name": "Mine", "kind": "person", "manager_id": c.andriy}),
        ),
        (
            &t.director,
            format!("/clients/{}/assign", c.clients[2]),
            json!({"manager_id": c.andriy}),
        ),
    ];
    for (token, path, body) in &ok {
        let answer = c.post(token, path, body.clone()).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.body);
    }
    assert_eq!(c.app.event_count().await, before + ok.len() as i64);
}

#[sqlx::test(migrations = false)]
async fn a_tasks_assignee_co_executors_and_their_heads_change_it_its_observers_only_read_it(
    pool: PgPool,
) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    // Ciril's (South) task, Bohdan (North) helping, Andriy (North) watching.
    let answer = c
        .app
        .post(
            "/tasks",
            &json!({"title": "Shared", "assignee_id": c.ciril, "due_at": "2026-02-01T09:00:00Z",
                    "co_executor_ids": [c.bohdan], "observer_ids": [c.andriy]}),
        )
        .await;
    let shared = crm_tests::scenario::response_id(&answer, StatusCode::CREATED, "task", 1);
    // Ciril's task that only Andriy watches (the company's).
    let watched = c.tasks[1];
    c.settle().await;
    let later = |day: u32| json!({"due_at": format!("2026-03-{day:02}T09:00:00Z")});

    // Observers read: the task, its stream, the list.
    for task in [shared, watched] {
        let read = c.get(&t.andriy, &format!("/tasks/{task}")).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        let stream = c
            .get_raw(&t.andriy, &format!("/streams/task-{task}/events"))
            .await;
        assert_eq!(stream.status, StatusCode::OK, "{}", stream.body);
    }
    assert!(c.ids(&t.andriy, "/tasks", "id").await.contains(&shared));
    // ... and change nothing: neither the observer nor, through him, his head.
    let before = c.app.event_count().await;
    for (token, task) in [
        (&t.andriy, shared),
        (&t.andriy, watched),
        (&t.hanna, watched),
    ] {
        for (action, body) in [
            ("reschedule", later(2)),
            ("assign", json!({"assignee_id": c.andriy})),
            ("complete", json!({})),
            ("cancel", json!({})),
        ] {
            let answer = c
                .post(token, &format!("/tasks/{task}/{action}"), body)
                .await;
            forbidden(&answer, "out_of_reach");
        }
    }
    assert_eq!(c.app.event_count().await, before);

    // The co-executor, the head of his department and the assignee act on it.
    for (token, day) in [(&t.bohdan, 3), (&t.hanna, 4), (&t.ciril, 5)] {
        let answer = c
            .post(token, &format!("/tasks/{shared}/reschedule"), later(day))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let answer = c
        .post(&t.bohdan, &format!("/tasks/{shared}/complete"), json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(c.app.event_count().await, before + 4);
}

#[sqlx::test(migrations = false)]
async fn the_log_is_read_by_auditors_and_each_stream_within_reach(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let [ca, cb, _] = c.clients;
    for token in [&t.andriy, &t.hanna, &t.analyst] {
        forbidden(&c.get_raw(token, "/events").await, "forbidden");
        forbidden(&c.get_raw(token, "/audit/verify").await, "forbidden");
    }
    for token in [&t.auditor, &t.director] {
        assert_eq!(c.get_raw(token, "/events").await.status, StatusCode::OK);
        let verify = c.get_raw(token, "/audit/verify").await;
        assert_eq!(verify.body["ok"], true, "{}", verify.body);
    }
    for path in ["events", "state"] {
        let mine = c
            .get_raw(&t.andriy, &format!("/streams/client-{ca}/{path}"))
            .await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
        forbidden(
            &c.get_raw(&t.andriy, &format!("/streams/client-{cb}/{path}"))
                .await,
            "out_of_reach",
        );
        forbidden(
            &c.get_raw(
                &t.andriy,
                &format!("/streams/pipeline-{}/{path}", c.pipeline),
            )
            .await,
            "out_of_reach",
        );
        assert_eq!(
            c.get_raw(&t.hanna, &format!("/streams/client-{cb}/{path}"))
                .await
                .status,
            StatusCode::OK
        );
        forbidden(
            &c.get_raw(&t.analyst, &format!("/streams/client-{ca}/{path}"))
                .await,
            "forbidden",
        );
    }
    // Exports: managers and heads are refused, and nothing is recorded for them.
    let before = c.app.event_count().await;
    for token in [&t.andriy, &t.hanna, &t.director, &t.analyst] {
        forbidden(&c.get_raw(token, "/export/events").await, "forbidden");
    }
    assert_eq!(c.app.event_count().await, before);
    // Bulk pages are an export too.
    forbidden(
        &c.get(&t.andriy, "/clients?limit=500").await,
        "bulk_export_refused",
    );
    forbidden(
        &c.get(&t.hanna, "/deals?limit=201").await,
        "bulk_export_refused",
    );
    assert_eq!(
        c.get(&t.andriy, "/clients?limit=200").await.status,
        StatusCode::OK
    );
    assert_eq!(
        c.get(&t.director, "/clients?limit=1000").await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrations = false)]
async fn hidden_fields_are_absent_from_every_answer_of_that_role(pool: PgPool) {
    let hidden = HiddenFields::parse(
        r#"{"manager": {"client": ["industry", "contacts.phone"], "lead": ["email"]},
            "auditor": {"client": ["region"]}}"#,
    )
    .unwrap();
    let c = Company::new(pool, hidden).await;
    let t = &c.tokens;
    let [ca, _, _] = c.clients;
    let [la, _] = c.leads;

    // The manager's card, list, timeline, stream events and state lack them.
    let card = c.get(&t.andriy, &format!("/clients/{ca}")).await.body;
    assert!(!has_key(&card, "industry"), "{card}");
    assert_eq!(card["region"], "Kyiv");
    assert_eq!(
        card["contacts"],
        json!([{"name": "Alpha Boss", "email": "boss@example.com"}])
    );
    let list = c.get(&t.andriy, "/clients").await.body;
    assert!(
        !has_key(&list, "industry") && !has_key(&list, "phone"),
        "{list}"
    );
    let timeline = c
        .get(&t.andriy, &format!("/clients/{ca}/timeline"))
        .await
        .body;
    assert!(
        !has_key(&timeline, "industry") && !has_key(&timeline, "phone"),
        "{timeline}"
    );
    for path in [
        format!("/streams/client-{ca}/events"),
        format!("/streams/client-{ca}/state"),
    ] {
        let body = c.get_raw(&t.andriy, &path).await.body;
        assert!(
            !has_key(&body, "industry") && !has_key(&body, "phone"),
            "{path}: {body}"
        );
    }
    let lead = c
        .get_raw(&t.andriy, &format!("/streams/lead-{la}/events"))
        .await
        .body;
    assert!(!has_key(&lead, "email"), "{lead}");
    assert!(has_key(&lead, "phone"), "{lead}");
    // Filtering by a hidden field would reveal it.
    forbidden(
        &c.get(&t.andriy, "/clients?industry=retail").await,
        "hidden_field",
    );

    // A director sees everything; the auditor everything but the region, the
    // export included.
    let card = c.get(&t.director, &format!("/clients/{ca}")).await.body;
    assert_eq!(
        (card["industry"].as_str(), card["region"].as_str()),
        (Some("retail"), Some("Kyiv"))
    );
    let export = c.get_raw(&t.auditor, "/export/events").await;
    assert_eq!(export.status, StatusCode::OK);
    let text = export.body.as_str().unwrap();
    assert!(text.contains("\"industry\":\"retail\""));
    assert!(!text.contains("\"region\""), "{text}");
    let feed = c.get_raw(&t.auditor, "/events?limit=1000").await.body;
    assert!(!has_key(&feed, "region") && has_key(&feed, "industry"));

    // Analysts: no personal data in the reports they read.
    let waiting = c
        .get(
            &t.analyst,
            "/reports/overdue/leads?now=2026-02-01T00:00:00Z",
        )
        .await
        .body;
    let leads = waiting["leads"].as_array().unwrap();
    assert_eq!(leads.len(), 2, "{waiting}");
    for lead in leads {
        assert!(!has_key(lead, "name") && lead["source"] == "web", "{lead}");
    }
    let waiting = c
        .get(
            &t.director,
            "/reports/overdue/leads?now=2026-02-01T00:00:00Z",
        )
        .await
        .body;
    assert_eq!(waiting["leads"][0]["name"], "Lead 0");
}
