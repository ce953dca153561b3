//! The report pages: home, funnel, conversion, managers, loss reasons, forecast,
//! revenue (overdue work: [`super::overdue`]). Each reads the same read-model query the API's report calls,
//! limited by the same reach (`crate::access::report_reach`), so its figures are the
//! API's.

use std::collections::HashMap;

use axum::response::Response;
use chrono::{NaiveDate, Utc};
use crm_projections::deals::{PipelineRow, RevenueBy};
use crm_projections::managers::{ManagerKpisFilter, TeamFilter, TeamMember};
use maud::{html, Markup};
use uuid::Uuid;

use super::chart::{bars, empty, named, table, table_with, Cell, Row};
use super::i18n::{percent, Lang};
use super::layout::{self, page};
use super::page::{answer, encode, period, presets, Ctx, PageResult};
use crate::access::{Reach, Role};
use crate::error::ApiError;
use crate::read_model::projection_error;
use crate::routes::reports::deals::RevenueKey;

/// Every pipeline, by name.
async fn pipelines(ctx: &Ctx) -> Result<Vec<PipelineRow>, ApiError> {
    crm_projections::deals::list_pipelines(ctx.web.state.log.pool(), None, 1000)
        .await
        .map_err(projection_error)
}

/// The registered managers the actor reaches, by name.
pub(super) async fn team(ctx: &Ctx, reach: &Reach) -> Result<Vec<TeamMember>, ApiError> {
    let all = crm_projections::managers::list_team(
        ctx.web.state.log.pool(),
        &TeamFilter::default(),
        None,
        10_000,
    )
    .await
    .map_err(projection_error)?;
    Ok(all
        .into_iter()
        .filter(|m| reach.covers_manager(m.manager_id))
        .collect())
}

/// Managers' names by id (every registered manager: names are no secret inside the company).
pub(super) async fn names(ctx: &Ctx) -> Result<HashMap<Uuid, String>, ApiError> {
    Ok(team(ctx, &Reach::All)
        .await?
        .into_iter()
        .map(|m| (m.manager_id, m.name))
        .collect())
}

/// The pipeline a page shows: the one asked for, else the first.
fn chosen_pipeline<'a>(
    ctx: &Ctx,
    all: &'a [PipelineRow],
) -> Result<Option<&'a PipelineRow>, ApiError> {
    match ctx.uuid("pipeline_id")? {
        Some(id) => all
            .iter()
            .find(|p| p.pipeline_id == id)
            .map(Some)
            .ok_or_else(|| ApiError::NotFound {
                what: format!("pipeline {id}"),
            }),
        None => Ok(all.first()),
    }
}

/// A pipeline picker.
fn pipeline_select(lang: Lang, all: &[PipelineRow], chosen: Option<Uuid>, any: bool) -> Markup {
    html! {
        label for="pipeline_id" { (lang.t("pipeline")) }
        select #pipeline_id name="pipeline_id" {
            @if any { option value="" { "—" } }
            @for p in all { option value=(p.pipeline_id) selected[chosen == Some(p.pipeline_id)] { (p.name) } }
        }
    }
}

/// A manager picker over `team`.
fn manager_select(lang: Lang, team: &[TeamMember], chosen: Option<Uuid>) -> Markup {
    html! {
        label for="manager_id" { (lang.t("manager")) }
        select #manager_id name="manager_id" {
            option value="" { (lang.t("all_managers")) }
            @for m in team { option value=(m.manager_id) selected[chosen == Some(m.manager_id)] { (m.name) } }
        }
    }
}

