//! The `deals` read model: pipelines and their stages, every deal as it stands, and
//! each deal's changes by business time, wins and losses; the deal list, the funnel
//! and the deal reports read it.

mod conversion;
mod fold;
mod forecast;
mod funnel;
mod list;
mod losses;
mod overdue;
mod pipelines;
mod revenue;
mod rollup;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;
use rollup::Rollups;

pub use crate::entity_status::DealStatus;
pub use conversion::{conversion, Conversion, ReachedStage};
pub use forecast::{forecast, ForecastMonth};
pub use funnel::{funnel, FunnelStage};
pub use list::{list_deals, list_deals_as_of, DealFilter, DealRow};
pub use losses::{loss_reasons, LossReason};
pub use overdue::{overdue, overdue_counts, overdue_page, OverdueDeal};
pub use pipelines::{list_pipelines, pipeline, PipelineRow, StageRow};
pub(crate) use revenue::groups_summed;
pub use revenue::{revenue, RevenueBy, RevenueGroup};

/// The projection's name.
pub const NAME: &str = "deals";

/// Keeps `projections.pipelines`, `pipeline_stages`, `deals`, `deal_changes`,
/// `deal_wins`, `deal_losses`, and the funnel's `funnel_moves` and `funnel_rollup`.
pub struct Deals;

#[async_trait]
impl Projection for Deals {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        // 4: deal lines count in the version; 5: the funnel's moves and rollups, and
        // each deal's regularity.
        5
    }

    fn tables(&self) -> Vec<&str> {
        vec![
            "pipelines",
            "pipeline_stages",
            "deals",
            "deal_changes",
            "deal_wins",
            "deal_losses",
            "funnel_moves",
            "funnel_rollup",
        ]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "PipelineDefined",
            "DealOpened",
            "DealStageChanged",
            "DealAmountChanged",
            "DealReassigned",
            "DealWon",
            "DealLost",
            "DealReopened",
            "DealLineAdded",
            "DealLineRemoved",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        fold::apply(tx, events, Rollups::Now).await
    }

    /// The funnel's rollups are summed once the copy has caught up (`finish_copy`):
    /// each batch appends its deltas to a scratch table instead of adding them to
    /// `funnel_rollup` row by row.
    async fn apply_copy(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        fold::apply(tx, events, Rollups::Later).await
    }

    async fn finish_copy(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        rollup::sum_pending(tx).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query(
            "TRUNCATE pipelines, pipeline_stages, deals, \
             deal_changes, deal_wins, deal_losses, funnel_moves, funnel_rollup",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
