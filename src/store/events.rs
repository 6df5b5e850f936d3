//! The event stream as the store keeps it (`GET /confab/Events`; docs/design.md, "The event
//! stream"): every event recorded in the job that makes its change, and handed to the streams
//! open on this node only once that job's write is durable.
//!
//! Each engine records events in a table of its own, in the job's transaction, and keeps them
//! for a bounded time and count. [`EventFeed`] is the node's fan-out: the engine publishes to
//! it what has become durable (SQLite: the writer's batch, once answered; PostgreSQL: what its
//! poller reads, woken by this node's commits and looking every 100 ms for other nodes'), and
//! each open stream subscribes to its account's events. A stream that reconnects with `Last-Event-ID` reads what it missed from the table.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::error::Result;

/// An event's place in the stream's order, the same on every node of a store: its SSE `id`.
///
/// SQLite has one writer, so a row's id is its commit order (`epoch` is 0). On PostgreSQL a
/// sequence's numbers are not commit order (a transaction may commit after a later one took a
/// greater number), so an event is ordered by the transaction that wrote it first
/// (`epoch`: its 64-bit transaction id), then by its row id; only events of transactions older
/// than every transaction still running are handed out, so nothing can ever land behind one
/// handed out already (docs/design.md, "The event stream").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId {
    pub epoch: i64,
    pub seq: i64,
}

impl fmt::Display for EventId {
    /// `seq` (SQLite) or `epoch-seq` (PostgreSQL, whose transaction ids are never 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch == 0 {
            write!(f, "{}", self.seq)
        } else {
            write!(f, "{}-{}", self.epoch, self.seq)
        }
    }
}

/// A `Last-Event-ID` that no stream of confab's could have sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnEventId;

impl FromStr for EventId {
    type Err = NotAnEventId;

    fn from_str(text: &str) -> std::result::Result<Self, NotAnEventId> {
        let number = |s: &str| {
            s.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && s.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(NotAnEventId)
        };
        match text.split_once('-') {
            Some((epoch, seq)) => Ok(EventId {
                epoch: number(epoch)?,
                seq: number(seq)?,
            }),
            None => Ok(EventId {
                epoch: 0,
                seq: number(text)?,
            }),
        }
    }
}

/// An event to record, in the job that makes its change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub account_sid: String,
    pub conversation_sid: Option<String>,
    /// Its name on the stream: a Twilio event name, or one of confab's own
    /// (`webhook_events::StreamEventKind`).
    pub name: &'static str,
    /// A JSON object: the event's parameters (`domain::webhook_params`).
    pub data: String,
}

/// An event as streams see it.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub id: EventId,
    pub account_sid: String,
    pub conversation_sid: Option<String>,
    pub name: String,
    pub data: String,
    /// The event's text as a stream writes it, made by the first stream that writes it
    /// (`api/events.rs`) and shared by every stream the node's feed hands the same event to, so
    /// that an account's streams do not each format each event. Not part of its identity.
    pub written: OnceLock<Bytes>,
}

impl PartialEq for StreamEvent {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            &self.account_sid,
            &self.conversation_sid,
            &self.name,
            &self.data,
        ) == (
            &other.id,
            &other.account_sid,
            &other.conversation_sid,
            &other.name,
            &other.data,
        )
    }
}

impl Eq for StreamEvent {}

/// Where a new stream starts ([`EventStore::stream_start`]).
#[derive(Debug, Clone, Default)]
pub struct StreamStart {
    pub after: EventId,
    /// Events after `after` that were committed before the stream opened.
    pub committed_before: Vec<EventId>,
}

/// How long, and how many, events are kept for streams that reconnect.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Seconds, on the system's clock (not the movable test clock: moving it must not drop
    /// what a reconnecting stream has yet to read).
    pub keep_secs: i64,
    /// The newest this many are kept, whatever their age.
    pub keep_count: i64,
}

pub trait EventStore {
    /// Records an event; it reaches the streams once the job's write is durable.
    fn record_event(&mut self, event: &NewEvent) -> Result<()>;

