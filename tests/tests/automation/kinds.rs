//! Each rule kind end to end over HTTP: the rule defined through
//! `POST /automation/rules`, the commands that trigger it, then the events the runner
//! appends, with their ids and metadata (`source: automation`, `rule_id`,
//! `causation_id`), and the reports that count them.

use chrono::{Duration, DurationRound, TimeDelta, Utc};
use crm_tests::scenario::{client, registered};
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::support::{
    automated, automated_count, by_rule, command_id, event_id_at, eventually, of_type, ok,
    position, rule, settled,
};

/// Captures a lead (with `manager` if given) at `at`; returns (lead, LeadCaptured's id).
async fn lead(app: &TestApp, manager: Option<Uuid>, at: chrono::DateTime<Utc>) -> (Uuid, Uuid) {
    let answer = ok(
        app,
        "/leads",
        json!({"source": "site", "name": "Ann", "manager_id": manager, "occurred_at": at}),
    )
    .await;
    let id: Uuid = answer["id"].as_str().unwrap().parse().unwrap();
    // Captured with a manager, the command appends LeadAssigned after it.
    let captured = of_type(app, "LeadCaptured")
        .await
        .into_iter()
        .find(|e| e.stream == format!("lead-{id}"))
        .unwrap();
    (id, captured.event_id)
}

/// The manager the lead is assigned to by automation, once it is.
async fn assigned_to(app: &TestApp, lead: Uuid) -> Uuid {
    eventually(30, &format!("lead {lead} assigned"), || async {
        automated(app)
            .await
            .into_iter()
            .find(|e| e.event_type == "LeadAssigned" && e.data["lead_id"] == lead.to_string())
            .map(|e| e.data["manager_id"].as_str().unwrap().parse().unwrap())
    })
    .await
}

