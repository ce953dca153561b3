//! Overdue work: tasks past their due time, deals past their expected close, leads
//! waiting past the SLA. `/ui/overdue` pages each list ([`PER_PAGE`] rows a page, the
//! most overdue first, the page read with LIMIT/OFFSET so that it costs what it
//! shows); the home shows the counts (per kind, and per manager or department as fits
//! the role) and the few most overdue ([`HOME_ROWS`]). The lists and counts are the
//! API's overdue reports' (`/reports/overdue/…`), under the same reach.

use std::collections::{BTreeMap, HashMap};

use axum::response::Response;
use chrono::{DateTime, Utc};
use crm_projections::managers::TeamMember;
use crm_projections::tasks::OverdueTasksFilter;
use maud::{html, Markup};
use uuid::Uuid;

use super::chart::{empty, table, Cell, Row};
use super::i18n::{span, when, Lang};
use super::layout::{self, page};
use super::page::{answer, encode, Ctx, PageResult};
use super::reports::{money, names, team};
use crate::access::{Reach, Role};
use crate::error::ApiError;
use crate::read_model::projection_error;

/// Rows of one list on a page of `/ui/overdue`.
pub const PER_PAGE: i64 = 50;

/// Rows of each list on the home.
pub const HOME_ROWS: i64 = 10;

/// The SLA of a lead's first answer, in minutes (the API's default).
const SLA_MINUTES: i64 = 15;

/// Whose overdue work: the reach, narrowed to a manager or a department.
struct Scope {
    /// The managers deals and leads are limited to, and tasks' assignees when narrowed
    /// (None: the whole company).
    managers: Option<Vec<Uuid>>,
    /// True when narrowed to a manager or department (tasks then by assignee).
    narrowed: bool,
    /// The actor's reach (tasks involving one of its managers).
    reach: Reach,
    /// The query that narrowed it, kept in the page links (`&manager_id=…`).
    query: String,
}

impl Scope {
    /// The scope the page's `manager_id` or `department` asks for, within `reach`.
    async fn of(ctx: &Ctx, reach: Reach) -> Result<Scope, ApiError> {
        if let Some(id) = ctx.uuid("manager_id")? {
            return Ok(Scope {
                managers: reach.narrow(Some(id))?,
                narrowed: true,
                reach,
                query: format!("&manager_id={id}"),
            });
        }
        if let Some(department) = ctx.param("department").filter(|d| !d.is_empty()) {
            let members: Vec<Uuid> = team(ctx, &reach)
                .await?
                .into_iter()
                .filter(|m| m.department == department)
                .map(|m| m.manager_id)
                .collect();
            return Ok(Scope {
                managers: Some(members),
                narrowed: true,
                reach,
                query: format!("&department={}", encode(department)),
            });
        }
        Ok(Scope {
            managers: reach.managers().map(<[Uuid]>::to_vec),
            narrowed: false,
            reach,
            query: String::new(),
        })
    }

    /// The tasks' filter: involving the reach (as the API's report), and assigned to
    /// the narrowed managers.
    fn tasks(&self) -> OverdueTasksFilter<'_> {
        OverdueTasksFilter {
            assignees: self.managers.as_deref().filter(|_| self.narrowed),
            involving: self.reach.managers(),
        }
    }

    /// The managers deals and leads are limited to.
    fn managers(&self) -> Option<&[Uuid]> {
        self.managers.as_deref()
    }
}

/// The overdue counts of a scope: per manager (None: leads without one), per kind.
#[derive(Default)]
struct Counts {
    /// (tasks, deals, leads) per manager.
    per_manager: BTreeMap<Option<Uuid>, [i64; 3]>,
}

impl Counts {
    /// The scope's counts, one grouped query per kind.
    async fn of(ctx: &Ctx, scope: &Scope, now: DateTime<Utc>) -> Result<Counts, ApiError> {
        let pool = ctx.web.state.log.pool();
        let tasks = crm_projections::tasks::overdue_task_counts(pool, now, &scope.tasks())
            .await
            .map_err(projection_error)?;
        let deals =
            crm_projections::deals::overdue_counts(pool, now.date_naive(), scope.managers())
                .await
                .map_err(projection_error)?;
        let leads =
            crm_projections::leads::overdue_lead_counts(pool, now, SLA_MINUTES, scope.managers())
                .await
                .map_err(projection_error)?;
        let mut counts = Counts::default();
        let mut add = |manager: Option<Uuid>, kind: usize, n: i64| {
            counts.per_manager.entry(manager).or_default()[kind] += n;
        };
        tasks.into_iter().for_each(|(m, n)| add(Some(m), 0, n));
        deals.into_iter().for_each(|(m, n)| add(Some(m), 1, n));
        leads.into_iter().for_each(|(m, n)| add(m, 2, n));
        Ok(counts)
    }

