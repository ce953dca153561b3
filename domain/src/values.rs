//! Small value types shared by events and commands: roles, client and interaction
//! kinds, directions, contacts and pipeline stages. Enums travel as snake_case strings.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A manager's role, which decides what the manager may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A salesperson.
    Manager,
    /// A head of a sales department.
    Head,
    /// The company's director.
    Director,
    /// An administrator of the system.
    Admin,
    /// An auditor reading the log.
    Auditor,
    /// An analyst building read models.
    Analyst,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Manager,
        Role::Head,
        Role::Director,
        Role::Admin,
        Role::Auditor,
        Role::Analyst,
    ];

    /// The role as the API spells it: `manager`, `head`, …
    pub fn name(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Head => "head",
            Role::Director => "director",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Analyst => "analyst",
        }
    }

    /// The role `text` spells; None for any other text.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == text)
    }
}

/// Whether a client is a company or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A company.
    Company,
    /// A private person.
    Person,
}

/// The channel of an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    /// A phone call.
    Call,
    /// An email.
    Email,
    /// A meeting.
    Meeting,
    /// A messenger message.
    Message,
}

/// Who started an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The client reached us.
    Inbound,
    /// We reached the client.
    Outbound,
}

/// A contact person of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The person's name.
    pub name: String,
    /// A phone number, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// An email address, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One stage of a pipeline, in pipeline order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// The stage's id, unique within the pipeline.
    pub stage_id: Uuid,
    /// The stage's name, unique within the pipeline.
    pub name: String,
    /// The probability of winning a deal at this stage, in 0..=1.
    pub probability: f64,
}