#[sqlx::test(migrations = false)]
async fn a_round_robin_assigns_new_leads_in_turn_skipping_the_inactive(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let _projectors = app.start_projectors();
    let team: Vec<Uuid> = {
        let mut team = Vec::new();
        for name in ["Ira", "Oleh", "Taras"] {
            team.push(registered(&app, name, "Retail", "manager").await);
        }
        team
    };
    // Not of the rule's department or role: never picked.
    registered(&app, "Hanna", "Retail", "head").await;
    let elsewhere = registered(&app, "Petro", "Wholesale", "manager").await;
    let hour_ago = (Utc::now() - Duration::hours(1))
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap();
    // Captured before the rule: left alone.
    let (before, _) = lead(&app, None, hour_ago).await;
    let rule_id = rule(
        &app,
        "lead_round_robin",
        json!({"department": "Retail", "strategy": "round_robin"}),
    )
    .await;
    let _runner = app.start_automation();

    let mut expected = Vec::new();
    let mut assigned = Vec::new();
    for (n, pick) in [0, 1, 2, 0].into_iter().enumerate() {
        let (id, cause) = lead(&app, None, hour_ago + Duration::minutes(n as i64)).await;
        assert_eq!(assigned_to(&app, id).await, team[pick], "lead {n}");
        expected.push((id, cause, team[pick]));
        assigned.push(id);
    }
    // Oleh leaves: the turn after Ira skips him.
    ok(
        &app,
        &format!("/managers/{}/deactivate", team[1]),
        json!({}),
    )
    .await;
    for pick in [2, 0] {
        let (id, cause) = lead(&app, None, hour_ago).await;
        assert_eq!(assigned_to(&app, id).await, team[pick]);
        expected.push((id, cause, team[pick]));
    }
    // A lead captured with its manager: untouched.
    let (own, _) = lead(&app, Some(elsewhere), hour_ago).await;
    settled(&app).await;

    let events = automated(&app).await;
    assert_eq!(events.len(), expected.len(), "{events:#?}");
    for (event, (lead_id, cause, manager)) in events.iter().zip(&expected) {
        assert_eq!(event.event_type, "LeadAssigned");
        assert_eq!(event.stream, format!("lead-{lead_id}"));
        assert_eq!(event.data["manager_id"], manager.to_string());
        by_rule(event, rule_id, *cause);
        // The assignment's id derives from the rule and the capture.
        let command = command_id(rule_id, *cause, "assign");
        assert_eq!(
            event.event_id,
            Uuid::new_v5(&command, b"event/0"),
            "seeded by its command's id"
        );
    }
    for untouched in [before, own] {
        assert!(!events
            .iter()
            .any(|e| e.data["lead_id"] == untouched.to_string()));
    }

    // The reports count the rule's assignments like any other: Ira 3, Oleh 1, Taras 2.
    let last = app.event_count().await;
    let from = (hour_ago - Duration::days(1)).date_naive();
    let to = (Utc::now() + Duration::days(1)).date_naive();
    let report = app
        .get(&format!(
            "/reports/managers?from={from}&to={to}&department=Retail&min_position={last}"
        ))
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    let count = |id: Uuid| {
        report.body["managers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["manager_id"] == id.to_string())
            .map(|m| m["leads_assigned"].clone())
    };
    assert_eq!(count(team[0]), Some(json!(3)));
    assert_eq!(count(team[1]), Some(json!(1)));
    assert_eq!(count(team[2]), Some(json!(2)));
    // Nobody contacted them: every one is overdue, with its assigned manager.
    let overdue = app
        .get(&format!(
            "/reports/overdue/leads?sla_minutes=15&min_position={last}"
        ))
        .await;
    assert_eq!(overdue.status, 200, "{}", overdue.body);
    for (lead_id, _, manager) in &expected {
        let row = overdue.body["leads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["lead_id"] == lead_id.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("{lead_id} not overdue: {}", overdue.body));
        assert_eq!(row["manager_id"], manager.to_string());
    }
}

#[sqlx::test(migrations = false)]
async fn least_busy_picks_the_manager_with_the_least_open_work(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let _projectors = app.start_projectors();
    let busy = registered(&app, "Ira", "Retail", "manager").await;
    let free = registered(&app, "Oleh", "Retail", "manager").await;
    let hour_ago = Utc::now() - Duration::hours(1);
    // Ira has two open leads already.
    for _ in 0..2 {
        lead(&app, Some(busy), hour_ago).await;
    }
    rule(
        &app,
        "lead_round_robin",
        json!({"department": "Retail", "strategy": "least_busy"}),
    )
    .await;
    let _runner = app.start_automation();
    // Oleh gets two (0 → 1 → then tied 2 and 2: Ira, registered first), then ...
    let mut got = Vec::new();
    for _ in 0..3 {
        let (id, _) = lead(&app, None, hour_ago).await;
        got.push(assigned_to(&app, id).await);
    }
    assert_eq!(got, vec![free, free, busy]);
}

#[sqlx::test(migrations = false)]
async fn a_department_without_active_managers_leaves_its_leads_overdue(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let _projectors = app.start_projectors();
    let gone = registered(&app, "Ira", "Retail", "manager").await;
    ok(&app, &format!("/managers/{gone}/deactivate"), json!({})).await;
    rule(
        &app,
        "lead_round_robin",
        json!({"department": "Retail", "strategy": "round_robin"}),
    )
    .await;
    let _runner = app.start_automation();
    let (id, _) = lead(&app, None, Utc::now() - Duration::hours(1)).await;
    settled(&app).await;
    assert!(automated(&app).await.is_empty());
    let last = app.event_count().await;
    let overdue = app
        .get(&format!(
            "/reports/overdue/leads?sla_minutes=15&min_position={last}"
        ))
        .await;
    let row = overdue.body["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lead_id"] == id.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("not overdue: {}", overdue.body));
    assert!(row["manager_id"].is_null());
}

#[sqlx::test(migrations = false)]
async fn task_on_stage_schedules_a_task_each_time_a_deal_enters_the_stage(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let [new, offer] = [Uuid::new_v4(), Uuid::new_v4()];
    let pipeline = ok(
        &app,
        "/pipelines",
        json!({"name": "Sales", "stages": [
            {"id": new, "name": "New", "probability": 0.1},
            {"id": offer, "name": "Offer", "probability": 0.5}]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let manager = registered(&app, "Ira", "Retail", "manager").await;
    let client = client(&app, manager).await;
    let rule_id = rule(
        &app,
        "task_on_stage",
        json!({"pipeline_id": pipeline, "stage_id": offer, "title": "Send the offer",
               "kind": "call", "due_in_hours": 4}),
    )
    .await;
    let _runner = app.start_automation();
    let deal = Uuid::new_v4();
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .unwrap()
        .to_utc();
    ok(
        &app,
        "/deals",
        json!({"id": deal, "client_id": client, "pipeline_id": pipeline, "stage_id": new,
               "title": "Boxes", "amount": 1000, "manager_id": manager, "occurred_at": t0}),
    )
    .await;
    let mut entries = Vec::new();
    for (stage, hours) in [(offer, 1), (new, 2), (offer, 3)] {
        let at = t0 + Duration::hours(hours);
        let answer = ok(
            &app,
            &format!("/deals/{deal}/stage"),
            json!({"stage_id": stage, "occurred_at": at}),
        )
        .await;
        if stage == offer {
            entries.push((event_id_at(&app, position(&answer)).await, at));
        }
    }
    let events = automated_count(&app, 2).await;
    settled(&app).await;
    assert_eq!(automated(&app).await.len(), 2);
    for (event, (cause, at)) in events.iter().zip(&entries) {
        let task = command_id(rule_id, *cause, "task");
        assert_eq!(event.event_type, "TaskScheduled");
        assert_eq!(event.stream, format!("task-{task}"));
        assert_eq!(event.data["task_id"], task.to_string());
        assert_eq!(event.data["title"], "Send the offer");
        assert_eq!(event.data["kind"], "call");
        assert_eq!(event.data["assignee_id"], manager.to_string());
        assert_eq!(event.data["client_id"], client.to_string());
        assert_eq!(event.data["deal_id"], deal.to_string());
        let due: chrono::DateTime<Utc> = event.data["due_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(due, *at + Duration::hours(4));
        assert_eq!(event.occurred_at, *at);
        by_rule(event, rule_id, *cause);
    }
}

#[sqlx::test(migrations = false)]
async fn a_won_deal_gets_a_follow_up_task_for_its_manager(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let pipeline = crm_tests::scenario::pipeline(&app).await;
    let manager = registered(&app, "Ira", "Retail", "manager").await;
    let client = client(&app, manager).await;
    let rule_id = rule(
        &app,
        "follow_up_after_win",
        json!({"after_days": 7, "title": "How is it going?"}),
    )
    .await;
    let _runner = app.start_automation();
    let deal = ok(
        &app,
        "/deals",
        json!({"client_id": client, "pipeline_id": pipeline, "title": "Boxes",
               "amount": 1000, "manager_id": manager}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let won_at = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .unwrap()
        .to_utc();
    let answer = ok(
        &app,
        &format!("/deals/{deal}/win"),
        json!({"occurred_at": won_at}),
    )
    .await;
    let cause = event_id_at(&app, position(&answer)).await;
    let events = automated_count(&app, 1).await;
    let task = command_id(rule_id, cause, "task");
    assert_eq!(events[0].event_type, "TaskScheduled");
    assert_eq!(events[0].data["task_id"], task.to_string());
    assert_eq!(events[0].data["title"], "How is it going?");
    assert_eq!(events[0].data["assignee_id"], manager.to_string());
    assert_eq!(events[0].data["client_id"], client.to_string());
    assert_eq!(events[0].data["deal_id"], deal.to_string());
    assert_eq!(events[0].data["due_at"], "2026-03-09T09:00:00Z");
    by_rule(&events[0], rule_id, cause);
}

#[sqlx::test(migrations = false)]
async fn lead_sla_breaches_unanswered_leads_on_time_and_tasks_the_head(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager = registered(&app, "Ira", "Retail", "manager").await;
    registered(&app, "Oleh", "Retail", "manager").await;
    let head = registered(&app, "Hanna", "Retail", "head").await;
    let rule_id = rule(&app, "lead_sla", json!({"sla_minutes": 30})).await;
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    // Entered two hours late: its deadline passed before it was recorded.
    let (late, late_cause) = lead(&app, Some(manager), now - Duration::hours(2)).await;
    // Answered by a call 20 minutes in: no breach.
    let (answered, _) = lead(&app, Some(manager), now - Duration::hours(2)).await;
    ok(
        &app,
        "/interactions",
        json!({"kind": "call", "direction": "outbound", "manager_id": manager,
               "lead_id": answered, "occurred_at": now - Duration::minutes(100)}),
    )
    .await;
    // Rejected 40 minutes in: too late, breached.
    let (slow, slow_cause) = lead(&app, Some(manager), now - Duration::hours(2)).await;
    ok(
        &app,
        &format!("/leads/{slow}/reject"),
        json!({"reason": "spam", "occurred_at": now - Duration::minutes(80)}),
    )
    .await;
    let _runner = app.start_automation();
    let events = automated_count(&app, 4).await;
    let breached: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "LeadSlaBreached")
        .collect();
    assert_eq!(breached.len(), 2, "{events:#?}");
    for (lead_id, cause) in [(late, late_cause), (slow, slow_cause)] {
        let breach = breached
            .iter()
            .find(|e| e.data["lead_id"] == lead_id.to_string())
            .unwrap();
        assert_eq!(
            breach.data,
            json!({"lead_id": lead_id, "manager_id": manager, "minutes": 30})
        );
        assert_eq!(breach.stream, format!("lead-{lead_id}"));
        by_rule(breach, rule_id, cause);
        let task_id = command_id(rule_id, cause, "sla_task");
        let task = events
            .iter()
            .find(|e| e.data["task_id"] == task_id.to_string())
            .unwrap();
        assert_eq!(task.event_type, "TaskScheduled");
        assert_eq!(task.data["assignee_id"], head.to_string());
        by_rule(task, rule_id, cause);
    }
    assert!(!events
        .iter()
        .any(|e| e.data["lead_id"] == answered.to_string()));

    // A lead whose deadline is two seconds away: breached once it comes, not before.
    let received = Utc::now()
        .duration_trunc(TimeDelta::milliseconds(1))
        .unwrap()
        - Duration::minutes(30)
        + Duration::seconds(2);
    let (soon, _) = lead(&app, Some(manager), received).await;
    let breach = eventually(30, "the breach on time", || async {
        of_type(&app, "LeadSlaBreached")
            .await
            .into_iter()
            .find(|e| e.data["lead_id"] == soon.to_string())
    })
    .await;
    let due = received + Duration::minutes(30);
    assert!(breach.recorded_at >= due, "fired early: {breach:?}");
    assert_eq!(breach.occurred_at, due);
}

#[sqlx::test(migrations = false)]
async fn task_reminder_reminds_open_tasks_before_they_are_due(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager = registered(&app, "Ira", "Retail", "manager").await;
    let rule_id = rule(&app, "task_reminder", json!({"before_minutes": 60})).await;
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    let task = |due: chrono::DateTime<Utc>| {
        let app = &app;
        async move {
            let answer = ok(
                app,
                "/tasks",
                json!({"title": "Call", "assignee_id": manager, "due_at": due}),
            )
            .await;
            let id: Uuid = answer["id"].as_str().unwrap().parse().unwrap();
            (id, event_id_at(app, position(&answer)).await)
        }
    };
    // Due in ten minutes: reminded at once.
    let soon_due = now + Duration::minutes(10);
    let (soon, soon_cause) = task(soon_due).await;
    // Due in three hours, then moved to twenty minutes from now: reminded at once,
    // for the new time.
    let (moved, _) = task(now + Duration::hours(3)).await;
    let moved_due = now + Duration::minutes(20);
    let answer = ok(
        &app,
        &format!("/tasks/{moved}/reschedule"),
        json!({"due_at": moved_due}),
    )
    .await;
    let moved_cause = event_id_at(&app, position(&answer)).await;
    // Completed before its reminder: none.
    let (done, _) = task(now + Duration::minutes(30)).await;
    ok(&app, &format!("/tasks/{done}/complete"), json!({})).await;
    let _runner = app.start_automation();
    let events = automated_count(&app, 2).await;
    let reminded: Vec<(Uuid, serde_json::Value)> = events
        .iter()
        .map(|e| {
            (
                e.data["task_id"].as_str().unwrap().parse().unwrap(),
                e.data.clone(),
            )
        })
        .collect();
    let expect = |task: Uuid, due: chrono::DateTime<Utc>| {
        (
            task,
            json!({"task_id": task, "assignee_id": manager, "due_at": due}),
        )
    };
    assert!(reminded.contains(&expect(soon, soon_due)), "{reminded:?}");
    assert!(reminded.contains(&expect(moved, moved_due)), "{reminded:?}");
    for (event, (task, cause, due)) in events.iter().zip([
        (soon, soon_cause, soon_due),
        (moved, moved_cause, moved_due),
    ]) {
        assert_eq!(event.event_type, "TaskReminderDue");
        assert_eq!(event.stream, format!("task-{task}"));
        by_rule(event, rule_id, cause);
        let purpose = format!("reminder/{}", due.format("%Y-%m-%dT%H:%M:%SZ"));
        let command = command_id(rule_id, cause, &purpose);
        assert_eq!(event.event_id, Uuid::new_v5(&command, b"event/0"));
    }

    // A task due in an hour and two seconds: reminded once the time comes, not before.
    let due = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap()
        + Duration::minutes(60)
        + Duration::seconds(2);
    let (later, _) = task(due).await;
    let reminder = eventually(30, "the reminder on time", || async {
        of_type(&app, "TaskReminderDue")
            .await
            .into_iter()
            .find(|e| e.data["task_id"] == later.to_string())
    })
    .await;
    assert!(
        reminder.recorded_at >= due - Duration::minutes(60),
        "early: {reminder:?}"
    );
    settled(&app).await;
    assert_eq!(automated(&app).await.len(), 3);
    assert!(!automated(&app)
        .await
        .iter()
        .any(|e| e.data["task_id"] == done.to_string()));
}