/// The period picker: the presets as links, and a custom range.
fn period_picker(ctx: &Ctx, from: NaiveDate, to: NaiveDate, keep: &[&str]) -> Markup {
    let lang = ctx.lang;
    let path = ctx.here.split('?').next().unwrap_or("/ui");
    let kept: String = keep
        .iter()
        .filter_map(|k| ctx.param(k).map(|v| format!("&{k}={}", encode(v))))
        .collect();
    html! {
        nav.presets aria-label=(lang.t("period")) {
            @for (name, f, t) in presets(Utc::now().date_naive()) {
                a href={ (path) "?preset=" (name) (kept) } aria-current=[(f == from && t == to).then_some("true")] { (lang.t(name)) }
            }
        }
        label for="from" { (lang.t("from")) }
        input #from type="date" name="from" value=(from);
        label for="to" { (lang.t("to")) }
        input #to type="date" name="to" value=(to);
    }
}

/// A filter form around `fields`.
fn filters(lang: Lang, fields: Markup) -> Markup {
    html! { form.filters method="get" { (fields) button type="submit" { (lang.t("show")) } } }
}

/// Money cell.
pub(super) fn money(ctx: &Ctx, minor: i128) -> Cell {
    Cell::new(minor, ctx.money.format(minor))
}

/// The time a date starts (UTC).
fn midnight(d: NaiveDate) -> chrono::DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The funnel's table and chart for `pipeline` (shared by the funnel page and home).
async fn funnel_block(
    ctx: &Ctx,
    pipeline: &PipelineRow,
    managers: Option<&[Uuid]>,
    manager_id: Option<Uuid>,
    as_of: Option<chrono::DateTime<Utc>>,
) -> PageResult {
    let lang = ctx.lang;
    let stages = crm_projections::deals::funnel(
        ctx.web.state.log.pool(),
        pipeline.pipeline_id,
        managers,
        as_of,
    )
    .await
    .map_err(projection_error)?
    .ok_or_else(|| ApiError::NotFound {
        what: format!("pipeline {}", pipeline.pipeline_id),
    })?;
    let deals_of = |stage: Uuid| {
        let mut href = format!(
            "/ui/deals?pipeline_id={}&stage_id={stage}&status=open",
            pipeline.pipeline_id
        );
        if let Some(m) = manager_id {
            href.push_str(&format!("&manager_id={m}"));
        }
        if let Some(t) = as_of {
            href.push_str(&format!("&as_of={}", encode(&t.to_rfc3339())));
        }
        href
    };
    let rows: Vec<Row> = stages
        .iter()
        .map(|s| Row {
            name: s.name.clone(),
            href: Some(deals_of(s.stage_id)),
            cells: vec![
                Cell::count(s.deals).link(deals_of(s.stage_id)),
                money(ctx, s.amount.0),
            ],
        })
        .collect();
    let open: i64 = stages.iter().map(|s| s.deals).sum();
    let amount: i128 = stages.iter().map(|s| s.amount.0).sum();
    let chart: Vec<(String, f64, String)> = stages
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.deals as f64,
                format!("{} · {}", s.deals, ctx.money.format(s.amount.0)),
            )
        })
        .collect();
    Ok(html! {
        section.funnel {
            h2 { (lang.t("funnel")) ": " (pipeline.name) }
            p.totals {
                span { (lang.t("open_deals")) ": " strong #open_deals data-value=(open) { (open) } }
                " · "
                span { (lang.t("open_amount")) ": " strong #open_amount data-value=(amount) { (ctx.money.format(amount)) } }
            }
            @if open == 0 { (empty(lang.t("no_deals_in_pipeline"))) }
            (bars(lang.t("funnel"), &chart))
            (table(lang.t("funnel"), &[lang.t("stage"), lang.t("deals"), lang.t("amount")], &rows, false))
        }
    })
}

/// `GET /ui/funnel?pipeline_id=&manager_id=&as_of=`.
pub async fn funnel(ctx: Ctx) -> Response {
    let result = funnel_page(&ctx).await;
    answer(&ctx, result)
}

async fn funnel_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::SALES)?;
    let lang = ctx.lang;
    let reach = ctx.reach().await?;
    let manager_id = ctx.uuid("manager_id")?;
    let managers = reach.narrow(manager_id)?;
    let as_of = ctx.time("as_of")?;
    ctx.reflects(crm_projections::deals::NAME).await?;
    let all = pipelines(ctx).await?;
    let chosen = chosen_pipeline(ctx, &all)?;
    let team = team(ctx, &reach).await?;
    let form = filters(
        lang,
        html! {
            (pipeline_select(lang, &all, chosen.map(|p| p.pipeline_id), false))
            (manager_select(lang, &team, manager_id))
            label for="as_of" { (lang.t("as_of")) }
            input #as_of type="date" name="as_of" value=[as_of.map(|t| t.date_naive())];
        },
    );
    let body = match chosen {
        None => empty(lang.t("no_pipelines")),
        Some(p) => funnel_block(ctx, p, managers.as_deref(), manager_id, as_of).await?,
    };
    Ok(page(
        ctx,
        lang.t("funnel"),
        html! { h1 { (lang.t("funnel")) } (form) (body) },
    ))
}

