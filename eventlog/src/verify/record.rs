//! Verifications kept: each run's report stored in `eventlog.verifications`, so that
//! whoever shows the log's state reads the latest instead of walking the log again.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::VerifyReport;
use crate::error::EventLogError;
use crate::store::EventLog;

/// What started a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The background verifier's first run.
    Start,
    /// The background verifier, after new events or when the last run grew old.
    Periodic,
    /// A person asked for it (the audit page's "verify now").
    OnDemand,
    /// A program asked the API (`GET /audit/verify`).
    Api,
}

impl Trigger {
    /// Its name as stored.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Periodic => "periodic",
            Trigger::OnDemand => "on_demand",
            Trigger::Api => "api",
        }
    }
}

/// A verification as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RecordedVerification {
    /// Its number (later runs, higher numbers).
    pub id: i64,
    /// When the walk started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// What started it ([`Trigger::name`]).
    pub trigger: String,
    /// The highest position it covered (None: the log was empty).
    pub through_position: Option<i64>,
    /// True when every chain and every seal verified.
    pub intact: bool,
    /// The [`VerifyReport`] as JSON.
    pub report: serde_json::Value,
}

impl EventLog {
    /// Stores `report`, a walk started at `started_at` by `trigger`; the stored row.
    pub async fn record_verification(
        &self,
        started_at: DateTime<Utc>,
        report: &VerifyReport,
        trigger: Trigger,
    ) -> Result<RecordedVerification, EventLogError> {
        let json = serde_json::to_value(report)
            .map_err(|err| EventLogError::Corrupt(format!("a verify report as JSON: {err}")))?;
        let row = sqlx::query_as::<_, RecordedVerification>(
            "INSERT INTO eventlog.verifications \
                    (started_at, finished_at, trigger, through_position, intact, report) \
             VALUES ($1, now(), $2, $3, $4, $5) \
             RETURNING id, started_at, finished_at, trigger, through_position, intact, report",
        )
        .bind(started_at)
        .bind(trigger.name())
        .bind(report.through_position)
        .bind(report.is_intact())
        .bind(json)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    /// Verifies the log ([`EventLog::verify`]) and stores the result.
    pub async fn verify_and_record(
        &self,
        trigger: Trigger,
    ) -> Result<RecordedVerification, EventLogError> {
        let started_at = Utc::now();
        let report = self.verify().await?;
        self.record_verification(started_at, &report, trigger).await
    }

    /// The latest verification stored (None: never verified).
    pub async fn last_verification(&self) -> Result<Option<RecordedVerification>, EventLogError> {
        let row = sqlx::query_as::<_, RecordedVerification>(
            "SELECT id, started_at, finished_at, trigger, through_position, intact, report \
               FROM eventlog.verifications ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }
}
