//! Conversations in SQLite: found through the cache (`cache.rs`) when it has them.

use std::sync::{Arc, LazyLock};

use rusqlite::{Connection, Row, ToSql};

use super::sql::{Keyset, is_unique_violation, optional};
use super::{Mode, SqliteTx};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::states::ConversationState;
use crate::store::conversations::{ConversationFilter, ConversationRow, ConversationStore};
use crate::store::{ServiceRef, Tenant};
use crate::wire::paging::{Page, PageRequest};

pub(crate) const SELECT: &str = "SELECT c.id, c.sid, s.account_sid, c.service_id, s.sid, c.unique_name, c.friendly_name,
    c.attributes, c.messaging_service_sid, c.state, c.timer_inactive, c.timer_closed, c.date_inactive,
    c.date_closed, c.bindings, c.created_by, c.date_created, c.date_updated
    FROM conversations c JOIN services s ON s.id = c.service_id";

/// A stored `state` read back; SQLite holds only what confab wrote.
fn state(row: &Row, column: usize) -> rusqlite::Result<ConversationState> {
    let text: String = row.get(column)?;
    ConversationState::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("unknown conversation state {text:?}").into(),
        )
    })
}

pub(crate) fn map_row(row: &Row) -> rusqlite::Result<ConversationRow> {
    Ok(ConversationRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_id: row.get(3)?,
        service_sid: row.get(4)?,
        unique_name: row.get(5)?,
        friendly_name: row.get(6)?,
        attributes: row.get(7)?,
        messaging_service_sid: row.get(8)?,
        state: state(row, 9)?,
        timer_inactive: row.get(10)?,
        timer_closed: row.get(11)?,
        date_inactive: row.get(12)?,
        date_closed: row.get(13)?,
        bindings: row.get(14)?,
        created_by: row.get(15)?,
        next_message_index: None,
        date_created: row.get(16)?,
        date_updated: row.get(17)?,
    })
}

/// The statements of [`find`]: `?1` the conversation's SID or unique name, then the service's
/// SID (if named) and the account.
static IN_NAMED_SERVICE_BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE c.sid = ?1 AND s.sid = ?2 AND s.account_sid = ?3"));
static IN_NAMED_SERVICE_BY_NAME: LazyLock<String> = LazyLock::new(|| {
    format!("{SELECT} WHERE c.unique_name = ?1 AND s.sid = ?2 AND s.account_sid = ?3")
});
static IN_DEFAULT_SERVICE: LazyLock<String> = LazyLock::new(|| {
    format!("{SELECT} JOIN account_configurations a ON a.default_chat_service_sid = s.sid")
});
static IN_DEFAULT_SERVICE_BY_SID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE c.sid = ?1 AND a.account_sid = ?2",
        *IN_DEFAULT_SERVICE
    )
});
static IN_DEFAULT_SERVICE_BY_NAME: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE c.unique_name = ?1 AND a.account_sid = ?2",
        *IN_DEFAULT_SERVICE
    )
});
static BY_ID: LazyLock<String> = LazyLock::new(|| format!("{SELECT} WHERE c.id = ?1"));

/// One of the tenant's conversations by SID or, failing the SID pattern, by unique name
/// (twilio-behavior.md 3). The service is resolved in the same statement: it is on the path of
/// every message posted and read.
pub(super) fn find(
    conn: &Connection,
    tenant: &Tenant,
    sid_or_name: &str,
) -> Result<Option<ConversationRow>> {
    let by_sid = is_sid(Prefix::Conversation, sid_or_name);
    match &tenant.service {
        ServiceRef::Sid(service) => {
            let sql = if by_sid {
                &IN_NAMED_SERVICE_BY_SID
            } else {
                &IN_NAMED_SERVICE_BY_NAME
            };
            optional(
                conn,
                sql,
                &[&sid_or_name, service, &tenant.account_sid],
                map_row,
            )
        }
        ServiceRef::Default => {
            let sql = if by_sid {
                &IN_DEFAULT_SERVICE_BY_SID
            } else {
                &IN_DEFAULT_SERVICE_BY_NAME
            };
            optional(conn, sql, &[&sid_or_name, &tenant.account_sid], map_row)
        }
    }
}

/// A conversation by its internal id (for code that reads SQL directly).
pub(crate) fn by_id(conn: &Connection, id: i64) -> Result<Option<ConversationRow>> {
    optional(conn, &BY_ID, &[&id], map_row)
}

/// A unique key refused the row: the service has the unique name already.
fn conflict_on_unique(e: rusqlite::Error) -> Error {
    if is_unique_violation(&e) {
        Error::new(Code::Conflict)
    } else {
        e.into()
    }
}

fn state_text(row: &ConversationRow) -> &'static str {
    row.state.as_str()
}

