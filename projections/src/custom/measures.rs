//! What a batch adds to each group of a custom projection: one accumulator per
//! measure, over numbers kept exact while they are whole.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::definition::Function;

/// The groups a batch touched, by their key's JSON text.
pub type Groups = HashMap<String, Group>;

/// What a batch adds to one group.
#[derive(Debug)]
pub struct Group {
    /// The key's values, in `group_by` order.
    pub key: Vec<Value>,
    /// One accumulator per measure.
    pub measures: Vec<Acc>,
}

/// A number kept exactly while it is whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// A whole number.
    Int(i128),
    /// Any other number.
    Float(f64),
}

impl Num {
    fn of(value: &Value) -> Option<Num> {
        match value.as_i64() {
            Some(i) => Some(Num::Int(i128::from(i))),
            None => value.as_f64().map(Num::Float),
        }
    }

    fn plus(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a.saturating_add(b)),
            (a, b) => Num::Float(a.as_f64() + b.as_f64()),
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// Its text for PostgreSQL's `numeric`.
    pub fn text(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) if f.is_finite() => format!("{f}"),
            Num::Float(_) => "0".into(),
        }
    }
}

/// What a batch adds to one measure of one group.
#[derive(Debug)]
pub enum Acc {
    /// Events counted.
    Count(i64),
    /// Distinct values seen (their JSON text), before checking those already stored.
    Distinct(HashSet<String>),
    /// The sum of the numbers.
    Sum(Num),
    /// The least number, if any.
    Min(Option<Num>),
    /// The greatest number, if any.
    Max(Option<Num>),
    /// The sum and count of the numbers.
    Avg(Num, i64),
}

impl Acc {
    /// An empty accumulator of `function`.
    pub(super) fn new(function: Function) -> Acc {
        match function {
            Function::Count => Acc::Count(0),
            Function::CountDistinct => Acc::Distinct(HashSet::new()),
            Function::Sum => Acc::Sum(Num::Int(0)),
            Function::Min => Acc::Min(None),
            Function::Max => Acc::Max(None),
            Function::Avg => Acc::Avg(Num::Int(0), 0),
        }
    }

    /// Adds one event's value (`count` counts the event even without one).
    pub(super) fn add(&mut self, value: Option<&Value>) {
        let number = value.and_then(Num::of);
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Distinct(seen) => {
                if let Some(v) = value {
                    seen.insert(v.to_string());
                }
            }
            Acc::Sum(sum) => {
                if let Some(x) = number {
                    *sum = sum.plus(x);
                }
            }
            Acc::Min(least) => {
                if let Some(x) = number {
                    if least.is_none_or(|l| x.as_f64() < l.as_f64()) {
                        *least = Some(x);
                    }
                }
            }
            Acc::Max(most) => {
                if let Some(x) = number {
                    if most.is_none_or(|m| x.as_f64() > m.as_f64()) {
                        *most = Some(x);
                    }
                }
            }
            Acc::Avg(sum, n) => {
                if let Some(x) = number {
                    *sum = sum.plus(x);
                    *n += 1;
                }
            }
        }
    }
}
