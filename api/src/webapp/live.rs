//! `GET /ui/live`: server-sent events telling an open page that its figures may have
//! changed. It follows the log (the event log's subscription: `LISTEN/NOTIFY`, with
//! polling when a notification is missed); when events in the viewer's reach are
//! appended it waits (up to 2 s) until every read model reflects the last of them, then
//! sends `change` with its position. The page's script re-fetches its own address with
//! `min_position` and swaps its main content: the page shows the change within two
//! seconds, rendered again for the viewer.
//!
//! In reach: everything for the roles that reach the whole company; for a manager or a
//! head, an event that names one of the managers he reaches (its data or its actor), or
//! whose stream the API lets him read now (`GET /streams/{stream}/state`, asked in
//! process as him).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Request};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use crm_eventlog::{Cursor, FeedFilter, RecordedEvent};
use futures::Stream;
use tower::ServiceExt;

use super::page::Web;
use crate::access::Reach;
use crate::auth::Actor;
use crate::error::ApiError;

/// How long a change waits for the read models before it is announced anyway.
const WAIT: Duration = Duration::from_secs(2);

/// The most streams of one batch asked about one by one (beyond: announced).
const MAX_STREAMS_ASKED: usize = 20;

/// Who watches: his reach and his credentials (to ask the API as him).
struct Viewer {
    reach: Reach,
    ids: Vec<String>,
    cookie: Option<HeaderValue>,
    authorization: Option<HeaderValue>,
}

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
    let viewer = Viewer {
        ids: reach
            .managers()
            .map(|m| m.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        reach,
        cookie: parts.headers.get(header::COOKIE).cloned(),
        authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
    };
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
    Sse::new(changes(web, viewer, subscription))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One `change` per batch of appended events in reach, once the read models reflect it.
fn changes(
    web: Web,
    viewer: Viewer,
    subscription: crm_eventlog::Subscription,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (web, viewer, subscription),
        |(web, viewer, mut subscription)| async move {
            loop {
                match subscription.next_batch(1000).await {
                    Ok(batch) => {
                        let Some(last) = batch.last().map(|e| e.position) else {
                            continue;
                        };
                        // Wait for the figures to show it (or WAIT regardless).
                        let _ = crate::read_model::every_read_model(&web.state, last, WAIT).await;
                        if !in_reach(&web, &viewer, &batch).await {
                            continue;
                        }
                        let event = Event::default().event("change").data(last.to_string());
                        return Some((Ok(event), (web, viewer, subscription)));
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "live: the feed is unavailable; retrying");
                    }
                }
            }
        },
    )
}

/// Is any event of `batch` in the viewer's reach?
async fn in_reach(web: &Web, viewer: &Viewer, batch: &[RecordedEvent]) -> bool {
    if matches!(viewer.reach, Reach::All) {
        return true;
    }
    if viewer.ids.is_empty() {
        return false;
    }
    let names_one = |e: &RecordedEvent| {
        let text = format!("{} {}", e.data, e.metadata.actor.as_deref().unwrap_or(""));
        viewer.ids.iter().any(|id| text.contains(id.as_str()))
    };
    if batch.iter().any(names_one) {
        return true;
    }
    let streams: BTreeSet<&str> = batch.iter().map(|e| e.stream.as_str()).collect();
    if streams.len() > MAX_STREAMS_ASKED {
        return true;
    }
    for stream in streams {
        if may_read(web, viewer, stream).await {
            return true;
        }
    }
    false
}

/// Does the API let the viewer read `stream` now?
async fn may_read(web: &Web, viewer: &Viewer, stream: &str) -> bool {
    let mut request = Request::builder()
        .method("GET")
        .uri(format!("/streams/{}/state", super::page::encode(stream)));
    if let Some(auth) = &viewer.authorization {
        request = request.header(header::AUTHORIZATION, auth.clone());
    } else if let Some(cookie) = &viewer.cookie {
        request = request.header(header::COOKIE, cookie.clone());
    }
    let Ok(request) = request.body(Body::empty()) else {
        return false;
    };
    match web.api.clone().oneshot(request).await {
        Ok(response) => response.status().is_success(),
        Err(never) => match never {},
    }
}