    /// The totals per kind: tasks, deals, leads.
    fn totals(&self) -> [i64; 3] {
        self.per_manager.values().fold([0; 3], |mut sum, c| {
            for (s, n) in sum.iter_mut().zip(c) {
                *s += n;
            }
            sum
        })
    }
}

/// The keys of the three lists: their section id, their word, their page parameter.
const KINDS: [(&str, &str, &str); 3] = [
    ("overdue-tasks", "overdue_tasks", "tasks_page"),
    ("overdue-deals", "overdue_deals", "deals_page"),
    ("overdue-leads", "waiting_leads", "leads_page"),
];

/// The counts per kind, each leading to its list.
fn totals_block(lang: Lang, totals: [i64; 3], query: &str) -> Markup {
    html! {
        ul.totals #overdue-counts {
            @for ((id, word, _), n) in KINDS.iter().zip(totals) {
                li { a href={ "/ui/overdue?" (query.trim_start_matches('&')) "#" (id) } { (lang.t(word)) ": " strong data-kind=(id) data-value=(n) { (n) } } }
            }
        }
    }
}

/// The counts per manager (a head's) or per department (a director's), each row
/// leading to its lists; nothing for a manager.
fn breakdown(
    ctx: &Ctx,
    counts: &Counts,
    everyone: &[TeamMember],
    names: &HashMap<Uuid, String>,
) -> Markup {
    let lang = ctx.lang;
    let first = match ctx.role {
        Some(Role::Head) => lang.t("manager"),
        _ => lang.t("department"),
    };
    let headers = [
        first,
        lang.t("overdue_tasks"),
        lang.t("overdue_deals"),
        lang.t("waiting_leads"),
    ];
    let cells = |c: &[i64; 3], href: &str| -> Vec<Cell> {
        KINDS
            .iter()
            .zip(c)
            .map(|((id, _, _), n)| Cell::count(*n).link(format!("{href}#{id}")))
            .collect()
    };
    let by_total = |a: &(String, [i64; 3]), b: &(String, [i64; 3])| {
        let sum = |c: &[i64; 3]| c.iter().sum::<i64>();
        sum(&b.1).cmp(&sum(&a.1)).then(a.0.cmp(&b.0))
    };
    match ctx.role {
        Some(Role::Head) => {
            let mut rows: Vec<(String, [i64; 3], Option<Uuid>)> = counts
                .per_manager
                .iter()
                .map(|(m, c)| {
                    let name = m.map_or_else(
                        || "—".to_owned(),
                        |id| names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                    );
                    (name, *c, *m)
                })
                .collect();
            rows.sort_by(|a, b| by_total(&(a.0.clone(), a.1), &(b.0.clone(), b.1)));
            let rows: Vec<Row> = rows
                .iter()
                .map(|(name, c, m)| {
                    let href = m.map_or_else(
                        || "/ui/overdue".to_owned(),
                        |id| format!("/ui/overdue?manager_id={id}"),
                    );
                    Row {
                        name: name.clone(),
                        href: Some(href.clone()),
                        cells: cells(c, &href),
                    }
                })
                .collect();
            table(lang.t("overdue_by_manager"), &headers, &rows, true)
        }
        Some(Role::Director | Role::Admin | Role::Analyst) => {
            let department: HashMap<Uuid, &str> = everyone
                .iter()
                .map(|m| (m.manager_id, m.department.as_str()))
                .collect();
            let mut per: BTreeMap<String, [i64; 3]> = BTreeMap::new();
            for (m, c) in &counts.per_manager {
                let d = m.and_then(|id| department.get(&id).copied()).unwrap_or("—");
                let sum = per.entry(d.to_owned()).or_default();
                for (s, n) in sum.iter_mut().zip(c) {
                    *s += n;
                }
            }
            let mut rows: Vec<(String, [i64; 3])> = per.into_iter().collect();
            rows.sort_by(by_total);
            let rows: Vec<Row> = rows
                .iter()
                .map(|(d, c)| {
                    let href = if d == "—" {
                        "/ui/overdue".to_owned()
                    } else {
                        format!("/ui/overdue?department={}", encode(d))
                    };
                    Row {
                        name: d.clone(),
                        href: Some(href.clone()),
                        cells: cells(c, &href),
                    }
                })
                .collect();
            table(lang.t("overdue_by_department"), &headers, &rows, true)
        }
        _ => html! {},
    }
}

