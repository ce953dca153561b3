//! Live batches are not held back by other work of the process: neither by another
//! read model's batch still under way, nor by a rebuild's batch.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use async_trait::async_trait;
use crm_eventlog::RecordedEvent;
use crm_projections::{
    rebuild, rebuild_progress, wait_until_reflects, FeedEvent, Projection, ProjectionError,
    ProjectorSet, RebuildRequest,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::{mpsc, watch};

const TYPES: &[&str] = &["Alpha", "Beta", "Gamma"];

/// Where a [`Gated`] projection stops inside its transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// In its live batches.
    Live,
    /// In the batches of its copy being rebuilt.
    Rebuild,
}

/// Counts events per type into `projections.<table>` (a table of its own, so it is
/// rebuilt beside), and, where `stop` says, waits inside its transaction, after its
/// write, until `open` is true, telling `entered` first.
struct Gated {
    name: &'static str,
    table: &'static str,
    stop: Stop,
    open: watch::Receiver<bool>,
    entered: mpsc::UnboundedSender<()>,
}

#[async_trait]
impl Projection for Gated {
    fn name(&self) -> &str {
        self.name
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> Vec<&str> {
        vec![self.table]
    }

    async fn setup(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        create_counts(tx, &format!("projections.{}", self.table)).await
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let events: Vec<&RecordedEvent> = events.iter().map(|e| &e.stored).collect();
        // Unqualified: the live table, or the copy's while it is rebuilt.
        add_counts(tx, self.table, &events).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&mut **tx)
            .await?;
        let here = if schema == "projections" {
            Stop::Live
        } else {
            Stop::Rebuild
        };
        if here == self.stop && !*self.open.borrow() {
            let _ = self.entered.send(());
            let mut open = self.open.clone();
            let _ = open.wait_for(|open| *open).await;
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query(&format!("TRUNCATE {}", self.table))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[sqlx::test(migrations = false)]
async fn a_live_batch_under_way_does_not_hold_back_another_read_model(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    let (gate, open) = watch::channel(true);
    let (entered, mut inside) = mpsc::unbounded_channel();
    let slow = Arc::new(Gated {
        name: "gated_live",
        table: "gated_live_counts",
        stop: Stop::Live,
        open,
        entered,
    });
    let quick = Arc::new(Counter::new("quick_counter", "quick_counts"));
    let log = log_on(&conn, "projectors", 6).await;
    let running = ProjectorSet::new(log.clone())
        .with_config(fast_config(64))
        .with(slow.clone())
        .with(quick.clone())
        .spawn()
        .unwrap();
    let first = append_events(&admin, 30, TYPES, 10).await;
    for name in ["gated_live", "quick_counter"] {
        wait_until_reflects(&admin, name, first, Duration::from_secs(30))
            .await
            .unwrap();
    }

    // The gated read model's next live batch stops inside its transaction, which has
    // written (it holds a transaction id) ...
    gate.send_replace(false);
    let held = append_events(&admin, 1, &["Alpha"], 1).await;
    inside.recv().await.unwrap();
    // ... and an event committed after it began still reaches the other read model.
    let after = append_events(&admin, 1, &["Beta"], 1).await;
    wait_until_reflects(&admin, "quick_counter", after, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        wait_until_reflects(&admin, "gated_live", held, Duration::from_millis(1))
            .await
            .is_err(),
        "the gated batch is still under way"
    );
    assert_eq!(
        projected_counts(admin.pool(), "quick_counts").await,
        log_counts(admin.pool(), None).await
    );

    gate.send_replace(true);
    wait_until_reflects(&admin, "gated_live", after, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        projected_counts(admin.pool(), "projections.gated_live_counts").await,
        log_counts(admin.pool(), None).await
    );

    running.shutdown().await;
    close(log).await;
    close(admin).await;
}

#[sqlx::test(migrations = false)]
async fn a_live_batch_is_applied_while_a_rebuild_batch_is_under_way(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    let (gate, open) = watch::channel(false);
    let (entered, mut inside) = mpsc::unbounded_channel();
    let gated = Arc::new(Gated {
        name: "gated_rebuild",
        table: "gated_rebuild_counts",
        stop: Stop::Rebuild,
        open,
        entered,
    });
    let log = log_on(&conn, "projectors", 6).await;
    let running = ProjectorSet::new(log.clone())
        .with_config(fast_config(64))
        .with(gated.clone())
        .spawn()
        .unwrap();
    let first = append_events(&admin, 200, TYPES, 20).await;
    wait_until_reflects(&admin, "gated_rebuild", first, Duration::from_secs(30))
        .await
        .unwrap();

    // The rebuild's first batch stops inside its transaction, after its write ...
    assert_eq!(
        rebuild(admin.pool(), &*gated).await.unwrap(),
        RebuildRequest::Beside
    );
    inside.recv().await.unwrap();
    // ... while commands go on: the live copy applies them meanwhile.
    let mut last = first;
    for types in [&["Alpha"][..], &["Beta", "Gamma"]] {
        last = append_events(&admin, types.len(), types, 1).await;
        wait_until_reflects(&admin, "gated_rebuild", last, Duration::from_secs(30))
            .await
            .unwrap();
    }
    assert_eq!(
        rebuild_progress(admin.pool(), "gated_rebuild")
            .await
            .unwrap(),
        Some(0),
        "the rebuild's first batch is still under way"
    );
    assert_eq!(
        projected_counts(admin.pool(), "projections.gated_rebuild_counts").await,
        log_counts(admin.pool(), None).await,
        "the live copy is up to date"
    );

    // Once let go, the rebuild ends and its copy, swapped in, counts the same.
    gate.send_replace(true);
    eventually(
        Duration::from_secs(60),
        "the rebuild is swapped in",
        || async {
            rebuild_progress(admin.pool(), "gated_rebuild")
                .await
                .unwrap()
                .is_none()
        },
    )
    .await;
    let last = append_events(&admin, 1, &["Gamma"], 1).await.max(last);
    wait_until_reflects(&admin, "gated_rebuild", last, Duration::from_secs(30))
        .await
        .unwrap();
    let projected = projected_counts(admin.pool(), "projections.gated_rebuild_counts").await;
    assert_eq!(projected, log_counts(admin.pool(), None).await);
    let per_type: i64 = projected.values().sum();
    assert_eq!(per_type, 200 + 3 + 1);

    running.shutdown().await;
    close(log).await;
    close(admin).await;
}
