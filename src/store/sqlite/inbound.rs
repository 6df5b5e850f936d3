//! Inbound messages, their log and a phone's thread, in SQLite.

use std::sync::LazyLock;

use rusqlite::Row;
use rusqlite::types::Type;

use super::SqliteTx;
use super::receipts::{OUTBOUND_BY_ID, outbound};
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::states::{InboundChannel, InboundOutcome};
use crate::store::inbound::{InboundRow, InboundStore, PairHolder, ThreadEntry};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str = "SELECT id, sid, account_sid, from_address, to_address, channel, body, media,
    outcome, conversation_sid, participant_sid, message_sid, error_code, error_message, date_created
    FROM inbound_messages";
static IN_ACCOUNT: LazyLock<String> = LazyLock::new(|| format!("{SELECT} WHERE account_sid = ?1"));
static FROM_ADDRESS: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE account_sid = ?1 AND from_address = ?2"));
static BY_ID: LazyLock<String> = LazyLock::new(|| format!("{SELECT} WHERE id = ?1"));

/// Both directions of every phone's thread, each at its place in the order of writes: an
/// outbound message at its receipt's id, an inbound one just after the last receipt written
/// before it (`kind` 1 sorts it after that receipt).
const THREAD: &str = "SELECT t.pos, t.kind, t.id FROM (
        SELECT i.after_receipt AS pos, 1 AS kind, i.id AS id, i.account_sid AS account_sid,
               i.from_address AS address
          FROM inbound_messages i
        UNION ALL
        SELECT r.id, 0, r.id, s.account_sid, r.to_address
          FROM receipts r JOIN messages m ON m.id = r.message_id
          JOIN conversations c ON c.id = m.conversation_id JOIN services s ON s.id = c.service_id
    ) t WHERE t.account_sid = ?1 AND t.address = ?2";

/// A stored kind read back; SQLite holds only what confab wrote.
fn parsed<T>(row: &Row, column: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Text,
            format!("unknown value {text:?}").into(),
        )
    })
}

fn inbound(r: &Row) -> rusqlite::Result<InboundRow> {
    let media: Option<String> = r.get(7)?;
    Ok(InboundRow {
        id: r.get(0)?,
        sid: r.get(1)?,
        account_sid: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        channel: parsed(r, 5, InboundChannel::parse)?,
        body: r.get(6)?,
        media: media.and_then(|m| serde_json::from_str(&m).ok()),
        outcome: parsed(r, 8, InboundOutcome::parse)?,
        conversation_sid: r.get(9)?,
        participant_sid: r.get(10)?,
        message_sid: r.get(11)?,
        error_code: r.get(12)?,
        error_message: r.get(13)?,
        date_created: r.get(14)?,
    })
}

impl InboundStore for SqliteTx<'_, '_> {
    fn pair_holder(
        &self,
        account_sid: &str,
        address: &str,
        proxy_address: &str,
    ) -> Result<Option<PairHolder>> {
        // Along `participants_routing`: the key the database keeps unique.
        self.tx.optional(
            "SELECT s.sid, c.sid, p.sid FROM participants p
               JOIN conversations c ON c.id = p.conversation_id JOIN services s ON s.id = c.service_id
             WHERE p.routing_account_sid = ?1 AND p.binding_address = ?2
               AND p.binding_proxy_address = ?3",
            &[&account_sid, &address, &proxy_address],
            |r| {
                Ok(PairHolder {
                    service_sid: r.get(0)?,
                    conversation_sid: r.get(1)?,
                    participant_sid: r.get(2)?,
                })
            },
        )
    }

    fn insert_inbound(&mut self, row: &InboundRow) -> Result<i64> {
        let media = row
            .media
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(Error::internal)?;
        self.tx.run(
            "INSERT INTO inbound_messages (sid, account_sid, from_address, to_address, channel,
                 body, media, outcome, conversation_sid, participant_sid, message_sid, error_code,
                 error_message, after_receipt, date_created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                 (SELECT coalesce(max(id), 0) FROM receipts), ?14)",
            &[
                &row.sid,
                &row.account_sid,
                &row.from,
                &row.to,
                &row.channel.as_str(),
                &row.body,
                &media,
                &row.outcome.as_str(),
                &row.conversation_sid,
                &row.participant_sid,
                &row.message_sid,
                &row.error_code,
                &row.error_message,
                &row.date_created,
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn list_inbound(
        &self,
        account_sid: &str,
        from: Option<&str>,
        req: &PageRequest,
    ) -> Result<Page<InboundRow>> {
        let (select, params): (&str, Vec<&dyn rusqlite::ToSql>) = match &from {
            Some(from) => (&FROM_ADDRESS, vec![&account_sid, from]),
            None => (&IN_ACCOUNT, vec![&account_sid]),
        };
        let keyset = Keyset {
            select,
            keys: &["id"],
            descending: true,
        };
        keyset.page(self.tx, &params, req, inbound, |i| vec![i.id])
    }

    fn thread(
        &self,
        account_sid: &str,
        address: &str,
        req: &PageRequest,
    ) -> Result<Page<ThreadEntry>> {
        let keyset = Keyset {
            select: THREAD,
            keys: &["t.pos", "t.kind", "t.id"],
            descending: false,
        };
        let places = keyset.page(
            self.tx,
            &[&account_sid, &address],
            req,
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]),
            |key: &[i64; 3]| key.to_vec(),
        )?;
        places.try_map(|[_, kind, id]| {
            let entry = if kind == 1 {
                self.tx
                    .optional(&BY_ID, &[&id], inbound)?
                    .map(ThreadEntry::Inbound)
            } else {
                self.tx
                    .optional(&OUTBOUND_BY_ID, &[&id], outbound)?
                    .map(ThreadEntry::Outbound)
            };
            entry.ok_or_else(|| Error::internal(format!("thread entry {kind}/{id} vanished")))
        })
    }
}
