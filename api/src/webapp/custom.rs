//! The analyst's custom projections: define one in a JSON editor (with the documented
//! fields, an example and the API's problems shown beside the field or the editor),
//! watch its build, browse and filter its rows (the API's own filters, order and
//! paging), download them, change its definition. Every read and write is the API's
//! (`GET /projections/{name}`, `…/rows`, `POST /projections`, `PUT /projections/{name}`),
//! asked in process as the person.

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::chart::empty;
use super::form::{csrf_field, Posted};
use super::i18n::Lang;
use super::layout::{self, page};
use super::page::{answer, encode, html as html_page, login_address, Ctx, PageResult};

/// The definition the editor starts with (docs/projections.md's first example).
pub const EXAMPLE: &str = r#"{
  "event_types": ["InteractionLogged"],
  "filters": [{"field": "data.kind", "op": "eq", "value": "call"}],
  "group_by": [
    {"name": "region", "field": "client.region"},
    {"name": "month", "bucket": "month", "time_zone": "Europe/Kyiv"}
  ],
  "measures": [
    {"name": "calls", "fn": "count"},
    {"name": "call_seconds", "fn": "sum", "field": "data.duration.seconds"}
  ]
}"#;

/// The rows filter's comparisons: the API's `col=v` and `col.gt|gte|lt|lte=v`.
const COMPARISONS: [(&str, &str); 5] = [
    ("eq", "="),
    ("gt", ">"),
    ("gte", "≥"),
    ("lt", "<"),
    ("lte", "≤"),
];

/// The page sizes offered.
const LIMITS: [&str; 4] = ["25", "100", "500", "1000"];

/// A JSON value as text.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the editor shows after a refused submission: the text as typed and why.
pub struct Refused {
    /// The name typed (for a new projection).
    pub name: String,
    /// The definition as typed.
    pub text: String,
    /// The status to answer with.
    pub status: StatusCode,
    /// The API's problem document (or the page's own, for text that is not JSON).
    pub problem: Value,
}

impl Refused {
    /// Does the problem concern the name rather than the definition?
    fn about_name(&self) -> bool {
        let code = self.problem["code"].as_str().unwrap_or("");
        self.status == StatusCode::CONFLICT
            || matches!(code, "invalid_projection_name" | "reserved_projection_name")
            || self.problem["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|p| p["path"] == "name"))
    }
}

/// The definition typed in the editor, as a JSON object; else the problem to show
/// (where the text is wrong: line and column).
fn parse_definition(lang: Lang, typed: &str) -> Result<Map<String, Value>, Value> {
    match serde_json::from_str::<Value>(typed) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(serde_json::json!({
            "code": "invalid_json",
            "title": lang.t("definition_not_object"),
            "detail": lang.t("definition_not_object"),
        })),
        Err(e) => Err(serde_json::json!({
            "code": "invalid_json",
            "title": lang.t("definition_not_json"),
            "detail": format!("{} ({} {}, {} {}): {e}", lang.t("definition_not_json"),
                lang.t("text_line"), e.line(), lang.t("text_column"), e.column()),
            "line": e.line(),
            "column": e.column(),
        })),
    }
}

/// The legend of the definition's fields (docs/projections.md, "Writing one").
fn legend(lang: Lang) -> Markup {
    html! {
        details.legend open {
            summary { (lang.t("legend")) }
            dl.card {
                dt { code { "event_types" } } dd { (lang.t("legend_event_types")) }
                dt { code { "filters" } } dd { (lang.t("legend_filters")) " " code { "eq ne in not_in gt gte lt lte exists missing" } }
                dt { code { "group_by" } } dd { (lang.t("legend_group_by")) " " code { "day week month quarter" } }
                dt { code { "measures" } } dd { (lang.t("legend_measures")) " " code { "count count_distinct sum min max avg" } }
                dt { (lang.t("legend_fields_title")) } dd {
                    code { "data.<path>" } ", " code { "metadata.actor|source|…" } ", " code { "event.type|stream|occurred_at" } ", "
                    code { "client.region|industry|size|kind|source|manager_id" } ", "
                    code { "deal.amount|status|pipeline_id|stage_id|manager_id|…" } ", "
                    code { "manager.department|role|…" } ". " (lang.t("legend_fields"))
                }
            }
        }
    }
}

