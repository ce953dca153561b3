//! Read-your-writes: the `min_position` every query takes ([`ReadYourWrites`]), what
//! each kind of answer waits for before it is given, how the OpenAPI document states
//! it on every route ([`MinPositionDoc`]), and read models' errors.
//!
//! What "reflects the event at `min_position` and every event committed before it"
//! means depends on where an answer comes from:
//! - a read model: its checkpoint has passed the event ([`ReadYourWrites::read_model`]);
//! - the feed (`GET /events`, the audit, the export): the feed can deliver the event,
//!   no older transaction holding it back ([`ReadYourWrites::feed`]);
//! - a stream read from the log (a stream's events or state, a deal): the event is
//!   committed, so a read made after it sees it and everything committed before it
//!   ([`ReadYourWrites::log`]);
//! - a custom projection's rows: the catalog knows the definition and the generation
//!   answering has passed the event ([`ReadYourWrites::custom`]).
//!
//! A position that names no event is a 400 `invalid_min_position` everywhere; a wait
//! that does not end within [`AppState::min_position_wait`] (default
//! [`MIN_POSITION_WAIT`]) is a 503 `projection_lagging`.

use std::time::{Duration, Instant};

use crm_projections::ProjectionError;
use serde::{Deserialize, Deserializer};
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, OpenApi, Required, Type};
use utoipa::Modify;

use crate::error::ApiError;
use crate::state::AppState;

/// How long a query waits for its read model to reach `min_position`.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);

/// The read-your-writes part of every query, `min_position`: flattened into each
/// route's query (`#[serde(flatten)] #[param(ignore)] read: ReadYourWrites`), stated
/// in the OpenAPI document by [`MinPositionDoc`].
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ReadYourWrites {
    /// Answer once this position is reflected.
    #[serde(default, deserialize_with = "position")]
    pub min_position: Option<i64>,
}

/// The query of a route that takes nothing but `min_position`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlyMinPosition {
    /// `min_position`.
    #[serde(flatten)]
    pub read: ReadYourWrites,
}

/// A position given as a query string's text (a flattened field gets text from
/// `serde_urlencoded`, not a number) or as a number.
fn position<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct Position;
    impl serde::de::Visitor<'_> for Position {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a position (a whole number)")
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("min_position {v} is out of range")))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.parse::<i64>().map(Some).map_err(|_| {
                E::custom(format!(
                    "min_position must be a whole number (a command's `position`), not {v:?}"
                ))
            })
        }
    }
    d.deserialize_any(Position)
}

impl ReadYourWrites {
    /// Waits until read model `name` reflects the position (no wait without one).
    pub async fn read_model(self, state: &AppState, name: &str) -> Result<(), ApiError> {
        reflects(state, name, self.min_position).await
    }

    /// Waits until each read model an answer draws from reflects the position (a list
    /// that joins another model's names waits for that one too).
    pub async fn read_models(self, state: &AppState, names: &[&str]) -> Result<(), ApiError> {
        for name in names {
            reflects(state, name, self.min_position).await?;
        }
        Ok(())
    }

    /// Waits until every read model this server knows reflects the position.
    pub async fn every_read_model(self, state: &AppState) -> Result<(), ApiError> {
        let Some(position) = self.min_position else {
            return Ok(());
        };
        every_read_model(state, position, state.min_position_wait)
            .await
            .map_err(|lagging| match lagging {
                Lagging::Error(err) => err,
                Lagging::Behind(name) => ApiError::Lagging { name, position },
            })
    }

