//! Receipts and the outbound messages they report on, in SQLite.

use std::sync::LazyLock;

use rusqlite::Row;
use rusqlite::types::Type;

use super::SqliteTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::states::ReceiptStatus;
use crate::store::conversations::ConversationRow;
use crate::store::receipts::{NewReceipt, Outbound, ReceiptRow, ReceiptStore};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str = "SELECT id, sid, participant_sid, channel_message_sid, status, error_code,
    date_created, date_updated FROM receipts";
static IN_MESSAGE: LazyLock<String> = LazyLock::new(|| format!("{SELECT} WHERE message_id = ?1"));
static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE message_id = ?1 AND sid = ?2"));

/// A stored status read back; SQLite holds only what confab wrote.
fn status(row: &Row, column: usize) -> rusqlite::Result<Option<ReceiptStatus>> {
    let Some(text) = row.get::<_, Option<String>>(column)? else {
        return Ok(None);
    };
    ReceiptStatus::parse(&text).map(Some).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Text,
            format!("unknown receipt status {text:?}").into(),
        )
    })
}

/// Reads rows of [`SELECT`]; the conversation and message supply the SIDs a receipt row does not
/// hold.
fn reader<'a>(
    conv: &'a ConversationRow,
    message_sid: &'a str,
) -> impl Fn(&Row) -> rusqlite::Result<ReceiptRow> + 'a {
    move |row| {
        Ok(ReceiptRow {
            id: row.get(0)?,
            sid: row.get(1)?,
            account_sid: conv.account_sid.clone(),
            service_sid: conv.service_sid.clone(),
            conversation_sid: conv.sid.clone(),
            message_sid: message_sid.to_string(),
            participant_sid: row.get(2)?,
            channel_message_sid: row.get(3)?,
            status: status(row, 4)?,
            error_code: row.get(5)?,
            date_created: row.get(6)?,
            date_updated: row.get(7)?,
        })
    }
}

const OUTBOUND: &str = "SELECT r.id, c.id, r.sid, m.sid, c.sid, r.participant_sid, r.channel_message_sid,
    r.channel, r.to_address, r.from_address, r.body, r.media, r.status, r.error_code, r.date_created
    FROM receipts r JOIN messages m ON m.id = r.message_id JOIN conversations c ON c.id = m.conversation_id
    JOIN services s ON s.id = c.service_id";
static OUTBOUND_IN_ACCOUNT: LazyLock<String> =
    LazyLock::new(|| format!("{OUTBOUND} WHERE s.account_sid = ?1"));
static OUTBOUND_IN_CONVERSATION: LazyLock<String> =
    LazyLock::new(|| format!("{OUTBOUND} WHERE s.account_sid = ?1 AND c.sid = ?2"));
static OUTBOUND_BY_RECEIPT: LazyLock<String> =
    LazyLock::new(|| format!("{OUTBOUND} WHERE s.account_sid = ?1 AND r.sid = ?2"));
/// One outbound message by its receipt's id (a phone's thread, `inbound.rs`).
pub(super) static OUTBOUND_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("{OUTBOUND} WHERE r.id = ?1"));
static OUTBOUND_DUE: LazyLock<String> = LazyLock::new(|| {
    format!("{OUTBOUND} WHERE r.next_status_at <= ?1 ORDER BY r.next_status_at LIMIT ?2")
});

pub(super) fn outbound(r: &Row) -> rusqlite::Result<Outbound> {
    let media: Option<String> = r.get(11)?;
    Ok(Outbound {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        receipt_sid: r.get(2)?,
        message_sid: r.get(3)?,
        conversation_sid: r.get(4)?,
        participant_sid: r.get(5)?,
        channel_message_sid: r.get(6)?,
        channel: r.get(7)?,
        to: r.get(8)?,
        from: r.get(9)?,
        body: r.get(10)?,
        media: media.and_then(|m| serde_json::from_str(&m).ok()),
        status: status(r, 12)?,
        error_code: r.get(13)?,
        date_created: r.get(14)?,
    })
}

