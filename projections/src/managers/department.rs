//! Who works in a manager's department, from the registered managers.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// The managers registered in `manager_id`'s department, him included; empty when
/// he is not registered (yet).
pub async fn department_members(
    pool: &PgPool,
    manager_id: Uuid,
) -> Result<Vec<Uuid>, ProjectionError> {
    let members = sqlx::query_scalar(
        "SELECT m.manager_id FROM projections.kpi_managers h \
           JOIN projections.kpi_managers m ON m.department = h.department \
          WHERE h.manager_id = $1 ORDER BY m.manager_id",
    )
    .bind(manager_id)
    .fetch_all(pool)
    .await?;
    Ok(members)
}
