//! Every GET route of the OpenAPI document, made concrete with real values: tests
//! that must hold for every query (read-your-writes, erasure) walk them, so that a
//! route added later is covered without being named.

use std::collections::BTreeMap;

use serde_json::Value;

/// One GET route of the document with the URLs that ask it.
#[derive(Debug, Clone)]
pub struct Route {
    /// The path template, e.g. `/clients/{id}`.
    pub template: String,
    /// One URL per value given for its placeholders, with its required query
    /// parameters filled; none when a value is missing (see [`Route::missing`]).
    pub urls: Vec<String>,
    /// What could not be filled: a message naming the route and the parameter.
    pub missing: Option<String>,
}

/// Real values for the placeholders of path templates and for required query
/// parameters: by the collection a path parameter follows (`/clients/{id}` →
/// `clients`, `/streams/{stream}` → `streams`) and for a query parameter `x_id` by
/// `xs` (`pipeline_id` → `pipelines`).
#[derive(Debug, Clone, Default)]
pub struct Fill {
    values: BTreeMap<String, Vec<String>>,
}

impl Fill {
    /// Nothing known yet.
    pub fn new() -> Self {
        Fill::default()
    }

    /// Adds `value` for the placeholders that follow `collection`.
    pub fn with(mut self, collection: &str, value: impl ToString) -> Self {
        self.values
            .entry(collection.to_owned())
            .or_default()
            .push(value.to_string());
        self
    }

    /// Every GET operation of `doc`, each with its URLs (or what is missing).
    pub fn get_routes(&self, doc: &Value) -> Vec<Route> {
        let mut routes = Vec::new();
        let Some(paths) = doc["paths"].as_object() else {
            return routes;
        };
        for (template, item) in paths {
            let Some(operation) = item.get("get") else {
                continue;
            };
            match self.urls(doc, template, operation) {
                Ok(urls) => routes.push(Route {
                    template: template.clone(),
                    urls,
                    missing: None,
                }),
                Err(missing) => routes.push(Route {
                    template: template.clone(),
                    urls: Vec::new(),
                    missing: Some(missing),
                }),
            }
        }
        routes
    }

    fn urls(&self, doc: &Value, template: &str, operation: &Value) -> Result<Vec<String>, String> {
        // The path: each placeholder by the segment before it.
        let mut paths = vec![String::new()];
        let mut previous = "";
        for segment in template.split('/').skip(1) {
            let filled: Vec<String> = if segment.starts_with('{') && segment.ends_with('}') {
                self.values.get(previous).cloned().ok_or_else(|| {
                    format!(
                        "GET {template}: no value for {segment} (after /{previous}/): give the \
                         scenario one with Fill::with({previous:?}, …)"
                    )
                })?
            } else {
                vec![segment.to_owned()]
            };
            paths = paths
                .iter()
                .flat_map(|p| filled.iter().map(move |f| format!("{p}/{f}")))
                .collect();
            previous = segment;
        }
        // The required query parameters.
        let mut query = Vec::new();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "query" || parameter["required"] != true {
                continue;
            }
            let name = parameter["name"].as_str().unwrap_or_default();
            let value = self
                .query_value(doc, name, &parameter["schema"])
                .ok_or_else(|| {
                    format!(
                        "GET {template}: cannot fill the required query parameter {name}: teach \
                     crm_tests::routes::Fill its value"
                    )
                })?;
            query.push(format!("{name}={value}"));
        }
        Ok(paths
            .into_iter()
            .map(|p| {
                if query.is_empty() {
                    p
                } else {
                    format!("{p}?{}", query.join("&"))
                }
            })
            .collect())
    }

    /// A value for required query parameter `name`: an id of its kind, the widest
    /// period, or the first value its schema allows.
    fn query_value(&self, doc: &Value, name: &str, schema: &Value) -> Option<String> {
        if let Some(kind) = name.strip_suffix("_id") {
            return self.values.get(&format!("{kind}s"))?.first().cloned();
        }
        match name {
            "from" => return Some("2000-01-01T00:00:00Z".into()),
            "to" => return Some("2100-01-01T00:00:00Z".into()),
            "month" => return Some("2026-01".into()),
            _ => {}
        }
        first_enum_value(doc, schema)
    }
}

/// The first value of an enumeration, through `$ref`, `oneOf`, `anyOf` and `allOf`.
fn first_enum_value(doc: &Value, schema: &Value) -> Option<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next()?;
        return first_enum_value(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.as_str().map(str::to_owned);
    }
    ["oneOf", "anyOf", "allOf"]
        .iter()
        .filter_map(|k| schema[*k].as_array())
        .flatten()
        .find_map(|s| first_enum_value(doc, s))
}

/// `url` with `name=value` added to its query.
pub fn with_query(url: &str, name: &str, value: impl std::fmt::Display) -> String {
    let join = if url.contains('?') { '&' } else { '?' };
    format!("{url}{join}{name}={value}")
}
