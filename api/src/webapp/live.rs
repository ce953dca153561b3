//! `GET /ui/live`: server-sent events telling an open page that the figures may have
//! changed. It follows the log (the event log's subscription: `LISTEN/NOTIFY`, with
//! polling when a notification is missed); when events are appended it waits (up to
//! 2 s) until every read model reflects the last of them, then sends `change` with its
//! position. The page's script re-fetches its own address with `min_position` and swaps
//! its main content: the page shows the change within two seconds, and only what the
//! viewer's reach allows (the page is rendered for him again).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use crm_eventlog::{Cursor, FeedFilter};
use futures::Stream;

use super::page::Web;
use crate::auth::Actor;
use crate::error::ApiError;

/// How long a change waits for the read models before it is announced anyway.
const WAIT: Duration = Duration::from_secs(2);

/// The event stream (a 401 problem without a session or a token).
pub async fn events(State(web): State<Web>, mut parts: Parts) -> Response {
    if let Err(err) = Actor::from_request_parts(&mut parts, &web.state).await {
        return err.into_response();
    }
    let log = web.state.log.clone();
    let start = match log.last_position().await {
        Ok(Some(position)) => log
            .cursor_of(position)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(Cursor::start),
        Ok(None) => Cursor::start(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let subscription = log
        .subscribe(start, FeedFilter::default())
        .with_poll_interval(Duration::from_millis(500));
    Sse::new(changes(web, subscription))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One `change` per batch of appended events, once the read models reflect it.
fn changes(
    web: Web,
    subscription: crm_eventlog::Subscription,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((web, subscription), |(web, mut subscription)| async move {
        loop {
            match subscription.next_batch(1000).await {
                Ok(batch) => {
                    let Some(last) = batch.last().map(|e| e.position) else {
                        continue;
                    };
                    // Announce once the figures show it (or after WAIT regardless).
                    let _ = crate::read_model::every_read_model(&web.state, last, WAIT).await;
                    let event = Event::default().event("change").data(last.to_string());
                    return Some((Ok(event), (web, subscription)));
                }
                Err(err) => {
                    tracing::debug!(error = %err, "live: the feed is unavailable; retrying");
                }
            }
        }
    })
}
