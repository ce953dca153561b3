//! The sales department's pages (issue 18): a manager's day on his home and on his
//! own page for those who reach him (the API's `GET /managers/{id}/day`), the month's
//! plans beside the managers' KPIs (`GET /reports/plans`), and the likely duplicate
//! clients with their merge and unmerge (`GET /clients/duplicates`, `POST
//! /clients/{id}/merge|unmerge`). Every read and
//! write is the API's, asked in process as the person: his role, reach and hidden
//! fields are the API's.

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::chart::{empty, table, Cell, Row};
use super::entities::{money, text};
use super::form::{csrf_field, Posted};
use super::i18n::when;
use super::layout::{self, page};
use super::page::{answer, encode, login_address, refusal, Ctx, PageResult};

/// A time of the API's answer as the pages write times (`2026-03-01 09:30 UTC`).
fn time_of(v: &Value) -> String {
    let written = v.as_str().unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(written)
        .map(|t| when(&t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| written.to_owned())
}

/// `&min_position=N` when the page was asked to reflect a write (after a form's
/// redirect, or the live refresh), for the API's queries to wait for it.
fn reflecting(ctx: &Ctx) -> String {
    ctx.param("min_position")
        .and_then(|v| v.parse::<i64>().ok())
        .map_or_else(String::new, |p| format!("&min_position={p}"))
}

/// The items of list `key` of an API answer.
fn items(answer: &Value, key: &str) -> Vec<Value> {
    answer[key].as_array().cloned().unwrap_or_default()
}

/// Whose day a day block shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The person's own, on his home (`/ui`).
    Own,
    /// A manager's on his day page (`/ui/managers/{id}/day`), which names him.
    Page,
}

/// The address of manager `id`'s day page.
pub fn day_address(id: Uuid) -> String {
    format!("/ui/managers/{id}/day")
}

