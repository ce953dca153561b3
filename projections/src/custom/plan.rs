//! A checked definition made executable: which events count, their group key, and the
//! figures a batch adds to each group, folded in memory before one write per table.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use crm_eventlog::RecordedEvent;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::definition::{self, Bucket, Definition, FieldRef, Function, Op, Problem};
use super::entities::{self, EntityKind};
use super::measures::{Acc, Group, Groups};

/// One key of the rows, resolved.
#[derive(Debug, Clone)]
enum Key {
    Field(FieldRef),
    Bucket(Bucket, Tz),
}

/// A definition ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The definition it was made from.
    pub definition: Definition,
    counted: HashSet<String>,
    feed_types: Vec<String>,
    filters: Vec<(FieldRef, Op, Option<Value>)>,
    keys: Vec<Key>,
    measures: Vec<(Function, Option<FieldRef>)>,
    joins: BTreeSet<EntityKind>,
}

/// The entities joined for a batch, by kind and id.
pub type Entities = HashMap<(EntityKind, Uuid), Map<String, Value>>;

impl Plan {
    /// Checks `definition` and makes it executable; every problem when it is not sound.
    pub fn new(definition: Definition) -> Result<Plan, Vec<Problem>> {
        let problems = definition::check(&definition);
        if !problems.is_empty() {
            return Err(problems);
        }
        let types = definition.event_types.clone();
        let field = |name: &str| {
            definition::parse_field(name, &types)
                .map(|(f, _)| f)
                .map_err(|message| {
                    vec![Problem {
                        path: String::new(),
                        message,
                    }]
                })
        };
        let mut filters = Vec::new();
        for f in &definition.filters {
            filters.push((field(&f.field)?, f.op, f.value.clone()));
        }
        let mut keys = Vec::new();
        for k in &definition.group_by {
            keys.push(match (&k.field, k.bucket) {
                (Some(name), _) => Key::Field(field(name)?),
                (None, Some(bucket)) => {
                    let zone = k.time_zone.as_deref().unwrap_or("UTC");
                    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
                    Key::Bucket(bucket, tz)
                }
                (None, None) => Key::Bucket(Bucket::Day, Tz::UTC),
            });
        }
        let mut measures = Vec::new();
        for m in &definition.measures {
            measures.push((m.function, m.field.as_deref().map(field).transpose()?));
        }
        let mut joins = BTreeSet::new();
        let refs = filters
            .iter()
            .map(|(f, _, _)| f)
            .chain(keys.iter().filter_map(|k| match k {
                Key::Field(f) => Some(f),
                Key::Bucket(..) => None,
            }))
            .chain(measures.iter().filter_map(|(_, f)| f.as_ref()));
        for r in refs {
            if let Some(kind) = r.join() {
                joins.insert(kind);
            }
        }
        if !joins.is_empty() {
            // A client or manager may be reached through a deal, a manager through a
            // client: keep every kind of entity a join may need.
            joins.extend([EntityKind::Client, EntityKind::Deal, EntityKind::Manager]);
        }
        let mut feed_types = types.clone();
        if !joins.is_empty() {
            for t in entities::TYPES {
                if !feed_types.iter().any(|f| f == t) {
                    feed_types.push((*t).to_owned());
                }
            }
        }
        Ok(Plan {
            counted: types.into_iter().collect(),
            feed_types,
            filters,
            keys,
            measures,
            joins,
            definition,
        })
    }

    /// The event types it reads: those it counts and those that move the entities it
    /// joins.
    pub fn feed_types(&self) -> &[String] {
        &self.feed_types
    }

    /// True when it joins clients, deals or managers.
    pub fn joins(&self) -> bool {
        !self.joins.is_empty()
    }

