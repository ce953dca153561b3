//! The sales process: the pipelines with their stages, probabilities and drop-off,
//! deal sizes, where leads come from, and why deals are lost and leads rejected.

use crm_domain::values::ClientKind;

use super::random::Dice;

/// One stage of a pipeline as the story plays it.
pub struct StagePlan {
    /// The stage's name.
    pub name: &'static str,
    /// The probability of winning a deal at this stage (the pipeline's figure).
    pub probability: f64,
    /// Mean days a deal stays at the stage before the next step.
    pub mean_days: f64,
    /// The chance that a deal is lost at this stage (at the last: instead of won).
    pub drop_off: f64,
}

/// What a pipeline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// New business with companies.
    Companies,
    /// Sales to private persons.
    Persons,
    /// Repeat business with clients who have bought before.
    Renewals,
}

/// A pipeline and how deals go through it.
pub struct PipelinePlan {
    /// The pipeline's name.
    pub name: &'static str,
    /// What it is for.
    pub line: Line,
    /// Its stages in order.
    pub stages: &'static [StagePlan],
    /// Days from opening to the expected close, lowest and highest.
    pub cycle_days: (i64, i64),
    /// Deal titles.
    pub titles: &'static [&'static str],
}

const fn stage(name: &'static str, probability: f64, mean_days: f64, drop_off: f64) -> StagePlan {
    StagePlan {
        name,
        probability,
        mean_days,
        drop_off,
    }
}

/// The company's pipelines.
pub const PIPELINES: &[PipelinePlan] = &[
    PipelinePlan {
        name: "B2B sales",
        line: Line::Companies,
        stages: &[
            stage("Qualification", 0.1, 4.0, 0.25),
            stage("Needs analysis", 0.25, 5.0, 0.18),
            stage("Proposal", 0.45, 6.0, 0.2),
            stage("Negotiation", 0.65, 7.0, 0.15),
            stage("Contract", 0.85, 5.0, 0.2),
        ],
        cycle_days: (21, 90),
        titles: &[
            "Annual supply contract",
            "Equipment delivery",
            "Software licences",
            "Pilot project",
            "Maintenance agreement",
            "Fleet lease",
            "Consulting package",
            "Office fit-out",
            "Warehouse automation",
            "Staff training programme",
        ],
    },
    PipelinePlan {
        name: "Retail",
        line: Line::Persons,
        stages: &[
            stage("New", 0.1, 1.0, 0.2),
            stage("Consultation", 0.3, 2.0, 0.2),
            stage("Offer", 0.55, 2.0, 0.15),
            stage("Payment", 0.9, 1.5, 0.1),
        ],
        cycle_days: (5, 21),
        titles: &[
            "Kitchen set",
            "Laptop and accessories",
            "Home insurance",
            "Language course",
            "Air conditioner with installation",
            "Furniture order",
            "Gym membership",
            "Smartphone on instalments",
        ],
    },
    PipelinePlan {
        name: "Renewals",
        line: Line::Renewals,
        stages: &[
            stage("Renewal due", 0.5, 7.0, 0.1),
            stage("Offer sent", 0.7, 5.0, 0.1),
            stage("Signed", 0.9, 4.0, 0.08),
        ],
        cycle_days: (14, 45),
        titles: &[
            "Contract renewal",
            "Additional licences",
            "Extended warranty",
            "Repeat order",
            "Service upgrade",
        ],
    },
];

/// Where leads come from: source, its channels, how often, and how well it converts.
pub struct LeadSource {
    /// The source, as recorded.
    pub name: &'static str,
    /// The channels it arrives through.
    pub channels: &'static [&'static str],
    /// How often it is met.
    pub weight: f64,
    /// Conversion relative to the average lead.
    pub quality: f64,
}

/// Every lead source.
pub const LEAD_SOURCES: &[LeadSource] = &[
    LeadSource {
        name: "website",
        channels: &["form", "chat"],
        weight: 30.0,
        quality: 1.0,
    },
    LeadSource {
        name: "paid ads",
        channels: &["form", "call"],
        weight: 18.0,
        quality: 0.75,
    },
    LeadSource {
        name: "phone",
        channels: &["call"],
        weight: 14.0,
        quality: 1.1,
    },
    LeadSource {
        name: "referral",
        channels: &["call", "email"],
        weight: 10.0,
        quality: 1.35,
    },
    LeadSource {
        name: "social media",
        channels: &["messenger", "chat"],
        weight: 10.0,
        quality: 0.7,
    },
    LeadSource {
        name: "marketplace",
        channels: &["form"],
        weight: 7.0,
        quality: 0.9,
    },
    LeadSource {
        name: "partner",
        channels: &["email"],
        weight: 6.0,
        quality: 1.25,
    },
    LeadSource {
        name: "exhibition",
        channels: &["in person"],
        weight: 5.0,
        quality: 1.0,
    },
];

/// A lead source at random, by weight.
pub fn lead_source(dice: &mut Dice) -> &'static LeadSource {
    let weights: Vec<(usize, f64)> = LEAD_SOURCES
        .iter()
        .enumerate()
        .map(|(n, s)| (n, s.weight))
        .collect();
    &LEAD_SOURCES[*dice.weighted(&weights)]
}

