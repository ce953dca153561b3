//! A deal's lines: products with a quantity and a unit price, added and removed while
//! the deal is open. They live on the deal's stream, so the lines as they stood at a
//! win are the deal's stream folded up to that `DealWon` (a reopened deal's later
//! changes do not rewrite them).

use serde::Serialize;
use uuid::Uuid;

use super::Deal;
use crate::aggregate::Ref;
use crate::events::{DealLineAdded, DealLineRemoved};
use crate::product::ProductState;
use crate::rules::{amount as check_amount, MAX_AMOUNT};
use crate::{codes, DomainError, DomainEvent};

/// One line of a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DealLine {
    /// The line's id, unique within the deal's history.
    pub line_id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// How many.
    pub quantity: i64,
    /// The unit price, minor units.
    pub price: i64,
}

impl DealLine {
    /// quantity × price, minor units (bounded by [`MAX_AMOUNT`] when added).
    pub fn amount(&self) -> i64 {
        self.quantity.saturating_mul(self.price)
    }
}

/// A line to add: what `POST /deals/{id}/lines` gives.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLine {
    /// The line's id.
    pub line_id: Uuid,
    /// The product: must exist.
    pub product: Ref<ProductState>,
    /// How many, a positive whole number.
    pub quantity: i64,
    /// The unit price, minor units, not negative; quantity × price at most
    /// [`MAX_AMOUNT`].
    pub price: i64,
}

/// `DealLineAdded`, or why not: the deal must be open, the product exist, the line
/// id be new to the deal. The same line again (same product, quantity and price)
/// while the deal has it is a retry: nothing to append.
pub(crate) fn add(deal: &Deal, line: NewLine) -> Result<Vec<DomainEvent>, DomainError> {
    deal.require_open()?;
    let product_id = line.product.get()?.product_id;
    if line.quantity <= 0 {
        return Err(DomainError::rule(
            codes::INVALID_QUANTITY,
            format!(
                "quantity must be a positive whole number, got {}",
                line.quantity
            ),
        ));
    }
    check_amount(line.price)?;
    if line
        .quantity
        .checked_mul(line.price)
        .is_none_or(|a| a > MAX_AMOUNT)
    {
        return Err(DomainError::rule(
            codes::AMOUNT_TOO_LARGE,
            format!("quantity × price must be at most {MAX_AMOUNT} minor units"),
        ));
    }
    let added = DealLine {
        line_id: line.line_id,
        product_id,
        quantity: line.quantity,
        price: line.price,
    };
    if let Some(existing) = deal.lines.iter().find(|l| l.line_id == line.line_id) {
        return if *existing == added {
            Ok(vec![])
        } else {
            Err(duplicate(line.line_id))
        };
    }
    if deal.retired_line_ids.contains(&line.line_id) {
        return Err(duplicate(line.line_id));
    }
    Ok(vec![DomainEvent::DealLineAdded(DealLineAdded {
        deal_id: deal.id,
        line_id: added.line_id,
        product_id: added.product_id,
        quantity: added.quantity,
        price: added.price,
    })])
}

fn duplicate(line_id: Uuid) -> DomainError {
    DomainError::rule(
        codes::DUPLICATE_LINE_ID,
        format!("the deal has had a line {line_id} already; give a new line id"),
    )
}

/// `DealLineRemoved`, or why not: the deal must be open and have the line.
pub(crate) fn remove(deal: &Deal, line_id: Uuid) -> Result<Vec<DomainEvent>, DomainError> {
    deal.require_open()?;
    if !deal.lines.iter().any(|l| l.line_id == line_id) {
        return Err(DomainError::rule(
            codes::LINE_NOT_FOUND,
            format!("deal {} has no line {line_id}", deal.id),
        ));
    }
    Ok(vec![DomainEvent::DealLineRemoved(DealLineRemoved {
        deal_id: deal.id,
        line_id,
    })])
}

/// Applies `DealLineAdded` (a line id the deal has is not added twice).
pub(crate) fn apply_added(deal: &mut Deal, e: &DealLineAdded) {
    if deal.lines.iter().any(|l| l.line_id == e.line_id) {
        return;
    }
    deal.lines.push(DealLine {
        line_id: e.line_id,
        product_id: e.product_id,
        quantity: e.quantity,
        price: e.price,
    });
}

/// Applies `DealLineRemoved`: the line goes, its id is retired.
pub(crate) fn apply_removed(deal: &mut Deal, e: &DealLineRemoved) {
    deal.lines.retain(|l| l.line_id != e.line_id);
    if !deal.retired_line_ids.contains(&e.line_id) {
        deal.retired_line_ids.push(e.line_id);
    }
}

#[cfg(test)]
mod tests;