/// One page of each list: `limit` rows after the first `offset` of its kind (the
/// page parameters of `pages`), with the list's total in its heading, and page links
/// when `paged`.
async fn lists(
    ctx: &Ctx,
    scope: &Scope,
    now: DateTime<Utc>,
    totals: [i64; 3],
    limit: i64,
    paged: bool,
) -> PageResult {
    let lang = ctx.lang;
    let pool = ctx.web.state.log.pool();
    let names = names(ctx).await?;
    let name = |id: &Uuid| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut pages = [1_i64; 3];
    if paged {
        for (page, (_, _, param)) in pages.iter_mut().zip(KINDS) {
            *page = page_number(ctx, param)?;
        }
    }
    let offset = |kind: usize| (pages[kind] - 1) * limit;
    let tasks = crm_projections::tasks::overdue_tasks_page(
        pool,
        now,
        &scope.tasks(),
        Some(limit),
        offset(0),
    )
    .await
    .map_err(projection_error)?;
    let deals = crm_projections::deals::overdue_page(
        pool,
        now.date_naive(),
        scope.managers(),
        Some(limit),
        offset(1),
    )
    .await
    .map_err(projection_error)?;
    let leads = crm_projections::leads::overdue_leads_page(
        pool,
        now,
        SLA_MINUTES,
        scope.managers(),
        Some(limit),
        offset(2),
    )
    .await
    .map_err(projection_error)?;
    let hidden = ctx.web.state.hidden.of(&ctx.actor);
    let task_rows: Vec<Row> = tasks
        .iter()
        .map(|t| Row {
            name: t.title.clone(),
            href: t
                .client_id
                .map(|c| format!("/ui/clients/{c}"))
                .or_else(|| t.deal_id.map(|d| format!("/ui/deals/{d}"))),
            cells: vec![
                Cell::new(t.assignee_id, name(&t.assignee_id)),
                Cell::new(t.due_at.to_rfc3339(), when(&t.due_at)),
                Cell::new(t.overdue_seconds, span(lang, t.overdue_seconds)),
            ],
        })
        .collect();
    let deal_rows: Vec<Row> = deals
        .iter()
        .map(|d| Row {
            name: d.title.clone(),
            href: Some(format!("/ui/deals/{}", d.deal_id)),
            cells: vec![
                Cell::new(d.manager_id, name(&d.manager_id)),
                money(ctx, i128::from(d.amount)),
                Cell::new(d.expected_close_on, d.expected_close_on.to_string()),
                Cell::count(i64::from(d.days_overdue)),
            ],
        })
        .collect();
    let lead_rows: Vec<Row> = leads
        .iter()
        .map(|l| Row {
            name: if hidden.hides_lead("name") {
                "—".into()
            } else {
                l.name.clone()
            },
            href: None,
            cells: vec![
                Cell::new(&l.source, l.source.clone()),
                Cell::maybe(l.manager_id, |m| name(m)),
                Cell::new(l.received_at.to_rfc3339(), when(&l.received_at)),
                Cell::new(l.waiting_seconds, span(lang, l.waiting_seconds)),
            ],
        })
        .collect();
    let headers: [Vec<&str>; 3] = [
        vec![
            lang.t("title"),
            lang.t("manager"),
            lang.t("due_at"),
            lang.t("overdue_for"),
        ],
        vec![
            lang.t("title"),
            lang.t("manager"),
            lang.t("amount"),
            lang.t("expected_close_on"),
            lang.t("days_overdue"),
        ],
        vec![
            lang.t("name"),
            lang.t("source"),
            lang.t("manager"),
            lang.t("received_at"),
            lang.t("waiting"),
        ],
    ];
    let rows = [task_rows, deal_rows, lead_rows];
    let none = ["no_overdue_tasks", "no_overdue_deals", "no_waiting_leads"];
    Ok(html! {
        @for (kind, (id, word, param)) in KINDS.iter().enumerate() {
            section id=(id) {
                h2 { (lang.t(word)) " (" (totals[kind]) ")" }
                @if totals[kind] == 0 { (empty(lang.t(none[kind]))) } @else {
                    (table(lang.t(word), &headers[kind], &rows[kind], true))
                    @if paged {
                        (pager(ctx, scope, param, id, pages, kind, totals[kind], limit))
                    } @else if totals[kind] > limit {
                        p { a href={ "/ui/overdue?" (scope.query.trim_start_matches('&')) "#" (id) } { (lang.t("all_overdue")) " (" (totals[kind]) ")" } }
                    }
                }
            }
        }
    })
}

