//! A custom projection's declarative definition, as an analyst writes it, and its check:
//! every mistake is reported with the path of the part that is wrong.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{self, Kind};

/// What a custom projection reads, keeps and groups by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The event types it counts (at least one).
    pub event_types: Vec<String>,
    /// Conditions every counted event meets (all of them).
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// The keys of its rows, in order (none: one row for everything).
    #[serde(default)]
    pub group_by: Vec<GroupKey>,
    /// The figures of each row (at least one).
    pub measures: Vec<Measure>,
}

/// A condition on a field of the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The field: `data.<path>`, `metadata.<key>`, `event.<field>`, or a joined
    /// `client.<attr>`, `deal.<attr>`, `manager.<attr>`.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// What to compare with (an array for `in` and `not_in`; none for `exists`,
    /// `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A filter's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal (a missing field is not equal).
    Ne,
    /// One of the values.
    In,
    /// None of the values.
    NotIn,
    /// Greater than (numbers by value, text in its order: ISO times compare right).
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Present and not null.
    Exists,
    /// Absent or null.
    Missing,
}

/// One key of the rows: a field's value, or the time bucket of `occurred_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupKey {
    /// The column's name.
    pub name: String,
    /// The field whose value is the key (as in filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Or: the bucket of the event's `occurred_at` (its first local day, `YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
    /// The bucket's time zone (IANA name); default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// A calendar bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// The local day.
    Day,
    /// The ISO week, from Monday.
    Week,
    /// The calendar month.
    Month,
    /// The calendar quarter.
    Quarter,
}

/// One figure of each row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// The column's name.
    pub name: String,
    /// The aggregate.
    #[serde(rename = "fn")]
    pub function: Function,
    /// The field it aggregates (all but `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A measure's aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// Events counted.
    Count,
    /// Distinct non-null values of the field.
    CountDistinct,
    /// The sum of the field's numbers (0 when none).
    Sum,
    /// The least number.
    Min,
    /// The greatest number.
    Max,
    /// The mean of the numbers, to 4 decimals.
    Avg,
}

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where: `measures[1].field`, `group_by[0].time_zone`, …
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A field a definition names, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// A payload field, by its path, read only from the listed event types whose
    /// payloads declare it (others give no value).
    Data {
        /// The path in the payload.
        path: Vec<String>,
        /// The event types it is read from.
        types: Vec<String>,
    },
    /// A metadata field.
    Metadata(String),
    /// An envelope field: `type`, `stream`, `occurred_at`.
    Envelope(String),
    /// An attribute of the client the event names.
    Client(String),
    /// An attribute of the deal the event names.
    Deal(String),
    /// An attribute of the manager the event names.
    Manager(String),
}

impl FieldRef {
    /// The joined entity it reads, if any.
    pub fn join(&self) -> Option<super::entities::EntityKind> {
        use super::entities::EntityKind as K;
        match self {
            FieldRef::Client(_) => Some(K::Client),
            FieldRef::Deal(_) => Some(K::Deal),
            FieldRef::Manager(_) => Some(K::Manager),
            _ => None,
        }
    }
}

/// The most keys a definition may group by.
pub const MAX_KEYS: usize = 16;
/// The most measures a definition may have.
pub const MAX_MEASURES: usize = 32;

/// Parses a definition from JSON; a malformed one is reported with the path of its
/// first malformed part.
pub fn parse(value: &Value) -> Result<Definition, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![Problem::new(path, err.into_inner().to_string())]
    })
}

