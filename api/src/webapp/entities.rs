//! The entity pages: deals, a deal with its history, clients, a client's card with its
//! timeline, leads, tasks. Each shows the API's own answer for this person (asked in
//! process: `Ctx::api_get`), so reach, hidden fields and erasure are the API's.

use axum::extract::Path;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::chart::empty;
use super::i18n::Lang;
use super::layout::{self, page};
use super::page::{answer, encode, Ctx, PageResult};

/// A JSON value as text (strings bare, null as a dash).
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Money from a JSON amount.
pub(super) fn money(ctx: &Ctx, v: &Value) -> String {
    v.as_i64()
        .map_or_else(|| text(v), |a| ctx.money.format(i128::from(a)))
}

/// The query string of the kept parameters `keys` (and `extra`).
fn keep(ctx: &Ctx, keys: &[&str], extra: &str) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .filter_map(|k| ctx.param(k).map(|v| format!("{k}={}", encode(v))))
        .collect();
    if !extra.is_empty() {
        parts.push(extra.to_owned());
    }
    parts.join("&")
}

/// Paging links: the first page, and the next when there is one.
fn pager(ctx: &Ctx, path: &str, keys: &[&str], next: &Value) -> Markup {
    let lang = ctx.lang;
    html! {
        nav.pager {
            @if ctx.param("cursor").is_some() { a href={ (path) "?" (keep(ctx, keys, "")) } { (lang.t("first_page")) } }
            @if let Some(cursor) = next.as_str() { a rel="next" href={ (path) "?" (keep(ctx, keys, &format!("cursor={}", encode(cursor)))) } { (lang.t("next_page")) } }
        }
    }
}

/// The word of a status or segment.
fn word(lang: Lang, v: &Value) -> String {
    match v.as_str() {
        Some(
            s @ ("open" | "won" | "lost" | "active" | "churned" | "inquiry" | "completed"
            | "cancelled" | "new" | "assigned" | "converted" | "rejected"),
        ) => {
            let key: &'static str = match s {
                "open" => "open",
                "won" => "won",
                "lost" => "lost",
                "active" => "active",
                "churned" => "churned",
                "inquiry" => "inquiry",
                "completed" => "completed",
                "cancelled" => "cancelled",
                "new" => "new",
                "assigned" => "assigned",
                "converted" => "converted",
                _ => "rejected",
            };
            lang.t(key).to_owned()
        }
        _ => text(v),
    }
}

/// `GET /ui/deals?pipeline_id=&stage_id=&manager_id=&status=&as_of=`: the deals behind a figure.
pub async fn deals(ctx: Ctx) -> Response {
    let result = deals_page(&ctx).await;
    answer(&ctx, result)
}

async fn deals_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::ENTITIES)?;
    let lang = ctx.lang;
    let keys = [
        "pipeline_id",
        "stage_id",
        "manager_id",
        "client_id",
        "status",
        "as_of",
    ];
    let list = ctx
        .api_get(&format!(
            "/deals?limit=100&{}",
            keep(ctx, &keys, &keep(ctx, &["cursor"], ""))
        ))
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(page(
        ctx,
        lang.t("deals"),
        html! {
            h1 { (lang.t("deals")) }
            form.filters method="get" {
                @for k in ["pipeline_id", "stage_id", "manager_id", "client_id", "as_of"] {
                    @if let Some(v) = ctx.param(k) { input type="hidden" name=(k) value=(v); }
                }
                label for="status" { (lang.t("status")) }
                select #status name="status" {
                    option value="" { (lang.t("all_statuses")) }
                    @for s in ["open", "won", "lost"] { option value=(s) selected[ctx.param("status") == Some(s)] { (word(lang, &Value::from(s))) } }
                }
                button type="submit" { (lang.t("show")) }
            }
            @if items.is_empty() { (empty(lang.t("no_deals"))) } @else {
                div.scroll tabindex="0" role="region" aria-label=(lang.t("deals")) {
                    table.figures.sortable {
                        thead { tr { @for h in ["title", "client", "stage", "amount", "owner", "status", "expected_close_on"] { th scope="col" { button type="button" { (lang.t(h)) } } } } }
                        tbody { @for d in &items {
                            tr {
                                th scope="row" { a href={ "/ui/deals/" (text(&d["id"])) } { (text(&d["title"])) } }
                                td { a href={ "/ui/clients/" (text(&d["client_id"])) } { (text(d.get("client_name").unwrap_or(&d["client_id"]))) } }
                                td { (text(d.get("stage_name").unwrap_or(&d["stage_id"]))) }
                                td data-value=(text(&d["amount"])) { (money(ctx, &d["amount"])) }
                                td { (text(d.get("manager_name").unwrap_or(&d["manager_id"]))) }
                                td { (word(lang, &d["status"])) }
                                td { (text(&d["expected_close_on"])) }
                            }
                        } }
                    }
                }
            }
            (pager(ctx, "/ui/deals", &keys, &list["next_cursor"]))
        },
    ))
}

