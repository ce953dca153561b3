//! Who may see and do what: the roles of the contract, and the managers whose
//! clients, leads, deals and tasks a token reaches.
//!
//! A `manager` reaches what he answers for (his clients, leads and deals, the tasks
//! he is assignee or co-executor of; the tasks he observes he reads, and does not
//! change); a `head` what his department's managers answer for; `director` and
//! `admin` everything. An `auditor` reads
//! everything (the log and exports included) and changes nothing; an `analyst`
//! reads reports and custom projections, no personal data.
//!
//! A command is checked against these in three steps, by the command path
//! (`crate::commands::authorize`): the role, before anything is read; each entity
//! the command loads, as it stands, before deciding; each stream the events are
//! appended to, as it will stand after.

use crm_domain::EntityKind;
use crm_projections::ProjectionError;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;
use crate::read_model::projection_error;
use crate::state::AppState;

pub use crm_domain::values::Role;

/// Who sends a request or runs a command: the owner of a bearer token (or the
/// operator of the `crm` binary, acting as a role).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    /// The manager the token acts for, if any.
    pub manager_id: Option<Uuid>,
    /// The token's role.
    pub role: Role,
}

impl Actor {
    /// How the actor is named in event metadata: the manager id, or `role:<role>`.
    pub fn name(&self) -> String {
        match self.manager_id {
            Some(id) => id.to_string(),
            None => format!("role:{}", self.role.name()),
        }
    }

    /// Ok when the actor's role is one of `roles`, else a refusal saying what `doing` takes.
    pub fn require(&self, roles: &[Role], doing: &str) -> Result<Role, Refused> {
        if roles.contains(&self.role) {
            return Ok(self.role);
        }
        let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        Err(Refused::forbidden(format!(
            "{doing} takes a token of role {}; this one is `{}`",
            names.join(", "),
            self.role.name()
        )))
    }
}

/// A 403: what the actor may not see or do, with its stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Refused {
    /// Stable machine word: `forbidden`, `out_of_reach`, …
    pub code: &'static str,
    /// What is refused and why, for a person.
    pub detail: String,
}

impl Refused {
    /// A refusal with code `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Refused {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    /// The refusal of an entity or a manager's work outside the actor's reach.
    pub fn out_of_reach(what: &str) -> Self {
        Refused {
            code: "out_of_reach",
            detail: format!("{what} is outside what this token may see or change"),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        ApiError::Forbidden {
            code: refused.code,
            detail: refused.detail,
        }
    }
}

/// Roles that read clients, leads, deals and tasks (each within its reach).
pub const ENTITY_READERS: &[Role] = &[
    Role::Manager,
    Role::Head,
    Role::Director,
    Role::Admin,
    Role::Auditor,
];

/// Roles that run commands on clients, leads, deals, tasks and interactions.
pub const ACTORS: &[Role] = &[Role::Manager, Role::Head, Role::Director, Role::Admin];

/// Roles that read the whole log: the feed, every stream, the audit.
pub const LOG_READERS: &[Role] = &[Role::Director, Role::Admin, Role::Auditor];

/// Roles that export the base.
pub const EXPORTERS: &[Role] = &[Role::Admin, Role::Auditor];

/// Roles that read custom projections' rows (company-wide figures).
pub const CUSTOM_READERS: &[Role] = &[Role::Analyst, Role::Director, Role::Admin, Role::Auditor];

/// The managers whose work an actor reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The whole company.
    All,
    /// What these managers answer for (none: nothing).
    Managers(Vec<Uuid>),
}

impl Reach {
    /// Does the actor reach an entity these managers answer for?
    pub fn covers(&self, responsible: &[Uuid]) -> bool {
        match self {
            Reach::All => true,
            Reach::Managers(mine) => responsible.iter().any(|m| mine.contains(m)),
        }
    }

    /// Does the actor reach the work of `manager_id`?
    pub fn covers_manager(&self, manager_id: Uuid) -> bool {
        self.covers(&[manager_id])
    }

    /// The managers a query is limited to (None: no limit), narrowed to `manager_id`
    /// when the query names one: a manager out of reach is a 403.
    pub fn narrow(&self, manager_id: Option<Uuid>) -> Result<Option<Vec<Uuid>>, ApiError> {
        match (self, manager_id) {
            (_, Some(id)) if self.covers_manager(id) => Ok(Some(vec![id])),
            (_, Some(id)) => Err(out_of_reach(&format!("manager {id}'s work"))),
            (Reach::All, None) => Ok(None),
            (Reach::Managers(mine), None) => Ok(Some(mine.clone())),
        }
    }