/// The editor: the name (a new projection) or the name fixed (a redefinition), the
/// definition's text, the problems of a refused submission beside the field or the
/// editor they concern.
fn editor(
    ctx: &Ctx,
    action: &str,
    fixed_name: Option<&str>,
    text: &str,
    refused: Option<&Refused>,
) -> Markup {
    let lang = ctx.lang;
    let name_problem = refused.filter(|r| r.about_name());
    let definition_problem = refused.filter(|r| !r.about_name());
    let typed_name = refused.map_or("", |r| r.name.as_str());
    html! {
        form.editor #definition-form method="post" action=(action) {
            (csrf_field(ctx))
            @match fixed_name {
                None => {
                    label for="name" { (lang.t("projection_name")) }
                    input #name type="text" name="name" value=(typed_name) required
                        pattern="[a-z][a-z0-9_]{0,47}" placeholder="calls_per_region_month"
                        aria-invalid=[name_problem.map(|_| "true")]
                        aria-describedby=[name_problem.map(|_| "name-problem")];
                    p.hint { (lang.t("projection_name_hint")) }
                    @if let Some(r) = name_problem { (problem_box(lang, "name-problem", &r.problem)) }
                }
                Some(name) => { input type="hidden" name="name" value=(name); }
            }
            label for="definition" { (lang.t("definition")) }
            textarea #definition name="definition" rows="18" spellcheck="false" autocomplete="off"
                aria-invalid=[definition_problem.map(|_| "true")]
                aria-describedby=[definition_problem.map(|_| "definition-problem")] { (text) }
            @if let Some(r) = definition_problem { (problem_box(lang, "definition-problem", &r.problem)) }
            (legend(lang))
            button type="submit" { (if fixed_name.is_some() { lang.t("redefine") } else { lang.t("define") }) }
        }
    }
}

/// A problem in words: its detail, and each part of the definition it names with why.
fn problem_box(lang: Lang, id: &str, problem: &Value) -> Markup {
    let errors = problem["errors"].as_array().cloned().unwrap_or_default();
    html! {
        div.problem.error id=(id) role="alert" data-code=(text(&problem["code"])) {
            p { strong { (lang.t("refused")) } " " (text(problem.get("detail").unwrap_or(&problem["title"]))) }
            @if !errors.is_empty() {
                ul.problems {
                    @for e in &errors {
                        li data-path=(text(&e["path"])) { code { (text(&e["path"])) } ": " (text(&e["message"])) }
                    }
                }
            }
        }
    }
}

/// The query that has a page reflect an accepted definition: `?min_position=` its
/// event's position (nothing when the definition did not change).
fn position(accepted: &Value) -> String {
    accepted["position"]
        .as_i64()
        .map_or_else(String::new, |p| format!("?min_position={p}"))
}

/// `GET /ui/projections/new`: the editor, with an example definition.
pub async fn new_form(ctx: Ctx) -> Response {
    let result = new_page(&ctx, None);
    answer(&ctx, result)
}

fn new_page(ctx: &Ctx, refused: Option<&Refused>) -> PageResult {
    ctx.may(layout::DEFINERS)?;
    let lang = ctx.lang;
    let typed = refused.map_or(EXAMPLE, |r| r.text.as_str());
    Ok(page(
        ctx,
        lang.t("new_projection"),
        html! {
            p { a href="/ui/projections" { "← " (lang.t("projections")) } }
            h1 { (lang.t("new_projection")) }
            p { (lang.t("new_projection_intro")) }
            (editor(ctx, "/ui/projections/new", None, typed, refused))
        },
    ))
}