/// The managers table's columns: the name, then every field of `GET /reports/managers`
/// in its order (each figure one of [`crm_projections::managers::FIGURES`], linked to
/// the events behind it).
pub const MANAGER_HEADERS: [&str; 23] = [
    "name",
    "department",
    "calls",
    "calls_outbound",
    "calls_inbound",
    "call_seconds",
    "calls_with_goal",
    "calls_goal_reached",
    "meetings",
    "emails",
    "messages",
    "clients_contacted",
    "calls_per_client",
    "leads_assigned",
    "leads_converted",
    "leads_rejected",
    "deals_opened",
    "deals_won",
    "deals_lost",
    "won_amount",
    "win_rate",
    "tasks_completed",
    "tasks_completed_late",
];

/// `GET /ui/managers?from=&to=&department=` (or `preset=`).
pub async fn managers(ctx: Ctx) -> Response {
    let result = managers_page(&ctx).await;
    answer(&ctx, result)
}

async fn managers_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::SALES)?;
    let lang = ctx.lang;
    let (from, to) = period(ctx)?;
    let reach = ctx.reach().await?;
    let department = ctx.param("department").map(str::to_owned);
    ctx.reflects(crm_projections::managers::NAME).await?;
    let filter = ManagerKpisFilter {
        managers: reach.narrow(None)?,
        department: department.clone(),
    };
    let rows = crm_projections::managers::manager_kpis(
        ctx.web.state.log.pool(),
        midnight(from),
        midnight(to),
        &filter,
    )
    .await
    .map_err(projection_error)?;
    let mut departments: Vec<String> = team(ctx, &reach)
        .await?
        .into_iter()
        .map(|m| m.department)
        .collect();
    departments.sort();
    departments.dedup();
    let headers = MANAGER_HEADERS;
    let header_words: Vec<&str> = headers.iter().map(|h| lang.t(h)).collect();
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|m| {
            let deals = format!("/ui/deals?manager_id={}", m.manager_id);
            // Each figure leads to the events that make it.
            let events = |figure: &str| super::figures::address(m.manager_id, figure, &from, &to);
            Row {
                name: m.name.clone(),
                href: Some(deals),
                cells: vec![
                    Cell::new(&m.department, m.department.clone()),
                    Cell::count(m.calls).link(events("calls")),
                    Cell::count(m.calls_outbound).link(events("calls_outbound")),
                    Cell::count(m.calls_inbound).link(events("calls_inbound")),
                    Cell::new(
                        m.call_seconds.0,
                        format!("{:.0}", m.call_seconds.0 as f64 / 60.0),
                    )
                    .link(events("call_seconds")),
                    Cell::count(m.calls_with_goal).link(events("calls_with_goal")),
                    Cell::count(m.calls_goal_reached).link(events("calls_goal_reached")),
                    Cell::count(m.meetings).link(events("meetings")),
                    Cell::count(m.emails).link(events("emails")),
                    Cell::count(m.messages).link(events("messages")),
                    Cell::count(m.clients_contacted).link(events("clients_contacted")),
                    Cell::maybe(m.calls_per_client, |v| format!("{v:.2}"))
                        .link(events("calls_per_client")),
                    Cell::count(m.leads_assigned).link(events("leads_assigned")),
                    Cell::count(m.leads_converted).link(events("leads_converted")),
                    Cell::count(m.leads_rejected).link(events("leads_rejected")),
                    Cell::count(m.deals_opened).link(events("deals_opened")),
                    Cell::count(m.deals_won).link(events("deals_won")),
                    Cell::count(m.deals_lost).link(events("deals_lost")),
                    money(ctx, m.won_amount.0).link(events("won_amount")),
                    Cell::maybe(m.win_rate, |v| percent(Some(*v))).link(events("win_rate")),
                    Cell::count(m.tasks_completed).link(events("tasks_completed")),
                    Cell::count(m.tasks_completed_late).link(events("tasks_completed_late")),
                ],
            }
        })
        .collect();
    let chart: Vec<(String, f64, String)> = rows
        .iter()
        .map(|m| (m.name.clone(), m.calls as f64, m.calls.to_string()))
        .collect();
    let form = filters(
        lang,
        html! {
            (period_picker(ctx, from, to, &["department"]))
            label for="department" { (lang.t("department")) }
            select #department name="department" {
                option value="" { (lang.t("all_departments")) }
                @for d in &departments { option value=(d) selected[department.as_deref() == Some(d.as_str())] { (d) } }
            }
        },
    );
    let days = ctx.may(crate::access::ACTORS).is_ok();
    let month = super::sales::whole_month(from, to);
    let plans = super::sales::plans_block(ctx, month.as_deref()).await?;
    Ok(page(
        ctx,
        lang.t("managers"),
        html! {
            h1 { (lang.t("managers")) }
            (form)
            p.period { (from) " — " (to) }
            @if rows.is_empty() { (empty(lang.t("no_managers"))) } @else {
                (bars(lang.t("calls"), &chart))
                (table_with(lang.t("managers"), &header_words, &table_rows, true, |i, row| html! {
                    (named(row, &row.name))
                    // His day, for those who read days (all the rows are in their reach).
                    @if let (true, Some(m)) = (days, rows.get(i)) {
                        " " a.day href=(super::sales::day_address(m.manager_id)) { (lang.t("open_day")) }
                    }
                }))
            }
            (plans)
        },
    ))
}