    /// The managers a query is limited to (None: no limit).
    pub fn managers(&self) -> Option<&[Uuid]> {
        match self {
            Reach::All => None,
            Reach::Managers(mine) => Some(mine),
        }
    }
}

/// The 403 for an entity or a manager's work outside the actor's reach.
pub fn out_of_reach(what: &str) -> ApiError {
    Refused::out_of_reach(what).into()
}

/// The entity `what` read as `row`: a 404 when there is none, a 403 when the actor
/// reaches none of the managers who answer for it (`responsible`).
pub fn within_reach<T>(
    reach: &Reach,
    what: &str,
    row: Option<T>,
    responsible: impl FnOnce(&T) -> Vec<Uuid>,
) -> Result<T, ApiError> {
    let row = row.ok_or_else(|| ApiError::NotFound {
        what: what.to_owned(),
    })?;
    if reach.covers(&responsible(&row)) {
        Ok(row)
    } else {
        Err(out_of_reach(what))
    }
}

/// What `actor` reaches: everything for directors, admins, auditors and analysts;
/// his own work for a manager; his department's for a head (read from the
/// registered managers).
pub async fn reach(state: &AppState, actor: &Actor) -> Result<Reach, ApiError> {
    reach_in(state.log.pool(), actor)
        .await
        .map_err(projection_error)
}

/// [`reach`], read from the database of `pool` (the registered managers of a
/// head's department come from the `manager_kpis` read model).
pub async fn reach_in(pool: &PgPool, actor: &Actor) -> Result<Reach, ProjectionError> {
    match (actor.role, actor.manager_id) {
        (Role::Director | Role::Admin | Role::Auditor | Role::Analyst, _) => Ok(Reach::All),
        (Role::Manager, Some(me)) => Ok(Reach::Managers(vec![me])),
        (Role::Head, Some(me)) => {
            let mut members = crm_projections::managers::department_members(pool, me).await?;
            if !members.contains(&me) {
                members.push(me);
            }
            Ok(Reach::Managers(members))
        }
        _ => Ok(Reach::Managers(Vec::new())),
    }
}

/// The reach of an actor who reads clients, leads, deals or tasks: a 403 for the
/// roles that do not.
pub async fn entity_reach(state: &AppState, actor: &Actor) -> Result<Reach, ApiError> {
    actor.require(ENTITY_READERS, "reading clients, leads, deals and tasks")?;
    reach(state, actor).await
}

/// Does reach decide who may name an entity of `kind` in a command? Not for
/// pipelines, custom projections, exports, automation rules and products, which no
/// manager answers for: the role alone decides those. Nor for invoices and
/// shipments, which are their deal's: each of their events names the deal, which
/// the command path loads within reach.
pub fn reach_applies(kind: EntityKind) -> bool {
    !matches!(
        kind,
        EntityKind::Pipeline
            | EntityKind::Projection
            | EntityKind::Export
            | EntityKind::Rule
            | EntityKind::Product
            | EntityKind::Invoice
            | EntityKind::Shipment
    )
}

/// The reach of an actor who reads reports: every role, each within its reach.
pub async fn report_reach(state: &AppState, actor: &Actor) -> Result<Reach, ApiError> {
    actor.require(&Role::ALL, "reading reports")?;
    reach(state, actor).await
}

/// The largest page of a list a manager or head may ask for: more is a bulk export
/// of the base, refused to them.
pub const BULK_PAGE: i64 = 200;

/// The page size of a list the actor asked for (default 100, at most 1000): past
/// [`BULK_PAGE`] a 403 `bulk_export_refused` for managers and heads.
pub fn list_limit(actor: &Actor, limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = crate::paging::page_limit(limit)?;
    if limit > BULK_PAGE && matches!(actor.role, Role::Manager | Role::Head) {
        return Err(ApiError::Forbidden {
            code: "bulk_export_refused",
            detail: format!(
                "pages of more than {BULK_PAGE} items are a bulk export of the base, which this token may not make"
            ),
        });
    }
    Ok(limit)
}