    /// The measures' functions, in order.
    pub fn functions(&self) -> impl Iterator<Item = Function> + '_ {
        self.measures.iter().map(|(f, _)| *f)
    }

    /// The ids of the entities a batch's events name directly.
    pub fn named_entities(&self, events: &[&RecordedEvent]) -> BTreeSet<(EntityKind, Uuid)> {
        let mut ids = BTreeSet::new();
        if !self.joins() {
            return ids;
        }
        for e in events {
            for field in ["client_id", "deal_id"] {
                if let Some(id) = e
                    .data
                    .get(field)
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                {
                    let kind = if field == "deal_id" {
                        EntityKind::Deal
                    } else {
                        EntityKind::Client
                    };
                    ids.insert((kind, id));
                }
            }
            for field in [
                "manager_id",
                "to_manager_id",
                "assignee_id",
                "to_assignee_id",
            ] {
                if let Some(id) = e
                    .data
                    .get(field)
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                {
                    ids.insert((EntityKind::Manager, id));
                }
            }
        }
        ids
    }

    /// Folds a batch's events, in feed order, into `groups`: entity events move
    /// `entities` first, then a counted event that passes the filters adds to its group.
    pub fn fold(
        &self,
        events: &[&RecordedEvent],
        entities: &mut Entities,
        dirty: &mut HashSet<(EntityKind, Uuid)>,
        groups: &mut Groups,
    ) {
        for stored in events {
            let upcast;
            let data = if stored.schema_version
                < crm_domain::codec::current_schema_version(&stored.event_type)
            {
                upcast = crm_domain::codec::upcast(
                    &stored.event_type,
                    stored.schema_version,
                    stored.data.clone(),
                )
                .map(|(_, v)| v)
                .unwrap_or(Value::Null);
                &upcast
            } else {
                &stored.data
            };
            if self.joins() {
                if let Some(entity) = entities::changed_by(&stored.event_type, data) {
                    let attrs = entities.entry(entity).or_default();
                    entities::evolve(&stored.event_type, data, attrs);
                    dirty.insert(entity);
                }
            }
            if !self.counted.contains(&stored.event_type) {
                continue;
            }
            let event = Event {
                stored,
                data,
                entities,
            };
            if !self
                .filters
                .iter()
                .all(|(field, op, value)| compare(*op, event.value(field).as_ref(), value.as_ref()))
            {
                continue;
            }
            let key: Vec<Value> = self
                .keys
                .iter()
                .map(|k| match k {
                    Key::Field(field) => event.value(field).unwrap_or(Value::Null),
                    Key::Bucket(bucket, tz) => {
                        Value::String(bucket_of(stored.occurred_at, *bucket, *tz).to_string())
                    }
                })
                .collect();
            let text = Value::Array(key.clone()).to_string();
            let group = groups.entry(text).or_insert_with(|| Group {
                key,
                measures: self.measures.iter().map(|(f, _)| Acc::new(*f)).collect(),
            });
            for ((_, field), acc) in self.measures.iter().zip(group.measures.iter_mut()) {
                let value = field.as_ref().and_then(|f| event.value(f));
                acc.add(value.as_ref());
            }
        }
    }
}

/// One event being folded, with what it can be asked.
struct Event<'a> {
    stored: &'a RecordedEvent,
    data: &'a Value,
    entities: &'a Entities,
}

impl Event<'_> {
    fn entity(&self, kind: EntityKind) -> Option<&Map<String, Value>> {
        let deal = || {
            entities::named(EntityKind::Deal, self.data)
                .and_then(|id| self.entities.get(&(EntityKind::Deal, id)))
        };
        let via = |attrs: Option<&Map<String, Value>>, field: &str| {
            attrs
                .and_then(|a| a.get(field))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
        };
        let id = match kind {
            EntityKind::Deal => entities::named(kind, self.data),
            EntityKind::Client => {
                entities::named(kind, self.data).or_else(|| via(deal(), "client_id"))
            }
            EntityKind::Manager => entities::named(kind, self.data)
                .or_else(|| via(deal(), "manager_id"))
                .or_else(|| {
                    let client = entities::named(EntityKind::Client, self.data)
                        .and_then(|id| self.entities.get(&(EntityKind::Client, id)));
                    via(client, "manager_id")
                }),
        }?;
        self.entities.get(&(kind, id))
    }

    fn value(&self, field: &FieldRef) -> Option<Value> {
        match field {
            FieldRef::Data { path, types } => {
                // Only from the types that declare it, and never a personal value
                // (checked with the definition already; kept here whatever it says).
                let event_type = &self.stored.event_type;
                if !types.contains(event_type) || crm_domain::personal::reaches(event_type, path) {
                    return None;
                }
                let mut v = self.data;
                for part in path {
                    v = v.get(part)?;
                }
                Some(v.clone())
            }
            FieldRef::Envelope(name) => Some(match name.as_str() {
                "type" => Value::from(self.stored.event_type.as_str()),
                "stream" => Value::from(self.stored.stream.as_str()),
                _ => Value::from(
                    self.stored
                        .occurred_at
                        .to_rfc3339_opts(SecondsFormat::Micros, true),
                ),
            }),
            FieldRef::Metadata(name) => {
                let m = &self.stored.metadata;
                match name.as_str() {
                    "actor" => m.actor.clone().map(Value::from),
                    "correlation_id" => m.correlation_id.map(|id| Value::from(id.to_string())),
                    "causation_id" => m.causation_id.map(|id| Value::from(id.to_string())),
                    "request_id" => m.request_id.clone().map(Value::from),
                    _ => serde_json::to_value(m.source).ok(),
                }
            }
            FieldRef::Client(attr) => self.entity(EntityKind::Client)?.get(attr).cloned(),
            FieldRef::Deal(attr) => self.entity(EntityKind::Deal)?.get(attr).cloned(),
            FieldRef::Manager(attr) => self.entity(EntityKind::Manager)?.get(attr).cloned(),
        }
        .filter(|v| !v.is_null())
    }
}

