//! Reading read models: read-your-writes with `min_position`, and their errors.

use std::time::Duration;

use crm_projections::ProjectionError;

use crate::error::ApiError;
use crate::state::AppState;

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

/// A read model's failure as an API error.
pub fn projection_error(err: ProjectionError) -> ApiError {
    if err.is_transient() {
        ApiError::Unavailable
    } else {
        ApiError::Internal(err.chain())
    }
}
