//! The event stream (`GET /confab/Events`; docs/design.md, "The event stream"): what one open
//! stream hands out, in order, once each: first what it missed (after its `Last-Event-ID`, read
//! from the store), then the node's live feed of its account; and keeping the recorded events
//! within their retention.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use crate::error::Result;
use crate::store::Store;
use crate::store::events::{EventId, Retention, StreamEvent, StreamStart};
use crate::webhook_events::StreamEventKind;

/// Events read from the store at once while catching up.
const CATCH_UP_PAGE: usize = 500;
/// How often recorded events past their retention are removed.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Which of its account's events a stream wants.
#[derive(Debug, Clone, Default)]
pub struct StreamFilter {
    /// Only this conversation's events.
    pub conversation_sid: Option<String>,
    /// Only these kinds; every kind when empty.
    pub kinds: Vec<StreamEventKind>,
}

impl StreamFilter {
    pub fn wants(&self, event: &StreamEvent) -> bool {
        let conversation = match &self.conversation_sid {
            Some(sid) => event.conversation_sid.as_deref() == Some(sid.as_str()),
            None => true,
        };
        conversation
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k.as_str() == event.name))
    }
}

/// One open stream's place: it hands out each event after `last` once, in order.
pub struct Follower {
    store: Store,
    account_sid: String,
    filter: StreamFilter,
    live: broadcast::Receiver<Arc<StreamEvent>>,
    /// The last event handed out or passed over (filtered out).
    last: EventId,
    /// Events after `last` committed before the stream opened: not handed out.
    passed_over: Vec<EventId>,
    /// Events read from the store, not yet handed out.
    backlog: VecDeque<StreamEvent>,
    /// Reading from the store: after a `Last-Event-ID`, or after falling behind the live feed.
    catching_up: bool,
}

/// Opens a stream of the account's events: those after `last_event_id` (what is still kept),
/// then each as it becomes durable; without one, from now on: after the newest event the store
/// may hand out (a PostgreSQL node's feed may not have published it yet).
pub async fn follow(
    store: &Store,
    account_sid: String,
    filter: StreamFilter,
    last_event_id: Option<EventId>,
) -> Result<Follower> {
    // Subscribed before anything is read: an event is either in `live` or readable from the
    // store at or below the horizon (`EventFeed::publish`).
    let subscription = store.events().subscribe(&account_sid);
    let start = match last_event_id {
        Some(id) => StreamStart {
            after: id,
            committed_before: Vec::new(),
        },
        None => {
            let account = account_sid.clone();
            let mut start = store.read(move |tx| tx.stream_start(&account)).await?;
            start.after = start.after.max(subscription.horizon);
            start
        }
    };
    Ok(Follower {
        store: store.clone(),
        account_sid,
        filter,
        live: subscription.events,
        last: start.after,
        passed_over: start.committed_before,
        backlog: VecDeque::new(),
        catching_up: last_event_id.is_some(),
    })
}