/// `GET /ui/conversion?pipeline_id=&from=&to=[&manager_id=]`.
pub async fn conversion(ctx: Ctx) -> Response {
    let result = conversion_page(&ctx).await;
    answer(&ctx, result)
}

/// reached / previous, 4 decimals, as the API rounds it.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

async fn conversion_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::HEADS)?;
    let lang = ctx.lang;
    let (from, to) = period(ctx)?;
    let reach = ctx.reach().await?;
    let manager_id = ctx.uuid("manager_id")?;
    let managers = reach.narrow(manager_id)?;
    ctx.reflects(crm_projections::deals::NAME).await?;
    let all = pipelines(ctx).await?;
    let chosen = chosen_pipeline(ctx, &all)?;
    let team = team(ctx, &reach).await?;
    let form = filters(
        lang,
        html! {
            (pipeline_select(lang, &all, chosen.map(|p| p.pipeline_id), false))
            (manager_select(lang, &team, manager_id))
            (period_picker(ctx, from, to, &["pipeline_id", "manager_id"]))
        },
    );
    let body = match chosen {
        None => empty(lang.t("no_pipelines")),
        Some(p) => {
            let c = crm_projections::deals::conversion(
                ctx.web.state.log.pool(),
                p.pipeline_id,
                midnight(from),
                midnight(to),
                managers.as_deref(),
            )
            .await
            .map_err(projection_error)?
            .ok_or_else(|| ApiError::NotFound {
                what: format!("pipeline {}", p.pipeline_id),
            })?;
            let mut previous: Option<i64> = None;
            let rows: Vec<Row> = c
                .stages
                .iter()
                .map(|s| {
                    let from_previous = previous.and_then(|p| ratio(s.reached, p));
                    previous = Some(s.reached);
                    Row {
                        name: s.name.clone(),
                        href: None,
                        cells: vec![
                            Cell::count(s.reached),
                            Cell::maybe(from_previous, |v| percent(Some(*v))),
                        ],
                    }
                })
                .collect();
            let chart: Vec<(String, f64, String)> = c
                .stages
                .iter()
                .map(|s| (s.name.clone(), s.reached as f64, s.reached.to_string()))
                .collect();
            let summary = vec![Row {
                name: p.name.clone(),
                href: None,
                cells: vec![
                    Cell::count(c.cohort),
                    Cell::count(c.won).link(format!(
                        "/ui/deals?pipeline_id={}&status=won",
                        p.pipeline_id
                    )),
                    Cell::count(c.lost).link(format!(
                        "/ui/deals?pipeline_id={}&status=lost",
                        p.pipeline_id
                    )),
                    Cell::count(c.open).link(format!(
                        "/ui/deals?pipeline_id={}&status=open",
                        p.pipeline_id
                    )),
                    Cell::maybe(ratio(c.won, c.won + c.lost), |v| percent(Some(*v))),
                    Cell::maybe(ratio(c.won, c.cohort), |v| percent(Some(*v))),
                ],
            }];
            html! {
                @if c.cohort == 0 { (empty(lang.t("no_cohort"))) }
                (bars(lang.t("conversion"), &chart))
                (table(lang.t("conversion"), &[lang.t("stage"), lang.t("reached"), lang.t("conversion_from_previous")], &rows, false))
                (table(lang.t("cohort"), &[lang.t("pipeline"), lang.t("cohort"), lang.t("won"), lang.t("lost"), lang.t("open"), lang.t("win_rate"), lang.t("conversion_to_won")], &summary, false))
            }
        }
    };
    Ok(page(
        ctx,
        lang.t("conversion"),
        html! { h1 { (lang.t("conversion")) } (form) (body) },
    ))
}