/// `POST /ui/projections/new` (`name`, `definition`, the CSRF token): `POST /projections`
/// as the person; on to the projection's page, or the editor again with the text as
/// typed and the API's problem.
pub async fn define(posted: Posted) -> Response {
    let ctx = &posted.ctx;
    let lang = ctx.lang;
    if let Err(err) = ctx.may(layout::DEFINERS) {
        return answer(ctx, Err(err));
    }
    let name = posted.field("name").unwrap_or("").trim().to_owned();
    let typed = posted.field("definition").unwrap_or("").to_owned();
    let refused = |status: StatusCode, problem: Value| Refused {
        name: name.clone(),
        text: typed.clone(),
        status,
        problem,
    };
    let outcome = match parse_definition(lang, &typed) {
        Err(problem) => Err(refused(StatusCode::BAD_REQUEST, problem)),
        Ok(mut body) => {
            body.insert("name".into(), Value::String(name.clone()));
            match posted
                .api_send(Method::POST, "/projections", &Value::Object(body))
                .await
            {
                Ok((status, accepted)) if status.is_success() => Ok(position(&accepted)),
                Ok((StatusCode::UNAUTHORIZED, _)) => {
                    return Redirect::to(&login_address("/ui/projections/new")).into_response()
                }
                Ok((status, problem)) => Err(refused(status, problem)),
                Err(err) => return answer(ctx, Err(err)),
            }
        }
    };
    match outcome {
        Ok(at) => Redirect::to(&format!("/ui/projections/{}{at}", encode(&name))).into_response(),
        Err(refused) => match new_page(ctx, Some(&refused)) {
            Ok(markup) => html_page(refused.status, markup),
            Err(err) => answer(ctx, Err(err)),
        },
    }
}

/// `POST /ui/projections/{name}` (`definition`, the CSRF token): `PUT /projections/{name}`
/// as the person; back to the page, or the page with the editor showing the text as
/// typed and the API's problem.
pub async fn redefine(Path(name): Path<String>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    let lang = ctx.lang;
    if let Err(err) = ctx.may(layout::DEFINERS) {
        return answer(ctx, Err(err));
    }
    let typed = posted.field("definition").unwrap_or("").to_owned();
    let path = format!("/projections/{}", encode(&name));
    let outcome = match parse_definition(lang, &typed) {
        Err(problem) => Err((StatusCode::BAD_REQUEST, problem)),
        Ok(body) => match posted
            .api_send(Method::PUT, &path, &Value::Object(body))
            .await
        {
            Ok((status, accepted)) if status.is_success() => Ok(position(&accepted)),
            Ok((StatusCode::UNAUTHORIZED, _)) => {
                return Redirect::to(&login_address(&format!("/ui{path}"))).into_response()
            }
            Ok((status, problem)) => Err((status, problem)),
            Err(err) => return answer(ctx, Err(err)),
        },
    };
    match outcome {
        Ok(at) => Redirect::to(&format!("/ui{path}{at}")).into_response(),
        Err((status, problem)) => {
            let refused = Refused {
                name: name.clone(),
                text: typed,
                status,
                problem,
            };
            match projection_page(ctx, &name, Some(&refused)).await {
                Ok(markup) => html_page(status, markup),
                Err(err) => answer(ctx, Err(err)),
            }
        }
    }
}

/// `GET /ui/projections/{name}[?col=&op=&value=&order=&limit=&cursor=]`: a custom
/// projection's status and build progress, its rows filtered and paged, its definition.
pub async fn projection(ctx: Ctx, Path(name): Path<String>) -> Response {
    let result = projection_page(&ctx, &name, None).await;
    answer(&ctx, result)
}

/// The API's rows parameters of the page's filter and order (`col=v` or
/// `col.gt|gte|lt|lte=v`, `order=`), for the page, its JSON link and its CSV.
pub(super) fn rows_filter(ctx: &Ctx) -> Vec<String> {
    let mut parts = Vec::new();
    if let (Some(col), Some(value)) = (ctx.param("col"), ctx.query.get("value")) {
        let op = ctx
            .param("op")
            .filter(|op| COMPARISONS.iter().any(|(o, _)| o == op))
            .unwrap_or("eq");
        let key = if op == "eq" {
            col.to_owned()
        } else {
            format!("{col}.{op}")
        };
        parts.push(format!("{}={}", encode(&key), encode(value)));
    }
    if let Some(order) = ctx.param("order") {
        parts.push(format!("order={}", encode(order)));
    }
    parts
}