/// `GET /ui/deals/{id}[?as_of=]`: the deal (as it stood then) and its history of events.
pub async fn deal(ctx: Ctx, Path(id): Path<Uuid>) -> Response {
    let result = deal_page(&ctx, id).await;
    answer(&ctx, result)
}

async fn deal_page(ctx: &Ctx, id: Uuid) -> PageResult {
    ctx.may(layout::ENTITIES)?;
    let lang = ctx.lang;
    let as_of = ctx.time("as_of")?;
    let query = as_of.map_or_else(String::new, |t| {
        format!("?as_of={}", encode(&t.to_rfc3339()))
    });
    let deal = ctx.api_get(&format!("/deals/{id}{query}")).await?;
    let events = ctx.api_get(&format!("/streams/deal-{id}/events")).await?;
    let events: Vec<Value> = events["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            as_of.is_none_or(|t| {
                e["occurred_at"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .is_some_and(|o| o <= t)
            })
        })
        .collect();
    let pool = ctx.web.state.log.pool();
    // Names for people: the stage's (pipelines are shared), the owner's, the client's
    // (when the viewer reaches the client too).
    let stage = match (
        deal["pipeline_id"]
            .as_str()
            .and_then(|p| p.parse::<Uuid>().ok()),
        deal["stage_id"].as_str(),
    ) {
        (Some(pipeline), Some(stage)) => crm_projections::deals::pipeline(pool, pipeline)
            .await
            .ok()
            .flatten()
            .and_then(|p| {
                p.stages
                    .into_iter()
                    .find(|s| s.stage_id.to_string() == stage)
            })
            .map(|s| s.name),
        _ => None,
    };
    let owner = match deal["manager_id"]
        .as_str()
        .and_then(|m| m.parse::<Uuid>().ok())
    {
        Some(m) => crm_projections::managers::team_member(pool, m)
            .await
            .ok()
            .flatten()
            .map(|m| m.name),
        None => None,
    };
    let client_id = text(&deal["client_id"]);
    let client = ctx
        .api_get(&format!("/clients/{client_id}"))
        .await
        .ok()
        .map(|c| text(&c["name"]));
    let fields: [(&str, String); 6] = [
        ("status", word(lang, &deal["status"])),
        ("stage", stage.unwrap_or_else(|| text(&deal["stage_id"]))),
        ("amount", money(ctx, &deal["amount"])),
        ("owner", owner.unwrap_or_else(|| text(&deal["manager_id"]))),
        ("expected_close_on", text(&deal["expected_close_on"])),
        ("source", text(&deal["source"])),
    ];
    Ok(page(
        ctx,
        &text(&deal["title"]),
        html! {
            h1 { (lang.t("deal")) ": " (text(&deal["title"])) }
            form.filters method="get" {
                label for="as_of" { (lang.t("as_of")) }
                input #as_of type="date" name="as_of" value=[as_of.map(|t| t.date_naive())];
                button type="submit" { (lang.t("show")) }
            }
            dl.card #deal data-version=(text(&deal["version"])) {
                @for (k, v) in &fields { dt { (lang.t(k)) } dd data-field=(k) { (v) } }
                dt { (lang.t("client")) } dd { a href={ "/ui/clients/" (client_id) } { (client.as_deref().unwrap_or(&client_id)) } }
            }
            h2 { (lang.t("history")) }
            (history(lang, &events))
        },
    ))
}

/// A history of events: when, who, what, details.
fn history(lang: Lang, events: &[Value]) -> Markup {
    if events.is_empty() {
        return empty(lang.t("no_events"));
    }
    html! {
        div.scroll tabindex="0" role="region" aria-label=(lang.t("history")) {
            table.figures.history {
                thead { tr { th scope="col" { (lang.t("event")) } th scope="col" { (lang.t("when")) } th scope="col" { (lang.t("who")) } th scope="col" { (lang.t("details")) } } }
                tbody { @for e in events {
                    tr {
                        th scope="row" { (text(&e["type"])) }
                        td { time datetime=(text(&e["occurred_at"])) { (text(&e["occurred_at"])) } }
                        td { (text(e["metadata"].get("actor").or(e.get("actor")).unwrap_or(&Value::Null))) }
                        td { code { (e["data"].to_string()) } }
                    }
                } }
            }
        }
    }
}