impl ConversationStore for SqliteTx<'_, '_> {
    /// From the cache when it has the row; a row loaded from SQLite by a read is offered to it
    /// with the generation read before the read transaction began (`cache.rs`).
    fn find_conversation(
        &self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>> {
        match &self.mode {
            Mode::Read { cache, generation } => {
                if let Some(row) = cache.get(tenant, sid_or_name) {
                    return Ok(Some(row));
                }
                let Some(row) = find(self.tx, tenant, sid_or_name)? else {
                    return Ok(None);
                };
                let row = Arc::new(row);
                cache.offer(tenant, &row, *generation);
                Ok(Some(row))
            }
            Mode::Write { .. } => self.lock_conversation_in_batch(tenant, sid_or_name),
        }
    }

    /// The single writer is the lock; the row comes from what the batch knows to be current
    /// when it has it (`cache.rs`, "Writes").
    fn lock_conversation(
        &mut self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>> {
        self.lock_conversation_in_batch(tenant, sid_or_name)
    }

    fn conversation_by_id(&self, id: i64) -> Result<Option<ConversationRow>> {
        by_id(self.tx, id)
    }

    fn list_conversations(
        &self,
        service_id: i64,
        filter: &ConversationFilter,
        req: &PageRequest,
    ) -> Result<Page<ConversationRow>> {
        let mut select = format!("{SELECT} WHERE c.service_id = ?1");
        let mut params: Vec<Box<dyn ToSql>> = vec![Box::new(service_id)];
        if let Some(state) = filter.state {
            params.push(Box::new(state.as_str()));
            select.push_str(&format!(" AND c.state = ?{}", params.len()));
        }
        if let Some(start) = filter.start_date {
            params.push(Box::new(start));
            select.push_str(&format!(" AND c.date_created >= ?{}", params.len()));
        }
        if let Some(end) = filter.end_date {
            params.push(Box::new(end));
            select.push_str(&format!(" AND c.date_created <= ?{}", params.len()));
        }
        // With a date range, newest first (the spec's words); otherwise in creation order.
        let by_date = filter.start_date.is_some() || filter.end_date.is_some();
        let keyset = Keyset {
            select: &select,
            keys: if by_date {
                &["c.date_created", "c.id"]
            } else {
                &["c.id"]
            },
            descending: by_date,
        };
        let params: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
        let key = |r: &ConversationRow| {
            if by_date {
                vec![r.date_created, r.id]
            } else {
                vec![r.id]
            }
        };
        keyset.page(self.tx, &params, req, map_row, key)
    }

    fn insert_conversation(&mut self, row: &ConversationRow) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO conversations (sid, service_id, unique_name, friendly_name, attributes,
                     messaging_service_sid, state, timer_inactive, timer_closed, date_inactive,
                     date_closed, bindings, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(rusqlite::params![
                row.sid,
                row.service_id,
                row.unique_name,
                row.friendly_name,
                row.attributes,
                row.messaging_service_sid,
                state_text(row),
                row.timer_inactive,
                row.timer_closed,
                row.date_inactive,
                row.date_closed,
                row.bindings,
                row.date_created,
                row.date_updated,
            ])
            .map_err(conflict_on_unique)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn update_conversation(&mut self, row: &ConversationRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE conversations SET unique_name = ?1, friendly_name = ?2, attributes = ?3,
                     messaging_service_sid = ?4, state = ?5, timer_inactive = ?6, timer_closed = ?7,
                     date_inactive = ?8, date_closed = ?9, bindings = ?10, date_created = ?11,
                     date_updated = ?12
                 WHERE id = ?13",
            )?
            .execute(rusqlite::params![
                row.unique_name,
                row.friendly_name,
                row.attributes,
                row.messaging_service_sid,
                state_text(row),
                row.timer_inactive,
                row.timer_closed,
                row.date_inactive,
                row.date_closed,
                row.bindings,
                row.date_created,
                row.date_updated,
                row.id,
            ])
            .map_err(conflict_on_unique)?;
        Ok(())
    }

    fn delete_conversation(&mut self, id: i64) -> Result<()> {
        self.tx
            .run("DELETE FROM conversations WHERE id = ?1", &[&id])?;
        Ok(())
    }

    fn claim_due_timers(&mut self, now: i64, limit: usize) -> Result<Vec<ConversationRow>> {
        // The single writer is the claim: no other job runs until this one ends.
        static DUE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{SELECT} WHERE c.id IN (
                     SELECT id FROM conversations WHERE date_closed <= ?1
                     UNION SELECT id FROM conversations WHERE date_inactive <= ?1)
                 ORDER BY min(coalesce(c.date_closed, c.date_inactive), coalesce(c.date_inactive, c.date_closed))
                 LIMIT ?2"
            )
        });
        self.tx.all(&DUE, &[&now, &(limit as i64)], map_row)
    }

    fn count_due_timers(&self, now: i64) -> Result<i64> {
        Ok(self
            .tx
            .optional(
                "SELECT count(*) FROM (
                     SELECT id FROM conversations WHERE date_inactive <= ?1
                     UNION SELECT id FROM conversations WHERE date_closed <= ?1)",
                &[&now],
                |r| r.get(0),
            )?
            .unwrap_or(0))
    }

    fn next_timer_due(&self, after: i64) -> Result<Option<i64>> {
        let min = |sql: &'static str| -> Result<Option<i64>> {
            Ok(self.tx.optional(sql, &[&after], |r| r.get(0))?.flatten())
        };
        let inactive = min("SELECT min(date_inactive) FROM conversations
             WHERE date_inactive IS NOT NULL AND date_inactive > ?1")?;
        let closed = min("SELECT min(date_closed) FROM conversations
             WHERE date_closed IS NOT NULL AND date_closed > ?1")?;
        Ok(inactive.into_iter().chain(closed).min())
    }
}

impl SqliteTx<'_, '_> {
    /// A write job's conversation: by SID from the rows the batch knows to be current when it
    /// has the row (`cache.rs`, "Writes"), otherwise (and by unique name) from SQLite.
    fn lock_conversation_in_batch(
        &self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>> {
        let batch = self.batch();
        if let Some(row) = batch.and_then(|b| b.get(tenant, sid_or_name)) {
            return Ok(Some(row));
        }
        let Some(row) = find(self.tx, tenant, sid_or_name)? else {
            return Ok(None);
        };
        if let (Some(batch), ServiceRef::Default) = (batch, &tenant.service) {
            batch.found_in_default_service(&row);
        }
        Ok(Some(Arc::new(row)))
    }
}
