//! Exactly once in effect: a runner that dies between its commands and its
//! checkpoint, two runners on one database (one of them killed mid-stream), a replay
//! of the whole log and deadlines missed while no runner ran. The log is compared to
//! the effects computed here: each lead assigned once, in turn; one task per stage
//! entry; every reminder once, in due order.

use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound, TimeDelta, Utc};
use crm_api::automation::{Runner, RunnerConfig};
use crm_eventlog::EventLog;
use crm_tests::scenario::{client, registered};
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::support::{
    automated, automated_count, by_rule, command_id, eventually, of_type, ok, rule, settled, Logged,
};

/// A department of three, the two rules (round robin, a task on entering Offer) and
/// what their triggers need.
struct Setup {
    team: Vec<Uuid>,
    round_robin: Uuid,
    on_stage: Uuid,
    manager: Uuid,
    client: Uuid,
    pipeline: Uuid,
    offer: Uuid,
}

async fn setup(app: &TestApp) -> Setup {
    let mut team = Vec::new();
    for name in ["Ira", "Oleh", "Taras"] {
        team.push(registered(app, name, "Retail", "manager").await);
    }
    let offer = Uuid::new_v4();
    let pipeline = ok(
        app,
        "/pipelines",
        json!({"name": "Sales", "stages": [
            {"name": "New", "probability": 0.1}, {"id": offer, "name": "Offer", "probability": 0.5}]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let manager = registered(app, "Petro", "Wholesale", "manager").await;
    let client = client(app, manager).await;
    let round_robin = rule(
        app,
        "lead_round_robin",
        json!({"department": "Retail", "strategy": "round_robin"}),
    )
    .await;
    let on_stage = rule(
        app,
        "task_on_stage",
        json!({"pipeline_id": pipeline, "stage_id": offer, "title": "Offer", "due_in_hours": 1}),
    )
    .await;
    Setup {
        team,
        round_robin,
        on_stage,
        manager,
        client,
        pipeline,
        offer,
    }
}

/// Captures `leads` leads one after another and opens `deals` deals at Offer, all at
/// once.
async fn workload(app: &TestApp, s: &Setup, leads: usize, deals: usize) {
    for n in 0..leads {
        ok(
            app,
            "/leads",
            json!({"source": "site", "name": format!("Lead {n}")}),
        )
        .await;
    }
    let opens = (0..deals).map(|n| {
        ok(
            app,
            "/deals",
            json!({"client_id": s.client, "pipeline_id": s.pipeline, "stage_id": s.offer,
                   "title": format!("Deal {n}"), "amount": 100, "manager_id": s.manager}),
        )
    });
    futures::future::join_all(opens).await;
}

/// Checks the log against what the rules must have done, once each: every captured
/// lead (in log order) assigned to the next of the team in turn, every deal opened at
/// Offer given one task.
async fn assert_done_once(app: &TestApp, s: &Setup) -> Vec<Logged> {
    let captured = of_type(app, "LeadCaptured").await;
    let opened = of_type(app, "DealOpened").await;
    automated_count(app, captured.len() + opened.len()).await;
    settled(app).await;
    let events = automated(app).await;
    assert_eq!(events.len(), captured.len() + opened.len(), "{events:#?}");
    let assigned: Vec<&Logged> = events
        .iter()
        .filter(|e| e.event_type == "LeadAssigned")
        .collect();
    assert_eq!(assigned.len(), captured.len());
    for (k, capture) in captured.iter().enumerate() {
        let lead = &capture.data["lead_id"];
        let mine: Vec<_> = assigned
            .iter()
            .filter(|e| &e.data["lead_id"] == lead)
            .collect();
        assert_eq!(mine.len(), 1, "lead {lead}");
        assert_eq!(
            mine[0].data["manager_id"],
            s.team[k % 3].to_string(),
            "lead {k} in turn"
        );
        by_rule(mine[0], s.round_robin, capture.event_id);
    }
    for open in &opened {
        let task = command_id(s.on_stage, open.event_id, "task");
        let mine: Vec<_> = events
            .iter()
            .filter(|e| e.data["task_id"] == task.to_string())
            .collect();
        assert_eq!(mine.len(), 1, "task for {}", open.stream);
        assert_eq!(mine[0].event_type, "TaskScheduled");
        by_rule(mine[0], s.on_stage, open.event_id);
    }
    events
}

#[sqlx::test(migrations = false)]
async fn a_runner_killed_between_commands_and_checkpoint_acts_once_in_effect(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let s = setup(&app).await;
    workload(&app, &s, 9, 4).await;
    // Dies after five commands, before committing the batch that ran them.
    let crashing = Runner::new(EventLog::new(app.log.pool().clone()))
        .with_config(RunnerConfig {
            crash_after_commands: Some(5),
            ..RunnerConfig::default()
        })
        .spawn();
    eventually(30, "the crash", || async {
        crashing.is_finished().then_some(())
    })
    .await;
    assert_eq!(automated(&app).await.len(), 5);
    let checkpoint: Option<i64> =
        sqlx::query_scalar("SELECT position FROM api.automation_checkpoint")
            .fetch_optional(app.log.pool())
            .await
            .unwrap();
    let first_command = automated(&app).await[0].position;
    assert!(checkpoint.is_none_or(|at| at < first_command));

    // Restarted: the rest is done, nothing twice.
    let runner = app.start_automation();
    workload(&app, &s, 3, 2).await;
    let before = assert_done_once(&app, &s).await;

    // A replay of the whole log (the runner's tables wiped) appends nothing.
    runner.shutdown().await;
    sqlx::query(
        "TRUNCATE api.automation_checkpoint, api.automation_last_assigned, api.automation_due",
    )
    .execute(app.log.pool())
    .await
    .unwrap();
    let _again = app.start_automation();
    settled(&app).await;
    assert_eq!(automated(&app).await, before);
    // And it goes on in turn from where the rule stood.
    workload(&app, &s, 2, 0).await;
    assert_done_once(&app, &s).await;
}

#[sqlx::test(migrations = false)]
async fn two_runners_on_one_database_act_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let s = setup(&app).await;
    let first = app.start_automation();
    let second = app.start_automation();
    workload(&app, &s, 6, 6).await;
    assert_done_once(&app, &s).await;
    // One of them is killed mid-stream: the other goes on.
    workload(&app, &s, 3, 3).await;
    drop(first);
    workload(&app, &s, 3, 3).await;
    assert_done_once(&app, &s).await;
    second.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn deadlines_missed_while_down_fire_at_once_in_due_order(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager = registered(&app, "Ira", "Retail", "manager").await;
    let rule_id = rule(&app, "task_reminder", json!({"before_minutes": 60})).await;
    let runner = app.start_automation();
    settled(&app).await;
    runner.shutdown().await;
    // Reminders one to three seconds away, scheduled out of due order while no
    // runner runs.
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    let mut tasks = Vec::new();
    for seconds in [3, 1, 2] {
        let due = now + Duration::minutes(60) + Duration::seconds(seconds);
        let answer = ok(
            &app,
            "/tasks",
            json!({"title": "Call", "assignee_id": manager, "due_at": due}),
        )
        .await;
        tasks.push((seconds, answer["id"].as_str().unwrap().to_owned(), due));
    }
    // The server is down past all three.
    tokio::time::sleep(StdDuration::from_secs(4)).await;
    let _runner = app.start_automation();
    let reminders = automated_count(&app, 3).await;
    tasks.sort();
    let fired: Vec<&str> = reminders
        .iter()
        .map(|e| e.data["task_id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = tasks.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(fired, expected, "in due order");
    for (event, (_, _, due)) in reminders.iter().zip(&tasks) {
        assert_eq!(event.occurred_at, *due - Duration::minutes(60));
        assert_eq!(event.metadata["rule_id"], rule_id.to_string());
    }
    settled(&app).await;
    assert_eq!(automated(&app).await.len(), 3);
}
