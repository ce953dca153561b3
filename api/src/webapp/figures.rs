//! The events behind a figure of the managers page: `GET /ui/managers/{id}/events?
//! figure=&from=&to=` lists, from the API's `GET /managers/{id}/events` (asked in
//! process as the person: the same reach and hidden fields), the events that the
//! manager's figure counts over the period, each with its time, type, stream (linked
//! to the deal or client page, else the stream browser) and who recorded it, beside
//! the figure itself from `GET /reports/managers`.

use std::collections::HashMap;

use axum::extract::Path;
use axum::response::Response;
use crm_domain::EntityKind;
use crm_projections::managers::FIGURES;
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::chart::empty;
use super::i18n::{percent, span, Lang};
use super::layout::{self, page};
use super::page::{answer, encode, period, Ctx, PageResult};
use crate::error::ApiError;

/// The events shown per page.
const PAGE: usize = 100;

/// A JSON value as text.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The address of the events behind `figure` of `manager` over `[from, to)`.
pub fn address(
    manager: Uuid,
    figure: &str,
    from: &impl std::fmt::Display,
    to: &impl std::fmt::Display,
) -> String {
    format!("/ui/managers/{manager}/events?figure={figure}&from={from}&to={to}")
}

/// `GET /ui/managers/{id}/events?figure=&from=&to=[&cursor=]`.
pub async fn events(ctx: Ctx, Path(id): Path<Uuid>) -> Response {
    let result = events_page(&ctx, id).await;
    answer(&ctx, result)
}

/// The figure's value as the managers page writes it.
fn figure_text(ctx: &Ctx, figure: &str, value: &Value) -> String {
    match (figure, value) {
        (_, Value::Null) => "—".to_owned(),
        ("won_amount", v) => v
            .as_i64()
            .map_or_else(|| text(v), |a| ctx.money.format(i128::from(a))),
        ("call_seconds", v) => v.as_i64().map_or_else(|| text(v), |s| span(ctx.lang, s)),
        ("win_rate", v) => percent(v.as_f64()),
        (_, v) => text(v),
    }
}

/// Where an event's stream leads for this person: the deal or client page it is about,
/// else the stream browser; None when his role opens neither.
fn stream_link(ctx: &Ctx, event: &Value) -> Option<String> {
    let entities = ctx.may(layout::ENTITIES).is_ok();
    let stream = event["stream"].as_str()?;
    let id_of = |field: &str| event["data"][field].as_str().map(str::to_owned);
    if entities {
        match EntityKind::parse_stream(stream) {
            Some((EntityKind::Deal, id)) => return Some(format!("/ui/deals/{id}")),
            Some((EntityKind::Client, id)) => return Some(format!("/ui/clients/{id}")),
            _ => {}
        }
        if let Some(deal) = id_of("deal_id") {
            return Some(format!("/ui/deals/{}", encode(&deal)));
        }
        if let Some(client) = id_of("client_id") {
            return Some(format!("/ui/clients/{}", encode(&client)));
        }
    }
    ctx.may(layout::AUDIT)
        .is_ok()
        .then(|| format!("/ui/audit?stream={}", encode(stream)))
}