impl Follower {
    /// The next event the stream wants; `Err` if the store could not be read (the client
    /// reconnects with its `Last-Event-ID`).
    pub async fn next(&mut self) -> Result<Arc<StreamEvent>> {
        loop {
            if let Some(event) = self.try_next() {
                return Ok(event);
            }
            if self.catching_up {
                self.catch_up().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(event) => {
                    if let Some(wanted) = self.pass(event) {
                        return Ok(wanted);
                    }
                }
                // Fell behind the live feed: what it dropped is in the store.
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                // The feed lives as long as the store: nothing more will come.
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }

    /// The next wanted event that is ready now: what [`Follower::next`] would answer without
    /// waiting for the live feed or reading the store. `None` when nothing is ready, or when
    /// the stream must first read what it missed from the store (which `next` does).
    pub fn try_next(&mut self) -> Option<Arc<StreamEvent>> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if let Some(wanted) = self.pass(Arc::new(event)) {
                    return Some(wanted);
                }
                continue;
            }
            if self.catching_up {
                return None;
            }
            match self.live.try_recv() {
                Ok(event) => {
                    if let Some(wanted) = self.pass(event) {
                        return Some(wanted);
                    }
                }
                // Fell behind the live feed: what it dropped is in the store.
                Err(TryRecvError::Lagged(_)) => {
                    self.catching_up = true;
                    return None;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    /// Moves past `event`; answers it if it is new and wanted.
    fn pass(&mut self, event: Arc<StreamEvent>) -> Option<Arc<StreamEvent>> {
        if event.id <= self.last {
            return None; // handed out already, from the store or the feed
        }
        self.last = event.id;
        if self.passed_over.contains(&event.id) {
            return None;
        }
        self.filter.wants(&event).then_some(event)
    }

    /// Reads the next page after `last` from the store (up to what the feed has published);
    /// an empty page ends the catching up.
    async fn catch_up(&mut self) -> Result<()> {
        let (account, after) = (self.account_sid.clone(), self.last);
        let upto = Some(self.store.events().horizon());
        let page = self
            .store
            .read(move |tx| tx.events_after(Some(&account), after, upto, CATCH_UP_PAGE))
            .await?;
        if page.is_empty() {
            self.catching_up = false;
        }
        self.backlog.extend(page);
        Ok(())
    }
}

/// Removes, every [`PRUNE_EVERY`], the recorded events past `retention` (several nodes may do
/// it at once: deleting what is gone is nothing).
pub fn spawn_pruner(store: Store, retention: Retention) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        loop {
            every.tick().await;
            match store.write(move |tx| tx.prune_events(&retention)).await {
                Ok(0) => {}
                Ok(pruned) => tracing::debug!(pruned, "stream events past their retention"),
                Err(e) => tracing::warn!(error = %e, "could not prune stream events"),
            }
            store.events().forget_closed();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook_events::{ConfabEvent, EventType};

    fn event(name: &str, conversation: Option<&str>) -> StreamEvent {
        StreamEvent {
            id: EventId::default(),
            account_sid: "AC1".into(),
            conversation_sid: conversation.map(str::to_string),
            name: name.into(),
            data: "{}".into(),
            written: Default::default(),
        }
    }

    async fn recorded(store: &Store) -> Vec<String> {
        store
            .read(|tx| tx.events_after(Some("ACprune"), EventId::default(), None, 100))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.data)
            .collect()
    }

    /// On the engine under test: the count keeps the newest, the age drops the old (a negative
    /// age puts every event in the past).
    #[tokio::test]
    async fn retention_keeps_the_newest_and_drops_the_old() {
        let store = crate::store::open_for_test().await;
        for n in 0..5 {
            store
                .write(move |tx| {
                    tx.record_event(&crate::store::events::NewEvent {
                        account_sid: "ACprune".into(),
                        conversation_sid: None,
                        name: "onUserAdded",
                        data: format!("{{\"n\":{n}}}"),
                    })
                })
                .await
                .unwrap();
        }
        // What SQLite's streams may read is bounded by what was published: all of it here.
        let mut tries = 0;
        while recorded(&store).await.len() < 5 && tries < 100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tries += 1;
        }
        let keep = |keep_secs, keep_count| Retention {
            keep_secs,
            keep_count,
        };
        let pruned = store
            .write(move |tx| tx.prune_events(&keep(3600, 2)))
            .await
            .unwrap();
        assert_eq!(pruned, 3);
        assert_eq!(recorded(&store).await, [r#"{"n":3}"#, r#"{"n":4}"#]);
        store
            .write(move |tx| tx.prune_events(&keep(3600, 100)))
            .await
            .unwrap();
        assert_eq!(recorded(&store).await.len(), 2, "young events stay");
        store
            .write(move |tx| tx.prune_events(&keep(-60, 100)))
            .await
            .unwrap();
        assert!(recorded(&store).await.is_empty());
    }

    /// A stream that falls further behind than its channel holds reads the rest from the store:
    /// every event once, in order.
    #[tokio::test]
    async fn a_stream_that_falls_behind_catches_up_from_the_store() {
        let store = crate::store::open_for_test().await;
        let mut follower = follow(&store, "AClag".into(), StreamFilter::default(), None)
            .await
            .unwrap();
        let total = crate::store::events::PER_ACCOUNT_BUFFER + 100;
        store
            .write(move |tx| {
                for n in 0..total {
                    tx.record_event(&crate::store::events::NewEvent {
                        account_sid: "AClag".into(),
                        conversation_sid: None,
                        name: "onUserAdded",
                        data: n.to_string(),
                    })?;
                }
                Ok(())
            })
            .await
            .unwrap();
        for n in 0..total {
            let event = tokio::time::timeout(Duration::from_secs(10), follower.next())
                .await
                .expect("every event comes")
                .unwrap();
            assert_eq!(event.data, n.to_string());
        }
    }

    #[test]
    fn filters_by_conversation_and_kind() {
        let all = StreamFilter::default();
        assert!(all.wants(&event("onUserAdded", None)));
        let one = StreamFilter {
            conversation_sid: Some("CH1".into()),
            kinds: vec![
                StreamEventKind::Twilio(EventType::MessageAdded),
                StreamEventKind::Confab(ConfabEvent::WebhookFailed),
            ],
        };
        assert!(one.wants(&event("onMessageAdded", Some("CH1"))));
        assert!(one.wants(&event("confabWebhookFailed", Some("CH1"))));
        assert!(!one.wants(&event("onMessageAdded", Some("CH2"))));
        assert!(!one.wants(&event("onMessageAdded", None)));
        assert!(!one.wants(&event("onMessageUpdated", Some("CH1"))));
    }
}
