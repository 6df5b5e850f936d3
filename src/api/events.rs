//! `GET /confab/Events`: the account's events as they happen, as Server-Sent Events
//! (docs/design.md, "The event stream"). Each event is one SSE event: `event:` its name (a
//! Twilio post-action event, or one of confab's own, `webhook_events::ConfabEvent`), `data:`
//! the JSON object of the parameters its webhook carries, `id:` its place in the store's order,
//! which a client sends back as `Last-Event-ID` to get what it missed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
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
const HEARTBEAT: &[u8] = b":heartbeat\n\n";
/// The least time between two writes of one stream. A quiet stream writes an event at once;
/// a busy one writes what came meanwhile together, so that an account's stream costs a wake-up
/// and a write every `PACE` at most, not one per event (docs/design.md, "The event stream").
const PACE: Duration = Duration::from_millis(20);
/// The bytes of events one write carries at most, unless its one event is larger: what each
/// busy stream holds while the client reads it. A stream that filled its write writes the
/// rest at once, without waiting for [`PACE`].
const MAX_WRITE: usize = 16 * 1024;

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
    let writes = Writes {
        follower,
        held: None,
        heartbeat: app.events_heartbeat,
        paced: false,
    };
    let body = Body::from_stream(futures_util::stream::unfold(writes, next_write));
    Ok((
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// One open stream's writes.
struct Writes {
    follower: Follower,
    /// The event that did not fit in the last write: the next one's first.
    held: Option<Arc<StreamEvent>>,
    heartbeat: Duration,
    /// The last write carried every event that was ready: the next waits [`PACE`] first.
    paced: bool,
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

/// The next write: every event ready by then (the first waited for), or a heartbeat if none
/// comes within the heartbeat interval. The stream ends if the store cannot be read (the
/// client reconnects with its `Last-Event-ID`).
async fn next_write(mut writes: Writes) -> Option<(Result<Bytes, Infallible>, Writes)> {
    if writes.paced {
        tokio::time::sleep(PACE).await;
    }
    let first = match writes.held.take() {
        Some(event) => event,
        // `Follower::next` may be dropped midway: it changes nothing before its event is
        // handed out.
        None => match tokio::time::timeout(writes.heartbeat, writes.follower.next()).await {
            Err(_) => {
                writes.paced = false;
                return Some((Ok(Bytes::from_static(HEARTBEAT)), writes));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "an event stream ended: the store could not be read");
                return None;
            }
            Ok(Ok(event)) => event,
        },
    };
    writes.paced = true;
    let first = written(&first).clone();
    // One event ready: its shared text goes out as it is.
    let Some(mut event) = writes.follower.try_next() else {
        return Some((Ok(first), writes));
    };
    let mut text = Vec::with_capacity(MAX_WRITE.max(first.len()));
    text.extend_from_slice(&first);
    loop {
        let bytes = written(&event);
        if text.len() + bytes.len() > MAX_WRITE {
            writes.held = Some(event);
            writes.paced = false;
            break;
        }
        text.extend_from_slice(bytes);
        match writes.follower.try_next() {
            Some(next) => event = next,
            None => break,
        }
    }
    Some((Ok(Bytes::from(text)), writes))
}

/// The event's text, made once for every stream of this node that writes the same event.
fn written(event: &StreamEvent) -> &Bytes {
    event.written.get_or_init(|| {
        let mut out = Vec::with_capacity(64 + event.name.len() + event.data.len());
        write_event(&mut out, event);
        Bytes::from(out)
    })
}

/// One SSE event: `id`, `event`, and a `data` line for each line of its data.
fn write_event(out: &mut Vec<u8>, event: &StreamEvent) {
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(event.id.to_string().as_bytes());
    out.extend_from_slice(b"\nevent: ");
    out.extend_from_slice(event.name.as_bytes());
    out.push(b'\n');
    for line in event.data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::events::EventId;

    fn event(data: &str) -> StreamEvent {
        StreamEvent {
            id: EventId { epoch: 0, seq: 7 },
            account_sid: "AC1".into(),
            conversation_sid: None,
            name: "onMessageAdded".into(),
            data: data.into(),
            written: Default::default(),
        }
    }

    #[test]
    fn an_event_is_written_as_sse_with_a_data_line_for_each_line() {
        let e = event("{\"a\":1}\r\n{\"b\":2}");
        assert_eq!(
            &written(&e)[..],
            b"id: 7\nevent: onMessageAdded\ndata: {\"a\":1}\ndata: {\"b\":2}\n\n"
        );
    }

    #[test]
    fn an_events_text_is_made_once_and_shared() {
        let e = Arc::new(event("{}"));
        let (a, b) = (Arc::clone(&e), Arc::clone(&e));
        // Two streams handed the same event write the very same bytes, not two copies.
        assert_eq!(written(&a).as_ptr(), written(&b).as_ptr());
    }
}