/// `GET /ui/loss-reasons?from=&to=[&pipeline_id=]`.
pub async fn loss_reasons(ctx: Ctx) -> Response {
    let result = loss_page(&ctx).await;
    answer(&ctx, result)
}

async fn loss_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::HEADS)?;
    let lang = ctx.lang;
    let (from, to) = period(ctx)?;
    let reach = ctx.reach().await?;
    let pipeline_id = ctx.uuid("pipeline_id")?;
    ctx.reflects(crm_projections::deals::NAME).await?;
    let all = pipelines(ctx).await?;
    let reasons = crm_projections::deals::loss_reasons(
        ctx.web.state.log.pool(),
        midnight(from),
        midnight(to),
        pipeline_id,
        reach.managers(),
    )
    .await
    .map_err(projection_error)?;
    let lost = match pipeline_id {
        Some(p) => format!("/ui/deals?status=lost&pipeline_id={p}"),
        None => "/ui/deals?status=lost".to_owned(),
    };
    let rows: Vec<Row> = reasons
        .iter()
        .map(|r| Row {
            name: r.reason.clone(),
            href: Some(lost.clone()),
            cells: vec![Cell::count(r.deals), money(ctx, r.amount.0)],
        })
        .collect();
    let chart: Vec<(String, f64, String)> = reasons
        .iter()
        .map(|r| {
            (
                r.reason.clone(),
                r.deals as f64,
                format!("{} · {}", r.deals, ctx.money.format(r.amount.0)),
            )
        })
        .collect();
    let form = filters(
        lang,
        html! {
            (pipeline_select(lang, &all, pipeline_id, true))
            (period_picker(ctx, from, to, &["pipeline_id"]))
        },
    );
    Ok(page(
        ctx,
        lang.t("loss_reasons"),
        html! {
            h1 { (lang.t("loss_reasons")) }
            (form)
            @if reasons.is_empty() { (empty(lang.t("no_losses"))) } @else {
                (bars(lang.t("loss_reasons"), &chart))
                (table(lang.t("loss_reasons"), &[lang.t("reason"), lang.t("deals"), lang.t("amount")], &rows, true))
            }
        },
    ))
}

