//! The catalogue as `GET /products` shows it.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// One product of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    /// The product's id.
    #[serde(rename = "id")]
    pub product_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its category.
    pub category: String,
    /// Its list price, minor units (null: none given).
    pub price: Option<i64>,
}

/// Up to `limit` products by name (code point order), then id, after `(name, id)` of
/// `after`.
pub async fn list_products(
    pool: &PgPool,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<ProductRow>, ProjectionError> {
    // No cursor: before every (name, id); names are never empty.
    let (after_name, after_id) = after.unwrap_or_default();
    let rows = sqlx::query_as::<_, ProductRow>(
        "SELECT product_id, name, category, price FROM projections.sales_products \
          WHERE (name COLLATE \"C\", product_id) > ($1::text COLLATE \"C\", $2::uuid) \
          ORDER BY name COLLATE \"C\", product_id LIMIT $3",
    )
    .bind(after_name)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The names of the products among `ids` (those the catalogue knows), by id: what a
/// page writes for a revenue group keyed by product.
pub async fn product_names(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, ProjectionError> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT product_id, name FROM projections.sales_products WHERE product_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}