impl ReceiptStore for SqliteTx<'_, '_> {
    fn list_receipts(
        &self,
        conv: &ConversationRow,
        message_id: i64,
        message_sid: &str,
        req: &PageRequest,
    ) -> Result<Page<ReceiptRow>> {
        let keyset = Keyset {
            select: &IN_MESSAGE,
            keys: &["id"],
            descending: false,
        };
        keyset.page(
            self.tx,
            &[&message_id],
            req,
            reader(conv, message_sid),
            |r| vec![r.id],
        )
    }

    fn find_receipt(
        &self,
        conv: &ConversationRow,
        message_id: i64,
        message_sid: &str,
        sid: &str,
    ) -> Result<Option<ReceiptRow>> {
        self.tx
            .optional(&BY_SID, &[&message_id, &sid], reader(conv, message_sid))
    }

    fn insert_receipts(&mut self, message_id: i64, receipts: &[NewReceipt]) -> Result<()> {
        for receipt in receipts {
            self.tx.run(
                "INSERT INTO receipts (sid, message_id, participant_sid, channel_message_sid, status,
                     date_created, to_address, from_address, channel, body, media, next_status_at)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                &[
                    &receipt.sid,
                    &message_id,
                    &receipt.participant_sid,
                    &receipt.channel_message_sid,
                    &self.now,
                    &receipt.to_address,
                    &receipt.from_address,
                    &receipt.channel,
                    &receipt.body,
                    &receipt.media,
                    &receipt.next_status_at,
                ],
            )?;
        }
        if !receipts.is_empty() {
            self.tx.run(
                "UPDATE messages SET receipts = ?1 WHERE id = ?2",
                &[&(receipts.len() as i64), &message_id],
            )?;
        }
        Ok(())
    }

    fn claim_due_receipts(&mut self, now: i64, limit: usize) -> Result<Vec<Outbound>> {
        // The single writer is the claim: no other job runs until this one ends.
        self.tx
            .all(&OUTBOUND_DUE, &[&now, &(limit as i64)], outbound)
    }

    fn next_receipt_due(&self) -> Result<Option<i64>> {
        Ok(self
            .tx
            .optional(
                "SELECT min(next_status_at) FROM receipts WHERE next_status_at IS NOT NULL",
                &[],
                |r| r.get(0),
            )?
            .flatten())
    }

    fn set_receipt_status(
        &mut self,
        id: i64,
        status: Option<ReceiptStatus>,
        error_code: Option<i64>,
        next_status_at: Option<i64>,
    ) -> Result<()> {
        self.tx.run(
            "UPDATE receipts SET status = ?1, error_code = ?2, next_status_at = ?3, date_updated = ?4
             WHERE id = ?5",
            &[
                &status.map(ReceiptStatus::as_str),
                &error_code,
                &next_status_at,
                &self.now,
                &id,
            ],
        )?;
        Ok(())
    }

    fn list_outbound(
        &self,
        account_sid: &str,
        conversation_sid: Option<&str>,
        req: &PageRequest,
    ) -> Result<Page<Outbound>> {
        let (select, params): (&str, Vec<&dyn rusqlite::ToSql>) = match &conversation_sid {
            Some(sid) => (&OUTBOUND_IN_CONVERSATION, vec![&account_sid, sid]),
            None => (&OUTBOUND_IN_ACCOUNT, vec![&account_sid]),
        };
        let keyset = Keyset {
            select,
            keys: &["r.id"],
            descending: true,
        };
        keyset.page(self.tx, &params, req, outbound, |o| vec![o.id])
    }

    fn find_outbound(&self, account_sid: &str, receipt_sid: &str) -> Result<Option<Outbound>> {
        self.tx.optional(
            &OUTBOUND_BY_RECEIPT,
            &[&account_sid, &receipt_sid],
            outbound,
        )
    }
}
