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

/// A calendar month, `YYYY-MM` in JSON (a plan's month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month `month` (1–12) of `year` (1–9999), or None.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=9999).contains(&year) && (1..=12).contains(&month)).then_some(Month { year, month })
    }

    /// Reads `YYYY-MM` (four digits, a hyphen, two digits), or None.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?)
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month of the year, 1–12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// Its first day.
    pub fn first_day(self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Month::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a month YYYY-MM")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_month_reads_and_writes_as_yyyy_mm_only() {
        let month = Month::parse("2026-03").unwrap();
        assert_eq!((month.year(), month.month()), (2026, 3));
        assert_eq!(month.to_string(), "2026-03");
        assert_eq!(serde_json::to_value(month).unwrap(), "2026-03");
        assert_eq!(
            serde_json::from_value::<Month>("2026-12".into()).unwrap(),
            Month::new(2026, 12).unwrap()
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-3",
            "26-03",
            "2026-03-01",
            "0000-01",
            "abcd-ef",
            "",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
        assert!(serde_json::from_value::<Month>("2026-13".into()).is_err());
        assert_eq!(
            month.first_day(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        );
    }
}
