//! An export of the base (`export-<uuid>`): every export of the log is itself a fact
//! of the log, so an auditor sees who took what, when and how.

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, Aggregate};
use crate::events::DataExported;
use crate::{DomainError, DomainEvent};

/// A recorded export: exactly its event.
pub type Export = DataExported;

/// An export's state; the default is "not recorded".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportState {
    /// Events folded from the stream.
    pub version: i64,
    /// The export, once recorded.
    pub export: Option<Export>,
}

/// What can be asked of an export: recording it, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportCommand {
    /// An export is starting: record what it takes.
    Record(DataExported),
}

impl Aggregate for ExportState {
    const ENTITY: &'static str = "export";
    type Entity = Export;
    type Command = ExportCommand;

    fn entity(&self) -> Option<&Export> {
        self.export.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.export.as_ref().map(|e| e.export_id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(mut self, event: &DomainEvent) -> Self {
        if let DomainEvent::DataExported(e) = event {
            if self.export.is_none() {
                self.export = Some(e.clone());
                self.version += 1;
            }
        }
        self
    }
    fn decide(&self, command: ExportCommand) -> Result<Vec<DomainEvent>, DomainError> {
        match command {
            ExportCommand::Record(export) => {
                absent(self)?;
                Ok(vec![DomainEvent::DataExported(export)])
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn export() -> DataExported {
        DataExported {
            export_id: Uuid::from_u128(7),
            what: "events".into(),
            format: "csv".into(),
            filters: serde_json::json!({"types": ["DealWon"]}),
            via: "api".into(),
        }
    }

    #[test]
    fn an_export_is_recorded() {
        given::<ExportState>([])
            .when(ExportCommand::Record(export()))
            .then(vec![DomainEvent::DataExported(export())]);
    }

    #[test]
    fn an_export_is_recorded_once() {
        given::<ExportState>([DomainEvent::DataExported(export())])
            .when(ExportCommand::Record(export()))
            .then_error("already_exists");
    }
}
