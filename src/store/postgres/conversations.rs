//! Conversations in PostgreSQL: no cache (another node may change any row), and a row lock for
//! a write that changes a conversation or adds to it.

use std::sync::Arc;

use postgres::Row;
use postgres::types::ToSql;

use super::PgTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::states::ConversationState;
use crate::store::conversations::{ConversationFilter, ConversationRow, ConversationStore};
use crate::store::{ServiceRef, Tenant};
use crate::wire::paging::{Page, PageRequest};

/// Every column of a conversation, with its service's SID and account; `c` and `s` are the
/// conversation and its service.
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT ", columns!(), " FROM conversations c JOIN services s ON s.id = c.service_id ",
            $($rest),*
        )
    };
}

/// The same for a write, whose `$rest` ends in `FOR UPDATE OF c`, with the conversation's next
/// message index after the columns (read by its name): the transaction waits for
/// the conversation's advisory lock, then locks its row, in one round trip. The advisory lock
/// is taken in the select list, which PostgreSQL computes below the node that locks the row:
/// only for the row the WHERE clause found, and before the row lock, whose transaction id so
/// follows the advisory lock's order (`lock_conversation`). A row that another transaction
/// changed meanwhile is read again once locked (PostgreSQL's recheck of `FOR UPDATE`), so the
/// job sees its latest version. 7301 is the advisory locks' class of conversations (the
/// two-key space: the migrations' lock is in the one-key space, which never overlaps it).
macro_rules! select_locked {
    ($($rest:literal),*) => {
        concat!(
            "SELECT ", columns!(), ", c.next_message_index,
                 pg_advisory_xact_lock(7301, (c.id % 2147483647)::int)
             FROM conversations c JOIN services s ON s.id = c.service_id ",
            $($rest),*
        )
    };
}

/// The columns `map_row` reads, in its order.
macro_rules! columns {
    () => {
        "c.id, c.sid, s.account_sid, c.service_id, s.sid, c.unique_name, c.friendly_name,
         c.attributes, c.messaging_service_sid, c.state, c.timer_inactive, c.timer_closed,
         c.date_inactive, c.date_closed, c.bindings, c.created_by, c.date_created, c.date_updated"
    };
}

/// A stored state read back; the database holds only what confab wrote.
pub(super) fn state(row: &Row, column: usize) -> Result<ConversationState> {
    let text: &str = row.get(column);
    ConversationState::parse(text)
        .ok_or_else(|| Error::internal(format!("unknown conversation state {text:?}")))
}

pub(super) fn map_row(row: &Row) -> Result<ConversationRow> {
    Ok(ConversationRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        service_id: row.get(3),
        service_sid: row.get(4),
        unique_name: row.get(5),
        friendly_name: row.get(6),
        attributes: row.get(7),
        messaging_service_sid: row.get(8),
        state: state(row, 9)?,
        timer_inactive: row.get(10),
        timer_closed: row.get(11),
        date_inactive: row.get(12),
        date_closed: row.get(13),
        bindings: row.get(14),
        created_by: row.get(15),
        next_message_index: None,
        date_created: row.get(16),
        date_updated: row.get(17),
    })
}

