//! Conversations (CH...): the row, and what each engine does with it.

use std::sync::Arc;

use super::Tenant;
use crate::error::Result;
use crate::states::ConversationState;
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_id: i64,
    pub service_sid: String,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub messaging_service_sid: Option<String>,
    pub state: ConversationState,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub date_inactive: Option<i64>,
    pub date_closed: Option<i64>,
    /// JSON object (`{"email": {"address": ..., "name": ...}}`), when set.
    pub bindings: Option<String>,
    pub created_by: Option<String>,
    /// The index the conversation's next message takes, when the engine knows it without
    /// asking the database (SQLite: once its writer counted it; `None` otherwise).
    pub next_message_index: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The filters of ListConversation.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub state: Option<ConversationState>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
}

pub trait ConversationStore {
    /// The tenant's conversation, by SID or unique name (twilio-behavior.md 3), as of the last
    /// answered write: an engine may serve it from a cache only if the cache is never older.
    fn find_conversation(
        &self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>>;

    /// The tenant's conversation, for a write job that changes it or adds to it: no other
    /// write of the same conversation runs until this job ends (SQLite: there is one writer;
    /// PostgreSQL: the row is locked).
    fn lock_conversation(
        &mut self,
        tenant: &Tenant,
        sid_or_name: &str,
    ) -> Result<Option<Arc<ConversationRow>>>;

    /// A conversation by its internal id, whoever's it is (for time-driven changes).
    fn conversation_by_id(&self, id: i64) -> Result<Option<ConversationRow>>;

    /// ListConversation over one service: in creation order; with a date range, newest first.
    fn list_conversations(
        &self,
        service_id: i64,
        filter: &ConversationFilter,
        req: &PageRequest,
    ) -> Result<Page<ConversationRow>>;

    /// Inserts the conversation (its `id` is ignored) and returns its id. `Code::Conflict` if
    /// its unique name is taken in its service.
    fn insert_conversation(&mut self, row: &ConversationRow) -> Result<i64>;

    /// Writes every column of `row` (found by its id). `Code::Conflict` if its unique name is
    /// taken in its service.
    fn update_conversation(&mut self, row: &ConversationRow) -> Result<()>;

    /// Deletes it, and with it everything inside it.
    fn delete_conversation(&mut self, id: i64) -> Result<()>;

    /// Conversations with a timer (`date_inactive` or `date_closed`) due by `now`, earliest
    /// first, at most `limit`, each claimed for this job: no other job gets the same one until
    /// this one ends.
    fn claim_due_timers(&mut self, now: i64, limit: usize) -> Result<Vec<ConversationRow>>;

    /// How many conversations have a timer due at `now`.
    fn count_due_timers(&self, now: i64) -> Result<i64>;

    /// When the earliest timer due after `after` falls due, if any runs (`i64::MIN`: any).
    fn next_timer_due(&self, after: i64) -> Result<Option<i64>>;
}

#[cfg(test)]
impl ConversationRow {
    /// An active conversation without names, timers or bindings, created in November 2023 and
    /// updated a second later: what tests that cache or render a conversation start from.
    pub fn for_test(id: i64, sid: &str, account_sid: &str, service_sid: &str) -> Self {
        ConversationRow {
            id,
            sid: sid.into(),
            account_sid: account_sid.into(),
            service_id: 1,
            service_sid: service_sid.into(),
            unique_name: None,
            friendly_name: None,
            attributes: "{}".into(),
            messaging_service_sid: None,
            state: ConversationState::Active,
            timer_inactive: None,
            timer_closed: None,
            date_inactive: None,
            date_closed: None,
            bindings: None,
            created_by: None,
            next_message_index: None,
            date_created: 1_700_000_000,
            date_updated: 1_700_000_001,
        }
    }
}