/// `GET /ui/forecast[?pipeline_id=]`.
pub async fn forecast(ctx: Ctx) -> Response {
    let result = forecast_page(&ctx).await;
    answer(&ctx, result)
}

async fn forecast_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::SALES)?;
    let lang = ctx.lang;
    let reach = ctx.reach().await?;
    let pipeline_id = ctx.uuid("pipeline_id")?;
    ctx.reflects(crm_projections::deals::NAME).await?;
    let all = pipelines(ctx).await?;
    let months =
        crm_projections::deals::forecast(ctx.web.state.log.pool(), pipeline_id, reach.managers())
            .await
            .map_err(projection_error)?;
    let open = match pipeline_id {
        Some(p) => format!("/ui/deals?status=open&pipeline_id={p}"),
        None => "/ui/deals?status=open".to_owned(),
    };
    let rows: Vec<Row> = months
        .iter()
        .map(|m| Row {
            name: m.month.clone(),
            href: Some(open.clone()),
            cells: vec![
                Cell::count(m.deals),
                money(ctx, m.amount.0),
                money(ctx, m.weighted_amount.0),
            ],
        })
        .collect();
    let chart: Vec<(String, f64, String)> = months
        .iter()
        .map(|m| {
            (
                m.month.clone(),
                m.weighted_amount.0 as f64,
                ctx.money.format(m.weighted_amount.0),
            )
        })
        .collect();
    Ok(page(
        ctx,
        lang.t("forecast"),
        html! {
            h1 { (lang.t("forecast")) }
            (filters(lang, pipeline_select(lang, &all, pipeline_id, true)))
            @if months.is_empty() { (empty(lang.t("no_forecast"))) } @else {
                (bars(lang.t("weighted_amount"), &chart))
                (table(lang.t("forecast"), &[lang.t("month"), lang.t("deals"), lang.t("amount"), lang.t("weighted_amount")], &rows, false))
            }
        },
    ))
}

/// `GET /ui/revenue?by=&from=&to=`.
pub async fn revenue(ctx: Ctx) -> Response {
    let result = revenue_page(&ctx).await;
    answer(&ctx, result)
}