impl PgTx<'_> {
    /// One of the tenant's conversations by SID or, failing the SID pattern, by unique name,
    /// locked for this transaction when `lock`.
    fn find(
        &self,
        tenant: &Tenant,
        sid_or_name: &str,
        lock: bool,
    ) -> Result<Option<ConversationRow>> {
        let by_sid = is_sid(Prefix::Conversation, sid_or_name);
        let row = match (&tenant.service, by_sid, lock) {
            (ServiceRef::Sid(service), true, false) => self.query_opt(
                select!("WHERE c.sid = $1 AND s.sid = $2 AND s.account_sid = $3"),
                &[&sid_or_name, service, &tenant.account_sid],
            )?,
            (ServiceRef::Sid(service), false, false) => self.query_opt(
                select!("WHERE c.unique_name = $1 AND s.sid = $2 AND s.account_sid = $3"),
                &[&sid_or_name, service, &tenant.account_sid],
            )?,
            (ServiceRef::Sid(service), true, true) => self.query_opt(
                select_locked!(
                    "WHERE c.sid = $1 AND s.sid = $2 AND s.account_sid = $3 FOR UPDATE OF c"
                ),
                &[&sid_or_name, service, &tenant.account_sid],
            )?,
            (ServiceRef::Sid(service), false, true) => self.query_opt(
                select_locked!(
                    "WHERE c.unique_name = $1 AND s.sid = $2 AND s.account_sid = $3 FOR UPDATE OF c"
                ),
                &[&sid_or_name, service, &tenant.account_sid],
            )?,
            (ServiceRef::Default, true, false) => self.query_opt(
                select!(
                    "JOIN account_configurations a ON a.default_chat_service_sid = s.sid
                         WHERE c.sid = $1 AND a.account_sid = $2"
                ),
                &[&sid_or_name, &tenant.account_sid],
            )?,
            (ServiceRef::Default, false, false) => self.query_opt(
                select!(
                    "JOIN account_configurations a ON a.default_chat_service_sid = s.sid
                         WHERE c.unique_name = $1 AND a.account_sid = $2"
                ),
                &[&sid_or_name, &tenant.account_sid],
            )?,
            (ServiceRef::Default, true, true) => self.query_opt(
                select_locked!(
                    "JOIN account_configurations a ON a.default_chat_service_sid = s.sid
                         WHERE c.sid = $1 AND a.account_sid = $2 FOR UPDATE OF c"
                ),
                &[&sid_or_name, &tenant.account_sid],
            )?,
            (ServiceRef::Default, false, true) => self.query_opt(
                select_locked!(
                    "JOIN account_configurations a ON a.default_chat_service_sid = s.sid
                         WHERE c.unique_name = $1 AND a.account_sid = $2 FOR UPDATE OF c"
                ),
                &[&sid_or_name, &tenant.account_sid],
            )?,
        };
        let Some(row) = row else { return Ok(None) };
        let conversation = map_row(&row)?;
        if lock {
            self.locked_next_message_index(conversation.id, row.get("next_message_index"));
        }
        Ok(Some(conversation))
    }

    /// The conversations of these ids, in one query (for lists that join a page of rows to
    /// their conversations, as ParticipantConversations does).
    pub(super) fn conversations_by_ids(&self, ids: &[i64]) -> Result<Vec<ConversationRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.query(select!("WHERE c.id = ANY($1)"), &[&ids])?;
        rows.iter().map(map_row).collect()
    }
}

