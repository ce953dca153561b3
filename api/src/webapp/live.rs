//! `GET /ui/live`: server-sent events telling an open page that its figures may have
//! changed. Every viewer listens to the web app's one [`Follower`] of the log, which
//! publishes each batch of appended events once every read model reflects it (or after
//! [`super::follower::WAIT`]), with the managers the batch concerns; the viewer's stream
//! sends `change` with the batch's last position when the batch is in his reach. The
//! page's script re-fetches its own address with `min_position` and swaps its main
//! content: the page shows the change within two seconds, rendered again for the viewer.
//!
//! In reach: every batch for the roles that reach the whole company; for a manager or a
//! head, a batch concerning one of the managers he reaches. A viewer who falls behind
//! the follower is sent a `change` at the last published position (his page refetches).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::follower::{Batch, Follower};
use super::page::Web;
use crate::access::Reach;
use crate::auth::Actor;

/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event stream (a 401 problem without a session or a token).
pub async fn events(State(web): State<Web>, mut parts: Parts) -> Response {
    let actor = match Actor::from_request_parts(&mut parts, &web.state).await {
        Ok(actor) => actor,
        Err(err) => return err.into_response(),
    };
    let reach = match crate::access::report_reach(&web.state, &actor).await {
        Ok(reach) => reach,
        Err(err) => return err.into_response(),
    };
    let follower = match web.follower().await {
        Ok(follower) => follower,
        Err(err) => return err.into_response(),
    };
    let batches = follower.subscribe();
    Sse::new(changes(follower, batches, reach))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// One `change` per published batch in `reach`; a `change` at the latest position when
/// the viewer fell behind; the end when the follower is gone.
fn changes(
    follower: Arc<Follower>,
    batches: Receiver<Batch>,
    reach: Reach,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (follower, batches, reach),
        |(follower, mut batches, reach)| async move {
            let position = loop {
                match batches.recv().await {
                    Ok(batch) if batch.reaches(&reach) => break batch.last,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => break follower.latest(),
                    Err(RecvError::Closed) => return None,
                }
            };
            let event = Event::default().event("change").data(position.to_string());
            Some((Ok(event), (follower, batches, reach)))
        },
    )
}
