//! Querying a custom projection's rows: filters on its columns, order, pages.

use serde_json::Value;
use sqlx::PgPool;

use super::definition::{self, Function};
use super::plan::Plan;
use super::table::{shown_columns, Tables};
use crate::error::ProjectionError;

/// A comparison of a rows filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `col=v`.
    Eq,
    /// `col.gt=v`.
    Gt,
    /// `col.gte=v`.
    Gte,
    /// `col.lt=v`.
    Lt,
    /// `col.lte=v`.
    Lte,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }

    /// The comparison a query parameter's suffix names (`region`, `calls.gte`).
    pub fn parse(param: &str) -> Option<(&str, Cmp)> {
        match param.rsplit_once('.') {
            None => Some((param, Cmp::Eq)),
            Some((col, "gt")) => Some((col, Cmp::Gt)),
            Some((col, "gte")) => Some((col, Cmp::Gte)),
            Some((col, "lt")) => Some((col, Cmp::Lt)),
            Some((col, "lte")) => Some((col, Cmp::Lte)),
            Some(_) => None,
        }
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct RowsQuery {
    /// Conditions on columns: (column, comparison, value as given).
    pub filters: Vec<(String, Cmp, String)>,
    /// Columns to order by, descending when true; then by the whole key.
    pub order: Vec<(String, bool)>,
    /// The most rows.
    pub limit: i64,
    /// Rows to skip (from the cursor).
    pub offset: i64,
}

/// A page of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsPage {
    /// The generation they come from.
    pub generation: i64,
    /// The rows, each an object of its columns.
    pub rows: Vec<Value>,
    /// More rows follow.
    pub more: bool,
}

/// Why rows cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowsRefusal {
    /// No custom projection has this name.
    Unknown,
    /// It is defined but its first build has not caught up yet.
    Building,
    /// The query names a column it does not have, or a value of the wrong kind.
    BadQuery(String),
    /// Its stored definition no longer passes the check (appended by older code:
    /// one naming personal data, say): it is not built; the reasons.
    Refused(String),
}

