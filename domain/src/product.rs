//! The product aggregate (`product-<uuid>`): a product of the catalogue, defined
//! once with its name, its one main category and an optional list price.

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, Aggregate};
use crate::events::ProductDefined;
use crate::rules::{amount as check_amount, at_most, non_empty, MAX_NAME_CHARS};
use crate::{codes, DomainError, DomainEvent};

/// A defined product: exactly its event.
pub type Product = ProductDefined;

/// A product's state; the default is "not defined".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProductState {
    /// Events folded from the stream.
    pub version: i64,
    /// The product, once defined.
    pub product: Option<Product>,
}

/// `POST /products`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefineProduct {
    /// The new product's id.
    pub product_id: Uuid,
    /// Its name, not blank.
    pub name: String,
    /// Its main category, not blank.
    pub category: String,
    /// Its list price, minor units, not negative.
    pub price: Option<i64>,
}

/// What can be asked of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductCommand {
    /// `POST /products`: `ProductDefined`.
    Define(DefineProduct),
}

/// Applies one event to a product's state.
pub fn evolve(mut state: ProductState, event: &DomainEvent) -> ProductState {
    if let DomainEvent::ProductDefined(e) = event {
        if state.product.is_none() {
            state.product = Some(e.clone());
            state.version += 1;
        }
    }
    state
}

/// Folds a product's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> ProductState {
    ProductState::fold(events)
}

/// Decides a product command.
pub fn decide(
    state: &ProductState,
    command: ProductCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        ProductCommand::Define(c) => {
            absent(state)?;
            non_empty(&c.name, codes::EMPTY_NAME, "product name")?;
            at_most(&c.name, MAX_NAME_CHARS, "product name")?;
            non_empty(&c.category, codes::EMPTY_CATEGORY, "category")?;
            at_most(&c.category, MAX_NAME_CHARS, "category")?;
            c.price.map_or(Ok(()), check_amount)?;
            Ok(vec![DomainEvent::ProductDefined(ProductDefined {
                product_id: c.product_id,
                name: c.name,
                category: c.category,
                price: c.price,
            })])
        }
    }
}

impl Aggregate for ProductState {
    const ENTITY: &'static str = "product";
    type Entity = Product;
    type Command = ProductCommand;

    fn entity(&self) -> Option<&Product> {
        self.product.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.product.as_ref().map(|p| p.product_id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: ProductCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
