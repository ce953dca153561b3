//! `crm token create` and `crm token revoke`: bearer tokens made and revoked by the
//! operator, stored hashed.

use anyhow::Context;
use clap::Subcommand;
use crm_eventlog::EventLog;
use uuid::Uuid;

/// The `crm token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it (it is stored hashed and cannot be shown again).
    Create {
        /// The manager the token acts for; its role is the manager's.
        #[arg(long, conflicts_with = "role", required_unless_present = "role")]
        manager: Option<Uuid>,
        /// A token without a manager, with this role (e.g. `admin`, `auditor`).
        #[arg(long)]
        role: Option<String>,
        /// A note on what the token is for.
        #[arg(long)]
        label: Option<String>,
        /// The token stops working after this many days (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revokes tokens: the one given, or every token with a label or of a manager.
    Revoke {
        /// The token itself.
        #[arg(conflicts_with_all = ["label", "manager"], required_unless_present_any = ["label", "manager"])]
        token: Option<String>,
        /// Every token with this label.
        #[arg(long, conflicts_with = "manager")]
        label: Option<String>,
        /// Every token of this manager (a manager who left, say).
        #[arg(long)]
        manager: Option<Uuid>,
    },
}

/// Runs `which` on `log`, printing the token made or how many were revoked.
pub async fn run(log: &EventLog, which: &TokenCommand) -> anyhow::Result<()> {
    match which {
        TokenCommand::Create {
            manager,
            role,
            label,
            expires_in_days,
        } => {
            let role = match (manager, role) {
                (Some(id), _) => manager_role(log, *id).await?,
                (None, Some(role)) => role.clone(),
                (None, None) => anyhow::bail!("give --manager or --role"),
            };
            if crm_api::access::Role::parse(&role).is_none() {
                anyhow::bail!(
                    "unknown role {role:?}: manager, head, director, admin, auditor or analyst"
                );
            }
            let expires_at = expires_in_days
                .map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
            let token = crm_api::auth::create_expiring_token(
                log.pool(),
                *manager,
                &role,
                label.as_deref(),
                expires_at,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{token}");
        }
        TokenCommand::Revoke {
            token,
            label,
            manager,
        } => {
            let which = match (token, label, manager) {
                (Some(token), _, _) => crm_api::auth::Revoke::Token(token.clone()),
                (None, Some(label), _) => crm_api::auth::Revoke::Label(label.clone()),
                (None, None, Some(id)) => crm_api::auth::Revoke::Manager(*id),
                (None, None, None) => anyhow::bail!("give a token, --label or --manager"),
            };
            let revoked = crm_api::auth::revoke_tokens(log.pool(), &which)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("revoked {revoked} token(s)");
        }
    }
    Ok(())
}

/// The role a manager was registered with, read from the log; refused when the log
/// does not register him or he was deactivated (a token acting for him could never
/// authenticate).
async fn manager_role(log: &EventLog, id: Uuid) -> anyhow::Result<String> {
    use crm_domain::manager::ManagerState;
    use crm_domain::{Aggregate, DomainEvent, EntityKind};
    let stream = EntityKind::Manager.stream(id);
    let stored = log
        .read_stream_after(&stream, 0)
        .await
        .with_context(|| format!("manager {id}"))?;
    let mut events = Vec::with_capacity(stored.len());
    for e in stored {
        let event = DomainEvent::from_stored(&e.event_type, e.schema_version, e.data)
            .with_context(|| format!("event at position {} of {stream}", e.position))?;
        events.push(event);
    }
    match ManagerState::fold(&events).manager {
        None => anyhow::bail!(
            "manager {id} is not registered: register him first (POST /managers); no token made"
        ),
        Some(m) if !m.active => anyhow::bail!(
            "manager {id} ({}) is deactivated: a token acting for him could never authenticate; no token made",
            m.name
        ),
        Some(m) => Ok(m.role.name().to_owned()),
    }
}
