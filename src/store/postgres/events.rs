//! The event stream's table in PostgreSQL, and the poller that hands its events to this node's
//! streams.
//!
//! Order: by the writing transaction's id, then the row's; only events of transactions older
//! than every running one (`pg_snapshot_xmin`) are read, so that none can ever appear behind
//! one handed out (docs/design.md, "The event stream"). The poller reads on a connection of its
//! own: woken at once by this node's commits that recorded events, and every
//! [`POLL_INTERVAL`] for other nodes' (a `NOTIFY` per write would serialize every commit on
//! the database: PostgreSQL holds a global lock from a notifying transaction's pre-commit to
//! its end).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};

use super::PgTx;
use crate::error::Result;
use crate::store::Wakeups;
use crate::store::events::{EventId, EventStore, NewEvent, Retention, StreamEvent, StreamStart};

/// How often the poller looks for other nodes' events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How soon it looks again while a committed event waits behind a running transaction.
const HELD_BACK_INTERVAL: Duration = Duration::from_millis(10);
/// The least time between two looks, however often commits wake it.
const MIN_SPACING: Duration = Duration::from_millis(5);
/// Events read per query.
const PAGE: i64 = 1000;

/// Events of one account (`$3`), settled: below the oldest running transaction.
const SETTLED_OF_ACCOUNT: &str = "
    SELECT id, txid, account_sid, conversation_sid, name, data FROM stream_events
    WHERE account_sid = $3 AND (txid, id) > ($1, $2)
      AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY txid, id LIMIT $4";
/// Settled events of every account.
const SETTLED: &str = "
    SELECT id, txid, account_sid, conversation_sid, name, data FROM stream_events
    WHERE (txid, id) > ($1, $2)
      AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY txid, id LIMIT $3";
/// The first event after the cursor, if any: one committed but not yet settled. Not `EXISTS`:
/// PostgreSQL drops an `ORDER BY` inside it, and the generic plan of a prepared `EXISTS` is a
/// sequential scan, which reads the whole table to find nothing (measured: 153 million rows
/// read in a few minutes of message posts, most of PostgreSQL's CPU).
const HELD_BACK: &str =
    "SELECT txid FROM stream_events WHERE (txid, id) > ($1, $2) ORDER BY txid, id LIMIT 1";
/// The newest settled event.
const LAST_SETTLED: &str = "
    SELECT id, txid FROM stream_events
    WHERE txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY txid DESC, id DESC LIMIT 1";

fn stream_event(r: &Row) -> StreamEvent {
    StreamEvent {
        id: EventId {
            epoch: r.get(1),
            seq: r.get(0),
        },
        account_sid: r.get(2),
        conversation_sid: r.get(3),
        name: r.get(4),
        data: r.get(5),
        written: Default::default(),
    }
}

fn event_id(r: &Row) -> EventId {
    EventId {
        epoch: r.get(1),
        seq: r.get(0),
    }
}

