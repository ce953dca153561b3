//! The tables of one generation of a custom projection, and the SQL that writes them:
//! its rows (one per group), the distinct values behind `count_distinct`, and the
//! entities it joins.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::definition::Function;
use super::entities::EntityKind;
use super::measures::{Acc, Groups};
use super::plan::{Entities, Plan};
use crate::error::ProjectionError;

/// The names of one generation's tables (in schema `projections`).
#[derive(Debug, Clone)]
pub struct Tables {
    /// One row per group.
    pub rows: String,
    /// The distinct values counted by `count_distinct` measures.
    pub distinct: String,
    /// The joined entities' attributes.
    pub entities: String,
}

impl Tables {
    /// The tables of generation `generation` of projection `name`.
    pub fn of(name: &str, generation: i64) -> Tables {
        Tables {
            rows: format!("cp{generation}_{name}"),
            distinct: format!("cp{generation}d_{name}"),
            entities: format!("cp{generation}e_{name}"),
        }
    }

    /// All three, rows first.
    pub fn all(&self) -> [&str; 3] {
        [&self.rows, &self.distinct, &self.entities]
    }
}

/// The longest group key or distinct value stored as it is; a longer one is stored as
/// its digest (`#` and the SHA-256 in hex, which no JSON text starts with), since a
/// btree index entry holds at most about 2.7 kB (a 10,000-character note would not fit).
const MAX_STORED_KEY: usize = 512;

/// How a group key's or distinct value's JSON text is stored in an indexed column.
fn stored(text: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    if text.len() <= MAX_STORED_KEY {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(format!("#{}", hex::encode(Sha256::digest(text.as_bytes()))))
    }
}

/// A column name, quoted (names are checked: lowercase letters, digits, `_`).
fn q(name: &str) -> String {
    format!("\"{name}\"")
}

/// The `CREATE TABLE IF NOT EXISTS` statements of a generation, in schema `projections`.
pub fn create(tables: &Tables, plan: &Plan) -> Vec<String> {
    let mut columns = vec!["_key text PRIMARY KEY".to_owned()];
    for key in &plan.definition.group_by {
        columns.push(format!("{} jsonb NOT NULL", q(&key.name)));
    }
    for m in &plan.definition.measures {
        let n = &m.name;
        columns.push(match m.function {
            Function::Count | Function::CountDistinct => {
                format!("{} bigint NOT NULL DEFAULT 0", q(n))
            }
            Function::Sum => format!("{} numeric NOT NULL DEFAULT 0", q(n)),
            Function::Min | Function::Max => format!("{} numeric", q(n)),
            Function::Avg => format!(
                "{} numeric NOT NULL DEFAULT 0, {} bigint NOT NULL DEFAULT 0",
                q(&format!("{n}__sum")),
                q(&format!("{n}__n"))
            ),
        });
    }
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS projections.{} ({})",
            q(&tables.rows),
            columns.join(", ")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS projections.{} \
             (_key text NOT NULL, measure smallint NOT NULL, value text NOT NULL, \
              PRIMARY KEY (_key, measure, value))",
            q(&tables.distinct)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS projections.{} \
             (kind text NOT NULL, id uuid NOT NULL, attrs jsonb NOT NULL, PRIMARY KEY (kind, id))",
            q(&tables.entities)
        ),
    ]
}

/// The SQL expression of each column as the rows API shows it, by name.
pub fn shown_columns(plan: &Plan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = plan
        .definition
        .group_by
        .iter()
        .map(|k| (k.name.clone(), q(&k.name)))
        .collect();
    for m in &plan.definition.measures {
        let n = &m.name;
        let expr = match m.function {
            Function::Avg => format!(
                "CASE WHEN {c} = 0 THEN NULL ELSE round({s} / {c}, 4) END",
                s = q(&format!("{n}__sum")),
                c = q(&format!("{n}__n"))
            ),
            _ => q(n),
        };
        out.push((n.clone(), expr));
    }
    out
}

