#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn define() -> DefineProduct {
    DefineProduct {
        product_id: PRODUCT,
        name: "Pallet".into(),
        category: "Packaging".into(),
        price: Some(1_500),
    }
}

#[test]
fn define_a_product_with_its_category_and_price() {
    let state = given::<ProductState>([])
        .when(ProductCommand::Define(define()))
        .then(vec![product_defined(PRODUCT)]);
    assert_eq!(state.product.unwrap().category, "Packaging");
}

#[test]
fn a_product_without_a_price_is_defined() {
    given::<ProductState>([])
        .when(ProductCommand::Define(DefineProduct {
            price: None,
            ..define()
        }))
        .then(vec![DomainEvent::ProductDefined(ProductDefined {
            product_id: PRODUCT,
            name: "Pallet".into(),
            category: "Packaging".into(),
            price: None,
        })]);
}

#[test]
fn defining_it_twice_is_already_exists() {
    given::<ProductState>([product_defined(PRODUCT)])
        .when(ProductCommand::Define(define()))
        .then_error("already_exists");
}

#[test]
fn a_blank_name_or_category_or_a_negative_price_is_refused() {
    let refused = |command: DefineProduct, code: &str| {
        given::<ProductState>([])
            .when(ProductCommand::Define(command))
            .then_error(code);
    };
    refused(
        DefineProduct {
            name: " ".into(),
            ..define()
        },
        "empty_name",
    );
    refused(
        DefineProduct {
            category: "".into(),
            ..define()
        },
        "empty_category",
    );
    refused(
        DefineProduct {
            category: "x".repeat(201),
            ..define()
        },
        "text_too_long",
    );
    refused(
        DefineProduct {
            price: Some(-1),
            ..define()
        },
        "negative_amount",
    );
}
