//! Conversation-scoped webhooks in PostgreSQL. The domain locks the conversation before it
//! changes one of its webhooks, so the limit of five and each read-modify-write hold across
//! nodes.

use postgres::Row;

use super::PgTx;
use super::sql::{Keyset, from_json_list, json_list};
use crate::error::{Error, Result};
use crate::states::WebhookTarget;
use crate::store::conversation_webhooks::{ConversationWebhookStore, ScopedWebhook};
use crate::wire::paging::{Page, PageRequest};

/// Every column of a scoped webhook, then `rest` (the conditions).
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT id, sid, target, url, method, filters, triggers, flow_sid, replay_after,
                 date_created, date_updated
             FROM conversation_webhooks ",
            $($rest),*
        )
    };
}

/// A conversation's scoped webhooks, in creation order: read by every event of the
/// conversation that fires webhooks (`WebhookStore::scoped_webhooks`).
pub(super) const OF_CONVERSATION: &str = select!("WHERE conversation_id = $1 ORDER BY id");

/// A stored `target` read back; the database holds only what confab wrote.
fn target(row: &Row, column: usize) -> Result<WebhookTarget> {
    let text: &str = row.get(column);
    WebhookTarget::parse(text)
        .ok_or_else(|| Error::internal(format!("unknown webhook target {text:?}")))
}

pub(super) fn map_row(row: &Row) -> Result<ScopedWebhook> {
    Ok(ScopedWebhook {
        id: row.get(0),
        sid: row.get(1),
        target: target(row, 2)?,
        url: row.get(3),
        method: row.get(4),
        filters: from_json_list(row.get(5)),
        triggers: from_json_list(row.get(6)),
        flow_sid: row.get(7),
        replay_after: row.get(8),
        date_created: row.get(9),
        date_updated: row.get(10),
    })
}

impl ConversationWebhookStore for PgTx<'_> {
    fn conversation_webhook(
        &self,
        conversation_id: i64,
        sid: &str,
    ) -> Result<Option<ScopedWebhook>> {
        let row = self.query_opt(
            select!("WHERE conversation_id = $1 AND sid = $2"),
            &[&conversation_id, &sid],
        )?;
        row.as_ref().map(map_row).transpose()
    }

    fn list_conversation_webhooks(
        &self,
        conversation_id: i64,
        req: &PageRequest,
    ) -> Result<Page<ScopedWebhook>> {
        let keyset = Keyset {
            select: select!("WHERE conversation_id = $1"),
            keys: &["id"],
            descending: false,
        };
        let rows = keyset.rows(self, &[&conversation_id], req)?;
        let webhooks = rows.iter().map(map_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_read(webhooks, req, |w| vec![w.id]))
    }

    fn insert_conversation_webhook(
        &mut self,
        conversation_id: i64,
        row: &ScopedWebhook,
    ) -> Result<i64> {
        let inserted = self.query_one(
            "INSERT INTO conversation_webhooks (sid, conversation_id, target, url, method, filters,
                 triggers, flow_sid, replay_after, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING id",
            &[
                &row.sid,
                &conversation_id,
                &row.target.as_str(),
                &row.url,
                &row.method,
                &json_list(row.filters.as_deref())?,
                &json_list(row.triggers.as_deref())?,
                &row.flow_sid,
                &row.replay_after,
                &row.date_created,
                &row.date_updated,
            ],
        )?;
        Ok(inserted.get(0))
    }

    fn update_conversation_webhook(&mut self, row: &ScopedWebhook) -> Result<()> {
        self.execute(
            "UPDATE conversation_webhooks SET url = $1, method = $2, filters = $3, triggers = $4,
                 flow_sid = $5, date_updated = $6
             WHERE id = $7",
            &[
                &row.url,
                &row.method,
                &json_list(row.filters.as_deref())?,
                &json_list(row.triggers.as_deref())?,
                &row.flow_sid,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn delete_conversation_webhook(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM conversation_webhooks WHERE id = $1", &[&id])?;
        Ok(())
    }
}
