//! Conversation-scoped webhooks in SQLite.

use std::sync::LazyLock;

use rusqlite::Row;

use super::SqliteTx;
use super::sql::{Keyset, from_json_list, json_list};
use crate::error::Result;
use crate::states::WebhookTarget;
use crate::store::conversation_webhooks::{ConversationWebhookStore, ScopedWebhook};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str =
    "SELECT id, sid, target, url, method, filters, triggers, flow_sid, replay_after,
    date_created, date_updated FROM conversation_webhooks";

/// A conversation's scoped webhooks, in creation order: read by every event of the
/// conversation that fires webhooks (`WebhookStore::scoped_webhooks`).
pub(super) static OF_CONVERSATION: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE conversation_id = ?1 ORDER BY id"));
static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE conversation_id = ?1 AND sid = ?2"));

/// A stored `target` read back; SQLite holds only what confab wrote.
fn target(row: &Row, column: usize) -> rusqlite::Result<WebhookTarget> {
    let text: String = row.get(column)?;
    WebhookTarget::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("unknown webhook target {text:?}").into(),
        )
    })
}

pub(super) fn map_row(row: &Row) -> rusqlite::Result<ScopedWebhook> {
    Ok(ScopedWebhook {
        id: row.get(0)?,
        sid: row.get(1)?,
        target: target(row, 2)?,
        url: row.get(3)?,
        method: row.get(4)?,
        filters: from_json_list(row.get(5)?),
        triggers: from_json_list(row.get(6)?),
        flow_sid: row.get(7)?,
        replay_after: row.get(8)?,
        date_created: row.get(9)?,
        date_updated: row.get(10)?,
    })
}

impl ConversationWebhookStore for SqliteTx<'_, '_> {
    fn conversation_webhook(
        &self,
        conversation_id: i64,
        sid: &str,
    ) -> Result<Option<ScopedWebhook>> {
        self.tx
            .optional(&BY_SID, &[&conversation_id, &sid], map_row)
    }

    fn list_conversation_webhooks(
        &self,
        conversation_id: i64,
        req: &PageRequest,
    ) -> Result<Page<ScopedWebhook>> {
        let keyset = Keyset {
            select: &format!("{SELECT} WHERE conversation_id = ?1"),
            keys: &["id"],
            descending: false,
        };
        keyset.page(self.tx, &[&conversation_id], req, map_row, |r| vec![r.id])
    }

    fn insert_conversation_webhook(
        &mut self,
        conversation_id: i64,
        row: &ScopedWebhook,
    ) -> Result<i64> {
        self.tx.run(
            "INSERT INTO conversation_webhooks (sid, conversation_id, target, url, method, filters,
                 triggers, flow_sid, replay_after, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
        Ok(self.tx.last_insert_rowid())
    }

    fn update_conversation_webhook(&mut self, row: &ScopedWebhook) -> Result<()> {
        self.tx.run(
            "UPDATE conversation_webhooks SET url = ?1, method = ?2, filters = ?3, triggers = ?4,
                 flow_sid = ?5, date_updated = ?6
             WHERE id = ?7",
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
        self.tx
            .run("DELETE FROM conversation_webhooks WHERE id = ?1", &[&id])?;
        Ok(())
    }
}