    /// The events after `after`, oldest first, at most `limit`: of one account, or of every
    /// account (`None`). Only those that may be handed out: SQLite: up to `upto` (what the
    /// feed has published, so durable); PostgreSQL: those of transactions older than every
    /// running one (`upto` is not needed there).
    fn events_after(
        &self,
        account_sid: Option<&str>,
        after: EventId,
        upto: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StreamEvent>>;

    /// Where a stream opened now starts: after the newest event that may be handed out, passing
    /// over the account's events committed by now that may not be handed out yet (PostgreSQL:
    /// those waiting behind an older running transaction), so that it carries only what is
    /// committed after it opened.
    fn stream_start(&self, account_sid: &str) -> Result<StreamStart>;

    /// Forgets the events past `retention`; answers how many.
    fn prune_events(&mut self, retention: &Retention) -> Result<u64>;
}

/// Events in flight to one account's streams on this node before a slow one falls behind
/// (it then reads what it missed from the store).
pub const PER_ACCOUNT_BUFFER: usize = 1024;

/// The node's fan-out of durable events to its open streams, by account: a stream wakes only
/// for its own account's events.
#[derive(Default)]
pub struct EventFeed {
    inner: Mutex<Published>,
}

#[derive(Default)]
struct Published {
    /// The newest event published (SQLite: every event up to it is durable).
    horizon: EventId,
    accounts: HashMap<String, broadcast::Sender<Arc<StreamEvent>>>,
}

/// A stream's subscription: the events published after it, and the horizon when it began
/// (everything up to it may be read from the store).
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<StreamEvent>>,
    pub horizon: EventId,
}

impl EventFeed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where publishing starts: the newest event already in the store at start.
    pub fn start_at(&self, horizon: EventId) {
        let mut published = self.lock();
        published.horizon = published.horizon.max(horizon);
    }

    /// Hands durable events, in order, to the streams of their accounts. The horizon moves
    /// under the same lock that subscribing takes, so that an event is either in a new
    /// subscription's receiver or at or below its horizon (readable from the store).
    pub fn publish(&self, events: Vec<StreamEvent>) {
        if events.is_empty() {
            return;
        }
        let mut published = self.lock();
        for event in events {
            published.horizon = published.horizon.max(event.id);
            let account = event.account_sid.as_str();
            let gone = match published.accounts.get(account) {
                Some(streams) => streams.send(Arc::new(event.clone())).is_err(),
                None => false,
            };
            if gone {
                published.accounts.remove(&event.account_sid);
            }
        }
    }

    /// Subscribes to an account's events from now on.
    pub fn subscribe(&self, account_sid: &str) -> Subscription {
        let mut published = self.lock();
        let horizon = published.horizon;
        let events = match published.accounts.get(account_sid) {
            Some(streams) => streams.subscribe(),
            None => {
                let (streams, events) = broadcast::channel(PER_ACCOUNT_BUFFER);
                published.accounts.insert(account_sid.to_string(), streams);
                events
            }
        };
        Subscription { events, horizon }
    }

    /// The newest event published.
    pub fn horizon(&self) -> EventId {
        self.lock().horizon
    }

    /// Forgets the accounts whose streams have all closed.
    pub fn forget_closed(&self) {
        self.lock()
            .accounts
            .retain(|_, streams| streams.receiver_count() > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(account: &str, seq: i64) -> StreamEvent {
        StreamEvent {
            id: EventId { epoch: 0, seq },
            account_sid: account.into(),
            conversation_sid: None,
            name: "onMessageAdded".into(),
            data: "{}".into(),
            written: Default::default(),
        }
    }

    #[test]
    fn ids_print_and_parse_both_ways() {
        for id in [
            EventId { epoch: 0, seq: 42 },
            EventId {
                epoch: 7_000_123,
                seq: 9,
            },
        ] {
            assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        }
        assert_eq!("42".parse::<EventId>().unwrap().seq, 42);
        for bad in ["", "-1", "a", "1-", "-", "1-2-3", "+4", " 4"] {
            assert_eq!(bad.parse::<EventId>(), Err(NotAnEventId), "{bad:?}");
        }
        assert!(EventId { epoch: 1, seq: 0 } > EventId { epoch: 0, seq: 99 });
    }

    #[test]
    fn a_subscription_gets_its_accounts_events_only_and_the_horizon_moves() {
        let feed = EventFeed::default();
        feed.start_at(EventId { epoch: 0, seq: 3 });
        let mut mine = feed.subscribe("AC1");
        assert_eq!(mine.horizon.seq, 3);
        feed.publish(vec![event("AC2", 4), event("AC1", 5)]);
        assert_eq!(mine.events.try_recv().unwrap().id.seq, 5);
        assert!(mine.events.try_recv().is_err());
        assert_eq!(feed.horizon().seq, 5);
        assert_eq!(feed.subscribe("AC1").horizon.seq, 5);
    }

    #[test]
    fn closed_accounts_are_forgotten() {
        let feed = EventFeed::default();
        drop(feed.subscribe("AC1"));
        feed.forget_closed();
        assert!(feed.lock().accounts.is_empty());
    }
}