impl EventStore for PgTx<'_> {
    /// Sent with the job's next statement or its commit: nothing in the job reads it back.
    fn record_event(&mut self, event: &NewEvent) -> Result<()> {
        self.execute_later(
            "INSERT INTO stream_events (account_sid, conversation_sid, name, data)
             VALUES ($1, $2, $3, $4)",
            &[
                &event.account_sid,
                &event.conversation_sid,
                &event.name,
                &event.data,
            ],
        )?;
        self.recorded_events.set(true);
        Ok(())
    }

    fn events_after(
        &self,
        account_sid: Option<&str>,
        after: EventId,
        _upto: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StreamEvent>> {
        let limit = limit as i64;
        let rows = match account_sid {
            Some(account) => self.query(
                SETTLED_OF_ACCOUNT,
                &[&after.epoch, &after.seq, &account, &limit],
            )?,
            None => self.query(SETTLED, &[&after.epoch, &after.seq, &limit])?,
        };
        Ok(rows.iter().map(stream_event).collect())
    }

    /// After the newest settled event, passing over the account's rows committed but not
    /// settled yet (read after it: committed by now).
    fn stream_start(&self, account_sid: &str) -> Result<StreamStart> {
        let after = self
            .query_opt(LAST_SETTLED, &[])?
            .as_ref()
            .map(event_id)
            .unwrap_or_default();
        let waiting = self.query(
            "SELECT id, txid FROM stream_events
             WHERE account_sid = $1 AND (txid, id) > ($2, $3)",
            &[&account_sid, &after.epoch, &after.seq],
        )?;
        Ok(StreamStart {
            after,
            committed_before: waiting.iter().map(event_id).collect(),
        })
    }

    fn prune_events(&mut self, retention: &Retention) -> Result<u64> {
        let old = self.execute(
            "DELETE FROM stream_events
             WHERE recorded_at < extract(epoch FROM clock_timestamp())::bigint - $1",
            &[&retention.keep_secs],
        )?;
        let many = self.execute(
            "DELETE FROM stream_events
             WHERE id <= (SELECT max(id) FROM stream_events) - $1",
            &[&retention.keep_count],
        )?;
        Ok(old + many)
    }
}

/// The newest settled event, where a node's poller starts (`EventId::default()` if none).
pub(super) fn last_settled(client: &mut Client) -> std::result::Result<EventId, postgres::Error> {
    let last = query(client, LAST_SETTLED, &[])?;
    Ok(last.first().map(event_id).unwrap_or_default())
}

