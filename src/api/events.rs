//! `GET /confab/Events`: the account's events as they happen, as Server-Sent Events
//! (docs/design.md, "The event stream"). Each event is one SSE event: `event:` its name (a
//! Twilio post-action event, or one of confab's own, `webhook_events::ConfabEvent`), `data:`
//! the JSON object of the parameters its webhook carries, `id:` its place in the store's order,
//! which a client sends back as `Last-Event-ID` to get what it missed.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::stream::{self, Follower, StreamFilter};
use crate::error::{Error, Result};
use crate::store::events::{EventId, StreamEvent};
use crate::webhook_events::StreamEventKind;
use crate::wire::TwilioQuery;

#[derive(Deserialize)]
pub struct EventsQuery {
    #[serde(rename = "ConversationSid")]
    conversation_sid: Option<String>,
    /// Repeatable: only these events.
    #[serde(rename = "EventType", default)]
    event_types: Vec<String>,
}

/// The comment each heartbeat sends: it keeps a quiet connection open through proxies.
const HEARTBEAT: &str = "heartbeat";

/// GET /confab/Events, as the account (its auth token or an API key): `ConversationSid` and
/// `EventType` (repeatable) filter; a `Last-Event-ID` header resumes after that event.
pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioQuery(q): TwilioQuery<EventsQuery>,
) -> Result<Response> {
    let account = app.authenticate(&headers).await?;
    let filter = StreamFilter {
        conversation_sid: q.conversation_sid.filter(|sid| !sid.is_empty()),
        kinds: kinds(&q.event_types)?,
    };
    let last = last_event_id(&headers)?;
    let follower = stream::follow(&app.store, account, filter, last).await?;
    let events = futures_util::stream::unfold(follower, next_event);
    let heartbeat = KeepAlive::new()
        .interval(app.events_heartbeat)
        .text(HEARTBEAT);
    Ok(Sse::new(events).keep_alive(heartbeat).into_response())
}

/// The `EventType` filter: post-action events and confab's own, by name.
fn kinds(names: &[String]) -> Result<Vec<StreamEventKind>> {
    let mut kinds = Vec::with_capacity(names.len());
    for name in names {
        let kind = name.parse::<StreamEventKind>().map_err(|_| {
            Error::invalid(
                "EventType",
                format!("{name} is not a post-action event nor one of confab's own"),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// The `Last-Event-ID` header (what an EventSource sends when it reconnects), if any.
fn last_event_id(headers: &HeaderMap) -> Result<Option<EventId>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| Error::invalid("Last-Event-ID", "not an id this stream gave"))
}

/// The next SSE event; the stream ends if the store cannot be read (the client reconnects).
async fn next_event(mut follower: Follower) -> Option<(Result<Event, Infallible>, Follower)> {
    match follower.next().await {
        Ok(event) => Some((Ok(sse_event(&event)), follower)),
        Err(e) => {
            tracing::warn!(error = %e, "an event stream ended: the store could not be read");
            None
        }
    }
}

fn sse_event(event: &StreamEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(&event.name)
        .data(&event.data)
}
