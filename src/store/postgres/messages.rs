//! Messages in PostgreSQL: the index comes from the conversation's row, locked by the job, so
//! that concurrent posts through any node take indexes one after the other.

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::store::conversations::ConversationRow;
use crate::store::messages::{Delivery, MessageRef, MessageRow, MessageStore};
use crate::wire::paging::PageRequest;

/// Every message column and its delivery counts, computed only for a message with receipts
/// (see the SQLite engine's `DELIVERY` for why the statuses count as they do).
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT m.id, m.sid, m.idx, m.author, m.body, m.media, m.attributes, m.participant_sid,
                 m.content_sid, m.date_created, m.date_updated, m.receipts,
                 d.total, d.sent, d.delivered, d.read, d.failed, d.undelivered
             FROM messages m LEFT JOIN LATERAL (
                 SELECT count(*) AS total,
                     count(*) FILTER (WHERE r.status IN ('sent', 'delivered', 'read')) AS sent,
                     count(*) FILTER (WHERE r.status IN ('delivered', 'read')) AS delivered,
                     count(*) FILTER (WHERE r.status = 'read') AS read,
                     count(*) FILTER (WHERE r.status = 'failed') AS failed,
                     count(*) FILTER (WHERE r.status = 'undelivered') AS undelivered
                 FROM receipts r WHERE r.message_id = m.id AND m.receipts > 0) d ON true ",
            $($rest),*
        )
    };
}

fn delivery(row: &Row) -> Option<Delivery> {
    let receipts: i64 = row.get(11);
    (receipts > 0).then(|| Delivery {
        total: row.get(12),
        sent: row.get(13),
        delivered: row.get(14),
        read: row.get(15),
        failed: row.get(16),
        undelivered: row.get(17),
    })
}

/// The message on a row of [`select!`]; the conversation supplies the SIDs the row lacks.
fn borrowed<'r>(row: &'r Row, conv: &'r ConversationRow) -> MessageRef<'r> {
    MessageRef {
        sid: row.get(1),
        account_sid: &conv.account_sid,
        service_sid: &conv.service_sid,
        conversation_sid: &conv.sid,
        index: row.get(2),
        author: row.get(3),
        body: row.get(4),
        media: row.get(5),
        attributes: row.get(6),
        participant_sid: row.get(7),
        content_sid: row.get(8),
        date_created: row.get(9),
        date_updated: row.get(10),
        delivery: delivery(row),
    }
}

fn owned(row: &Row, conv: &ConversationRow) -> MessageRow {
    let m = borrowed(row, conv);
    MessageRow {
        id: row.get(0),
        sid: m.sid.to_owned(),
        account_sid: m.account_sid.to_owned(),
        service_sid: m.service_sid.to_owned(),
        conversation_sid: m.conversation_sid.to_owned(),
        index: m.index,
        author: m.author.to_owned(),
        body: m.body.map(str::to_owned),
        media: m.media.map(str::to_owned),
        attributes: m.attributes.to_owned(),
        participant_sid: m.participant_sid.map(str::to_owned),
        content_sid: m.content_sid.map(str::to_owned),
        date_created: m.date_created,
        date_updated: m.date_updated,
        delivery: m.delivery,
    }
}

impl MessageStore for PgTx<'_> {
    fn find_message(&self, conv: &ConversationRow, sid: &str) -> Result<Option<MessageRow>> {
        let row = self.query_opt(
            select!("WHERE m.conversation_id = $1 AND m.sid = $2"),
            &[&conv.id, &sid],
        )?;
        Ok(row.map(|r| owned(&r, conv)))
    }

    fn list_messages(
        &self,
        conv: &ConversationRow,
        descending: bool,
        req: &PageRequest,
        each: &mut dyn FnMut(MessageRef<'_>),
    ) -> Result<()> {
        let keyset = Keyset {
            select: select!("WHERE m.conversation_id = $1"),
            keys: &["m.idx"],
            descending,
        };
        for row in keyset.rows(self, &[&conv.id], req)? {
            each(borrowed(&row, conv));
        }
        Ok(())
    }

    /// The conversation's counter is exact here: the job holds the row's lock
    /// (`lock_conversation`), so the next post waits for this one to commit or roll back, and
    /// a rolled-back post gives its index back with the rest of its transaction. The counter
    /// was read with the lock, so the update goes out with the job's next statement.
    fn take_message_index(
        &mut self,
        conv: &ConversationRow,
        active: &ConversationRow,
    ) -> Result<i64> {
        let index = self.next_message_index(conv.id)?;
        self.execute_later(
            "UPDATE conversations SET next_message_index = $2,
                 state = $3, date_inactive = $4, date_closed = $5, date_updated = $6
             WHERE id = $1",
            &[
                &conv.id,
                &(index + 1),
                &active.state.as_str(),
                &active.date_inactive,
                &active.date_closed,
                &active.date_updated,
            ],
        )?;
        Ok(index)
    }

    /// The id comes from the ones this connection holds (`new_message_id`), so the insert goes
    /// out with the job's next statement. Nothing the job does can make it fail but a broken
    /// database: the SID is new, the conversation is locked, and its index was taken under
    /// that lock.
    fn insert_message(
        &mut self,
        conversation_id: i64,
        row: &MessageRow,
        content_variables: Option<&str>,
        subject: Option<&str>,
    ) -> Result<i64> {
        let id = self.new_message_id()?;
        self.execute_later(
            "INSERT INTO messages (id, sid, conversation_id, idx, author, body, media, attributes,
                 participant_sid, content_sid, content_variables, subject, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                &id,
                &row.sid,
                &conversation_id,
                &row.index,
                &row.author,
                &row.body,
                &row.media,
                &row.attributes,
                &row.participant_sid,
                &row.content_sid,
                &content_variables,
                &subject,
                &row.date_created,
                &row.date_updated,
            ],
        )?;
        Ok(id)
    }

    fn update_message(&mut self, row: &MessageRow, subject: Option<&str>) -> Result<()> {
        self.execute(
            "UPDATE messages SET author = $1, body = $2, attributes = $3, participant_sid = $4,
                 subject = COALESCE($5, subject), date_created = $6, date_updated = $7
             WHERE id = $8",
            &[
                &row.author,
                &row.body,
                &row.attributes,
                &row.participant_sid,
                &subject,
                &row.date_created,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    /// The counter never goes down, so the deleted index is never taken again.
    fn delete_message(&mut self, _conv: &ConversationRow, row: &MessageRow) -> Result<()> {
        self.execute("DELETE FROM messages WHERE id = $1", &[&row.id])?;
        Ok(())
    }
}
