//! The auditor's and the analyst's pages: the log's verification with its seals (the
//! latest stored run, which the background verifier keeps fresh, and a "verify now"
//! button), a stream browser (any entity's history, as of any moment) and the
//! export's form; the read models' status with the custom projections and their rows
//! as CSV.

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use crm_eventlog::{RecordedVerification, Trigger};
use maud::{html, Markup};
use serde_json::Value;

use super::chart::empty;
use super::form::{csrf_field, Posted};
use super::i18n::{span, when, Lang};
use super::layout::{self, page};
use super::page::{answer, encode, parse_time, Ctx, PageResult};
use crate::error::ApiError;

/// A JSON value as text.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /ui/audit[?stream=&as_of=]`.
pub async fn audit(ctx: Ctx) -> Response {
    let result = audit_page(&ctx).await;
    answer(&ctx, result)
}

async fn audit_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::AUDIT)?;
    let lang = ctx.lang;
    let verified = ctx.web.state.log.last_verification().await?;
    let stream = ctx.param("stream").map(str::to_owned);
    let as_of = ctx.time("as_of")?;
    let (events, state) = match &stream {
        Some(s) => {
            let events = ctx
                .api_get(&format!("/streams/{}/events", encode(s)))
                .await?;
            let q = as_of.map_or_else(String::new, |t| {
                format!("?as_of={}", encode(&t.to_rfc3339()))
            });
            let state = ctx
                .api_get(&format!("/streams/{}/state{q}", encode(s)))
                .await
                .ok();
            (
                events["events"].as_array().cloned().unwrap_or_default(),
                state,
            )
        }
        None => (Vec::new(), None),
    };
    let exporter = ctx.may(crate::access::EXPORTERS).is_ok();
    Ok(page(
        ctx,
        lang.t("audit"),
        html! {
            h1 { (lang.t("audit")) }
            (verification(ctx, verified.as_ref()))
            @if exporter { (export_form(lang)) }
            section {
                h2 { (lang.t("stream_browser")) }
                form.filters method="get" {
                    label for="stream" { (lang.t("stream")) }
                    input #stream type="text" name="stream" value=[stream.as_deref()] placeholder="deal-…";
                    label for="as_of" { (lang.t("as_of")) }
                    input #as_of type="date" name="as_of" value=[as_of.map(|t| t.date_naive())];
                    button type="submit" { (lang.t("show")) }
                }
                @if let Some(state) = &state { pre.state { (serde_json::to_string_pretty(state).unwrap_or_default()) } }
                @if stream.is_some() && events.is_empty() { (empty(lang.t("no_events"))) }
                @if !events.is_empty() {
                    div.scroll tabindex="0" role="region" aria-label=(lang.t("history")) {
                        table.figures {
                            thead { tr { th scope="col" { "#" } th scope="col" { (lang.t("event")) } th scope="col" { (lang.t("when")) } th scope="col" { (lang.t("who")) } th scope="col" { (lang.t("details")) } } }
                            tbody { @for e in &events {
                                tr {
                                    th scope="row" { (text(&e["version"])) }
                                    td { (text(&e["type"])) }
                                    td { (text(&e["occurred_at"])) }
                                    td { (text(&e["metadata"]["actor"])) }
                                    td { code { (e["data"].to_string()) } }
                                }
                            } }
                        }
                    }
                }
            }
        },
    ))
}

/// The latest stored verification (the figures of `GET /audit/verify`, with when it
/// ran and the position it covered) and the "verify now" button.
fn verification(ctx: &Ctx, verified: Option<&RecordedVerification>) -> Markup {
    let lang = ctx.lang;
    html! {
        section #verification {
            h2 { (lang.t("verification")) }
            @match verified {
                None => { (empty(lang.t("not_verified_yet"))) }
                Some(v) => {
                    @let report = &v.report;
                    p.status.ok[v.intact].bad[!v.intact] #verify data-ok=(v.intact) role="status" {
                        (if v.intact { lang.t("chains_ok") } else { lang.t("chains_bad") })
                    }
                    dl.card {
                        dt { (lang.t("verified_at")) }
                        dd data-field="finished_at" data-value=(v.finished_at.to_rfc3339()) { (when(&v.finished_at)) }
                        dt { (lang.t("verification_took")) }
                        dd { (span_seconds(lang, (v.finished_at - v.started_at).num_seconds())) }
                        dt { (lang.t("verified_by")) }
                        dd data-field="trigger" { (lang.t(trigger_word(&v.trigger))) }
                        dt { (lang.t("through_position")) }
                        dd data-field="through_position" { (v.through_position.map_or_else(|| "—".to_owned(), |p| p.to_string())) }
                        @for (k, field) in [("streams_checked", "streams"), ("events_checked", "events"), ("seals_checked", "seals"), ("events_sealed", "events_sealed"), ("unsealed_events", "unsealed_events")] {
                            dt { (lang.t(k)) } dd data-field=(k) { (text(&report[field])) }
                        }
                        dt { (lang.t("last_seal")) } dd { code { (text(&report["last_seal"])) } }
                    }
                    @if !v.intact { pre { (report["first_bad"].to_string()) " " (report["bad_seal"].to_string()) } }
                }
            }
            form #verify-now method="post" action="/ui/audit/verify" {
                (csrf_field(ctx))
                button type="submit" { (lang.t("verify_now")) }
            }
        }
    }
}