impl ConversationStore for PgTx<'_> {
    fn find_conversation(
        &self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>> {
        Ok(self.find(tenant, sid_or_name, false)?.map(Arc::new))
    }

    /// Locks the conversation's row until the transaction ends: writes of one conversation
    /// (and the messages it takes) run one at a time, whichever node runs them.
    ///
    /// A job waits for the conversation on an advisory lock first, which it takes without a
    /// transaction id (only `FOR UPDATE` assigns one): so the jobs of one conversation take
    /// their transaction ids in the order they hold it, and the event stream, ordered by
    /// transaction id, carries one conversation's events in the order they were made
    /// (docs/design.md, "The event stream"). Both locks are one statement (`select_locked!`).
    fn lock_conversation(
        &mut self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>> {
        Ok(self.find(tenant, sid_or_name, true)?.map(Arc::new))
    }

    fn conversation_by_id(&self, id: i64) -> Result<Option<ConversationRow>> {
        let row = self.query_opt(select!("WHERE c.id = $1"), &[&id])?;
        row.as_ref().map(map_row).transpose()
    }

    fn list_conversations(
        &self,
        service_id: i64,
        filter: &ConversationFilter,
        req: &PageRequest,
    ) -> Result<Page<ConversationRow>> {
        let mut select = select!("WHERE c.service_id = $1").to_string();
        let state = filter.state.map(ConversationState::as_str);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&service_id];
        if let Some(state) = &state {
            params.push(state);
            select.push_str(&format!(" AND c.state = ${}", params.len()));
        }
        if let Some(start) = &filter.start_date {
            params.push(start);
            select.push_str(&format!(" AND c.date_created >= ${}", params.len()));
        }
        if let Some(end) = &filter.end_date {
            params.push(end);
            select.push_str(&format!(" AND c.date_created <= ${}", params.len()));
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
        let rows = keyset.rows(self, &params, req)?;
        let rows = rows.iter().map(map_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_read(rows, req, |r| {
            if by_date {
                vec![r.date_created, r.id]
            } else {
                vec![r.id]
            }
        }))
    }

    fn insert_conversation(&mut self, row: &ConversationRow) -> Result<i64> {
        Ok(self
            .query_one(
                "INSERT INTO conversations (sid, service_id, unique_name, friendly_name, attributes,
                     messaging_service_sid, state, timer_inactive, timer_closed, date_inactive,
                     date_closed, bindings, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 RETURNING id",
                &[
                    &row.sid,
                    &row.service_id,
                    &row.unique_name,
                    &row.friendly_name,
                    &row.attributes,
                    &row.messaging_service_sid,
                    &row.state.as_str(),
                    &row.timer_inactive,
                    &row.timer_closed,
                    &row.date_inactive,
                    &row.date_closed,
                    &row.bindings,
                    &row.date_created,
                    &row.date_updated,
                ],
            )?
            .get(0))
    }

    fn update_conversation(&mut self, row: &ConversationRow) -> Result<()> {
        self.execute(
            "UPDATE conversations SET unique_name = $1, friendly_name = $2, attributes = $3,
                 messaging_service_sid = $4, state = $5, timer_inactive = $6, timer_closed = $7,
                 date_inactive = $8, date_closed = $9, bindings = $10, date_created = $11,
                 date_updated = $12
             WHERE id = $13",
            &[
                &row.unique_name,
                &row.friendly_name,
                &row.attributes,
                &row.messaging_service_sid,
                &row.state.as_str(),
                &row.timer_inactive,
                &row.timer_closed,
                &row.date_inactive,
                &row.date_closed,
                &row.bindings,
                &row.date_created,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn delete_conversation(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM conversations WHERE id = $1", &[&id])?;
        Ok(())
    }

    /// Each due conversation is locked for this job, and those another node's job has locked
    /// are skipped: a timer fires once, whichever node gets there. (The due condition is on
    /// `c` itself too, so that a row another job changed meanwhile is checked again as it now
    /// is before it is locked.)
    fn claim_due_timers(&mut self, now: i64, limit: usize) -> Result<Vec<ConversationRow>> {
        let rows = self.query(
            select!(
                "WHERE (c.date_closed <= $1 OR c.date_inactive <= $1) AND c.id IN (
                     SELECT id FROM conversations WHERE date_closed <= $1
                     UNION SELECT id FROM conversations WHERE date_inactive <= $1)
                 ORDER BY least(c.date_closed, c.date_inactive)
                 LIMIT $2 FOR UPDATE OF c SKIP LOCKED"
            ),
            &[&now, &(limit as i64)],
        )?;
        rows.iter().map(map_row).collect()
    }

    fn count_due_timers(&self, now: i64) -> Result<i64> {
        Ok(self
            .query_one(
                "SELECT count(*) FROM (
                     SELECT id FROM conversations WHERE date_inactive <= $1
                     UNION SELECT id FROM conversations WHERE date_closed <= $1) due",
                &[&now],
            )?
            .get(0))
    }

    fn next_timer_due(&self, after: i64) -> Result<Option<i64>> {
        let row = self.query_one(
            "SELECT least(
                 (SELECT min(date_inactive) FROM conversations
                  WHERE date_inactive IS NOT NULL AND date_inactive > $1),
                 (SELECT min(date_closed) FROM conversations
                  WHERE date_closed IS NOT NULL AND date_closed > $1))",
            &[&after],
        )?;
        Ok(row.get(0))
    }
}