async fn revenue_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::COMPANY)?;
    let lang = ctx.lang;
    let (from, to) = period(ctx)?;
    let by_name = ctx.param("by").unwrap_or("manager");
    use crm_projections::sales::SalesRevenueBy as S;
    let key = RevenueKey::from_name(by_name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            "by must be manager, source, pipeline, client, product, category, novelty or first_contact",
        )
    })?;
    let by = key.grouping();
    let reach = ctx.reach().await?;
    for model in key.models() {
        ctx.reflects(model).await?;
    }
    let pool = ctx.web.state.log.pool();
    let groups = match by {
        Ok(by) => {
            crm_projections::deals::revenue(
                pool,
                by,
                midnight(from),
                midnight(to),
                reach.managers(),
            )
            .await
        }
        Err(by) => {
            crm_projections::sales::sales_revenue(
                pool,
                by,
                midnight(from),
                midnight(to),
                reach.managers(),
            )
            .await
        }
    }
    .map_err(projection_error)?;
    // The names people read for keys that are ids: managers, pipelines, products (the
    // table's `data-value` stays the API's key).
    let mut names: HashMap<String, String> = match by {
        Ok(RevenueBy::Manager) => names(ctx)
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        Ok(RevenueBy::Pipeline) => pipelines(ctx)
            .await?
            .into_iter()
            .map(|p| (p.pipeline_id.to_string(), p.name))
            .collect(),
        _ => HashMap::new(),
    };
    if by == Err(S::Product) {
        let ids: Vec<Uuid> = groups
            .iter()
            .filter_map(|g| g.key.as_deref()?.parse().ok())
            .collect();
        let products = crm_projections::sales::product_names(pool, &ids)
            .await
            .map_err(projection_error)?;
        names.extend(
            products
                .into_iter()
                .map(|(id, name)| (id.to_string(), name)),
        );
    }
    let rows: Vec<Row> = groups
        .iter()
        .map(|g| {
            let key = g.key.clone().unwrap_or_else(|| "—".to_owned());
            let href = match by {
                Ok(RevenueBy::Manager) => Some(format!("/ui/deals?status=won&manager_id={key}")),
                Ok(RevenueBy::Client) => Some(format!("/ui/clients/{key}")),
                Ok(RevenueBy::Pipeline) => Some(format!("/ui/deals?status=won&pipeline_id={key}")),
                _ => None,
            };
            Row {
                name: key,
                href: href.filter(|_| g.key.is_some()),
                cells: vec![Cell::count(g.deals), money(ctx, g.amount.0)],
            }
        })
        .collect();
    let label = |key: &Option<String>| -> String {
        match key {
            None => "—".into(),
            Some(k) => names.get(k).cloned().unwrap_or_else(|| k.clone()),
        }
    };
    let chart: Vec<(String, f64, String)> = groups
        .iter()
        .map(|g| {
            (
                label(&g.key),
                g.amount.0 as f64,
                ctx.money.format(g.amount.0),
            )
        })
        .collect();
    let form = filters(
        lang,
        html! {
            label for="by" { (lang.t("by")) }
            select #by name="by" {
                @for (value, key) in [("manager", "by_manager"), ("source", "by_source"), ("pipeline", "by_pipeline"), ("client", "by_client"), ("product", "by_product"), ("category", "by_category"), ("novelty", "by_novelty"), ("first_contact", "by_first_contact")] {
                    option value=(value) selected[by_name == value] { (lang.t(key)) }
                }
            }
            (period_picker(ctx, from, to, &["by"]))
        },
    );
    Ok(page(
        ctx,
        lang.t("revenue"),
        html! {
            h1 { (lang.t("revenue")) }
            (form)
            @if groups.is_empty() { (empty(lang.t("no_revenue"))) } @else {
                (bars(lang.t("revenue"), &chart))
                (table_with(lang.t("revenue"), &[lang.t("key"), lang.t("deals"), lang.t("amount")], &rows, true, |_, row| {
                    named(row, names.get(&row.name).unwrap_or(&row.name))
                }))
            }
        },
    ))
}

/// `GET /ui`: the home of the person's role.
pub async fn home(ctx: Ctx) -> Response {
    let result = home_page(&ctx).await;
    answer(&ctx, result)
}

async fn home_page(ctx: &Ctx) -> PageResult {
    let lang = ctx.lang;
    let body = match ctx.role {
        Some(Role::Manager | Role::Head | Role::Director | Role::Admin) => {
            let reach = ctx.reach().await?;
            let all = pipelines(ctx).await?;
            let funnel = match all.first() {
                Some(p) => funnel_block(ctx, p, reach.managers(), None, None).await?,
                None => empty(lang.t("no_pipelines")),
            };
            let day = match (ctx.role, ctx.actor.manager_id) {
                (Some(Role::Manager), Some(me)) => {
                    super::sales::day_block(ctx, me, super::sales::Whose::Own).await?
                }
                _ => html! {},
            };
            let overdue = super::overdue::home_block(ctx, reach).await?;
            html! { (day) (funnel) (overdue) }
        }
        Some(Role::Auditor) => html! { p { a href="/ui/audit" { (lang.t("audit")) } } },
        Some(Role::Analyst) => html! { p { a href="/ui/projections" { (lang.t("projections")) } } },
        None => html! {},
    };
    Ok(page(
        ctx,
        lang.t("home"),
        html! { h1 { (lang.t("home")) ": " (ctx.name) } (body) },
    ))
}
