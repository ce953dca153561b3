//! The real `crm` binary: `crm token create` prints a token (stored hashed, with its
//! expiry), `crm token revoke` revokes it by itself, by label or by manager.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{crm, database_url};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Runs `crm <args>` on `url`; its standard output, trimmed, once it succeeded.
async fn ok(url: &str, args: &str) -> String {
    let args: Vec<&str> = args.split(' ').collect();
    let output = crm(url, &args).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[sqlx::test(migrations = false)]
async fn crm_token_create_with_an_expiry_and_revoke(_opts: PgPoolOptions, conn: PgConnectOptions) {
    let url = database_url(&conn);
    ok(&url, "migrate").await;
    let one = ok(&url, "token create --role analyst --expires-in-days 30").await;
    let two = ok(&url, "token create --role auditor --label audit-2026").await;
    let three = ok(&url, "token create --role auditor --label audit-2026").await;
    assert!(one.starts_with("crm_") && one != two && two != three);

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(conn)
        .await
        .unwrap();
    let days: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 / 86400 \
           FROM api.tokens WHERE role = 'analyst'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!((days - 30.0).abs() < 0.01, "{days}");

    for (args, said) in [
        (format!("token revoke {one}"), "revoked 1 token(s)"),
        (
            "token revoke --label audit-2026".to_owned(),
            "revoked 2 token(s)",
        ),
        (format!("token revoke {one}"), "revoked 0 token(s)"),
    ] {
        assert_eq!(ok(&url, &args).await, said, "{args}");
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM api.tokens WHERE revoked_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(live, 0);
    // Neither a token nor a selector: refused.
    assert!(!crm(&url, &["token", "revoke"]).await.status.success());
    // A role the contract does not know: no token.
    let boss = crm(&url, &["token", "create", "--role", "boss"]).await;
    assert!(!boss.status.success());
    assert!(String::from_utf8_lossy(&boss.stderr).contains("unknown role"));
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM api.tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tokens, 3);
}

#[sqlx::test(migrations = false)]
async fn crm_token_create_refuses_a_manager_who_could_never_authenticate(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    use crm_domain::events::{ManagerDeactivated, ManagerRegistered};
    use crm_domain::values::Role;
    use crm_domain::DomainEvent;
    use crm_eventlog::{EventLog, ExpectedVersion, Metadata};
    use uuid::Uuid;

    let url = database_url(&conn);
    ok(&url, "migrate").await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(conn)
        .await
        .unwrap();
    let log = EventLog::new(pool.clone());
    // Olha is active; Petro was registered as a head and deactivated since.
    let (olha, petro, nobody) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let registered = |id, name: &str, role| {
        DomainEvent::ManagerRegistered(ManagerRegistered {
            manager_id: id,
            name: name.into(),
            email: None,
            department: "North".into(),
            role,
        })
    };
    for (id, events) in [
        (olha, vec![registered(olha, "Olha", Role::Manager)]),
        (
            petro,
            vec![
                registered(petro, "Petro", Role::Head),
                DomainEvent::ManagerDeactivated(ManagerDeactivated { manager_id: petro }),
            ],
        ),
    ] {
        let events = events
            .iter()
            .map(|e| crm_api::commands::new_event(e, Metadata::default()))
            .collect();
        log.append(&format!("manager-{id}"), ExpectedVersion::NoStream, events)
            .await
            .unwrap();
    }

    let token = ok(&url, &format!("token create --manager {olha}")).await;
    assert!(token.starts_with("crm_"), "{token}");
    for (id, says) in [(petro, "is deactivated"), (nobody, "is not registered")] {
        let refused = crm(&url, &["token", "create", "--manager", &id.to_string()]).await;
        assert!(!refused.status.success(), "{refused:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains(&format!("manager {id}")) && stderr.contains(says),
            "{stderr}"
        );
    }
    // Only Olha's token was made, with her role.
    let tokens: Vec<(Option<Uuid>, String)> =
        sqlx::query_as("SELECT manager_id, role FROM api.tokens")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(tokens, [(Some(olha), "manager".to_owned())]);
}
