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
//! A command is checked in three steps (`crate::command::execute` runs them):
//! [`may_command`], the role, before anything is read; [`may_name`], each entity
//! the command loads, as it stands, before deciding; [`may_leave`], each stream
//! the events are appended to, as it will stand after (a member of the team by
//! [`may_shape_team`]: a head shapes only the managers of his department).

use std::any::Any;
use std::collections::HashMap;

use crm_domain::manager::ManagerState;
use crm_domain::{Aggregate, DomainEvent, EntityKind};
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::read_model::projection_error;
use crate::state::AppState;

pub use crm_domain::values::Role;

impl Actor {
    /// The actor's role; None for a token whose role the contract does not know
    /// (it may do nothing but authenticate).
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    /// Ok when the actor's role is one of `roles`, else a 403 saying what `doing` takes.
    pub fn require(&self, roles: &[Role], doing: &str) -> Result<Role, ApiError> {
        match self.role() {
            Some(role) if roles.contains(&role) => Ok(role),
            _ => {
                let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                Err(ApiError::forbidden(format!(
                    "{doing} takes a token of role {}; this one is `{}`",
                    names.join(", "),
                    self.role
                )))
            }
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
    ApiError::Forbidden {
        code: "out_of_reach",
        detail: format!("{what} is outside what this token may see or change"),
    }
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
    match (actor.role(), actor.manager_id) {
        (Some(Role::Director | Role::Admin | Role::Auditor | Role::Analyst), _) => Ok(Reach::All),
        (Some(Role::Manager), Some(me)) => Ok(Reach::Managers(vec![me])),
        (Some(Role::Head), Some(me)) => {
            let mut members = crm_projections::managers::department_members(state.log.pool(), me)
                .await
                .map_err(projection_error)?;
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
/// pipelines, custom projections and exports, which no manager answers for: the
/// role alone decides those.
pub fn reach_applies(kind: EntityKind) -> bool {
    !matches!(
        kind,
        EntityKind::Pipeline | EntityKind::Projection | EntityKind::Export
    )
}

/// Who answers for an entity after some events of its stream.
type After = Box<dyn Fn(&[&DomainEvent]) -> Vec<Uuid> + Send + Sync>;

/// An entity a command loaded: who will answer for it after the command's events,
/// and, for a member of the team, the member as loaded.
pub struct Touched {
    after: After,
    member: Option<ManagerState>,
}

impl Touched {
    /// The entity in `state`, as the command loaded it.
    pub fn of<S>(state: S) -> Self
    where
        S: crm_domain::Aggregate + Send + Sync + 'static,
    {
        let member = (&state as &dyn Any).downcast_ref::<ManagerState>().cloned();
        Touched {
            after: Box::new(move |events| {
                events
                    .iter()
                    .fold(state.clone(), |s, e| s.evolve(e))
                    .responsible()
            }),
            member,
        }
    }
}

/// The roles that may run a command about an entity of `kind`.
fn command_roles(kind: EntityKind) -> (&'static [Role], &'static str) {
    match kind {
        EntityKind::Projection => (
            &[Role::Analyst, Role::Director, Role::Admin],
            "defining custom projections",
        ),
        EntityKind::Pipeline => (&[Role::Director, Role::Admin], "defining pipelines"),
        EntityKind::Export => (EXPORTERS, "exporting the base"),
        EntityKind::Manager => (
            &[Role::Head, Role::Director, Role::Admin],
            "managing the sales team",
        ),
        _ => (
            ACTORS,
            "changing clients, leads, deals, tasks and interactions",
        ),
    }
}

/// Ok when `actor`'s role runs commands about an entity of `kind`, else a 403.
pub fn may_command(actor: &Actor, kind: EntityKind) -> Result<(), ApiError> {
    let (roles, doing) = command_roles(kind);
    actor.require(roles, doing).map(|_| ())
}

/// Ok when a command may name the entity `stream` of `kind` as it stands: it does
/// not exist (the domain will say so), or `reach` covers who answers for it.
pub fn may_name(
    reach: &Reach,
    kind: EntityKind,
    stream: &str,
    exists: bool,
    responsible: &[Uuid],
) -> Result<(), ApiError> {
    if !exists || !reach_applies(kind) || reach.covers(responsible) {
        Ok(())
    } else {
        Err(out_of_reach(stream))
    }
}

/// Ok when every stream `events` are appended to was loaded by the command (in
/// `touched`) and, when the actor's reach is limited, is within `reach` as it will
/// stand after the events: a manager cannot hand his client away, a head cannot
/// move work out of his department. A member of the team is judged by
/// [`may_shape_team`] instead, with `department`, the actor's own (as the log says).
pub fn may_leave(
    reach: &Reach,
    department: Option<&str>,
    events: &[DomainEvent],
    touched: &HashMap<String, Touched>,
) -> Result<(), ApiError> {
    let mut by_stream: Vec<(String, EntityKind, Vec<&DomainEvent>)> = Vec::new();
    for event in events {
        let stream = event.stream();
        match by_stream.iter_mut().find(|(s, _, _)| *s == stream) {
            Some((_, _, list)) => list.push(event),
            None => by_stream.push((stream, event.entity().0, vec![event])),
        }
    }
    for (stream, kind, list) in by_stream {
        let Some(entity) = touched.get(&stream) else {
            // A handler's defect, not the caller's: it must load what it writes.
            return Err(ApiError::Internal(format!(
                "a command appends to {stream} without having loaded it"
            )));
        };
        if *reach == Reach::All || !reach_applies(kind) {
            continue;
        }
        if let Some(member) = &entity.member {
            may_shape_team(department, member, &list)?;
        } else if !reach.covers(&(entity.after)(&list)) {
            return Err(ApiError::Forbidden {
                code: "out_of_reach",
                detail: format!(
                    "after this command {stream} would be outside what this token may see or change"
                ),
            });
        }
    }
    Ok(())
}

/// Ok when an actor whose reach is limited to `department` (a head's: None when he
/// has none) may append `events` to the stream of team member `before`: the member
/// is, before (when registered) and after the events, of role `manager` in that
/// department. So a head registers managers into his own department only, gives no
/// other role (a head, director, admin, auditor or analyst is made by a director or
/// an admin), and deactivates only the managers of his department; any later
/// command that moves a member to another department or changes a role is judged
/// the same way. Directors and admins reach the whole company and shape all of it.
pub fn may_shape_team(
    department: Option<&str>,
    before: &ManagerState,
    events: &[&DomainEvent],
) -> Result<(), ApiError> {
    let after = events.iter().fold(before.clone(), |s, e| s.evolve(e));
    for member in before.manager.iter().chain(after.manager.iter()) {
        if Some(member.department.as_str()) != department {
            return Err(ApiError::Forbidden {
                code: "out_of_reach",
                detail: format!(
                    "manager {} is of department {:?}: a head manages his own department only",
                    member.id, member.department
                ),
            });
        }
        if member.role != Role::Manager {
            return Err(ApiError::Forbidden {
                code: "forbidden",
                detail: format!(
                    "manager {} is of role `{}`: a head registers and deactivates managers of \
                     role `manager` only; other roles are a director's or an admin's to give",
                    member.id,
                    member.role.name()
                ),
            });
        }
    }
    if after.manager.is_none() {
        // Events on the stream of someone no one registered: nobody's to shape.
        return Err(out_of_reach("a member of the team no one registered"));
    }
    Ok(())
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
    if limit > BULK_PAGE && matches!(actor.role(), Some(Role::Manager | Role::Head) | None) {
        return Err(ApiError::Forbidden {
            code: "bulk_export_refused",
            detail: format!(
                "pages of more than {BULK_PAGE} items are a bulk export of the base, which this token may not make"
            ),
        });
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crm_domain::client::ClientState;
    use crm_domain::events::{ClientReassigned, ClientRegistered};
    use crm_domain::values::ClientKind;
    use crm_domain::Aggregate;

    use super::*;

    fn client_of(client_id: Uuid, manager_id: Uuid) -> ClientState {
        ClientState::fold(&[DomainEvent::ClientRegistered(ClientRegistered {
            client_id,
            name: "Acme".into(),
            kind: ClientKind::Company,
            size: None,
            industry: None,
            region: None,
            source: None,
            manager_id,
            contacts: vec![],
        })])
    }

    #[test]
    fn a_command_names_only_what_exists_within_reach_or_belongs_to_nobody() {
        let (mine, theirs) = (Uuid::new_v4(), Uuid::new_v4());
        let reach = Reach::Managers(vec![mine]);
        let client = |m| client_of(Uuid::new_v4(), m).responsible();
        assert!(may_name(&reach, EntityKind::Client, "c", true, &client(mine)).is_ok());
        let refused = may_name(&reach, EntityKind::Client, "c", true, &client(theirs));
        assert!(matches!(
            refused,
            Err(ApiError::Forbidden {
                code: "out_of_reach",
                ..
            })
        ));
        // Nothing there yet: the domain says what is wrong.
        assert!(may_name(&reach, EntityKind::Client, "c", false, &[]).is_ok());
        // Pipelines are nobody's; the whole company is everybody's.
        assert!(may_name(&reach, EntityKind::Pipeline, "p", true, &[]).is_ok());
        assert!(may_name(&Reach::All, EntityKind::Client, "c", true, &client(theirs)).is_ok());
    }

    #[test]
    fn a_head_registers_and_deactivates_only_managers_of_his_department() {
        use crm_domain::events::{ManagerDeactivated, ManagerRegistered};
        let id = Uuid::new_v4();
        let registered = |department: &str, role| {
            DomainEvent::ManagerRegistered(ManagerRegistered {
                manager_id: id,
                name: "New".into(),
                email: None,
                department: department.into(),
                role,
            })
        };
        let code = |result: Result<(), ApiError>| match result {
            Ok(()) => "ok",
            Err(ApiError::Forbidden { code, .. }) => code,
            Err(other) => panic!("{other:?}"),
        };
        let nobody = ManagerState::default();
        let shape = |department, before: &ManagerState, event: &DomainEvent| {
            code(may_shape_team(department, before, &[event]))
        };
        let north = Some("North");
        assert_eq!(
            shape(north, &nobody, &registered("North", Role::Manager)),
            "ok"
        );
        assert_eq!(
            shape(north, &nobody, &registered("South", Role::Manager)),
            "out_of_reach"
        );
        assert_eq!(
            shape(None, &nobody, &registered("North", Role::Manager)),
            "out_of_reach"
        );
        for role in [
            Role::Head,
            Role::Director,
            Role::Admin,
            Role::Auditor,
            Role::Analyst,
        ] {
            assert_eq!(
                shape(north, &nobody, &registered("North", role)),
                "forbidden"
            );
        }
        let leaving = DomainEvent::ManagerDeactivated(ManagerDeactivated { manager_id: id });
        let member = |department, role| ManagerState::fold([&registered(department, role)]);
        assert_eq!(
            shape(north, &member("North", Role::Manager), &leaving),
            "ok"
        );
        assert_eq!(
            shape(north, &member("North", Role::Head), &leaving),
            "forbidden"
        );
        assert_eq!(
            shape(north, &member("South", Role::Manager), &leaving),
            "out_of_reach"
        );
    }

    #[test]
    fn a_stream_written_must_have_been_loaded_and_stay_within_reach() {
        let (mine, theirs, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let reach = Reach::Managers(vec![mine]);
        let handed = |to| {
            vec![DomainEvent::ClientReassigned(ClientReassigned {
                client_id: id,
                from_manager_id: mine,
                to_manager_id: to,
            })]
        };
        let loaded = || {
            HashMap::from([(
                EntityKind::Client.stream(id),
                Touched::of(client_of(id, mine)),
            )])
        };
        assert!(may_leave(&reach, None, &handed(mine), &loaded()).is_ok());
        assert!(matches!(
            may_leave(&reach, None, &handed(theirs), &loaded()),
            Err(ApiError::Forbidden {
                code: "out_of_reach",
                ..
            })
        ));
        assert!(may_leave(&Reach::All, None, &handed(theirs), &loaded()).is_ok());
        // A handler that appends to a stream it never loaded is a defect, whoever asks.
        for reach in [reach, Reach::All] {
            assert!(matches!(
                may_leave(&reach, None, &handed(mine), &HashMap::new()),
                Err(ApiError::Internal(_))
            ));
        }
    }
}