/// A duration, seconds under a minute.
fn span_seconds(lang: Lang, seconds: i64) -> String {
    if seconds < 60 {
        format!("{seconds} s")
    } else {
        span(lang, seconds)
    }
}

/// The word for a stored [`Trigger::name`].
fn trigger_word(trigger: &str) -> &'static str {
    match trigger {
        "start" => "trigger_start",
        "periodic" => "trigger_periodic",
        "on_demand" => "trigger_on_demand",
        _ => "trigger_api",
    }
}

/// `POST /ui/audit/verify` (the audit page's "verify now", with the session's CSRF
/// token): walks the log now, keeps the result, back to the audit page.
pub async fn verify_now(posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(err) = ctx.may(layout::AUDIT) {
        return answer(ctx, Err(err));
    }
    let log = ctx.web.state.log.clone();
    // In a task of its own: a walk whose browser gave up still ends and is kept.
    let run = tokio::spawn(async move { log.verify_and_record(Trigger::OnDemand).await });
    match run.await {
        Ok(Ok(_)) => Redirect::to("/ui/audit").into_response(),
        Ok(Err(err)) => answer(ctx, Err(err.into())),
        Err(err) => answer(ctx, Err(ApiError::Internal(Box::new(err)))),
    }
}

/// The export's form: the format and the filters of `GET /export/events` (event
/// types, a kind of stream, a period of `occurred_at`), sent to `/ui/export`.
fn export_form(lang: Lang) -> Markup {
    html! {
        section #export {
            h2 { (lang.t("export")) }
            p { (lang.t("export_intro")) }
            form.filters #export-form method="get" action="/ui/export" {
                label for="export-format" { (lang.t("format")) }
                select #export-format name="format" {
                    option value="ndjson" { "NDJSON" }
                    option value="csv" { "CSV" }
                }
                label for="export-types" { (lang.t("event_types")) }
                select #export-types name="types" multiple size="6" {
                    @for t in crm_domain::events::EVENT_TYPES { option value=(t) { (t) } }
                }
                label for="export-kind" { (lang.t("stream_kind")) }
                select #export-kind name="stream_kind" {
                    option value="" { (lang.t("all_streams")) }
                    @for k in crm_domain::EntityKind::ALL { option value=(k.name()) { (k.name()) } }
                }
                label for="export-from" { (lang.t("from")) }
                input #export-from type="date" name="from";
                label for="export-to" { (lang.t("to")) }
                input #export-to type="date" name="to";
                button type="submit" { (lang.t("download")) }
            }
        }
    }
}

/// `GET /ui/export?format=&types=A&types=B&stream_kind=&from=&to=` (the audit page's
/// form): on to `GET /export/events` with the same filters as the API takes them
/// (types comma-separated, the dates as the times they start); a 400 in words for a
/// bad format or period.
pub async fn export(ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    match export_address(&ctx, raw.as_deref().unwrap_or("")) {
        Ok(address) => Redirect::to(&address).into_response(),
        Err(err) => answer(&ctx, Err(err)),
    }
}

/// The export's address for the form's query `raw`.
fn export_address(ctx: &Ctx, raw: &str) -> Result<String, ApiError> {
    ctx.may(crate::access::EXPORTERS)?;
    let pairs: Vec<(String, String)> = raw
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (form_value(k), form_value(v)))
        .collect();
    let one = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let format = one("format").unwrap_or_else(|| "ndjson".to_owned());
    if format != "ndjson" && format != "csv" {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!("format must be ndjson or csv, not {format:?}"),
        ));
    }
    let mut query = vec![format!("format={format}")];
    let types: Vec<&str> = pairs
        .iter()
        .filter(|(k, v)| k == "types" && !v.trim().is_empty())
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !types.is_empty() {
        query.push(format!("types={}", encode(&types.join(","))));
    }
    if let Some(kind) = one("stream_kind") {
        query.push(format!("stream_kind={}", encode(&kind)));
    }
    let from = one("from").map(|v| parse_time("from", &v)).transpose()?;
    let to = one("to").map(|v| parse_time("to", &v)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid_period",
                "The start of the period must be before its end.",
            ));
        }
    }
    for (name, at) in [("from", from), ("to", to)] {
        if let Some(at) = at {
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            query.push(format!("{name}={}", encode(&at)));
        }
    }
    Ok(format!("/export/events?{}", query.join("&")))
}

