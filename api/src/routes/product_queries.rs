//! The catalogue, from the `sales` read model: `GET /products` (issue 18). Every role
//! reads it (deal lines and revenue name products). The command defining a product
//! is in `products.rs`.

use axum::extract::State;
use axum::Json;
use crm_domain::values::Role;
use crm_projections::sales::{list_products, ProductRow, NAME as SALES};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::list_limit;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::paging::{after_name_id, name_cursor, next_page_by, CursorKind};
use crate::read_model::{projection_error, ReadYourWrites};
use crate::state::AppState;

/// A product of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `ProductRow` as served; never built itself.
pub struct ProductView {
    id: Uuid,
    /// Its name.
    name: String,
    /// Its one main category.
    category: String,
    /// Its list price, minor units; null when none was given.
    price: Option<i64>,
}

/// Where to continue the list of products.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductListQuery {
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    #[schema(value_type = Vec<ProductView>)]
    items: Vec<ProductRow>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// The catalogue's products, by name, then id, a page at a time.
#[utoipa::path(get, path = "/products", tag = "products", operation_id = "list_products",
    params(ProductListQuery),
    responses((status = 200, body = ProductPage), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ProductListQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    actor.require(&Role::ALL, "reading products")?;
    let limit = list_limit(&actor, query.limit)?;
    let key = state.cursor_key().await?;
    let after = after_name_id(key, CursorKind::Products, query.cursor.as_deref())?;
    query.read.read_model(&state, SALES).await?;
    let mut items = list_products(state.log.pool(), after, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut items, limit, |p| {
        name_cursor(key, CursorKind::Products, &p.name, p.product_id)
    })
    .transpose()?;
    Ok(Json(ProductPage { items, next_cursor }))
}
