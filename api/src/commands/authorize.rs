//! The command path's authorization (who may run a command, name an entity, write a
//! stream), in three steps that [`super::execute`] runs: [`may_command`], the role,
//! before anything is read; [`may_name`], each entity the command loads, as it
//! stands, before deciding; [`may_leave`], each stream the events are appended to,
//! as it will stand after (a member of the team by [`may_shape_team`]: a head
//! shapes only the managers of his department). Roles and reach are
//! `crate::access`'s.

use std::any::Any;
use std::collections::HashMap;

use crm_domain::manager::ManagerState;
use crm_domain::{Aggregate, DomainEvent, EntityKind};
use uuid::Uuid;

use super::CommandError;
use crate::access::{reach_applies, Actor, Reach, Refused, Role, ACTORS, EXPORTERS};

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
        EntityKind::Rule => (&[Role::Director, Role::Admin], "defining automation rules"),
        EntityKind::Product => (&[Role::Director, Role::Admin], "defining products"),
        EntityKind::Plan => (
            &[Role::Head, Role::Director, Role::Admin],
            "setting managers' plans",
        ),
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
pub fn may_command(actor: &Actor, kind: EntityKind) -> Result<(), Refused> {
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
) -> Result<(), Refused> {
    if !exists || !reach_applies(kind) || reach.covers(responsible) {
        Ok(())
    } else {
        Err(Refused::out_of_reach(stream))
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
) -> Result<(), CommandError> {
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
            return Err(CommandError::internal(format!(
                "a command appends to {stream} without having loaded it"
            )));
        };
        if *reach == Reach::All || !reach_applies(kind) {
            continue;
        }
        if let Some(member) = &entity.member {
            may_shape_team(department, member, &list)?;
        } else if !reach.covers(&(entity.after)(&list)) {
            return Err(Refused {
                code: "out_of_reach",
                detail: format!(
                    "after this command {stream} would be outside what this token may see or change"
                ),
            }
            .into());
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
) -> Result<(), Refused> {
    let after = events.iter().fold(before.clone(), |s, e| s.evolve(e));
    for member in before.manager.iter().chain(after.manager.iter()) {
        if Some(member.department.as_str()) != department {
            return Err(Refused {
                code: "out_of_reach",
                detail: format!(
                    "manager {} is of department {:?}: a head manages his own department only",
                    member.id, member.department
                ),
            });
        }
        if member.role != Role::Manager {
            return Err(Refused {
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
        return Err(Refused::out_of_reach(
            "a member of the team no one registered",
        ));
    }
    Ok(())
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
            Err(Refused {
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
        let code = |result: Result<(), Refused>| match result {
            Ok(()) => "ok",
            Err(Refused { code, .. }) => code,
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
            Err(CommandError::Forbidden(Refused {
                code: "out_of_reach",
                ..
            }))
        ));
        assert!(may_leave(&Reach::All, None, &handed(theirs), &loaded()).is_ok());
        // A handler that appends to a stream it never loaded is a defect, whoever asks.
        for reach in [reach, Reach::All] {
            assert!(matches!(
                may_leave(&reach, None, &handed(mine), &HashMap::new()),
                Err(CommandError::Internal(_))
            ));
        }
    }
}
