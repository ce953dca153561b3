//! Where a deal, a task or a lead stands: the status its read model rows hold, one
//! word the API shows (`"open"`, `"won"`, …) and the tables store as text. A stored
//! word decodes strictly: one this crate never writes is an error, never a guess.

use std::fmt;
use std::str::FromStr;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// A word that names no status of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} status {word:?} (expected {})", one_of(.words))]
pub struct UnknownStatus {
    /// `deal`, `task` or `lead`.
    pub kind: &'static str,
    /// The word given.
    pub word: String,
    /// The words of the kind's statuses.
    pub words: &'static [&'static str],
}

impl UnknownStatus {
    /// The words it may be, as a person reads them: `open, won or lost`.
    pub fn expected(&self) -> String {
        one_of(self.words)
    }
}

/// `a, b or c`.
fn one_of(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Declares a status enum with its words: serialized, parsed, stored and decoded as
/// those words and no other.
macro_rules! statuses {
    ($(#[$doc:meta])* $name:ident of $kind:literal {
        $($(#[$vdoc:meta])* $variant:ident = $word:literal,)+
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every status's word, in order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The word the API shows and the tables store.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(word: &str) -> Result<Self, UnknownStatus> {
                match word {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownStatus {
                        kind: $kind,
                        word: word.to_owned(),
                        words: Self::WORDS,
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<'r, Postgres>>::decode(value)?.parse()?)
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'_, Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

statuses! {
    /// A deal's outcome: open until won or lost (and open again once reopened).
    DealStatus of "deal" {
        /// Neither won nor lost.
        Open = "open",
        /// Won (until reopened).
        Won = "won",
        /// Lost (until reopened).
        Lost = "lost",
    }
}

statuses! {
    /// Where a task stands.
    TaskStatus of "task" {
        /// To be done.
        Open = "open",
        /// Done.
        Completed = "completed",
        /// Called off.
        Cancelled = "cancelled",
    }
}

statuses! {
    /// Where a lead stands.
    LeadStatus of "lead" {
        /// Captured, nobody assigned.
        New = "new",
        /// A manager is assigned.
        Assigned = "assigned",
        /// Converted into a client and a deal.
        Converted = "converted",
        /// Rejected.
        Rejected = "rejected",
    }
}

impl From<crm_domain::deal::DealStatus> for DealStatus {
    fn from(status: crm_domain::deal::DealStatus) -> Self {
        match status {
            crm_domain::deal::DealStatus::Open => DealStatus::Open,
            crm_domain::deal::DealStatus::Won => DealStatus::Won,
            crm_domain::deal::DealStatus::Lost => DealStatus::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::PgPool;

    use super::*;

    #[sqlx::test(migrations = false)]
    async fn a_stored_word_decodes_to_its_status_and_any_other_is_an_error(pool: PgPool) {
        let won: DealStatus = sqlx::query_scalar("SELECT 'won'::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(won, DealStatus::Won);
        let bound: String = sqlx::query_scalar("SELECT $1::text")
            .bind(TaskStatus::Cancelled)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(bound, "cancelled");
        for word in ["pending", "OPEN", ""] {
            let decoded = sqlx::query_scalar::<_, DealStatus>("SELECT $1::text")
                .bind(word)
                .fetch_one(&pool)
                .await;
            let err = decoded.expect_err("an unknown word decodes to no status");
            assert!(
                err.to_string()
                    .contains(&format!("unknown deal status {word:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn each_status_is_its_word_in_json_and_text_and_no_other_word_parses() {
        for (status, word) in [
            (DealStatus::Open, "open"),
            (DealStatus::Won, "won"),
            (DealStatus::Lost, "lost"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), word);
            assert_eq!(word.parse::<DealStatus>(), Ok(status));
        }
        for (status, word) in [
            (TaskStatus::Open, "open"),
            (TaskStatus::Completed, "completed"),
            (TaskStatus::Cancelled, "cancelled"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), word);
            assert_eq!(word.parse::<TaskStatus>(), Ok(status));
        }
        for (status, word) in [
            (LeadStatus::New, "new"),
            (LeadStatus::Assigned, "assigned"),
            (LeadStatus::Converted, "converted"),
            (LeadStatus::Rejected, "rejected"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), word);
            assert_eq!(word.parse::<LeadStatus>(), Ok(status));
        }
        for word in ["", "Open", "opened", "closed", "won ", "open\0"] {
            assert_eq!(
                word.parse::<DealStatus>(),
                Err(UnknownStatus {
                    kind: "deal",
                    word: word.to_owned(),
                    words: &["open", "won", "lost"],
                })
            );
        }
        let unknown = |result: Result<LeadStatus, UnknownStatus>| result.unwrap_err();
        assert_eq!(
            unknown("open".parse()).expected(),
            "new, assigned, converted or rejected"
        );
        let task = "won".parse::<TaskStatus>().unwrap_err();
        assert_eq!(
            task.to_string(),
            "unknown task status \"won\" (expected open, completed or cancelled)"
        );
    }
}