/// The local date a bucket of `at` starts on, in `tz`.
pub fn bucket_of(at: DateTime<Utc>, bucket: Bucket, tz: Tz) -> NaiveDate {
    let day = at.with_timezone(&tz).date_naive();
    let first_of = |month: u32| NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day);
    match bucket {
        Bucket::Day => day,
        Bucket::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
        Bucket::Month => first_of(day.month()),
        Bucket::Quarter => first_of((day.month0() / 3) * 3 + 1),
    }
}

/// True when `value` meets `op` against `operand`; an absent value meets only `missing`.
fn compare(op: Op, value: Option<&Value>, operand: Option<&Value>) -> bool {
    let Some(value) = value else {
        return op == Op::Missing;
    };
    let operand = operand.unwrap_or(&Value::Null);
    match op {
        Op::Exists => true,
        Op::Missing => false,
        Op::Eq => equal(value, operand),
        Op::Ne => !equal(value, operand),
        Op::In => operand
            .as_array()
            .is_some_and(|a| a.iter().any(|o| equal(value, o))),
        Op::NotIn => !operand
            .as_array()
            .is_some_and(|a| a.iter().any(|o| equal(value, o))),
        Op::Gt => order(value, operand) == Some(Ordering::Greater),
        Op::Gte => matches!(
            order(value, operand),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Op::Lt => order(value, operand) == Some(Ordering::Less),
        Op::Lte => matches!(
            order(value, operand),
            Some(Ordering::Less | Ordering::Equal)
        ),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn buckets_start_on_the_local_day_week_month_and_quarter() {
        let kyiv: Tz = "Europe/Kyiv".parse().expect("zone");
        // 2026-03-31 22:30 UTC is already April 1st in Kyiv (UTC+3 in summer time).
        let at = Utc
            .with_ymd_and_hms(2026, 3, 31, 22, 30, 0)
            .single()
            .expect("time");
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(bucket_of(at, Bucket::Day, kyiv), date(2026, 4, 1));
        assert_eq!(bucket_of(at, Bucket::Day, Tz::UTC), date(2026, 3, 31));
        assert_eq!(bucket_of(at, Bucket::Week, kyiv), date(2026, 3, 30));
        assert_eq!(bucket_of(at, Bucket::Month, kyiv), date(2026, 4, 1));
        assert_eq!(bucket_of(at, Bucket::Quarter, kyiv), date(2026, 4, 1));
        assert_eq!(bucket_of(at, Bucket::Quarter, Tz::UTC), date(2026, 1, 1));
    }

    #[test]
    fn comparisons_follow_sql_with_missing_values_failing_all_but_missing() {
        let v = Value::from(5);
        assert!(compare(Op::Eq, Some(&v), Some(&Value::from(5.0))));
        assert!(!compare(Op::Ne, None, Some(&Value::from(1))));
        assert!(compare(Op::Missing, None, None));
        assert!(compare(Op::In, Some(&v), Some(&serde_json::json!([1, 5]))));
        assert!(compare(
            Op::Gte,
            Some(&Value::from("2026-02")),
            Some(&Value::from("2026-01"))
        ));
        assert!(!compare(Op::Gt, Some(&Value::from("5")), Some(&v)));
    }
}
