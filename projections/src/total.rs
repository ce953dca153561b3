//! Sums of amounts and seconds, exact whatever their size.
//!
//! One amount or duration fits a `bigint`; a sum of enough of them does not (9,224
//! wins of the largest amount the API takes, 10^15, pass 2^63; two events appended
//! before that bound with amounts near 2^63 do). So such sums are never `bigint`:
//! PostgreSQL sums `bigint` into `numeric`, which has no such limit; a read model
//! that accumulates one keeps it in a `numeric` column; and a query hands it over as
//! text (`sum(amount)::text`), or as a `bigint` where the sum fits one ([`Sums`]), read
//! here into a [`Total`] of 128 bits, which no sum of fewer than 2^64 `bigint` values
//! can pass. Counts of events stay `bigint`: no
//! log holds 2^63 events.
//!
//! As JSON a total is a whole number, exact whatever its size. (A `serde_json::Value`
//! holds no integer past 2^64 − 1: an answer built through one says how it bounds it.)

use std::future::Future;

use serde::{Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type, ValueRef};

/// A sum of amounts (minor units) or seconds, exact; as JSON, a whole number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Total(pub i128);

impl Total {
    /// The total within 64 bits unsigned: past 2^64 − 1 (18,447 wins of the largest
    /// amount the API takes), 2^64 − 1; 0 below 0. For answers built through a
    /// `serde_json::Value`, which holds no larger integer.
    pub fn saturated(self) -> u64 {
        u64::try_from(self.0.max(0)).unwrap_or(u64::MAX)
    }
}

impl Serialize for Total {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(self.0) {
            Ok(small) => serializer.serialize_i64(small),
            Err(_) => serializer.serialize_i128(self.0),
        }
    }
}

impl From<Total> for i128 {
    fn from(total: Total) -> i128 {
        total.0
    }
}

impl Type<Postgres> for Total {
    /// Sent as text (cast to `numeric`); read from text (a `numeric` cast to text) or
    /// from a `bigint` (a sum that fits one).
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty) || <i64 as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for Total {
    fn array_type_info() -> PgTypeInfo {
        <String as PgHasArrayType>::array_type_info()
    }
}

impl<'r> Decode<'r, Postgres> for Total {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if <i64 as Type<Postgres>>::compatible(&value.type_info()) {
            return <i64 as Decode<Postgres>>::decode(value).map(|n| Total(n.into()));
        }
        let text = <&str as Decode<Postgres>>::decode(value)?;
        text.parse::<i128>().map(Total).map_err(|err| {
            format!("a sum read as {text:?} is not a whole number of at most 128 bits: {err}")
                .into()
        })
    }
}

impl Encode<'_, Postgres> for Total {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Postgres>>::encode(self.0.to_string(), buf)
    }
}

/// How a statement sums: in bigint, cheap per group and an error where a sum would pass
/// 2^63 − 1 (never a wrong figure), or in numeric, exact whatever the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sums {
    /// `projections.sum_int8` (`int8pl` as an aggregate): raises 22003 on overflow.
    Bigint,
    /// PostgreSQL's `sum` of bigint: a numeric.
    Numeric,
}

impl Sums {
    /// The aggregate's name.
    pub(crate) fn agg(self) -> &'static str {
        match self {
            Sums::Bigint => "projections.sum_int8",
            Sums::Numeric => "sum",
        }
    }

    /// What follows a sum selected as a [`Total`]: nothing for a bigint (read as
    /// such), `::text` for a numeric.
    pub(crate) fn out(self) -> &'static str {
        match self {
            Sums::Bigint => "",
            Sums::Numeric => "::text",
        }
    }

    /// The product of two bigint expressions, in this mode's type (in bigint it raises
    /// past 2^63 − 1, as a sum does).
    pub(crate) fn times(self, a: &str, b: &str) -> String {
        match self {
            Sums::Bigint => format!("{a} * {b}"),
            Sums::Numeric => format!("{a}::numeric * {b}"),
        }
    }
}

/// Runs `query` with its sums in bigint ([`Sums::Bigint`]), and again in numeric when
/// one of them overflowed. For reports of thousands of groups, where numeric sums cost
/// most.
pub(crate) async fn summed<T, F, Fut>(query: F) -> Result<T, sqlx::Error>
where
    F: Fn(Sums) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    match query(Sums::Bigint).await {
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some(OUT_OF_RANGE) => {
            query(Sums::Numeric).await
        }
        answer => answer,
    }
}

/// SQLSTATE `numeric_value_out_of_range`: what `int8pl` raises on overflow.
const OUT_OF_RANGE: &str = "22003";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn totals_are_exact_whole_numbers_whatever_their_size() {
        let text = |t: i128| serde_json::to_string(&Total(t)).unwrap();
        assert_eq!(text(-5), "-5");
        // Two and three of the largest bigint amounts.
        let largest = i128::from(i64::MAX);
        assert_eq!(text(2 * largest), "18446744073709551614");
        assert_eq!(text(3 * largest), "27670116110564327421");
        assert_eq!(Total(2 * largest).saturated(), 18_446_744_073_709_551_614);
        assert_eq!(Total(3 * largest).saturated(), u64::MAX);
        assert_eq!(Total(-1).saturated(), 0);
    }
}