/// Reads a page of the live generation of custom projection `name`.
pub async fn rows(
    pool: &PgPool,
    name: &str,
    query: &RowsQuery,
) -> Result<Result<RowsPage, RowsRefusal>, ProjectionError> {
    let live: Option<(i64, Value)> = sqlx::query_as(
        "SELECT r.generation, r.definition FROM projections.custom_runtime r \
           JOIN projections.custom_catalog c ON c.name = r.name \
          WHERE r.name = $1 AND r.live",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some((generation, definition)) = live else {
        let defined: Option<Value> =
            sqlx::query_scalar("SELECT definition FROM projections.custom_catalog WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
        return Ok(Err(match defined {
            None => RowsRefusal::Unknown,
            Some(definition) => match super::compile(&definition) {
                Ok(_) => RowsRefusal::Building,
                Err(problems) => RowsRefusal::Refused(super::describe(&problems)),
            },
        }));
    };
    let plan = match definition::parse(&definition).and_then(Plan::new) {
        Ok(plan) => plan,
        Err(problems) => return Ok(Err(RowsRefusal::Refused(super::describe(&problems)))),
    };
    let columns = shown_columns(&plan);
    let measure = |col: &str| {
        plan.definition
            .measures
            .iter()
            .find(|m| m.name == col)
            .map(|m| m.function)
    };
    let expr = |col: &str| {
        columns
            .iter()
            .find(|(n, _)| n == col)
            .map(|(_, e)| e.clone())
    };
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    for (col, cmp, value) in &query.filters {
        let Some(e) = expr(col) else {
            return Ok(Err(unknown_column(col, &columns)));
        };
        conditions.push(match measure(col) {
            Some(_) => {
                if !finite_number(value) {
                    return Ok(Err(RowsRefusal::BadQuery(format!(
                        "{col} is a measure: compare it with a finite number within ±1e308, \
                         not {value:?}"
                    ))));
                }
                binds.push(value.clone());
                format!("({e}) {} ${}::numeric", cmp.sql(), binds.len())
            }
            None => {
                // Keys are JSON: a value that reads as a JSON number, boolean or null
                // is compared as one, anything else as text.
                let json = match serde_json::from_str::<Value>(value) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
                    _ => Value::String(value.clone()),
                };
                binds.push(json.to_string());
                format!("{e} {} ${}::jsonb", cmp.sql(), binds.len())
            }
        });
    }
    let mut order = Vec::new();
    for (col, desc) in &query.order {
        let Some(e) = expr(col) else {
            return Ok(Err(unknown_column(col, &columns)));
        };
        let nulls = if measure(col)
            .is_some_and(|f| matches!(f, Function::Min | Function::Max | Function::Avg))
        {
            " NULLS LAST"
        } else {
            ""
        };
        order.push(format!("{e} {}{nulls}", if *desc { "DESC" } else { "ASC" }));
    }
    for key in &plan.definition.group_by {
        order.push(format!("\"{}\" ASC", key.name));
    }
    order.push("_key ASC".into());
    let object: Vec<String> = columns.iter().map(|(n, e)| format!("'{n}', {e}")).collect();
    let sql = format!(
        "SELECT jsonb_build_object({}) FROM projections.\"{}\" {} ORDER BY {} LIMIT {} OFFSET {}",
        object.join(", "),
        Tables::of(name, generation).rows,
        if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        },
        order.join(", "),
        query.limit + 1,
        query.offset
    );
    let mut q = sqlx::query_scalar::<_, Value>(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let mut rows = q.fetch_all(pool).await?;
    let more = rows.len() as i64 > query.limit;
    rows.truncate(usize::try_from(query.limit).unwrap_or(0));
    Ok(Ok(RowsPage {
        generation,
        rows,
        more,
    }))
}

/// True for a decimal number (`-12`, `3.5`, `1e6`) whose value a double holds: finite
/// and, unless zero, not so small it rounds to zero, its written exponent within
/// ±1000. PostgreSQL's `numeric` takes every such text; it refuses values far beyond
/// (`1e1000000`, `1e-100000`), and `NaN` and `Infinity` compare with nothing sensibly.
fn finite_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (digits, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = value.len() <= 400
        && !(whole.is_empty() && fraction.is_empty())
        && all_digits(whole)
        && all_digits(fraction)
        // PostgreSQL refuses a written exponent beyond ±1000, even on zero.
        && exponent.is_none_or(|e| {
            !e.is_empty() && all_digits(e) && e.parse::<u32>().is_ok_and(|e| e <= 1000)
        });
    let Some(number) = well_formed.then(|| value.parse::<f64>().ok()).flatten() else {
        return false;
    };
    let zero = mantissa.bytes().all(|b| matches!(b, b'0' | b'.'));
    number.is_finite() && (number != 0.0 || zero)
}

fn unknown_column(col: &str, columns: &[(String, String)]) -> RowsRefusal {
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    RowsRefusal::BadQuery(format!(
        "{col:?} is not a column; columns: {}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::finite_number;

    #[test]
    fn a_measure_is_compared_only_with_a_finite_decimal_number() {
        for ok in [
            "0", "-12", "3.5", ".5", "5.", "1e6", "1E+6", "2.5e-3", "0e-1000", "1e-320", "1e308",
        ] {
            assert!(finite_number(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            ".",
            "e5",
            "1e",
            "0e-1001",
            "1e1000000",
            "1e-100000",
            "1e309",
            "NaN",
            "nan",
            "inf",
            "Infinity",
            "-infinity",
            "+1",
            "0x10",
            "1_000",
            " 1",
            "1 ",
            "1\0",
            "١",
        ] {
            assert!(!finite_number(bad), "{bad:?}");
        }
    }
}