/// Starts the poller's thread: it publishes settled events to this node's feed, in order,
/// after `from`. It reconnects if its connection drops (keeping its place), and ends once
/// `stop` is set.
pub(super) fn spawn_poller(
    config: postgres::Config,
    from: EventId,
    wake: Arc<Wakeups>,
    stop: Arc<AtomicBool>,
    commits: Receiver<()>,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("confab-pg-events".into())
        .spawn(move || {
            let mut cursor = from;
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = poll(&config, &wake, &stop, &commits, &mut cursor) {
                    tracing::warn!(error = %e, "lost the event stream's connection; reconnecting");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        })?;
    Ok(())
}

fn query(
    client: &mut Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Vec<Row>, postgres::Error> {
    let statement = client.prepare(sql)?;
    client.query(&statement, params)
}

fn poll(
    config: &postgres::Config,
    wake: &Wakeups,
    stop: &AtomicBool,
    commits: &Receiver<()>,
    cursor: &mut EventId,
) -> std::result::Result<(), postgres::Error> {
    let mut client = config.connect(NoTls)?;
    let settled = client.prepare(SETTLED)?;
    let held_back = client.prepare(HELD_BACK)?;
    let mut at = *cursor;
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        loop {
            let rows = client.query(&settled, &[&at.epoch, &at.seq, &PAGE])?;
            let events: Vec<StreamEvent> = rows.iter().map(stream_event).collect();
            let full = events.len() as i64 == PAGE;
            if let Some(last) = events.last() {
                at = last.id;
                *cursor = at;
            }
            wake.events.publish(events);
            if !full {
                break;
            }
        }
        let waiting = client
            .query_opt(&held_back, &[&at.epoch, &at.seq])?
            .is_some();
        let wait = if waiting {
            HELD_BACK_INTERVAL
        } else {
            POLL_INTERVAL
        };
        match commits.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            // The engine is gone.
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if let Some(rest) = MIN_SPACING.checked_sub(began.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::store::{Location, Options, Store};

    fn event(account: &str, name: &'static str) -> NewEvent {
        NewEvent {
            account_sid: account.into(),
            conversation_sid: None,
            name,
            data: "{}".into(),
        }
    }

    /// A store on a new database and its URL, or `None` (said on stderr) without
    /// `CONFAB_TEST_PG`: these tests are PostgreSQL's own.
    async fn store_on_a_new_database() -> Option<(String, Store)> {
        let Ok(admin) = std::env::var("CONFAB_TEST_PG") else {
            eprintln!("NOT RUN: CONFAB_TEST_PG is not set (a PostgreSQL-only test)");
            return None;
        };
        let url = crate::store::postgres::create_test_database(admin);
        let store = Store::open(
            &Location::Postgres(url.clone()),
            &Options::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        Some((url, store))
    }

    /// A transaction that took the lower id commits after one that took a higher id: a reader
    /// of `id > last` would have moved past it. Here the later one is held back until the
    /// earlier one ends, and then both come, in the order of their transactions.
    #[tokio::test]
    async fn an_event_that_commits_late_is_not_skipped() {
        let Some((url, store)) = store_on_a_new_database().await else {
            return;
        };
        let mut feed = store.events().subscribe("AClate");
        // The late one: its transaction takes an id, and stays open.
        let (inserted_tx, inserted) = std::sync::mpsc::channel();
        let (commit_tx, commit) = std::sync::mpsc::channel::<()>();
        let late = std::thread::spawn(move || {
            let mut client = Client::connect(&url, NoTls).unwrap();
            let mut tx = client.transaction().unwrap();
            tx.execute(
                "INSERT INTO stream_events (account_sid, name, data) VALUES ('AClate', 'late', '{}')",
                &[],
            )
            .unwrap();
            inserted_tx.send(()).unwrap();
            commit.recv().unwrap();
            tx.commit().unwrap();
        });
        inserted.recv().unwrap();
        store
            .write(|tx| tx.record_event(&event("AClate", "early")))
            .await
            .unwrap();
        async fn read(store: &Store) -> Result<Vec<StreamEvent>> {
            store
                .read(|tx| tx.events_after(Some("AClate"), EventId::default(), None, 10))
                .await
        }
        // Committed, and a higher id than the open one's: held back, not handed out.
        assert!(read(&store).await.unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            feed.events.try_recv().is_err(),
            "handed out before an older transaction ended"
        );
        commit_tx.send(()).unwrap();
        late.join().unwrap();
        let names: Vec<String> = read(&store)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["late", "early"]);
        let mut published = Vec::new();
        for _ in 0..2 {
            let event = tokio::time::timeout(Duration::from_secs(5), feed.events.recv())
                .await
                .expect("the poller publishes both")
                .unwrap();
            published.push(event.name.clone());
        }
        assert_eq!(published, ["late", "early"]);
    }

    /// The poller's statements read through the index whatever the cursor: prepared once, they
    /// run on PostgreSQL's generic plan, which must not scan the table on every look.
    #[tokio::test]
    async fn the_pollers_statements_use_the_index_on_their_generic_plan() {
        // Opening migrates the new database.
        let Some((url, store)) = store_on_a_new_database().await else {
            return;
        };
        drop(store);
        let plans = tokio::task::spawn_blocking(move || {
            let mut client = Client::connect(&url, NoTls).unwrap();
            client
                .batch_execute(
                    "INSERT INTO stream_events (account_sid, name, data)
                         SELECT 'ACplan', 'e', '{}' FROM generate_series(1, 20000);
                     ANALYZE stream_events;
                     SET plan_cache_mode = force_generic_plan",
                )
                .unwrap();
            // Each statement with the cursor at the start, and its arguments.
            [(SETTLED, "0, 0, 10"), (HELD_BACK, "0, 0")].map(|(sql, arguments)| {
                let plan = client
                    .simple_query(&format!(
                        "PREPARE p AS {sql}; EXPLAIN EXECUTE p({arguments}); DEALLOCATE p"
                    ))
                    .unwrap();
                plan.iter()
                    .filter_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        })
        .await
        .unwrap();
        for plan in plans {
            assert!(!plan.contains("Seq Scan"), "a scan of the table:\n{plan}");
            assert!(plan.contains("stream_events_in_order"), "{plan}");
        }
    }
}
