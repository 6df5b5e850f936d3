//! The event stream's table in SQLite. One writer: a row's id is its commit order, and what a
//! stream may read is bounded by what the feed has published (`upto`), which is durable.

use rusqlite::Row;

use super::SqliteTx;
use crate::error::Result;
use crate::store::events::{EventId, EventStore, NewEvent, Retention, StreamEvent, StreamStart};

fn stream_event(r: &Row) -> rusqlite::Result<StreamEvent> {
    Ok(StreamEvent {
        id: EventId {
            epoch: 0,
            seq: r.get(0)?,
        },
        account_sid: r.get(1)?,
        conversation_sid: r.get(2)?,
        name: r.get(3)?,
        data: r.get(4)?,
        written: Default::default(),
    })
}

impl EventStore for SqliteTx<'_, '_> {
    /// One INSERT, its id read back with `last_insert_rowid` rather than `RETURNING` (SQLite
    /// gathers returned rows in a table of its own first), and stamped with the system's clock
    /// from here rather than the column's `unixepoch()` default: the insert took 31k
    /// instructions per message with them, 18k without (docs/design.md, "The event stream").
    fn record_event(&mut self, event: &NewEvent) -> Result<()> {
        let recorded_at = crate::clock::system_secs();
        self.tx
            .prepare_cached(
                "INSERT INTO stream_events (account_sid, conversation_sid, name, data, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![
                event.account_sid,
                event.conversation_sid,
                event.name,
                event.data,
                recorded_at,
            ])?;
        let seq = self.tx.last_insert_rowid();
        self.recorded_event(StreamEvent {
            id: EventId { epoch: 0, seq },
            account_sid: event.account_sid.clone(),
            conversation_sid: event.conversation_sid.clone(),
            name: event.name.to_string(),
            data: event.data.clone(),
            written: Default::default(),
        });
        Ok(())
    }

    fn events_after(
        &self,
        account_sid: Option<&str>,
        after: EventId,
        upto: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StreamEvent>> {
        // Ids of another engine's form (an epoch) never come from this store: after them,
        // nothing here (and `upto` bounds a read to what is durable).
        let after = if after.epoch == 0 {
            after.seq
        } else {
            i64::MAX
        };
        let upto = upto.map_or(i64::MAX, |u| if u.epoch == 0 { u.seq } else { i64::MAX });
        let limit = limit as i64;
        match account_sid {
            Some(account) => self.tx.all(
                "SELECT id, account_sid, conversation_sid, name, data FROM stream_events
                 WHERE account_sid = ?1 AND id > ?2 AND id <= ?3 ORDER BY id LIMIT ?4",
                &[&account, &after, &upto, &limit],
                stream_event,
            ),
            None => self.tx.all(
                "SELECT id, account_sid, conversation_sid, name, data FROM stream_events
                 WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
                &[&after, &upto, &limit],
                stream_event,
            ),
        }
    }

    /// One writer: everything committed by now has an id up to the newest.
    fn stream_start(&self, _account_sid: &str) -> Result<StreamStart> {
        let newest: Option<Option<i64>> =
            self.tx
                .optional("SELECT max(id) FROM stream_events", &[], |r| r.get(0))?;
        Ok(StreamStart {
            after: EventId {
                epoch: 0,
                seq: newest.flatten().unwrap_or(0),
            },
            committed_before: Vec::new(),
        })
    }

    fn prune_events(&mut self, retention: &Retention) -> Result<u64> {
        // The writer stamps rows in id order: the old ones are the ids before the first young
        // one, found walking the rowid from the oldest.
        let old = self.tx.run(
            "DELETE FROM stream_events WHERE id < coalesce(
                 (SELECT id FROM stream_events WHERE recorded_at >= unixepoch() - ?1
                  ORDER BY id LIMIT 1),
                 (SELECT max(id) + 1 FROM stream_events))",
            &[&retention.keep_secs],
        )?;
        let many = self.tx.run(
            "DELETE FROM stream_events
             WHERE id <= (SELECT max(id) FROM stream_events) - ?1",
            &[&retention.keep_count],
        )?;
        Ok((old + many) as u64)
    }
}