/// A manager's day (the page's `date`, today by default): his new prospects, his
/// working clients by open amount, the tails of calls; each row leads to its lead,
/// client or task, each empty list says why. On the person's own home a manager not
/// yet in the read models gets a word to wait; elsewhere the API's 404 is the page's.
pub async fn day_block(ctx: &Ctx, manager_id: Uuid, whose: Whose) -> PageResult {
    let lang = ctx.lang;
    let (action, heading) = match whose {
        Whose::Own => ("/ui".to_owned(), lang.t("my_day").to_owned()),
        Whose::Page => (day_address(manager_id), lang.t("date").to_owned()),
    };
    let query = ctx
        .param("date")
        .map_or_else(String::new, |d| format!("&date={}", encode(d)));
    let (status, day) = ctx
        .api_read(&format!(
            "/managers/{manager_id}/day?{}{query}",
            reflecting(ctx).trim_start_matches('&')
        ))
        .await?;
    if status == StatusCode::NOT_FOUND && whose == Whose::Own {
        // A manager just registered, not yet in the managers' read model.
        return Ok(html! { section #day { h2 { (heading) } (empty(lang.t("no_day_yet"))) } });
    }
    if !status.is_success() {
        return Err(refusal(status, &day));
    }
    let date = text(&day["date"]);
    let prospects: Vec<Row> = items(&day, "prospects")
        .iter()
        .map(|p| {
            let name = text(&p["name"]);
            Row {
                href: Some(format!(
                    "/ui/leads?manager_id={manager_id}&q={}",
                    encode(&name)
                )),
                name,
                cells: vec![Cell::new(
                    text(&p["received_at"]),
                    time_of(&p["received_at"]),
                )],
            }
        })
        .collect();
    let clients: Vec<Row> = items(&day, "clients")
        .iter()
        .map(|c| {
            let href = format!("/ui/clients/{}", text(&c["client_id"]));
            Row {
                name: text(&c["name"]),
                href: Some(href.clone()),
                cells: vec![
                    Cell::new(text(&c["open_deals"]), text(&c["open_deals"])).link(format!(
                        "/ui/deals?client_id={}&status=open",
                        text(&c["client_id"])
                    )),
                    Cell::new(text(&c["open_amount"]), money(ctx, &c["open_amount"])),
                ],
            }
        })
        .collect();
    let tails: Vec<Row> = items(&day, "tails")
        .iter()
        .map(|t| {
            let client = t["client_id"].as_str();
            let href = client.map_or_else(
                || format!("/ui/tasks?assignee_id={manager_id}&status=open"),
                |c| format!("/ui/clients/{c}"),
            );
            Row {
                name: text(&t["title"]),
                href: Some(href.clone()),
                cells: vec![
                    Cell::new(text(&t["client_id"]), lang.t("client_card")).link(href),
                    Cell::new(text(&t["due_at"]), time_of(&t["due_at"])),
                ],
            }
        })
        .collect();
    let lists = [
        (
            "day-prospects",
            "day_prospects",
            "no_day_prospects",
            vec![lang.t("name"), lang.t("received_at")],
            prospects,
        ),
        (
            "day-clients",
            "day_clients",
            "no_day_clients",
            vec![
                lang.t("client"),
                lang.t("open_deals"),
                lang.t("open_amount"),
            ],
            clients,
        ),
        (
            "day-tails",
            "day_tails",
            "no_day_tails",
            vec![lang.t("title"), lang.t("client"), lang.t("due_at")],
            tails,
        ),
    ];
    Ok(html! {
        section #day {
            h2 { (heading) ": " (date) }
            form.filters method="get" action=(action) {
                label for="date" { (lang.t("date")) }
                input #date type="date" name="date" value=(date);
                button type="submit" { (lang.t("show")) }
            }
            @for (id, word, none, headers, rows) in &lists {
                section id=(id) {
                    h3 { (lang.t(word)) " (" (rows.len()) ")" }
                    @if rows.is_empty() { (empty(lang.t(none))) } @else {
                        (table(lang.t(word), headers, rows, true))
                    }
                }
            }
        }
    })
}

/// `GET /ui/managers/{id}/day[?date=]`: a manager's day for those who reach him (the
/// API's reach: a manager his own, a head his department's, directors and admins
/// anyone's); the API's 403 or 404 otherwise.
pub async fn day(ctx: Ctx, Path(id): Path<Uuid>) -> Response {
    let result = day_page(&ctx, id).await;
    answer(&ctx, result)
}

async fn day_page(ctx: &Ctx, id: Uuid) -> PageResult {
    ctx.may(crate::access::ACTORS)?;
    let lang = ctx.lang;
    // An unknown manager: the API's 404; one out of reach: the day's 403 (nothing of
    // the page is shown either way).
    let manager = ctx.api_get(&format!("/managers/{id}")).await?;
    let name = text(&manager["name"]);
    let block = day_block(ctx, id, Whose::Page).await?;
    Ok(page(
        ctx,
        &format!("{} · {name}", lang.t("day_of")),
        html! {
            p { a href="/ui/managers" { "← " (lang.t("managers")) } }
            h1 { (lang.t("day_of")) ": " (name) }
            (block)
        },
    ))
}

/// The figures a plan sets targets for, in the API's order.
pub const PLAN_FIGURES: [&str; 5] = [
    "calls",
    "meetings",
    "call_seconds",
    "deals_won",
    "won_amount",
];

/// A JSON figure as a table's `data-value` writes it (`null` for none).
fn figure(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The month `[from, to)` is, when it is one whole calendar month.
pub fn whole_month(from: NaiveDate, to: NaiveDate) -> Option<String> {
    let next = from.checked_add_months(chrono::Months::new(1))?;
    (from.day() == 1 && to == next).then(|| from.format("%Y-%m").to_string())
}

/// The plans of `month` (`YYYY-MM`) beside what each manager did: per figure its
/// target, actual and percent, as `GET /reports/plans` gives them.
pub async fn plans_block(ctx: &Ctx, month: Option<&str>) -> PageResult {
    let lang = ctx.lang;
    let Some(month) = month else {
        return Ok(
            html! { section #plans { h2 { (lang.t("plans")) } (empty(lang.t("plans_need_month"))) } },
        );
    };
    let plans = ctx
        .api_get(&format!(
            "/reports/plans?month={}{}",
            encode(month),
            reflecting(ctx)
        ))
        .await?;
    let rows: Vec<Row> = items(&plans, "managers")
        .iter()
        .map(|m| {
            let cells = PLAN_FIGURES
                .iter()
                .flat_map(|f| {
                    let (target, actual, percent) =
                        (&m["targets"][*f], &m["actual"][*f], &m["percent"][*f]);
                    let written = |v: &Value| match (*f, v) {
                        (_, Value::Null) => "—".to_owned(),
                        ("won_amount", v) => money(ctx, v),
                        ("call_seconds", v) => v
                            .as_f64()
                            .map_or_else(|| text(v), |s| format!("{:.0}", s / 60.0)),
                        (_, v) => text(v),
                    };
                    [
                        Cell::new(figure(target), written(target)),
                        Cell::new(figure(actual), written(actual)),
                        Cell::new(
                            figure(percent),
                            percent
                                .as_f64()
                                .map_or_else(|| "—".to_owned(), |p| format!("{p:.1} %")),
                        ),
                    ]
                })
                .collect();
            Row {
                name: text(&m["name"]),
                href: Some(format!("/ui/deals?manager_id={}", text(&m["manager_id"]))),
                cells,
            }
        })
        .collect();
    let words: Vec<String> = PLAN_FIGURES
        .iter()
        .flat_map(|f| {
            let name = lang.t(f);
            [
                format!("{name}: {}", lang.t("target")),
                format!("{name}: {}", lang.t("actual")),
                format!("{name}: {}", lang.t("percent_done")),
            ]
        })
        .collect();
    let mut headers: Vec<&str> = vec![lang.t("manager")];
    headers.extend(words.iter().map(String::as_str));
    Ok(html! {
        section #plans {
            h2 { (lang.t("plan_of_month")) ": " (month) }
            @if rows.is_empty() { (empty(lang.t("no_plans"))) } @else {
                (table(lang.t("plan_of_month"), &headers, &rows, true))
            }
        }
    })
}

/// The duplicates page's address.
const DUPLICATES: &str = "/ui/clients/duplicates";

/// The word for what a group's clients share.
fn match_word(lang: super::i18n::Lang, matched: &str) -> &'static str {
    match matched {
        "phone" => lang.t("match_phone"),
        "email" => lang.t("match_email"),
        _ => lang.t("match_name"),
    }
}

/// `GET /ui/clients/duplicates`: the likely duplicate clients in the person's reach,
/// by group, each client with a form that merges it into another of its group.
pub async fn duplicates(ctx: Ctx) -> Response {
    let result = duplicates_page(&ctx).await;
    answer(&ctx, result)
}

async fn duplicates_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::MERGERS)?;
    let lang = ctx.lang;
    let found = ctx
        .api_get(&format!(
            "/clients/duplicates?{}",
            reflecting(ctx).trim_start_matches('&')
        ))
        .await?;
    let groups = items(&found, "groups");
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for group in &groups {
        for id in items(group, "client_ids") {
            let id = text(&id);
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id) {
                let card = ctx.api_get(&format!("/clients/{}", slot.key())).await?;
                slot.insert(text(&card["name"]));
            }
        }
    }
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    Ok(page(
        ctx,
        lang.t("duplicates"),
        html! {
            h1 { (lang.t("duplicate_groups")) }
            p.explain { (lang.t("explain_merge")) }
            @if groups.is_empty() { (empty(lang.t("no_duplicates"))) }
            @for (n, group) in groups.iter().enumerate() {
                @let ids: Vec<String> = items(group, "client_ids").iter().map(text).collect();
                @let matched = text(&group["match"]);
                section.duplicates data-match=(matched) data-value=(text(&group["value"])) {
                    h2 { (match_word(lang, &matched)) ": " (text(&group["value"])) }
                    div.scroll tabindex="0" role="region" aria-label={ (match_word(lang, &matched)) ": " (text(&group["value"])) } {
                    table.figures {
                        caption { (match_word(lang, &matched)) ": " (text(&group["value"])) }
                        thead { tr { th scope="col" { (lang.t("client")) } th scope="col" { (lang.t("merge_into")) } } }
                        tbody {
                            @for id in &ids {
                                tr data-client=(id) {
                                    th scope="row" data-value=(id) { a href={ "/ui/clients/" (id) } { (name(id)) } }
                                    td {
                                        form.merge method="post" action={ "/ui/clients/" (id) "/merge" } {
                                            (csrf_field(ctx))
                                            // The column's header says it; the label is for screen readers.
                                            label.visually-hidden for={ "into-" (n) "-" (id) } { (lang.t("merge_into")) }
                                            select id={ "into-" (n) "-" (id) } name="into_client_id" {
                                                @for other in ids.iter().filter(|o| *o != id) {
                                                    option value=(other) { (name(other)) }
                                                }
                                            }
                                            button type="submit" { (lang.t("merge")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    }
                }
            }
        },
    ))
}

/// `POST /ui/clients/{id}/merge` (`into_client_id`, the CSRF token): `POST
/// /clients/{id}/merge` as the person, then back to the duplicates.
pub async fn merge(Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(err) = ctx.may(layout::MERGERS) {
        return answer(ctx, Err(err));
    }
    let into = posted.field("into_client_id").unwrap_or("").trim();
    let body = serde_json::json!({ "into_client_id": into });
    write(&posted, &format!("/clients/{id}/merge"), &body, DUPLICATES).await
}

/// `POST /ui/clients/{id}/unmerge` (the CSRF token): `POST /clients/{id}/unmerge` as
/// the person, then back to the client's card.
pub async fn unmerge(Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(err) = ctx.may(layout::MERGERS) {
        return answer(ctx, Err(err));
    }
    let back = format!("/ui/clients/{id}");
    let body = serde_json::json!({});
    write(&posted, &format!("/clients/{id}/unmerge"), &body, &back).await
}

/// The API's write `POST path` with `body` as the person, then `back` at the answer's
/// position; the API's refusal in words.
async fn write(posted: &Posted, path: &str, body: &Value, back: &str) -> Response {
    let ctx = &posted.ctx;
    match posted.api_send(Method::POST, path, body).await {
        Ok((status, accepted)) if status.is_success() => {
            let to = accepted["position"]
                .as_i64()
                .map_or_else(|| back.to_owned(), |p| format!("{back}?min_position={p}"));
            Redirect::to(&to).into_response()
        }
        Ok((StatusCode::UNAUTHORIZED, _)) => Redirect::to(&login_address(back)).into_response(),
        Ok((status, problem)) => answer(ctx, Err(refusal(status, &problem))),
        Err(err) => answer(ctx, Err(err)),
    }
}

/// The unmerge button of a merged client's card (nothing for another client, or for
/// a role that may not merge).
pub fn unmerge_button(ctx: &Ctx, id: Uuid, card: &Value) -> Markup {
    let lang = ctx.lang;
    let Some(into) = card["merged_into_client_id"].as_str() else {
        return html! {};
    };
    html! {
        section #merged {
            p { (lang.t("merged_into")) ": " a href={ "/ui/clients/" (into) } { (into) } }
            @if ctx.role.is_some_and(|r| layout::MERGERS.contains(&r)) {
                form.unmerge method="post" action={ "/ui/clients/" (id) "/unmerge" } {
                    (csrf_field(ctx))
                    button type="submit" { (lang.t("unmerge")) }
                }
            }
        }
    }
}