/// `GET /ui/clients?q=&segment=&cursor=`: clients, by name.
pub async fn clients(ctx: Ctx) -> Response {
    let result = clients_page(&ctx).await;
    answer(&ctx, result)
}

async fn clients_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::ENTITIES)?;
    let lang = ctx.lang;
    let keys = ["q", "segment", "manager_id", "region", "industry", "source"];
    let list = ctx
        .api_get(&format!(
            "/clients?limit=50&{}",
            keep(ctx, &keys, &keep(ctx, &["cursor"], ""))
        ))
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(page(
        ctx,
        lang.t("clients"),
        html! {
            h1 { (lang.t("clients")) }
            form.filters method="get" role="search" {
                label for="q" { (lang.t("search")) }
                input #q type="search" name="q" value=[ctx.param("q")];
                label for="segment" { (lang.t("segment")) }
                select #segment name="segment" {
                    option value="" { (lang.t("all_segments")) }
                    @for s in ["active", "churned", "inquiry"] { option value=(s) selected[ctx.param("segment") == Some(s)] { (word(lang, &Value::from(s))) } }
                }
                button type="submit" { (lang.t("show")) }
            }
            @if items.is_empty() { (empty(lang.t("no_clients"))) } @else {
                div.scroll tabindex="0" role="region" aria-label=(lang.t("clients")) {
                    table.figures.sortable {
                        thead { tr { @for h in ["name", "segment", "region", "open", "won", "won_amount", "last_interaction_at"] { th scope="col" { button type="button" { (lang.t(h)) } } } } }
                        tbody { @for c in &items {
                            tr {
                                th scope="row" { a href={ "/ui/clients/" (text(&c["id"])) } { (text(&c["name"])) } }
                                td { (word(lang, &c["segment"])) }
                                td { (text(&c["region"])) }
                                td data-value=(text(&c["deals"]["open"])) { (text(&c["deals"]["open"])) }
                                td data-value=(text(&c["deals"]["won"])) { (text(&c["deals"]["won"])) }
                                td data-value=(text(&c["deals"]["won_amount"])) { (money(ctx, &c["deals"]["won_amount"])) }
                                td { (text(&c["last_interaction_at"])) }
                            }
                        } }
                    }
                }
            }
            (pager(ctx, "/ui/clients", &keys, &list["next_cursor"]))
        },
    ))
}

/// `GET /ui/clients/{id}`: the client's card, deals and timeline.
pub async fn client(ctx: Ctx, Path(id): Path<Uuid>) -> Response {
    let result = client_page(&ctx, id).await;
    answer(&ctx, result)
}

async fn client_page(ctx: &Ctx, id: Uuid) -> PageResult {
    ctx.may(layout::ENTITIES)?;
    let lang = ctx.lang;
    // After a merge's or unmerge's redirect (or the live refresh), the card waits for it.
    let position = ctx
        .param("min_position")
        .and_then(|v| v.parse::<i64>().ok())
        .map_or_else(String::new, |p| format!("?min_position={p}"));
    let card = ctx.api_get(&format!("/clients/{id}{position}")).await?;
    let deals = ctx
        .api_get(&format!("/deals?client_id={id}&limit=200"))
        .await?;
    let timeline = ctx
        .api_get(&format!("/clients/{id}/timeline?limit=500"))
        .await?;
    let deals = deals["items"].as_array().cloned().unwrap_or_default();
    let events = timeline["items"].as_array().cloned().unwrap_or_default();
    let contacts = card["contacts"].as_array().cloned().unwrap_or_default();
    Ok(page(
        ctx,
        &text(&card["name"]),
        html! {
            h1 { (lang.t("client")) ": " (text(&card["name"])) }
            (super::sales::unmerge_button(ctx, id, &card))
            dl.card {
                dt { (lang.t("segment")) } dd { (word(lang, &card["segment"])) }
                dt { (lang.t("kind")) } dd { (text(&card["kind"])) }
                dt { (lang.t("region")) } dd { (text(&card["region"])) }
                dt { (lang.t("industry")) } dd { (text(&card["industry"])) }
                dt { (lang.t("source")) } dd { (text(&card["source"])) }
                dt { (lang.t("owner")) } dd { (text(&card["manager_id"])) }
                dt { (lang.t("interactions")) } dd { (text(&card["interactions"])) }
                dt { (lang.t("last_interaction_at")) } dd { (text(&card["last_interaction_at"])) }
                dt { (lang.t("last_won_at")) } dd { (text(&card["last_won_at"])) }
            }
            h2 { (lang.t("contacts")) }
            @if contacts.is_empty() { (empty("—")) } @else {
                ul.contacts { @for c in &contacts { li { (text(&c["name"])) " · " (text(&c["phone"])) " · " (text(&c["email"])) } } }
            }
            h2 { (lang.t("deals")) }
            @if deals.is_empty() { (empty(lang.t("no_deals"))) } @else {
                ul.deals { @for d in &deals { li { a href={ "/ui/deals/" (text(&d["id"])) } { (text(&d["title"])) } " · " (money(ctx, &d["amount"])) " · " (word(lang, &d["status"])) } } }
            }
            h2 { (lang.t("timeline")) }
            (history(lang, &events))
        },
    ))
}

