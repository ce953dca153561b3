//! Migrations that fill a table or a column from what a read model built before it
//! holds.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use uuid::Uuid;

/// The migration that adds `projections.sales_first_wins` and back-fills it.
const FIRST_WINS: i64 = 20261210120000;

/// The migration that adds `projections.lead_counts_by_manager` and back-fills it.
const LEAD_COUNTS_BY_MANAGER: i64 = 20261211100000;

/// The migration that adds `projections.task_parts` and back-fills it.
const TASK_PARTS: i64 = 20261211110000;

/// The crate's migrations older than `version`: the schema a model built before it has.
fn projections_before(version: i64) -> Migrator {
    let migrations: Vec<_> = crm_projections::MIGRATOR
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..crm_projections::MIGRATOR
    }
}

/// A task as stored: scheduled_by, assignee, co-executors, observers, status.
type OpenTask = (Option<Uuid>, Uuid, Vec<Uuid>, Vec<Uuid>, &'static str);

/// A `sales_first_wins` row: client, occurred_at, position, deal, direction.
type FirstWin = (Uuid, DateTime<Utc>, i64, Uuid, Option<String>);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[sqlx::test(migrations = false)]
async fn sales_first_wins_is_back_filled_with_each_clients_earliest_win_and_first_contact(
    pool: PgPool,
) {
    crm_eventlog::MIGRATOR.run(&pool).await.unwrap();
    projections_before(FIRST_WINS).run(&pool).await.unwrap();
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('projections.sales_first_wins')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(table, None, "the model is from before the table");

    let (tie, shuffled, single) = (id(0xa), id(0xb), id(0xc));
    let manager = id(0xf);
    // (client, deal, version, position, occurred_at), in the order inserted.
    let wins: [(Uuid, Uuid, i64, i64, &str); 8] = [
        // Two wins at the same instant: the lower position is the first, though
        // inserted second.
        (tie, id(0x1), 1, 40, "2026-03-01T10:00:00Z"),
        (tie, id(0x2), 1, 25, "2026-03-01T10:00:00Z"),
        (tie, id(0x3), 1, 10, "2026-03-02T10:00:00Z"),
        // Wins recorded out of the order they occurred: the earliest by time, not
        // the lowest position nor the first inserted.
        (shuffled, id(0x4), 1, 11, "2026-05-01T09:00:00Z"),
        (shuffled, id(0x5), 3, 50, "2026-02-01T09:00:00Z"),
        (shuffled, id(0x4), 4, 60, "2026-04-01T09:00:00Z"),
        (shuffled, id(0x6), 1, 5, "2026-04-15T09:00:00Z"),
        // A client with one win.
        (single, id(0x7), 2, 70, "2026-06-30T23:59:59Z"),
    ];
    for (client, deal, version, position, occurred_at) in wins {
        sqlx::query(
            "INSERT INTO projections.sales_wins \
               (deal_id, version, position, occurred_at, client_id, manager_id, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, 100)",
        )
        .bind(deal)
        .bind(version)
        .bind(position)
        .bind(at(occurred_at))
        .bind(client)
        .bind(manager)
        .execute(&pool)
        .await
        .unwrap();
    }

    // First contacts of two of the clients; the third was never contacted.
    for (client, direction) in [(tie, "inbound"), (single, "outbound")] {
        sqlx::query(
            "INSERT INTO projections.sales_first_contacts \
               (client_id, occurred_at, position, direction) \
             VALUES ($1, '2026-01-01T00:00:00Z', 1, $2)",
        )
        .bind(client)
        .bind(direction)
        .execute(&pool)
        .await
        .unwrap();
    }

    crm_projections::migrate(&pool).await.unwrap();

    // Each with its first contact's direction (migration 20261210130000).
    let first: Vec<FirstWin> = sqlx::query_as(
        "SELECT client_id, occurred_at, position, deal_id, direction \
           FROM projections.sales_first_wins \
          ORDER BY client_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        first,
        vec![
            (
                tie,
                at("2026-03-01T10:00:00Z"),
                25,
                id(0x2),
                Some("inbound".into())
            ),
            (shuffled, at("2026-02-01T09:00:00Z"), 50, id(0x5), None),
            (
                single,
                at("2026-06-30T23:59:59Z"),
                70,
                id(0x7),
                Some("outbound".into())
            ),
        ]
    );
}

#[sqlx::test(migrations = false)]
async fn lead_counts_by_manager_is_back_filled_from_the_leads(pool: PgPool) {
    crm_eventlog::MIGRATOR.run(&pool).await.unwrap();
    projections_before(LEAD_COUNTS_BY_MANAGER)
        .run(&pool)
        .await
        .unwrap();
    let (a, b) = (id(0xa), id(0xb));
    // (manager, source, status, received_at)
    let leads: [(Option<Uuid>, &str, &str, &str); 6] = [
        (Some(a), "web", "assigned", "2026-03-01T00:00:00Z"),
        (Some(a), "web", "converted", "2026-03-01T23:59:59Z"),
        (Some(a), "call", "assigned", "2026-03-31T23:00:00Z"),
        (Some(b), "web", "rejected", "2026-04-01T00:00:00Z"),
        // Without a manager: in no manager's rows.
        (None, "web", "new", "2026-03-01T12:00:00Z"),
        (Some(b), "web", "assigned", "2026-03-01T12:00:00Z"),
    ];
    for (n, (manager, source, status, received)) in leads.iter().enumerate() {
        sqlx::query(
            "INSERT INTO projections.leads \
               (lead_id, name, source, manager_id, status, received_at, version) \
             VALUES ($1, 'L', $2, $3, $4, $5, 1)",
        )
        .bind(id(0x100 + n as u128))
        .bind(source)
        .bind(manager)
        .bind(status)
        .bind(at(received))
        .execute(&pool)
        .await
        .unwrap();
    }

    crm_projections::migrate(&pool).await.unwrap();

    let rows: Vec<(String, String, String, Uuid, String, i64)> = sqlx::query_as(
        "SELECT span, bucket::text, dim, manager_id, key, leads \
           FROM projections.lead_counts_by_manager ORDER BY 1, 2, 3, 4, 5",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let row = |span: &str, bucket: &str, dim: &str, m: Uuid, key: &str, n: i64| {
        (span.into(), bucket.into(), dim.into(), m, key.into(), n)
    };
    assert_eq!(
        rows,
        vec![
            row("day", "2026-03-01", "source", a, "web", 2),
            row("day", "2026-03-01", "source", b, "web", 1),
            row("day", "2026-03-01", "status", a, "assigned", 1),
            row("day", "2026-03-01", "status", a, "converted", 1),
            row("day", "2026-03-01", "status", b, "assigned", 1),
            row("day", "2026-03-31", "source", a, "call", 1),
            row("day", "2026-03-31", "status", a, "assigned", 1),
            row("day", "2026-04-01", "source", b, "web", 1),
            row("day", "2026-04-01", "status", b, "rejected", 1),
            row("month", "2026-03-01", "source", a, "call", 1),
            row("month", "2026-03-01", "source", a, "web", 2),
            row("month", "2026-03-01", "source", b, "web", 1),
            row("month", "2026-03-01", "status", a, "assigned", 2),
            row("month", "2026-03-01", "status", a, "converted", 1),
            row("month", "2026-03-01", "status", b, "assigned", 1),
            row("month", "2026-04-01", "source", b, "web", 1),
            row("month", "2026-04-01", "status", b, "rejected", 1),
        ]
    );
}

#[sqlx::test(migrations = false)]
async fn task_parts_is_back_filled_from_the_open_tasks(pool: PgPool) {
    crm_eventlog::MIGRATOR.run(&pool).await.unwrap();
    projections_before(TASK_PARTS).run(&pool).await.unwrap();
    let (a, b, c) = (id(0xa), id(0xb), id(0xc));
    // (scheduled_by, assignee, co-executors, observers, status)
    let tasks: [OpenTask; 4] = [
        (Some(a), a, vec![b], vec![c], "open"),
        // b listed twice as co-executor: the task counts once for his part.
        (None, b, vec![b, b, a], vec![], "open"),
        (Some(c), b, vec![], vec![a], "open"),
        // Closed: in no one's parts.
        (Some(a), c, vec![a], vec![b], "completed"),
    ];
    for (n, (by, assignee, co, obs, status)) in tasks.iter().enumerate() {
        sqlx::query(
            "INSERT INTO projections.tasks \
               (task_id, title, kind, assignee_id, due_at, co_executor_ids, observer_ids, \
                status, scheduled_at, version, scheduled_by) \
             VALUES ($1, 'T', 'call', $2, now(), $3, $4, $5, now(), 1, $6)",
        )
        .bind(id(0x100 + n as u128))
        .bind(assignee)
        .bind(co)
        .bind(obs)
        .bind(status)
        .bind(by)
        .execute(&pool)
        .await
        .unwrap();
    }

    crm_projections::migrate(&pool).await.unwrap();

    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT manager_id, part::text, tasks FROM projections.task_parts ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let row = |m: Uuid, part: &str, n: i64| (m, part.to_owned(), n);
    assert_eq!(
        rows,
        vec![
            row(a, "a", 1),
            row(a, "d", 1),
            row(a, "h", 1),
            row(a, "o", 1),
            row(b, "d", 2),
            row(b, "h", 2),
            row(c, "a", 1),
            row(c, "o", 1),
        ]
    );
}
