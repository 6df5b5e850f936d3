//! Receipts and the outbound messages they report on, in PostgreSQL.

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::states::ReceiptStatus;
use crate::store::conversations::ConversationRow;
use crate::store::receipts::{NewReceipt, Outbound, ReceiptRow, ReceiptStore};
use crate::wire::paging::{Page, PageRequest};

/// A stored status read back; the database holds only what confab wrote.
fn status(row: &Row, column: usize) -> Result<Option<ReceiptStatus>> {
    let Some(text) = row.get::<_, Option<&str>>(column) else {
        return Ok(None);
    };
    ReceiptStatus::parse(text)
        .map(Some)
        .ok_or_else(|| Error::internal(format!("unknown receipt status {text:?}")))
}

fn receipt(row: &Row, conv: &ConversationRow, message_sid: &str) -> Result<ReceiptRow> {
    Ok(ReceiptRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: conv.account_sid.clone(),
        service_sid: conv.service_sid.clone(),
        conversation_sid: conv.sid.clone(),
        message_sid: message_sid.to_string(),
        participant_sid: row.get(2),
        channel_message_sid: row.get(3),
        status: status(row, 4)?,
        error_code: row.get(5),
        date_created: row.get(6),
        date_updated: row.get(7),
    })
}

/// An outbound message with its receipt; `r`, `m`, `c` and `s` are the receipt, its message,
/// conversation and service.
macro_rules! outbound {
    ($($rest:literal),*) => {
        concat!(
            "SELECT r.id, c.id, r.sid, m.sid, c.sid, r.participant_sid, r.channel_message_sid,
                 r.channel, r.to_address, r.from_address, r.body, r.media, r.status, r.error_code,
                 r.date_created
             FROM receipts r JOIN messages m ON m.id = r.message_id
             JOIN conversations c ON c.id = m.conversation_id JOIN services s ON s.id = c.service_id ",
            $($rest),*
        )
    };
}

fn outbound(r: &Row) -> Result<Outbound> {
    let media: Option<&str> = r.get(11);
    Ok(Outbound {
        id: r.get(0),
        conversation_id: r.get(1),
        receipt_sid: r.get(2),
        message_sid: r.get(3),
        conversation_sid: r.get(4),
        participant_sid: r.get(5),
        channel_message_sid: r.get(6),
        channel: r.get(7),
        to: r.get(8),
        from: r.get(9),
        body: r.get(10),
        media: media.and_then(|m| serde_json::from_str(m).ok()),
        status: status(r, 12)?,
        error_code: r.get(13),
        date_created: r.get(14),
    })
}

/// One outbound message by its receipt's id (a phone's thread, `inbound.rs`).
pub(super) fn outbound_by_id(tx: &PgTx, id: i64) -> Result<Option<Outbound>> {
    let row = tx.query_opt(outbound!("WHERE r.id = $1"), &[&id])?;
    row.as_ref().map(outbound).transpose()
}

impl ReceiptStore for PgTx<'_> {
    fn list_receipts(
        &self,
        conv: &ConversationRow,
        message_id: i64,
        message_sid: &str,
        req: &PageRequest,
    ) -> Result<Page<ReceiptRow>> {
        let keyset = Keyset {
            select: "SELECT id, sid, participant_sid, channel_message_sid, status, error_code,
                         date_created, date_updated FROM receipts WHERE message_id = $1",
            keys: &["id"],
            descending: false,
        };
        let rows = keyset.rows(self, &[&message_id], req)?;
        let rows = rows
            .iter()
            .map(|r| receipt(r, conv, message_sid))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_read(rows, req, |r| vec![r.id]))
    }

    fn find_receipt(
        &self,
        conv: &ConversationRow,
        message_id: i64,
        message_sid: &str,
        sid: &str,
    ) -> Result<Option<ReceiptRow>> {
        let row = self.query_opt(
            "SELECT id, sid, participant_sid, channel_message_sid, status, error_code,
                 date_created, date_updated FROM receipts WHERE message_id = $1 AND sid = $2",
            &[&message_id, &sid],
        )?;
        row.map(|r| receipt(&r, conv, message_sid)).transpose()
    }

    fn insert_receipts(&mut self, message_id: i64, receipts: &[NewReceipt]) -> Result<()> {
        for receipt in receipts {
            self.execute(
                "INSERT INTO receipts (sid, message_id, participant_sid, channel_message_sid, status,
                     date_created, to_address, from_address, channel, body, media, next_status_at)
                 VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9, $10, $11)",
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
            self.execute(
                "UPDATE messages SET receipts = $1 WHERE id = $2",
                &[&(receipts.len() as i64), &message_id],
            )?;
        }
        Ok(())
    }

    /// Locked for this job; receipts another node's job holds are skipped: a receipt moves
    /// once per step, whichever node moves it.
    fn claim_due_receipts(&mut self, now: i64, limit: usize) -> Result<Vec<Outbound>> {
        let rows = self.query(
            outbound!("WHERE r.next_status_at <= $1 ORDER BY r.next_status_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED"),
            &[&now, &(limit as i64)],
        )?;
        rows.iter().map(outbound).collect()
    }

    fn next_receipt_due(&self) -> Result<Option<i64>> {
        Ok(self
            .query_one(
                "SELECT min(next_status_at) FROM receipts WHERE next_status_at IS NOT NULL",
                &[],
            )?
            .get(0))
    }

    fn set_receipt_status(
        &mut self,
        id: i64,
        status: Option<ReceiptStatus>,
        error_code: Option<i64>,
        next_status_at: Option<i64>,
    ) -> Result<()> {
        self.execute(
            "UPDATE receipts SET status = $1, error_code = $2, next_status_at = $3, date_updated = $4
             WHERE id = $5",
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
        let rows = match conversation_sid {
            Some(sid) => Keyset {
                select: outbound!("WHERE s.account_sid = $1 AND c.sid = $2"),
                keys: &["r.id"],
                descending: true,
            }
            .rows(self, &[&account_sid, &sid], req)?,
            None => Keyset {
                select: outbound!("WHERE s.account_sid = $1"),
                keys: &["r.id"],
                descending: true,
            }
            .rows(self, &[&account_sid], req)?,
        };
        let rows = rows.iter().map(outbound).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_read(rows, req, |o| vec![o.id]))
    }

    fn find_outbound(&self, account_sid: &str, receipt_sid: &str) -> Result<Option<Outbound>> {
        let row = self.query_opt(
            outbound!("WHERE s.account_sid = $1 AND r.sid = $2"),
            &[&account_sid, &receipt_sid],
        )?;
        row.as_ref().map(outbound).transpose()
    }
}