/// `GET /ui/leads?status=&q=`: leads, newest first.
pub async fn leads(ctx: Ctx) -> Response {
    let result = leads_page(&ctx).await;
    answer(&ctx, result)
}

async fn leads_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::ENTITIES)?;
    let lang = ctx.lang;
    let keys = ["status", "source", "manager_id", "q"];
    let list = ctx
        .api_get(&format!(
            "/leads?limit=100&{}",
            keep(ctx, &keys, &keep(ctx, &["cursor"], ""))
        ))
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(page(
        ctx,
        lang.t("leads"),
        html! {
            h1 { (lang.t("leads")) }
            form.filters method="get" {
                label for="q" { (lang.t("search")) }
                input #q type="search" name="q" value=[ctx.param("q")];
                label for="status" { (lang.t("status")) }
                select #status name="status" {
                    option value="" { (lang.t("all_statuses")) }
                    @for s in ["new", "assigned", "converted", "rejected"] { option value=(s) selected[ctx.param("status") == Some(s)] { (word(lang, &Value::from(s))) } }
                }
                button type="submit" { (lang.t("show")) }
            }
            @if items.is_empty() { (empty(lang.t("no_leads"))) } @else {
                div.scroll tabindex="0" role="region" aria-label=(lang.t("leads")) {
                    table.figures.sortable {
                        thead { tr { @for h in ["name", "source", "status", "manager", "received_at"] { th scope="col" { button type="button" { (lang.t(h)) } } } } }
                        tbody { @for l in &items {
                            tr {
                                th scope="row" { (text(&l["name"])) }
                                td { (text(&l["source"])) }
                                td { (word(lang, &l["status"])) }
                                td { (text(l.get("manager_name").unwrap_or(&l["manager_id"]))) }
                                td { (text(&l["received_at"])) }
                            }
                        } }
                    }
                }
            }
            (pager(ctx, "/ui/leads", &keys, &list["next_cursor"]))
        },
    ))
}

/// `GET /ui/tasks?status=&assignee_id=`: tasks.
pub async fn tasks(ctx: Ctx) -> Response {
    let result = tasks_page(&ctx).await;
    answer(&ctx, result)
}

async fn tasks_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::ENTITIES)?;
    let lang = ctx.lang;
    let keys = ["status", "assignee_id"];
    let list = ctx
        .api_get(&format!(
            "/tasks?limit=100&{}",
            keep(ctx, &keys, &keep(ctx, &["cursor"], ""))
        ))
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(page(
        ctx,
        lang.t("tasks"),
        html! {
            h1 { (lang.t("tasks")) }
            form.filters method="get" {
                @if let Some(a) = ctx.param("assignee_id") { input type="hidden" name="assignee_id" value=(a); }
                label for="status" { (lang.t("status")) }
                select #status name="status" {
                    option value="" { (lang.t("all_statuses")) }
                    @for s in ["open", "completed", "cancelled"] { option value=(s) selected[ctx.param("status") == Some(s)] { (word(lang, &Value::from(s))) } }
                }
                button type="submit" { (lang.t("show")) }
            }
            @if items.is_empty() { (empty(lang.t("no_tasks"))) } @else {
                div.scroll tabindex="0" role="region" aria-label=(lang.t("tasks")) {
                    table.figures.sortable {
                        thead { tr { @for h in ["title", "due_at", "status", "client", "deal"] { th scope="col" { button type="button" { (lang.t(h)) } } } } }
                        tbody { @for t in &items {
                            tr {
                                th scope="row" { (text(&t["title"])) }
                                td { (text(&t["due_at"])) }
                                td { (word(lang, &t["status"])) }
                                td { @if t["client_id"].is_string() { a href={ "/ui/clients/" (text(&t["client_id"])) } { (text(t.get("client_name").filter(|v| !v.is_null()).unwrap_or(&t["client_id"]))) } } }
                                td { @if t["deal_id"].is_string() { a href={ "/ui/deals/" (text(&t["deal_id"])) } { (text(t.get("deal_title").filter(|v| !v.is_null()).unwrap_or(&t["deal_id"]))) } } }
                            }
                        } }
                    }
                }
            }
            (pager(ctx, "/ui/tasks", &keys, &list["next_cursor"]))
        },
    ))
}