/// Where clients found without a lead come from (the manager's own prospecting).
pub const PROSPECT_SOURCES: &[(&str, f64)] = &[
    ("cold outreach", 50.0),
    ("exhibition", 25.0),
    ("partner", 15.0),
    ("referral", 10.0),
];

/// Why a lead is rejected.
pub const REJECT_REASONS: &[(&str, f64)] = &[
    ("Spam", 12.0),
    ("Duplicate", 10.0),
    ("Not our profile", 22.0),
    ("No budget", 18.0),
    ("Could not reach", 20.0),
    ("Just browsing", 12.0),
    ("Out of service area", 6.0),
];

/// Why deals are lost early in a pipeline.
const EARLY_LOSSES: &[(&str, f64)] = &[
    ("No budget", 25.0),
    ("Lost contact", 20.0),
    ("Not a fit", 15.0),
    ("Postponed", 15.0),
    ("Chose a competitor", 12.0),
    ("Price too high", 13.0),
];

/// Why deals are lost late in a pipeline.
const LATE_LOSSES: &[(&str, f64)] = &[
    ("Price too high", 32.0),
    ("Chose a competitor", 30.0),
    ("Postponed", 14.0),
    ("No decision", 14.0),
    ("Lost contact", 5.0),
    ("No budget", 5.0),
];

/// A loss reason for a deal lost at stage `index` of `stages`, with a comment now and then.
pub fn loss_reason(index: usize, stages: usize, dice: &mut Dice) -> (String, Option<String>) {
    let late = index * 2 >= stages;
    let reason = *dice.weighted(if late { LATE_LOSSES } else { EARLY_LOSSES });
    let comment = dice.chance(0.3).then(|| {
        (*dice.pick(&[
            "Client stopped answering",
            "Budget moved to next year",
            "Competitor offered a lower price",
            "Decision maker changed",
            "Needs changed",
            "Went with their current supplier",
        ]))
        .to_owned()
    });
    (reason.to_owned(), comment)
}

/// A new deal's amount in minor units, for a client of `kind` and `size`, on `line`.
pub fn deal_amount(line: Line, kind: ClientKind, size: Option<&str>, dice: &mut Dice) -> i64 {
    let (low, high) = match (kind, size) {
        (ClientKind::Person, _) => (3_000, 60_000),
        (ClientKind::Company, Some("1-10")) => (20_000, 150_000),
        (ClientKind::Company, Some("11-50")) => (50_000, 500_000),
        (ClientKind::Company, Some("51-250")) => (200_000, 2_000_000),
        (ClientKind::Company, Some("251-1000")) => (800_000, 8_000_000),
        (ClientKind::Company, Some(_)) => (3_000_000, 30_000_000),
        (ClientKind::Company, None) => (30_000, 800_000),
    };
    let units = dice.log_int(low, high);
    let units = match line {
        Line::Renewals => units * 6 / 10,
        _ => units,
    };
    // Whole hundreds of the currency, in minor units.
    (units / 100).max(1) * 100 * 100
}

/// Task titles for work on a deal.
pub const DEAL_TASKS: &[(&str, &str)] = &[
    ("Call back", "call"),
    ("Send proposal", "email"),
    ("Prepare contract", "document"),
    ("Schedule a demo", "meeting"),
    ("Follow up on invoice", "call"),
    ("Send presentation", "email"),
    ("Confirm delivery terms", "call"),
    ("Collect documents", "document"),
];

/// Task titles for looking after a client.
pub const CLIENT_TASKS: &[(&str, &str)] = &[
    ("Quarterly check-in", "call"),
    ("Update client card", "task"),
    ("Send newsletter offer", "email"),
    ("Visit the client", "meeting"),
];

/// Why a task is cancelled.
pub const CANCEL_REASONS: &[&str] = &[
    "Client asked to postpone",
    "No longer needed",
    "Duplicate task",
    "Deal closed",
];

/// What came of a completed task.
pub const TASK_RESULTS: &[&str] = &[
    "Done",
    "Client confirmed",
    "Sent",
    "Agreed next steps",
    "Left a message",
];

/// What a call or meeting was for.
pub const GOALS: &[&str] = &[
    "qualification",
    "presentation",
    "negotiation",
    "follow-up",
    "closing",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_valid_and_cover_every_line() {
        for plan in PIPELINES {
            assert!(!plan.stages.is_empty());
            let mut last = 0.0;
            for s in plan.stages {
                assert!(s.probability > last && s.probability <= 1.0);
                last = s.probability;
            }
        }
        for line in [Line::Companies, Line::Persons, Line::Renewals] {
            assert!(PIPELINES.iter().any(|p| p.line == line));
        }
    }

    #[test]
    fn amounts_are_whole_and_positive() {
        let mut dice = Dice::new(3);
        for _ in 0..200 {
            let a = deal_amount(
                Line::Companies,
                ClientKind::Company,
                Some("1000+"),
                &mut dice,
            );
            assert!(a >= 300_000_000 && a % 10_000 == 0);
            assert!(deal_amount(Line::Persons, ClientKind::Person, None, &mut dice) > 0);
        }
    }
}