/// Every problem of a parsed definition (empty when it is sound).
pub fn check(definition: &Definition) -> Vec<Problem> {
    let mut problems = Vec::new();
    let types = check_types(&definition.event_types, &mut problems);
    for (i, filter) in definition.filters.iter().enumerate() {
        let path = format!("filters[{i}]");
        resolve(
            &filter.field,
            &types,
            &format!("{path}.field"),
            &mut problems,
        );
        check_value(filter, &path, &mut problems);
    }
    let mut names = HashSet::new();
    for (i, key) in definition.group_by.iter().enumerate() {
        let path = format!("group_by[{i}]");
        check_name(&key.name, &path, &mut names, &mut problems);
        match (&key.field, key.bucket) {
            (Some(field), None) => {
                resolve(field, &types, &format!("{path}.field"), &mut problems);
                if key.time_zone.is_some() {
                    problems.push(Problem::new(
                        format!("{path}.time_zone"),
                        "a time zone goes with a bucket, not a field",
                    ));
                }
            }
            (None, Some(_)) => {
                if let Some(zone) = &key.time_zone {
                    if zone.parse::<chrono_tz::Tz>().is_err() {
                        problems.push(Problem::new(
                            format!("{path}.time_zone"),
                            format!("{zone:?} is not an IANA time zone (e.g. Europe/Kyiv, UTC)"),
                        ));
                    }
                }
            }
            _ => problems.push(Problem::new(
                path,
                "give either `field` or `bucket` (day, week, month, quarter)",
            )),
        }
    }
    if definition.measures.is_empty() {
        problems.push(Problem::new("measures", "give at least one measure"));
    }
    if definition.group_by.len() > MAX_KEYS {
        problems.push(Problem::new("group_by", format!("at most {MAX_KEYS} keys")));
    }
    if definition.measures.len() > MAX_MEASURES {
        problems.push(Problem::new(
            "measures",
            format!("at most {MAX_MEASURES} measures"),
        ));
    }
    for (i, measure) in definition.measures.iter().enumerate() {
        let path = format!("measures[{i}]");
        check_name(&measure.name, &path, &mut names, &mut problems);
        match (measure.function, &measure.field) {
            (Function::Count, None) => {}
            (Function::Count, Some(_)) => problems.push(Problem::new(
                format!("{path}.field"),
                "count counts events and takes no field (count_distinct counts values)",
            )),
            (_, None) => problems.push(Problem::new(
                format!("{path}.field"),
                format!("{:?} needs a field", measure.function).to_lowercase(),
            )),
            (function, Some(field)) => {
                let fpath = format!("{path}.field");
                let kind = resolve(field, &types, &fpath, &mut problems);
                if function != Function::CountDistinct && kind == Some(Kind::Scalar) {
                    problems.push(Problem::new(
                        fpath,
                        format!("{field} is not a number; sum, min, max and avg take numbers"),
                    ));
                }
            }
        }
    }
    problems
}

/// The definition's event types that are known; a problem for each other one.
fn check_types(types: &[String], problems: &mut Vec<Problem>) -> Vec<String> {
    if types.is_empty() {
        problems.push(Problem::new("event_types", "give at least one event type"));
    }
    let mut known = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if fields::payload(t).is_none() {
            let all: Vec<&str> = fields::PAYLOADS.iter().map(|(t, _)| *t).collect();
            problems.push(Problem::new(
                format!("event_types[{i}]"),
                format!("{t:?} is not an event type; known: {}", all.join(", ")),
            ));
        } else if known.contains(t) {
            problems.push(Problem::new(
                format!("event_types[{i}]"),
                format!("{t} is listed twice"),
            ));
        } else {
            known.push(t.clone());
        }
    }
    known
}

fn check_name(name: &str, path: &str, names: &mut HashSet<String>, problems: &mut Vec<Problem>) {
    let path = format!("{path}.name");
    if !crm_domain::custom_projection::is_valid_name(name) || name.contains("__") {
        problems.push(Problem::new(
            path,
            format!("{name:?}: a column name is 1-48 lowercase letters, digits or single _, starting with a letter"),
        ));
    } else if !names.insert(name.to_owned()) {
        problems.push(Problem::new(
            path,
            format!("the column name {name} is used twice"),
        ));
    }
}

