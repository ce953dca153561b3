//! How much open work each manager has: his open leads plus his open deals, as the
//! leads and deals read models stand (what `least_busy` rules compare).

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// Open leads (new or assigned) plus open deals per manager; a manager with none is
/// absent.
pub async fn open_work(pool: &PgPool) -> Result<HashMap<Uuid, u64>, ProjectionError> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT manager_id, count(*) FROM ( \
             SELECT manager_id FROM projections.leads \
              WHERE manager_id IS NOT NULL AND status IN ('new', 'assigned') \
             UNION ALL \
             SELECT manager_id FROM projections.deals WHERE status = 'open' \
         ) w GROUP BY manager_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
        .collect())
}