    /// Waits until the feed can deliver the event at the position: no transaction
    /// older than the event's is still running.
    pub async fn feed(self, state: &AppState) -> Result<(), ApiError> {
        let Some(position) = self.min_position else {
            return Ok(());
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match state.log.feed_delivers(position).await? {
                None => return Err(no_such_position(position)),
                Some(true) => return Ok(()),
                Some(false) if started.elapsed() >= state.min_position_wait => {
                    return Err(ApiError::FeedLagging { position })
                }
                Some(false) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }

    /// For answers read from the log directly: the event at the position must exist
    /// (then it is committed, and a read made after this sees it and every event
    /// committed before it).
    pub async fn log(self, state: &AppState) -> Result<(), ApiError> {
        let Some(position) = self.min_position else {
            return Ok(());
        };
        match state.log.cursor_of(position).await? {
            Some(_) => Ok(()),
            None => Err(no_such_position(position)),
        }
    }

    /// Waits until custom projection `name` reflects the position: the catalog of
    /// definitions has passed it, then the generation answering has. A projection
    /// still being built for the first time when the wait ends answers as it would
    /// without the position (409 `projection_building`).
    pub async fn custom(self, state: &AppState, name: &str) -> Result<(), ApiError> {
        let Some(position) = self.min_position else {
            return Ok(());
        };
        let started = Instant::now();
        self.read_model(state, crm_projections::custom::catalog::NAME)
            .await?;
        loop {
            let live = crm_projections::custom::live_projection(state.log.pool(), name)
                .await
                .map_err(projection_error)?;
            let left = state.min_position_wait.saturating_sub(started.elapsed());
            match live {
                Some(live) => {
                    let checkpoint = crm_projections::Projection::name(&live).to_owned();
                    return match crm_projections::wait_until_reflects(
                        &state.log,
                        &checkpoint,
                        position,
                        left,
                    )
                    .await
                    {
                        Ok(()) => Ok(()),
                        Err(ProjectionError::Lagging { .. }) => Err(ApiError::Lagging {
                            name: name.to_owned(),
                            position,
                        }),
                        Err(err) => Err(projection_error(err)),
                    };
                }
                // Not built yet (or unknown): the rows query says which.
                None if left.is_zero() => return Ok(()),
                None => tokio::time::sleep(left.min(Duration::from_millis(20))).await,
            }
        }
    }
}

/// Why a wait for every read model did not end.
pub enum Lagging {
    /// These read models (their names, comma-separated) had not reached the position
    /// when the time was up.
    Behind(String),
    /// The wait itself failed.
    Error(ApiError),
}

/// Waits, at most `wait`, until every read model this server knows reflects the
/// event at `position` (all at once: the longest wait, not their sum).
pub async fn every_read_model(
    state: &AppState,
    position: i64,
    wait: Duration,
) -> Result<(), Lagging> {
    let waits = state.projections.iter().map(|p| async move {
        let name = p.name();
        let waited = crm_projections::wait_until_reflects(&state.log, name, position, wait).await;
        (name, waited)
    });
    let mut behind = Vec::new();
    for (name, waited) in futures::future::join_all(waits).await {
        match waited {
            Ok(()) => {}
            Err(ProjectionError::Lagging { .. } | ProjectionError::FailedBefore { .. }) => {
                behind.push(name)
            }
            Err(ProjectionError::UnknownEvent(_)) => {
                return Err(Lagging::Error(no_such_position(position)))
            }
            Err(err) => return Err(Lagging::Error(projection_error(err))),
        }
    }
    if behind.is_empty() {
        Ok(())
    } else {
        Err(Lagging::Behind(behind.join(", ")))
    }
}

/// Waits until read model `name` reflects the event at `min_position` and every
/// event committed before it (no wait without one); a 503 `projection_lagging` after
/// the state's `min_position_wait`, or `projection_failed` once the read model is seen
/// stopped on an event before that position (it keeps answering without `min_position`).
pub async fn reflects(
    state: &AppState,
    name: &str,
    min_position: Option<i64>,
) -> Result<(), ApiError> {
    let Some(position) = min_position else {
        return Ok(());
    };
    if !state.projections.iter().any(|p| p.name() == name) {
        // A server without this read model would only time out: say so at once.
        return Err(ApiError::internal(format!(
            "read model {name} is not registered"
        )));
    }
    match crm_projections::wait_until_reflects(&state.log, name, position, state.min_position_wait)
        .await
    {
        Ok(()) => Ok(()),
        Err(ProjectionError::Lagging { .. }) => Err(ApiError::Lagging {
            name: name.to_owned(),
            position,
        }),
        Err(ProjectionError::FailedBefore {
            failed_position, ..
        }) => Err(ApiError::ProjectionFailed {
            name: name.to_owned(),
            position,
            failed_position,
        }),
        Err(ProjectionError::UnknownEvent(_)) => Err(no_such_position(position)),
        Err(err) => Err(projection_error(err)),
    }
}

/// The 400 for a `min_position` that names no event.
fn no_such_position(position: i64) -> ApiError {
    ApiError::bad_request(
        "invalid_min_position",
        format!("no event at position {position}"),
    )
}

/// A read model's failure as an API error (its `From` conversion, for `map_err`).
pub fn projection_error(err: ProjectionError) -> ApiError {
    ApiError::from(err)
}

/// States `min_position` on every GET operation of the document (but the two that
/// read no data: liveness and the document itself), with what it means there.
pub struct MinPositionDoc;

/// GET operations that read no data, so take no `min_position`.
pub const NO_MIN_POSITION: [&str; 2] = ["/health/live", "/openapi.json"];

/// What `min_position` means for the answer of the operation at `path`.
fn meaning(path: &str) -> String {
    const COMMON: &str = "A position that names no event is a 400 `invalid_min_position`; \
        a wait longer than 5 s a 503 `projection_lagging`.";
    let what = match path {
        "/events" | "/audit/verify" | "/export/events" => {
            "Read-your-writes: answer once the feed can deliver the event at this position \
             (a committed event is held back while an older transaction is still open), so \
             that reading on from any earlier cursor meets it and every event committed \
             before it."
        }
        "/streams/{stream}/events"
        | "/streams/{stream}/state"
        | "/deals/{id}"
        | "/auth/session" => {
            "Read-your-writes: answered from the log itself, read after the event at this \
             position was committed, so it reflects that event and every event committed \
             before it; only checked to name an event."
        }
        "/health" => {
            "Ready for reads: answer once every read model reflects the event at this \
             position and every event committed before it. Takes a bearer token of any \
             role (401 without one): the answer would tell anyone how long the log is."
        }
        "/projections" | "/projections/{name}" => {
            "Read-your-writes: answer once the catalog of custom projections reflects the \
             event at this position (a definition just made is listed)."
        }
        "/projections/{name}/rows" => {
            "Read-your-writes: answer once this custom projection's rows reflect the event \
             at this position and every event committed before it (a projection still \
             being built for the first time answers 409 as without it)."
        }
        _ => {
            "Read-your-writes: answer once the read model reflects the event at this \
             position (a command's `position`) and every event committed before it."
        }
    };
    format!("{what} {COMMON}")
}

impl Modify for MinPositionDoc {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if NO_MIN_POSITION.contains(&path.as_str()) {
                continue;
            }
            let Some(operation) = item.get.as_mut() else {
                continue;
            };
            let parameters = operation.parameters.get_or_insert_with(Vec::new);
            parameters.retain(|p| p.name != "min_position");
            parameters.push(
                ParameterBuilder::new()
                    .name("min_position")
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(meaning(path)))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                                utoipa::openapi::KnownFormat::Int64,
                            )))
                            .minimum(Some(1)),
                    ))
                    .build(),
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::extract::Query;

    /// A route's query with `min_position` flattened in, as the routes declare it.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Listing {
        limit: Option<i64>,
        #[serde(flatten)]
        read: ReadYourWrites,
    }

    fn parse(query: &str) -> Result<(Option<i64>, Option<i64>), String> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        Query::<Listing>::try_from_uri(&uri)
            .map(|Query(l)| (l.limit, l.read.min_position))
            .map_err(|e| e.body_text())
    }

    #[test]
    fn min_position_is_read_beside_a_routes_own_parameters_and_nothing_else_is() {
        assert_eq!(parse("limit=5&min_position=42"), Ok((Some(5), Some(42))));
        assert_eq!(parse("min_position=7"), Ok((None, Some(7))));
        assert_eq!(parse(""), Ok((None, None)));
        assert!(parse("min_position=soon")
            .unwrap_err()
            .contains("whole number"));
        assert!(parse("min_position=").is_err());
        assert!(parse("min_position=1.5").is_err());
        assert!(parse("limit=5&other=1").unwrap_err().contains("other"));
        let only: Result<Query<OnlyMinPosition>, _> =
            Query::try_from_uri(&"/x?min_position=3&x=1".parse().unwrap());
        assert!(only.is_err());
    }

    #[test]
    fn the_document_states_it_on_every_get_that_reads_data() {
        assert!(meaning("/deals/{id}").contains("log itself"));
        assert!(meaning("/events").contains("feed"));
        assert!(meaning("/clients").contains("read model"));
        assert!(meaning("/clients").contains("400"));
    }
}
