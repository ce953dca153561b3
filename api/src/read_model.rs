//! Reading read models: read-your-writes with `min_position`, and their errors.

use std::time::Duration;

use crm_projections::ProjectionError;

use crate::error::ApiError;
use crate::state::AppState;

/// The query of a read of one entity: only `min_position`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadYourWrites {
    /// Answer once the read model reflects this position (read-your-writes).
    #[param(minimum = 1)]
    pub min_position: Option<i64>,
}

/// How long a query waits for its read model to reach `min_position`.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);

/// Waits until read model `name` reflects the event at `min_position` and every
/// event committed before it (no wait without one); a 503 `projection_lagging` after
/// [`MIN_POSITION_WAIT`], or `projection_failed` once the read model is seen stopped on
/// an event before that position (it keeps answering without `min_position`).
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
        return Err(ApiError::Internal(format!(
            "read model {name} is not registered"
        )));
    }
    match crm_projections::wait_until_reflects(&state.log, name, position, MIN_POSITION_WAIT).await
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
        Err(ProjectionError::UnknownEvent(_)) => Err(ApiError::bad_request(
            "invalid_min_position",
            format!("no event at position {position}"),
        )),
        Err(err) => Err(projection_error(err)),
    }
}

/// [`reflects`] for each read model an answer draws from (a list that joins
/// another model's names waits for that one too).
pub async fn reflects_all(
    state: &AppState,
    names: &[&str],
    min_position: Option<i64>,
) -> Result<(), ApiError> {
    for name in names {
        reflects(state, name, min_position).await?;
    }
    Ok(())
}

/// A text filter of a query as given, refused (400) when it holds a NUL, which no
/// stored text can hold.
pub fn text_filter(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(ApiError::bad_request(
            "invalid_query",
            format!("{name} must not hold a NUL character"),
        )),
        other => Ok(other),
    }
}

/// A read model's failure as an API error.
pub fn projection_error(err: ProjectionError) -> ApiError {
    if err.is_transient() {
        ApiError::Unavailable
    } else {
        ApiError::Internal(err.chain())
    }
}
