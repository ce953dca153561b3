//! The page shell: the top bar (name, role, language, logout), the menu of the pages
//! the role may open, the main content (which the live refresh swaps).

use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::i18n::Lang;
use super::page::{encode, Ctx};
use crate::access::Role;

/// A page of the menu: its address, its word, the roles that may open it.
pub struct MenuItem {
    /// The address.
    pub href: &'static str,
    /// The word's key.
    pub key: &'static str,
    /// Who may open it.
    pub roles: &'static [Role],
}

use Role::{Admin, Analyst, Auditor, Director, Head, Manager};

/// Roles that read reports of sales work.
pub const SALES: &[Role] = &[Manager, Head, Director, Admin, Analyst];
/// Roles of heads and above.
pub const HEADS: &[Role] = &[Head, Director, Admin, Analyst];
/// Roles that see company revenue.
pub const COMPANY: &[Role] = &[Director, Admin, Analyst];
/// Roles that read clients, leads, deals and tasks.
pub const ENTITIES: &[Role] = crate::access::ENTITY_READERS;
/// Roles that read the log and its verification.
pub const AUDIT: &[Role] = crate::access::LOG_READERS;
/// Roles that read the read models' status and custom projections.
pub const PROJECTIONS: &[Role] = &[Analyst, Director, Admin, Auditor];
/// Roles that define automation rules.
pub const RULES: &[Role] = &[Director, Admin];
/// Roles that read likely duplicate clients and merge them (`crate::access::ACTORS`).
pub const MERGERS: &[Role] = crate::access::ACTORS;
/// Roles that define custom projections.
pub const DEFINERS: &[Role] = &[Analyst, Director, Admin];

/// Every page of the menu, in order.
pub const MENU: &[MenuItem] = &[
    MenuItem {
        href: "/ui",
        key: "home",
        roles: &[Manager, Head, Director, Admin, Auditor, Analyst],
    },
    MenuItem {
        href: "/ui/funnel",
        key: "funnel",
        roles: SALES,
    },
    MenuItem {
        href: "/ui/managers",
        key: "managers",
        roles: SALES,
    },
    MenuItem {
        href: "/ui/overdue",
        key: "overdue",
        roles: SALES,
    },
    MenuItem {
        href: "/ui/conversion",
        key: "conversion",
        roles: HEADS,
    },
    MenuItem {
        href: "/ui/loss-reasons",
        key: "loss_reasons",
        roles: HEADS,
    },
    MenuItem {
        href: "/ui/forecast",
        key: "forecast",
        roles: SALES,
    },
    MenuItem {
        href: "/ui/revenue",
        key: "revenue",
        roles: COMPANY,
    },
    MenuItem {
        href: "/ui/clients",
        key: "clients",
        roles: ENTITIES,
    },
    MenuItem {
        href: "/ui/clients/duplicates",
        key: "duplicates",
        roles: MERGERS,
    },
    MenuItem {
        href: "/ui/deals",
        key: "deals",
        roles: ENTITIES,
    },
    MenuItem {
        href: "/ui/leads",
        key: "leads",
        roles: ENTITIES,
    },
    MenuItem {
        href: "/ui/tasks",
        key: "tasks",
        roles: ENTITIES,
    },
    MenuItem {
        href: "/ui/audit",
        key: "audit",
        roles: AUDIT,
    },
    MenuItem {
        href: "/ui/projections",
        key: "projections",
        roles: PROJECTIONS,
    },
    MenuItem {
        href: "/ui/automation",
        key: "automation",
        roles: RULES,
    },
];

/// The word for a role.
pub fn role_word(lang: Lang, role: &str) -> &'static str {
    match role {
        "manager" => lang.t("role_manager"),
        "head" => lang.t("role_head"),
        "director" => lang.t("role_director"),
        "admin" => lang.t("role_admin"),
        "auditor" => lang.t("role_auditor"),
        "analyst" => lang.t("role_analyst"),
        _ => "—",
    }
}

/// A whole page: `title` and `content` inside the shell.
pub fn page(ctx: &Ctx, title: &str, content: Markup) -> Markup {
    let lang = ctx.lang;
    let path = ctx.here.split('?').next().unwrap_or("/ui");
    let other = match lang {
        Lang::En => (Lang::Uk, "Українська"),
        Lang::Uk => (Lang::En, "English"),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(csrf) = &ctx.csrf { meta name="csrf-token" content=(csrf); }
                title { (title) " · CRM" }
                link rel="stylesheet" href=(assets::css_href());
                script src=(assets::js_href()) defer {}
            }
            body {
                a.skip href="#main" { (lang.t("skip")) }
                header.topbar {
                    a.brand href="/ui" { "CRM" }
                    span.who { strong { (ctx.name) } " · " span.role { (role_word(lang, ctx.actor.role.name())) } }
                    a.lang href={ "/ui/lang?to=" (other.0.code()) "&back=" (encode(&ctx.here)) } hreflang=(other.0.code()) lang=(other.0.code()) { (other.1) }
                    form.logout method="post" action="/auth/logout" {
                        button type="submit" { (lang.t("log_out")) }
                    }
                }
                nav.menu aria-label=(lang.t("menu")) {
                    ul {
                        @for item in MENU {
                            @if ctx.role.is_some_and(|r| item.roles.contains(&r)) {
                                li { a href=(item.href) aria-current=[(path == item.href).then_some("page")] { (lang.t(item.key)) } }
                            }
                        }
                    }
                }
                main #main data-live="1" tabindex="-1" {
                    (content)
                }
                footer { span.live-dot aria-hidden="true" {} " " span #live-status { (lang.t("live")) } }
            }
        }
    }
}
