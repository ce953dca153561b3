//! Types that only describe values in the OpenAPI document: the closed sets of words
//! a request may carry (the domain's enums, which know nothing of OpenAPI) and a
//! report period's bound, so that a generated request is valid exactly when the
//! server accepts it.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{KnownFormat, RefOr, Schema, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// Declares a doc-only string enum with its words.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident: $($word:ident),+) => {
        $(#[$doc])*
        #[derive(Debug, ToSchema)]
        #[schema(rename_all = "snake_case")]
        #[allow(dead_code)] // Never built: it only describes a field.
        pub enum $name { $($word),+ }
    };
}

words!(
    /// `company` or `person`.
    ClientKindDoc: Company, Person
);
words!(
    /// A manager's role.
    RoleDoc: Manager, Head, Director, Admin, Auditor, Analyst
);
words!(
    /// An interaction's kind.
    InteractionKindDoc: Call, Email, Meeting, Message
);
words!(
    /// `inbound` or `outbound`.
    DirectionDoc: Inbound, Outbound
);
words!(
    /// A client's segment.
    SegmentDoc: Inquiry, Active, Churned
);
words!(
    /// What revenue is grouped by.
    RevenueByDoc: Manager, Source, Pipeline, Client, Product, Category, Novelty, FirstContact
);
words!(
    /// What invoices are grouped by.
    InvoicesByDoc: Manager, Client
);
words!(
    /// A lead's status.
    LeadStatusDoc: New, Assigned, Converted, Rejected
);
words!(
    /// A task's status.
    TaskStatusDoc: Open, Completed, Cancelled
);
words!(
    /// What leads are grouped by.
    LeadsByDoc: Manager, Status, Source
);

/// A report period's bound: an RFC 3339 time, or a date (its midnight UTC).
pub struct TimeOrDate;

impl PartialSchema for TimeOrDate {
    fn schema() -> RefOr<Schema> {
        let string = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(string(KnownFormat::DateTime))
            .item(string(KnownFormat::Date))
            .description(Some("an RFC 3339 time, or a date (its midnight UTC)"))
            .into()
    }
}

impl ToSchema for TimeOrDate {}

words!(
    /// An export's format.
    ExportFormatDoc: Ndjson, Csv
);

words!(
    /// A figure of the manager KPIs report whose events can be listed.
    ManagerFigureDoc: Calls, CallsOutbound, CallsInbound, CallSeconds, Meetings, Emails,
        Messages, ClientsContacted, CallsPerClient, LeadsAssigned, LeadsConverted,
        LeadsRejected, DealsOpened, DealsWon, DealsLost, WonAmount, WinRate, TasksCompleted,
        TasksCompletedLate
);
