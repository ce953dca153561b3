//! The real `crm` binary: `crm projection status` shows a read model stopped on an
//! event it cannot apply (here a payload older code wrote wrong, appended straight to
//! the log), `crm projection skip` gets it past that event (recorded, with who and
//! why), and the read model catches up; a repair that names nothing is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::{crm, database_url};
use crm_eventlog::{EventLog, ExpectedVersion, NewEvent};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The JSON lines `crm projection status <name>` prints.
async fn status(url: &str, name: &str) -> Vec<Value> {
    let output = crm(url, &["projection", "status", name]).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Waits (up to 60 s) until `check` holds of the status lines of `name`.
async fn wait_status(url: &str, name: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = status(url, name).await;
        if check(&lines) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{name}: {lines:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn crm_projection_skip_gets_a_failed_read_model_past_its_event(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let url = database_url(&conn);
    let migrated = crm(&url, &["migrate"]).await;
    assert!(migrated.status.success(), "{migrated:?}");
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(conn)
        .await
        .unwrap();
    let log = EventLog::new(pool);
    // A client of a kind the domain does not know: the clients read model cannot
    // decode it. Then a sound one after it.
    let append = |data: Value| {
        let log = log.clone();
        async move {
            let id = data["client_id"].as_str().unwrap().to_owned();
            log.append(
                &format!("client-{id}"),
                ExpectedVersion::NoStream,
                vec![NewEvent::new("ClientRegistered", data)],
            )
            .await
            .unwrap()
            .last_position()
        }
    };
    let (bad, good) = (Uuid::new_v4(), Uuid::new_v4());
    let manager = Uuid::new_v4();
    let bad_at =
        append(json!({"client_id": bad, "name": "Robot", "kind": "robot", "manager_id": manager}))
            .await;
    let good_at = append(
        json!({"client_id": good, "name": "Acme", "kind": "company", "manager_id": manager}),
    )
    .await;
    let projectors = crm_projections::ProjectorSet::new(log.clone())
        .with(std::sync::Arc::new(crm_projections::clients::Clients))
        .spawn()
        .unwrap();

    let lines = wait_status(&url, "clients", |lines| lines[0]["status"] == "failed").await;
    assert_eq!(lines[0]["failed_position"], bad_at, "{lines:?}");
    assert!(
        lines[0]["last_error"].as_str().unwrap().contains("robot"),
        "{lines:?}"
    );

    // Refused: a read model that does not exist, an event that does not, no reason.
    for (name, position, reason) in [
        ("nope", "1", "x"),
        ("clients", "999999", "x"),
        ("clients", "1", " "),
    ] {
        let args = [
            "projection",
            "skip",
            name,
            "--position",
            position,
            "--reason",
            reason,
        ];
        let refused = crm(&url, &args).await;
        assert!(!refused.status.success(), "{args:?}: {refused:?}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("cannot repair") || said.contains("no event"),
            "{args:?}: {refused:?}"
        );
    }
    let position = bad_at.to_string();
    let skipped = crm(
        &url,
        &[
            "projection",
            "skip",
            "clients",
            "--position",
            &position,
            "--reason",
            "kind robot written by a 2025 import",
            "--by",
            "ops-olena",
        ],
    )
    .await;
    assert!(skipped.status.success(), "{skipped:?}");
    let said = String::from_utf8(skipped.stdout).unwrap();
    assert!(
        said.starts_with(&format!(
            "clients skips the event at position {bad_at} (ClientRegistered"
        )),
        "{said}"
    );

    // The runner sees the repair within about a second and catches up.
    let lines = wait_status(&url, "clients", |lines| {
        lines[0]["status"] == "running" && lines[0]["lag_events"] == 0
    })
    .await;
    assert_eq!(lines[1]["repair"]["position"], bad_at, "{lines:?}");
    assert_eq!(lines[1]["repair"]["action"], "skip");
    assert_eq!(lines[1]["repair"]["repaired_by"], "ops-olena");
    assert!(lines[1]["repair"]["error"]
        .as_str()
        .unwrap()
        .contains("robot"));
    crm_projections::wait_until_reflects(&log, "clients", good_at, Duration::from_secs(10))
        .await
        .unwrap();
    let cards: Vec<Uuid> = sqlx::query_scalar("SELECT client_id FROM projections.client_cards")
        .fetch_all(log.pool())
        .await
        .unwrap();
    assert_eq!(cards, vec![good]);
    projectors.shutdown().await;
}