/// A query value decoded (`+` a space, `%XX` a byte).
fn form_value(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match raw
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /ui/projections`: every read model's status, the custom projections, their rows as CSV.
pub async fn projections(ctx: Ctx) -> Response {
    let result = projections_page(&ctx).await;
    answer(&ctx, result)
}

async fn projections_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::PROJECTIONS)?;
    let lang = ctx.lang;
    let list = ctx.api_get("/projections").await?;
    let items = list.as_array().cloned().unwrap_or_default();
    Ok(page(
        ctx,
        lang.t("projections"),
        html! {
            h1 { (lang.t("projections")) }
            @if ctx.may(layout::DEFINERS).is_ok() {
                p { a.button #new-projection href="/ui/projections/new" { (lang.t("new_projection")) } }
            }
            @if items.is_empty() { (empty("—")) } @else {
                div.scroll tabindex="0" role="region" aria-label=(lang.t("projections")) {
                    table.figures {
                        thead { tr { @for h in ["name", "kind", "status", "lag_events", "events_applied", "last_error", "rows"] { th scope="col" { (lang.t(h)) } } } }
                        tbody { @for p in &items {
                            tr {
                                th scope="row" {
                                    @if p["kind"] == "custom" { a href={ "/ui/projections/" (encode(&text(&p["name"]))) } { (text(&p["name"])) } }
                                    @else { (text(&p["name"])) }
                                }
                                td { (text(&p["kind"])) }
                                td {
                                    (text(&p["status"]))
                                    @if let Some(r) = p["rebuild"].as_object() { " (rebuild: " (text(&r["events_applied"])) ")" }
                                    @if let Some(b) = p["building"].as_object() { " (" (lang.t("state_building")) ": " (text(&b["events_applied"])) " / " (text(&b["events_total"])) ")" }
                                }
                                td data-value=(text(&p["lag_events"])) { (text(&p["lag_events"])) }
                                td data-value=(text(&p["events_applied"])) { (text(&p["events_applied"])) }
                                td { (text(&p["last_error"])) }
                                td { @if p["kind"] == "custom" {
                                    a href={ "/projections/" (encode(&text(&p["name"]))) "/rows" } { "JSON" } " · "
                                    a href={ "/ui/projections/" (encode(&text(&p["name"]))) "/rows.csv" } { "CSV" }
                                } }
                            }
                        } }
                    }
                }
            }
        },
    ))
}

/// `GET /ui/projections/{name}/rows.csv[?col=&op=&value=&order=]`: a custom
/// projection's rows (the API's `GET /projections/{name}/rows` with the page's filter
/// and order, every page, at most 100 000 rows) as CSV, the columns of the first row in
/// its order.
pub async fn rows_csv(ctx: Ctx, Path(name): Path<String>) -> Response {
    match rows_csv_body(&ctx, &name).await {
        Ok(csv) => {
            let mut response = csv.into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            let file: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.csv\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(err) => answer(&ctx, Err(err)),
    }
}

async fn rows_csv_body(ctx: &Ctx, name: &str) -> Result<String, crate::error::ApiError> {
    ctx.may(layout::PROJECTIONS)?;
    let mut rows: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let filter: String = super::custom::rows_filter(ctx)
        .iter()
        .map(|p| format!("&{p}"))
        .collect();
    loop {
        let path = match &cursor {
            Some(c) => format!(
                "/projections/{}/rows?limit=1000{filter}&cursor={}",
                encode(name),
                encode(c)
            ),
            None => format!("/projections/{}/rows?limit=1000{filter}", encode(name)),
        };
        let page = ctx.api_get(&path).await?;
        rows.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() || rows.len() >= 100_000 {
            break;
        }
    }
    let columns: Vec<String> = rows
        .first()
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = String::new();
    out.push_str(
        &columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for row in &rows {
        let line: Vec<String> = columns
            .iter()
            .map(|c| match &row[c] {
                Value::Null => String::new(),
                Value::String(s) => csv_field(s),
                other => csv_field(&other.to_string()),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// One CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`, `-` or `@`
/// is prefixed with `'` so that a spreadsheet does not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-12.5"), "-12.5");
    }
}