fn check_value(filter: &Filter, path: &str, problems: &mut Vec<Problem>) {
    let vpath = format!("{path}.value");
    match (filter.op, &filter.value) {
        (Op::Exists | Op::Missing, None) => {}
        (Op::Exists | Op::Missing, Some(_)) => {
            problems.push(Problem::new(vpath, "exists and missing take no value"))
        }
        (Op::In | Op::NotIn, Some(Value::Array(_))) => {}
        (Op::In | Op::NotIn, _) => {
            problems.push(Problem::new(vpath, "in and not_in take an array"))
        }
        (_, None) => problems.push(Problem::new(vpath, "this comparison needs a value")),
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Some(v)) if !(v.is_number() || v.is_string()) => {
            problems.push(Problem::new(
                vpath,
                "gt, gte, lt and lte compare with a number or a text",
            ))
        }
        _ => {}
    }
}

/// Resolves `field` against the definition's event types: its kind, or a problem.
fn resolve(field: &str, types: &[String], path: &str, problems: &mut Vec<Problem>) -> Option<Kind> {
    match parse_field(field, types) {
        Ok((_, kind)) => Some(kind),
        Err(message) => {
            problems.push(Problem::new(path, message));
            None
        }
    }
}

/// A field name resolved against the event types it will be read from.
pub fn parse_field(field: &str, types: &[String]) -> Result<(FieldRef, Kind), String> {
    let (source, rest) = field.split_once('.').ok_or_else(|| {
        format!("{field:?}: a field is data.<path>, metadata.<key>, event.<field>, client.<attr>, deal.<attr> or manager.<attr>")
    })?;
    let attribute = |list: &[(&str, Kind)], what: &str, named_by: &[&str]| {
        let kind = list
            .iter()
            .find(|(a, _)| *a == rest)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let all: Vec<&str> = list.iter().map(|(a, _)| *a).collect();
                format!(
                    "{rest:?} is not an attribute of a {what}; known: {}",
                    all.join(", ")
                )
            })?;
        if !types.is_empty()
            && !types
                .iter()
                .any(|t| named_by.iter().any(|f| fields::has(t, f)))
        {
            return Err(format!(
                "none of the event types names a {what} (a payload field {})",
                named_by.join(" or ")
            ));
        }
        Ok(kind)
    };
    match source {
        "data" => {
            let path: Vec<String> = rest.split('.').map(str::to_owned).collect();
            let personal: Vec<&str> = types
                .iter()
                .filter(|t| crm_domain::personal::reaches(t, &path))
                .map(String::as_str)
                .collect();
            if !personal.is_empty() {
                return Err(personal_data(field, &personal));
            }
            let declared: Vec<(&String, Kind)> = types
                .iter()
                .filter_map(|t| {
                    let (_, kind) = fields::payload(t)?.iter().find(|(f, _)| *f == rest)?;
                    Some((t, *kind))
                })
                .collect();
            if declared.is_empty() {
                let mut all: Vec<&str> = types
                    .iter()
                    .filter_map(|t| fields::payload(t))
                    .flat_map(|list| list.iter().map(|(f, _)| *f))
                    .filter(|f| {
                        let steps: Vec<&str> = f.split('.').collect();
                        !types.iter().any(|t| crm_domain::personal::reaches(t, &steps))
                    })
                    .collect();
                all.sort_unstable();
                all.dedup();
                return Err(format!(
                    "{rest:?} is not a payload field of {}; their fields: {}",
                    types.join(", "),
                    all.join(", ")
                ));
            }
            // A number only where every type that has it says so.
            let kind = if declared.iter().all(|(_, k)| *k == Kind::Number) {
                Kind::Number
            } else {
                Kind::Scalar
            };
            let types = declared.into_iter().map(|(t, _)| t.clone()).collect();
            Ok((FieldRef::Data { path, types }, kind))
        }
        "metadata" if fields::METADATA.contains(&rest) => Ok((FieldRef::Metadata(rest.into()), Kind::Scalar)),
        "metadata" => Err(format!("{rest:?} is not a metadata field; known: {}", fields::METADATA.join(", "))),
        "event" if fields::ENVELOPE.contains(&rest) => Ok((FieldRef::Envelope(rest.into()), Kind::Scalar)),
        "event" => Err(format!("{rest:?} is not an envelope field; known: {}", fields::ENVELOPE.join(", "))),
        // A client's attributes come from its ClientRegistered and ClientUpdated.
        "client" if crm_domain::personal::reaches("ClientRegistered", &[rest]) => {
            Err(personal_data(field, &["ClientRegistered"]))
        }
        "client" => attribute(fields::CLIENT, "client", &["client_id", "deal_id"])
            .map(|k| (FieldRef::Client(rest.into()), k)),
        "deal" => attribute(fields::DEAL, "deal", &["deal_id"]).map(|k| (FieldRef::Deal(rest.into()), k)),
        "manager" => attribute(
            fields::MANAGER,
            "manager",
            &["manager_id", "to_manager_id", "assignee_id", "to_assignee_id", "client_id", "deal_id"],
        )
        .map(|k| (FieldRef::Manager(rest.into()), k)),
        _ => Err(format!(
            "{source:?} is not a source; a field is data.<path>, metadata.<key>, event.<field>, client.<attr>, deal.<attr> or manager.<attr>"
        )),
    }
}