/// The page number asked for in `param` (1 when none).
fn page_number(ctx: &Ctx, param: &str) -> Result<i64, ApiError> {
    match ctx.param(param) {
        None | Some("") => Ok(1),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{param} must be a page number from 1"),
                )
            }),
    }
}

/// The page links of list `kind`: the other lists stay on their pages.
#[allow(clippy::too_many_arguments)]
fn pager(
    ctx: &Ctx,
    scope: &Scope,
    param: &str,
    id: &str,
    pages: [i64; 3],
    kind: usize,
    total: i64,
    limit: i64,
) -> Markup {
    let lang = ctx.lang;
    let last = ((total + limit - 1) / limit).max(1);
    let current = pages[kind];
    let href = |n: i64| {
        let others: String = KINDS
            .iter()
            .zip(pages)
            .enumerate()
            .filter(|(k, ((_, _, _), p))| *k != kind && *p > 1)
            .map(|(_, ((_, _, other), p))| format!("&{other}={p}"))
            .collect();
        format!("/ui/overdue?{param}={n}{others}{}#{id}", scope.query)
    };
    html! {
        nav.pager aria-label=(lang.t("pages")) data-list=(id) {
            @if current > 1 {
                a href=(href(1)) { (lang.t("first_page")) }
                a rel="prev" href=(href(current - 1)) { (lang.t("previous_page")) }
            }
            span { (lang.t("page")) " " (current) " / " (last) }
            @if current < last {
                a rel="next" href=(href(current + 1)) { (lang.t("next_page")) }
                a href=(href(last)) { (lang.t("last_page")) }
            }
        }
    }
}

/// The overdue summary and the most overdue few, for the home of `reach`.
pub async fn home_block(ctx: &Ctx, reach: Reach) -> PageResult {
    let lang = ctx.lang;
    let now = Utc::now();
    let scope = Scope::of_reach(reach);
    let counts = Counts::of(ctx, &scope, now).await?;
    let totals = counts.totals();
    let everyone = team(ctx, &Reach::All).await?;
    let names: HashMap<Uuid, String> = everyone
        .iter()
        .map(|m| (m.manager_id, m.name.clone()))
        .collect();
    let lists = lists(ctx, &scope, now, totals, HOME_ROWS, false).await?;
    Ok(html! {
        section #overdue-summary {
            h2 { (lang.t("overdue")) }
            (totals_block(lang, totals, ""))
            (breakdown(ctx, &counts, &everyone, &names))
            p { a href="/ui/overdue" { (lang.t("all_overdue")) } }
        }
        (lists)
    })
}

impl Scope {
    /// The whole reach, narrowed to nothing.
    fn of_reach(reach: Reach) -> Scope {
        Scope {
            managers: reach.managers().map(<[Uuid]>::to_vec),
            narrowed: false,
            reach,
            query: String::new(),
        }
    }
}

/// `GET /ui/overdue[?manager_id= or department=][&tasks_page=&deals_page=&leads_page=]`.
pub async fn overdue(ctx: Ctx) -> Response {
    let result = overdue_page(&ctx).await;
    answer(&ctx, result)
}

async fn overdue_page(ctx: &Ctx) -> PageResult {
    ctx.may(layout::SALES)?;
    let lang = ctx.lang;
    let reach = ctx.reach().await?;
    ctx.reflects(crm_projections::tasks::NAME).await?;
    let now = Utc::now();
    let scope = Scope::of(ctx, reach).await?;
    let counts = Counts::of(ctx, &scope, now).await?;
    let totals = counts.totals();
    let everyone = team(ctx, &Reach::All).await?;
    let names: HashMap<Uuid, String> = everyone
        .iter()
        .map(|m| (m.manager_id, m.name.clone()))
        .collect();
    let lists = lists(ctx, &scope, now, totals, PER_PAGE, true).await?;
    let narrowed_to = ctx
        .uuid("manager_id")?
        .map(|id| names.get(&id).cloned().unwrap_or_else(|| id.to_string()))
        .or_else(|| ctx.param("department").map(str::to_owned));
    Ok(page(
        ctx,
        lang.t("overdue"),
        html! {
            h1 { (lang.t("overdue")) @if let Some(n) = &narrowed_to { ": " (n) } }
            @if narrowed_to.is_some() { p { a href="/ui/overdue" { (lang.t("all_overdue")) } } }
            (totals_block(lang, totals, &scope.query))
            @if narrowed_to.is_none() { (breakdown(ctx, &counts, &everyone, &names)) }
            (lists)
        },
    ))
}