/// The names of the managers, by id (an actor is a manager's id, or `role:<role>`).
pub(super) async fn names(ctx: &Ctx) -> HashMap<String, String> {
    ctx.api_get("/managers?limit=1000")
        .await
        .ok()
        .and_then(|list| list["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| Some((m["id"].as_str()?.to_owned(), m["name"].as_str()?.to_owned())))
        .collect()
}

/// The figure picker: the figures of the managers page, the period.
fn picker(lang: Lang, id: Uuid, figure: &str, from: &str, to: &str) -> Markup {
    html! {
        form.filters method="get" action={ "/ui/managers/" (id) "/events" } {
            label for="figure" { (lang.t("figure")) }
            select #figure name="figure" {
                @for (name, _) in FIGURES { option value=(name) selected[name == figure] { (lang.t(name)) } }
            }
            label for="from" { (lang.t("from")) }
            input #from type="date" name="from" value=(from);
            label for="to" { (lang.t("to")) }
            input #to type="date" name="to" value=(to);
            button type="submit" { (lang.t("show")) }
        }
    }
}

async fn events_page(ctx: &Ctx, id: Uuid) -> PageResult {
    ctx.may(layout::SALES)?;
    let lang = ctx.lang;
    let figure = ctx.param("figure").unwrap_or("calls").to_owned();
    let Some(figure) = FIGURES
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name == figure)
    else {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("{figure} is not a figure of the managers page"),
        ));
    };
    let (from, to) = period(ctx)?;
    let (from, to) = (from.to_string(), to.to_string());
    let cursor = ctx
        .param("cursor")
        .map_or_else(String::new, |c| format!("&cursor={}", encode(c)));
    // The live refresh's position: both answers reflect it.
    let reflecting = ctx
        .param("min_position")
        .and_then(|p| p.parse::<i64>().ok())
        .map_or_else(String::new, |p| format!("&min_position={p}"));
    let list = ctx
        .api_get(&format!(
            "/managers/{id}/events?figure={figure}&from={from}&to={to}&limit={PAGE}{cursor}{reflecting}"
        ))
        .await?;
    let report = ctx
        .api_get(&format!(
            "/reports/managers?from={from}&to={to}&manager_id={id}{reflecting}"
        ))
        .await?;
    let row = report["managers"]
        .as_array()
        .and_then(|rows| rows.first())
        .cloned()
        .unwrap_or(Value::Null);
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let names = names(ctx).await;
    let who = |e: &Value| {
        let actor = text(&e["metadata"]["actor"]);
        names.get(&actor).cloned().unwrap_or(actor)
    };
    let here = address(id, figure, &from, &to);
    let title = format!("{} · {}", lang.t(figure), text(&row["name"]));
    Ok(page(
        ctx,
        &title,
        html! {
            p { a href={ "/ui/managers?from=" (from) "&to=" (to) } { "← " (lang.t("managers")) } }
            h1 { (lang.t(figure)) ": " (text(&row["name"])) }
            p.totals {
                (lang.t(figure)) " " (from) " — " (to) ": "
                strong #figure-value data-value=(text(&row[figure])) { (figure_text(ctx, figure, &row[figure])) }
            }
            p.hint { (lang.t(explain(figure))) }
            (picker(lang, id, figure, &from, &to))
            @if items.is_empty() { (empty(lang.t("no_figure_events"))) } @else {
                div.scroll tabindex="0" role="region" aria-label=(lang.t("events_behind")) {
                    table.figures.history #events {
                        caption { (lang.t("events_behind")) }
                        thead { tr {
                            th scope="col" { (lang.t("when")) }
                            th scope="col" { (lang.t("event")) }
                            th scope="col" { (lang.t("stream_word")) }
                            th scope="col" { (lang.t("who")) }
                            th scope="col" { (lang.t("details")) }
                        } }
                        tbody { @for e in &items {
                            tr data-position=(text(&e["position"])) {
                                td { time datetime=(text(&e["occurred_at"])) { (text(&e["occurred_at"])) } }
                                th scope="row" { (text(&e["type"])) }
                                td { @match stream_link(ctx, e) {
                                    Some(href) => { a href=(href) { code { (text(&e["stream"])) } } }
                                    None => { code { (text(&e["stream"])) } }
                                } }
                                td { (who(e)) }
                                td { code { (e["data"].to_string()) } }
                            }
                        } }
                    }
                }
            }
            nav.pager {
                @if ctx.param("cursor").is_some() { a href=(here) { (lang.t("first_page")) } }
                @if let Some(next) = list["next_cursor"].as_str() {
                    a rel="next" href={ (here) "&cursor=" (encode(next)) } { (lang.t("next_page")) }
                }
            }
        },
    ))
}

/// The key of the sentence saying which events make `figure` (every figure of
/// [`FIGURES`] has one: the unit test below checks it has words too).
pub fn explain(figure: &str) -> &'static str {
    match figure {
        "call_seconds" => "explain_call_seconds",
        "calls_with_goal" => "explain_calls_with_goal",
        "calls_goal_reached" => "explain_calls_goal_reached",
        "clients_contacted" => "explain_clients_contacted",
        "calls_per_client" => "explain_calls_per_client",
        "won_amount" => "explain_won_amount",
        "win_rate" => "explain_win_rate",
        "leads_converted"
        | "leads_rejected"
        | "deals_won"
        | "deals_lost"
        | "tasks_completed"
        | "tasks_completed_late" => "explain_responsible",
        _ => "explain_count",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_is_shown_on_the_managers_page_with_words_and_an_explanation() {
        // The managers table shows every figure, in the API's order, after the name
        // and department: each cell links here, so each needs its entry.
        let shown: Vec<&str> = super::super::reports::MANAGER_HEADERS[2..].to_vec();
        let listed: Vec<&str> = FIGURES.iter().map(|(name, _)| *name).collect();
        assert_eq!(shown, listed);
        for lang in [Lang::En, Lang::Uk] {
            for (name, _) in FIGURES {
                assert_ne!(lang.t(name), name, "{name} has no word in {lang:?}");
                let why = explain(name);
                assert_ne!(lang.t(why), why, "{name}'s explanation in {lang:?}");
            }
        }
        // The figures of issue 18 have their own explanation.
        assert_eq!(explain("calls_with_goal"), "explain_calls_with_goal");
        assert_eq!(explain("calls_goal_reached"), "explain_calls_goal_reached");
    }
}