/// The rows query of the page's filter, order and page size (the API's parameters);
/// `with_cursor` adds the page's cursor.
fn rows_query(ctx: &Ctx, with_cursor: bool) -> String {
    let mut parts = rows_filter(ctx);
    parts.push(format!(
        "limit={}",
        encode(ctx.param("limit").unwrap_or("100"))
    ));
    if with_cursor {
        if let Some(cursor) = ctx.param("cursor") {
            parts.push(format!("cursor={}", encode(cursor)));
        }
    }
    parts.join("&")
}

/// The page's own parameters (filter, order, page size), to keep in its links.
fn kept(ctx: &Ctx) -> String {
    ["col", "op", "value", "order", "limit"]
        .iter()
        .filter_map(|k| ctx.query.get(*k).map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

/// The row columns of a definition: its keys, then its measures, by name.
fn columns(definition: &Value) -> Vec<String> {
    ["group_by", "measures"]
        .iter()
        .flat_map(|part| definition[*part].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// A generation's progress: events applied of events to apply.
fn progress(lang: Lang, generation: &Value) -> Markup {
    let applied = generation["events_applied"].as_i64().unwrap_or(0);
    let total = generation["events_total"].as_i64().unwrap_or(0);
    html! {
        span.progress {
            progress value=(applied) max=(total.max(applied).max(1)) {}
            " " span data-field="events_applied" data-value=(applied) { (applied) } " / "
            span data-field="events_total" data-value=(total) { (total) } " " (lang.t("events"))
        }
    }
}

async fn projection_page(ctx: &Ctx, name: &str, refused: Option<&Refused>) -> PageResult {
    ctx.may(layout::PROJECTIONS)?;
    let lang = ctx.lang;
    // After a definition (its redirect) or a change (the live refresh): the catalog
    // reflects it before the page is read.
    let min_position = ctx
        .param("min_position")
        .and_then(|p| p.parse::<i64>().ok());
    let reflecting = min_position.map_or_else(String::new, |p| format!("?min_position={p}"));
    let status = ctx
        .api_get(&format!("/projections/{}{reflecting}", encode(name)))
        .await?;
    let listed = ctx.api_get(&format!("/projections{reflecting}")).await?;
    let entry = listed
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|p| p["name"] == name && p["kind"] == "custom")
        })
        .cloned()
        .unwrap_or(Value::Null);
    let definition = status["definition"].clone();
    let cols = columns(&definition);
    let state = text(&status["state"]);
    let building = status["building"].is_object();
    // The rows reflect it too once they answer (a first build answers 409 at once).
    let rows_reflecting = min_position
        .filter(|_| state != "building")
        .map_or_else(String::new, |p| format!("&min_position={p}"));
    let (rows_status, rows) = ctx
        .api_read(&format!(
            "/projections/{}/rows?{}{rows_reflecting}",
            encode(name),
            rows_query(ctx, true)
        ))
        .await?;
    if rows_status == StatusCode::UNAUTHORIZED || rows_status == StatusCode::FORBIDDEN {
        return Err(super::page::refusal(rows_status, &rows));
    }
    let items = rows["items"].as_array().cloned().unwrap_or_default();
    let filter_problem = (rows_status == StatusCode::BAD_REQUEST).then_some(&rows);
    let not_ready = (rows_status == StatusCode::CONFLICT).then_some(&rows);
    let definers = ctx.may(layout::DEFINERS).is_ok();
    let pretty = serde_json::to_string_pretty(&definition).unwrap_or_default();
    let defined_by = text(&status["defined_by"]);
    let defined_by = super::figures::names(ctx)
        .await
        .remove(&defined_by)
        .unwrap_or(defined_by);
    let filters = kept(ctx);
    let path = format!("/ui/projections/{}", encode(name));
    Ok(page(
        ctx,
        name,
        html! {
            p { a href="/ui/projections" { "← " (lang.t("projections")) } }
            h1 { (lang.t("custom_projection")) ": " code { (name) } }
            section.status-card {
                dl.card {
                    dt { (lang.t("state")) } dd #state data-value=(state) { (state_word(lang, &state)) }
                    dt { (lang.t("status")) } dd { (text(&entry["status"])) }
                    dt { (lang.t("lag_events")) } dd #lag data-value=(text(&entry["lag_events"])) { (text(&entry["lag_events"])) }
                    dt { (lang.t("events_applied")) } dd #applied data-value=(text(&entry["events_applied"])) { (text(&entry["events_applied"])) }
                    @if status["live"].is_object() {
                        dt { (lang.t("live_generation")) } dd { (text(&status["live"]["generation"])) }
                    }
                    @if building {
                        dt { (lang.t("building_generation")) }
                        dd #building data-poll="1" { (text(&status["building"]["generation"])) " · " (progress(lang, &status["building"])) }
                    }
                    @for g in ["live", "building"] {
                        @if let Some(err) = status[g]["last_error"].as_str() { dt { (lang.t("last_error")) } dd.error { (err) } }
                    }
                    dt { (lang.t("defined_at")) } dd { (text(&status["defined_at"])) }
                    dt { (lang.t("defined_by")) } dd { (defined_by) }
                }
            }
            section {
                h2 { (lang.t("rows")) }
                form.filters method="get" action=(path) {
                    label for="col" { (lang.t("column")) }
                    select #col name="col" {
                        option value="" { "—" }
                        @for c in &cols { option value=(c) selected[ctx.param("col") == Some(c.as_str())] { (c) } }
                    }
                    label for="op" { (lang.t("comparison")) }
                    select #op name="op" {
                        @for (op, sign) in COMPARISONS { option value=(op) selected[ctx.param("op").unwrap_or("eq") == op] { (sign) } }
                    }
                    label for="value" { (lang.t("value")) }
                    input #value type="text" name="value" value=[ctx.query.get("value")];
                    label for="order" { (lang.t("order")) }
                    select #order name="order" {
                        option value="" { (lang.t("by_keys")) }
                        @for c in &cols {
                            option value=(c) selected[ctx.param("order") == Some(c.as_str())] { (c) " ↑" }
                            option value={ "-" (c) } selected[ctx.param("order") == Some(format!("-{c}").as_str())] { (c) " ↓" }
                        }
                    }
                    label for="limit" { (lang.t("per_page")) }
                    select #limit name="limit" {
                        @for l in LIMITS { option value=(l) selected[ctx.param("limit").unwrap_or("100") == l] { (l) } }
                    }
                    button type="submit" { (lang.t("show")) }
                }
                @if let Some(problem) = filter_problem { (problem_box(lang, "filter-problem", problem)) }
                p.downloads {
                    a href={ "/projections/" (encode(name)) "/rows?" (rows_query(ctx, false)) } { "JSON" } " · "
                    a #csv href={ (path) "/rows.csv" @if !filters.is_empty() { "?" (filters) } } download { "CSV" }
                }
                @if let Some(conflict) = not_ready {
                    p.empty #not-ready data-poll="1" { (lang.t("projection_not_ready")) " " (text(&conflict["detail"])) }
                } @else if items.is_empty() && filter_problem.is_none() {
                    (empty(lang.t("no_rows")))
                } @else if !items.is_empty() {
                    div.scroll tabindex="0" role="region" aria-label=(lang.t("rows")) {
                        table.figures.sortable #rows {
                            caption { (name) }
                            thead { tr { @for c in &cols { th scope="col" { button type="button" { (c) } } } } }
                            tbody { @for row in &items {
                                tr { @for c in &cols { td data-value=(text(&row[c.as_str()])) { (text(&row[c.as_str()])) } } }
                            } }
                        }
                    }
                }
                nav.pager {
                    @if ctx.param("cursor").is_some() { a href={ (path) "?" (filters) } { (lang.t("first_page")) } }
                    @if let Some(cursor) = rows["next_cursor"].as_str() {
                        a rel="next" href={ (path) "?" (filters) @if !filters.is_empty() { "&" } "cursor=" (encode(cursor)) } { (lang.t("next_page")) }
                    }
                }
            }
            section {
                h2 { (lang.t("definition")) }
                @if definers {
                    (editor(ctx, &path, Some(name), refused.map_or(pretty.as_str(), |r| r.text.as_str()), refused))
                } @else {
                    pre.state { (pretty) }
                }
            }
        },
    ))
}

/// The word for a custom projection's state.
fn state_word(lang: Lang, state: &str) -> &'static str {
    match state {
        "building" => lang.t("state_building"),
        "live" => lang.t("state_live"),
        "rebuilding" => lang.t("state_rebuilding"),
        _ => "—",
    }
}