/// The refusal of a field that reads personal data.
fn personal_data(field: &str, types: &[&str]) -> String {
    format!(
        "{field} reads personal data of {} (names, phones and e-mails of clients, their \
         contacts and leads): no custom projection may read, group, count or filter by it",
        types.join(", ")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(value: Value) -> Vec<Problem> {
        match parse(&value) {
            Ok(definition) => check(&definition),
            Err(problems) => problems,
        }
    }

    fn paths(value: Value) -> Vec<String> {
        problems(value).into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_sound_definition_has_no_problem() {
        let definition = json!({
            "event_types": ["InteractionLogged"],
            "filters": [{"field": "data.kind", "op": "eq", "value": "call"}],
            "group_by": [
                {"name": "region", "field": "client.region"},
                {"name": "month", "bucket": "month", "time_zone": "Europe/Kyiv"}
            ],
            "measures": [
                {"name": "calls", "fn": "count"},
                {"name": "seconds", "fn": "sum", "field": "data.duration.seconds"},
                {"name": "clients", "fn": "count_distinct", "field": "data.client_id"}
            ]
        });
        assert_eq!(problems(definition), vec![]);
    }

    #[test]
    fn no_path_bucket_filter_or_measure_reads_personal_data() {
        let count = json!([{"name": "n", "fn": "count"}]);
        // The probe: a field one listed type allows, read from every type.
        let probe = json!({
            "event_types": ["ManagerRegistered", "ClientRegistered", "LeadCaptured"],
            "group_by": [{"name": "who", "field": "data.name"}],
            "measures": [{"name": "emails", "fn": "count_distinct", "field": "data.email"}]
        });
        assert_eq!(paths(probe), ["group_by[0].field", "measures[0].field"]);
        let refused = [
            ("ClientRegistered", "data.name"),
            ("ClientRegistered", "data.contacts"),
            ("ClientRegistered", "data.contacts.0"),
            ("ClientRegistered", "data.contacts.0.phone"),
            ("ClientRegistered", "data.contacts.name"),
            ("ClientUpdated", "data.changes"),
            ("ClientUpdated", "data.changes.name"),
            ("ClientUpdated", "data.changes.contacts.3.email"),
            ("LeadCaptured", "data.name"),
            ("LeadCaptured", "data.phone"),
            ("LeadCaptured", "data.email"),
            ("DealWon", "client.name"),
            ("DealWon", "client.contacts"),
            ("ClientRegistered", "data"),
            ("ClientRegistered", "data."),
        ];
        for (t, field) in refused {
            for (place, definition) in [
                (
                    "group_by[0].field",
                    json!({"event_types": [t], "group_by": [{"name": "k", "field": field}], "measures": count}),
                ),
                (
                    "measures[0].field",
                    json!({"event_types": [t], "measures": [{"name": "d", "fn": "count_distinct", "field": field}]}),
                ),
                (
                    "filters[0].field",
                    json!({"event_types": [t], "filters": [{"field": field, "op": "eq", "value": "Olena"}], "measures": count}),
                ),
                (
                    "filters[0].field",
                    json!({"event_types": [t], "filters": [{"field": field, "op": "exists"}], "measures": count}),
                ),
                (
                    "filters[0].field",
                    json!({"event_types": [t], "filters": [{"field": field, "op": "in", "value": ["a", "b"]}], "measures": count}),
                ),
            ] {
                let found = problems(definition);
                assert_eq!(
                    found.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
                    [place],
                    "{t} {field}: {found:?}"
                );
            }
        }
        // The message says why.
        let found = problems(
            json!({"event_types": ["LeadCaptured"], "group_by": [{"name": "e", "field": "data.email"}], "measures": count}),
        );
        assert!(
            found[0].message.contains("personal data of LeadCaptured"),
            "{found:?}"
        );
        // What is not personal stays readable: a manager's name, a lead's source, a
        // client's region through the join.
        for (t, field) in [
            ("ManagerRegistered", "data.name"),
            ("LeadCaptured", "data.source"),
            ("ClientUpdated", "data.changes.region"),
            ("DealWon", "client.region"),
        ] {
            let definition = json!({"event_types": [t], "group_by": [{"name": "k", "field": field}], "measures": count});
            assert_eq!(problems(definition), vec![], "{t} {field}");
        }
    }

    #[test]
    fn a_payload_field_is_read_only_from_the_types_that_declare_it() {
        let types = vec!["DealWon".to_owned(), "DealLost".to_owned()];
        let (field, kind) = parse_field("data.reason", &types).unwrap();
        assert_eq!(
            field,
            FieldRef::Data {
                path: vec!["reason".into()],
                types: vec!["DealLost".into()]
            }
        );
        assert_eq!(kind, Kind::Scalar);
        // A number where every declaring type says so.
        let (_, kind) = parse_field("data.amount", &types).unwrap();
        assert_eq!(kind, Kind::Number);
    }

    #[test]
    fn each_bad_part_is_named_by_its_path() {
        assert_eq!(
            paths(json!({"event_types": ["Nope"], "measures": [{"name": "n", "fn": "count"}]})),
            ["event_types[0]"]
        );
        assert_eq!(
            paths(json!({"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "median"}]})),
            ["measures[0].fn"]
        );
        assert_eq!(
            paths(
                json!({"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "count"}], "grup_by": []})
            ),
            ["grup_by"]
        );
        assert_eq!(
            paths(
                json!({"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "sum", "field": "data.deal_id"}]})
            ),
            ["measures[0].field"]
        );
        assert_eq!(
            paths(
                json!({"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "sum", "field": "data.amont"}]})
            ),
            ["measures[0].field"]
        );
        assert_eq!(
            paths(
                json!({"event_types": ["DealWon"], "group_by": [{"name": "q", "bucket": "quarter", "time_zone": "Mars/Base"}], "measures": [{"name": "n", "fn": "count"}]})
            ),
            ["group_by[0].time_zone"]
        );
        assert_eq!(
            paths(
                json!({"event_types": ["ManagerRegistered"], "group_by": [{"name": "p", "field": "deal.pipeline_id"}], "measures": [{"name": "n", "fn": "count"}]})
            ),
            ["group_by[0].field"]
        );
        assert_eq!(
            paths(
                json!({"event_types": ["DealWon"], "filters": [{"field": "data.amount", "op": "in", "value": 3}], "measures": [{"name": "n", "fn": "count"}, {"name": "n", "fn": "count"}]})
            ),
            ["filters[0].value", "measures[1].name"]
        );
        assert_eq!(
            paths(json!({"event_types": ["DealWon"], "measures": []})),
            ["measures"]
        );
    }
}