/// Loads the attributes of `ids` into `entities` (those stored; others stay absent).
pub async fn load_entities(
    tx: &mut Transaction<'_, Postgres>,
    tables: &Tables,
    ids: &[(EntityKind, Uuid)],
    entities: &mut Entities,
) -> Result<(), ProjectionError> {
    if ids.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = ids.iter().map(|(k, _)| k.tag()).collect();
    let uuids: Vec<Uuid> = ids.iter().map(|(_, id)| *id).collect();
    let rows: Vec<(String, Uuid, Value)> = sqlx::query_as(&format!(
        "SELECT kind, id, attrs FROM {} WHERE (kind, id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))",
        q(&tables.entities)
    ))
    .bind(&kinds)
    .bind(&uuids)
    .fetch_all(&mut **tx)
    .await?;
    for (kind, id, attrs) in rows {
        if let (Some(kind), Value::Object(attrs)) = (EntityKind::from_tag(&kind), attrs) {
            entities.insert((kind, id), attrs);
        }
    }
    Ok(())
}

/// Writes the entities a batch changed.
pub async fn store_entities(
    tx: &mut Transaction<'_, Postgres>,
    tables: &Tables,
    entities: &Entities,
    dirty: &HashSet<(EntityKind, Uuid)>,
) -> Result<(), ProjectionError> {
    if dirty.is_empty() {
        return Ok(());
    }
    let mut changed: Vec<&(EntityKind, Uuid)> = dirty.iter().collect();
    changed.sort_unstable();
    let kinds: Vec<&str> = changed.iter().map(|(k, _)| k.tag()).collect();
    let ids: Vec<Uuid> = changed.iter().map(|(_, id)| *id).collect();
    let attrs: Vec<String> = changed
        .iter()
        .map(|e| Value::Object(entities.get(e).cloned().unwrap_or_else(Map::new)).to_string())
        .collect();
    sqlx::query(&format!(
        "INSERT INTO {} (kind, id, attrs) \
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[]::jsonb[]) \
         ON CONFLICT (kind, id) DO UPDATE SET attrs = excluded.attrs",
        q(&tables.entities)
    ))
    .bind(&kinds)
    .bind(&ids)
    .bind(&attrs)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a batch's groups: distinct values first (only those new to the table count),
/// then one upsert of every touched row.
pub async fn store_groups(
    tx: &mut Transaction<'_, Postgres>,
    tables: &Tables,
    plan: &Plan,
    groups: &Groups,
) -> Result<(), ProjectionError> {
    if groups.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&String> = groups.keys().collect();
    keys.sort_unstable();
    let new_distinct = store_distinct(tx, tables, groups, &keys).await?;

    let definition = &plan.definition;
    let mut select = vec!["u.c0".to_owned()];
    let mut unnest = vec!["$1::text[]".to_owned()];
    let mut columns = vec!["_key".to_owned()];
    let mut updates = Vec::new();
    let mut param = 1;
    let mut next = |cast: &str, select: &mut Vec<String>, unnest: &mut Vec<String>, expr: &str| {
        param += 1;
        unnest.push(format!("${param}::{cast}"));
        select.push(expr.replace('#', &format!("u.c{}", param - 1)));
    };
    for key in &definition.group_by {
        next("text[]", &mut select, &mut unnest, "#::jsonb");
        columns.push(q(&key.name));
    }
    for m in &definition.measures {
        let n = q(&m.name);
        match m.function {
            Function::Count | Function::CountDistinct => {
                next("int8[]", &mut select, &mut unnest, "#");
                updates.push(format!("{n} = t.{n} + excluded.{n}"));
                columns.push(n);
            }
            Function::Sum => {
                next("text[]", &mut select, &mut unnest, "#::numeric");
                updates.push(format!("{n} = t.{n} + excluded.{n}"));
                columns.push(n);
            }
            Function::Min | Function::Max => {
                next("text[]", &mut select, &mut unnest, "#::numeric");
                let f = if m.function == Function::Min {
                    "LEAST"
                } else {
                    "GREATEST"
                };
                updates.push(format!("{n} = {f}(t.{n}, excluded.{n})"));
                columns.push(n);
            }
            Function::Avg => {
                let (s, c) = (q(&format!("{}__sum", m.name)), q(&format!("{}__n", m.name)));
                next("text[]", &mut select, &mut unnest, "#::numeric");
                next("int8[]", &mut select, &mut unnest, "#");
                updates.push(format!("{s} = t.{s} + excluded.{s}"));
                updates.push(format!("{c} = t.{c} + excluded.{c}"));
                columns.push(s);
                columns.push(c);
            }
        }
    }
    let aliases: Vec<String> = (0..unnest.len()).map(|i| format!("c{i}")).collect();
    let on_conflict = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    let sql = format!(
        "INSERT INTO {table} AS t ({columns}) SELECT {select} FROM unnest({unnest}) AS u({aliases}) \
         ON CONFLICT (_key) {on_conflict}",
        table = q(&tables.rows),
        columns = columns.join(", "),
        select = select.join(", "),
        unnest = unnest.join(", "),
        aliases = aliases.join(", "),
    );
    let stored_keys: Vec<String> = keys.iter().map(|k| stored(k).into_owned()).collect();
    let mut query = sqlx::query(&sql).bind(&stored_keys);
    for i in 0..definition.group_by.len() {
        let texts: Vec<String> = keys
            .iter()
            .map(|k| {
                groups[*k]
                    .key
                    .get(i)
                    .cloned()
                    .unwrap_or(Value::Null)
                    .to_string()
            })
            .collect();
        query = query.bind(texts);
    }
    for (i, _) in definition.measures.iter().enumerate() {
        let accs = keys.iter().map(|k| &groups[*k].measures[i]);
        match groups[keys[0]].measures[i] {
            Acc::Count(_) => {
                query = query.bind(
                    accs.map(|a| if let Acc::Count(n) = a { *n } else { 0 })
                        .collect::<Vec<i64>>(),
                )
            }
            Acc::Distinct(_) => {
                let counts: Vec<i64> = stored_keys
                    .iter()
                    .map(|k| new_distinct.get(&(k.clone(), i)).copied().unwrap_or(0))
                    .collect();
                query = query.bind(counts)
            }
            Acc::Sum(_) => {
                query = query.bind(
                    accs.map(|a| {
                        if let Acc::Sum(s) = a {
                            s.text()
                        } else {
                            "0".into()
                        }
                    })
                    .collect::<Vec<String>>(),
                )
            }
            Acc::Min(_) | Acc::Max(_) => {
                query = query.bind(
                    accs.map(|a| match a {
                        Acc::Min(v) | Acc::Max(v) => v.map(|n| n.text()),
                        _ => None,
                    })
                    .collect::<Vec<Option<String>>>(),
                )
            }
            Acc::Avg(..) => {
                let (sums, counts): (Vec<String>, Vec<i64>) = accs
                    .map(|a| match a {
                        Acc::Avg(s, n) => (s.text(), *n),
                        _ => ("0".into(), 0),
                    })
                    .unzip();
                query = query.bind(sums).bind(counts)
            }
        }
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Inserts the batch's distinct values; the number new to the table per (group's stored
/// key, measure).
async fn store_distinct(
    tx: &mut Transaction<'_, Postgres>,
    tables: &Tables,
    groups: &Groups,
    keys: &[&String],
) -> Result<HashMap<(String, usize), i64>, ProjectionError> {
    let (mut key_col, mut measure_col, mut value_col) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        for (i, acc) in groups[*key].measures.iter().enumerate() {
            if let Acc::Distinct(values) = acc {
                let mut values: Vec<&String> = values.iter().collect();
                values.sort_unstable();
                for v in values {
                    key_col.push(stored(key).into_owned());
                    measure_col.push(i16::try_from(i).unwrap_or(i16::MAX));
                    value_col.push(stored(v).into_owned());
                }
            }
        }
    }
    let mut new = HashMap::new();
    if key_col.is_empty() {
        return Ok(new);
    }
    let inserted: Vec<(String, i16)> = sqlx::query_as(&format!(
        "INSERT INTO {} (_key, measure, value) \
         SELECT * FROM unnest($1::text[], $2::int2[], $3::text[]) \
         ON CONFLICT DO NOTHING RETURNING _key, measure",
        q(&tables.distinct)
    ))
    .bind(&key_col)
    .bind(&measure_col)
    .bind(&value_col)
    .fetch_all(&mut **tx)
    .await?;
    for (key, measure) in inserted {
        *new.entry((key, usize::try_from(measure).unwrap_or(0)))
            .or_insert(0) += 1;
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::{stored, MAX_STORED_KEY};

    #[test]
    fn a_long_key_is_stored_as_its_digest_a_short_one_as_it_is() {
        let short = format!("[\"{}\"]", "я".repeat(200));
        assert!(short.len() <= MAX_STORED_KEY);
        assert_eq!(stored(&short), short);
        let long = format!("[\"{}\"]", "😀".repeat(10_000));
        let digest = stored(&long);
        assert_eq!(digest.len(), 65);
        assert!(digest.starts_with('#'), "{digest}");
        assert_eq!(digest, stored(&long.clone()));
        assert_ne!(digest, stored(&format!("[\"{}\"]", "😀".repeat(9_999))));
    }
}
