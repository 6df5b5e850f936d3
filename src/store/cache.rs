//! Conversations by SID, kept in memory: resolving one from SQLite (a read transaction, two
//! joins) was about 40% of a conversation fetch's CPU in the benchmark, most of it SQLite's
//! per-transaction locking rather than the query.
//!
//! **Coherence.** The writer is the only connection that changes rows, and it reports what each
//! batch changed (an SQLite update hook, see `writer.rs`): after the batch's COMMIT, and before
//! any of its jobs is answered, it calls [`ConversationCache::forget`]. So no answered write is
//! ever hidden by a cached row. A reader that misses loads the row from SQLite and offers it
//! with the cache's generation read *before* its read transaction began; the offer is refused
//! if anything was forgotten since, so a row read from a snapshot older than a forgotten change
//! is never kept. A row from a snapshot newer than the generation (a commit not yet reported)
//! is kept and then forgotten when that commit is reported.
//!
//! Rows are kept under their SID, however they were looked up: a lookup by unique name always
//! asks SQLite (and offers what it found); so does a miss, and a 404 is never kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::conversations::ConversationRow;
use super::services::{ServiceRef, Tenant};

/// Past this many conversations, the cache starts over empty: it holds the hot set, and a row
/// is a few hundred bytes.
const MAX_CONVERSATIONS: usize = 20_000;

/// What a committed batch changed, as the update hook saw it.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Rowids of `conversations` rows inserted, updated or deleted.
    pub conversations: Vec<i64>,
    /// A service, an account or an account's configuration (its default service) changed.
    pub tenants: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty() && !self.tenants
    }

    /// Records one row change reported by SQLite's update hook.
    pub fn record(&mut self, table: &str, rowid: i64) {
        match table {
            "conversations" => self.conversations.push(rowid),
            "services" | "accounts" | "account_configurations" => self.tenants = true,
            _ => {}
        }
    }
}

#[derive(Default)]
pub struct ConversationCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every batch that changed a conversation or a tenant.
    generation: u64,
    by_sid: HashMap<String, Arc<ConversationRow>>,
    sid_by_id: HashMap<i64, String>,
    /// Each account's default conversation service, as learned from a default-service lookup.
    default_service: HashMap<String, String>,
}

impl ConversationCache {
    /// The cached conversation `sid`, if the tenant may see it under the request's service.
    pub fn get(&self, tenant: &Tenant, sid: &str) -> Option<Arc<ConversationRow>> {
        let inner = self.inner.read().expect("conversation cache poisoned");
        let row = inner.by_sid.get(sid)?;
        if row.account_sid != tenant.account_sid {
            return None;
        }
        let in_service = match &tenant.service {
            ServiceRef::Sid(service) => row.service_sid == *service,
            ServiceRef::Default => {
                inner.default_service.get(&tenant.account_sid) == Some(&row.service_sid)
            }
        };
        in_service.then(|| Arc::clone(row))
    }

    /// The generation to offer a row with: read it before the read transaction begins.
    pub fn generation(&self) -> u64 {
        self.inner
            .read()
            .expect("conversation cache poisoned")
            .generation
    }

    /// Keeps `row`, found for `tenant` by a read that began at `generation`, unless a change
    /// was reported since.
    pub fn offer(&self, tenant: &Tenant, row: &Arc<ConversationRow>, generation: u64) {
        let mut inner = self.inner.write().expect("conversation cache poisoned");
        if inner.generation != generation {
            return;
        }
        if inner.by_sid.len() >= MAX_CONVERSATIONS {
            inner.by_sid.clear();
            inner.sid_by_id.clear();
        }
        if matches!(tenant.service, ServiceRef::Default) {
            // The lookup went through the account's configuration to this service.
            inner
                .default_service
                .insert(tenant.account_sid.clone(), row.service_sid.clone());
        }
        inner.sid_by_id.insert(row.id, row.sid.clone());
        inner.by_sid.insert(row.sid.clone(), Arc::clone(row));
    }

    /// Drops what a committed batch changed (the writer calls it before answering the batch).
    pub(super) fn forget(&self, changes: &Changes) {
        let mut inner = self.inner.write().expect("conversation cache poisoned");
        inner.generation += 1;
        if changes.tenants {
            inner.by_sid.clear();
            inner.sid_by_id.clear();
            inner.default_service.clear();
            return;
        }
        for id in &changes.conversations {
            if let Some(sid) = inner.sid_by_id.remove(id) {
                inner.by_sid.remove(&sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, sid: &str, service: &str) -> Arc<ConversationRow> {
        Arc::new(ConversationRow {
            id,
            sid: sid.into(),
            account_sid: "AC1".into(),
            service_id: 1,
            service_sid: service.into(),
            unique_name: None,
            friendly_name: None,
            attributes: "{}".into(),
            messaging_service_sid: None,
            state: "active".into(),
            timer_inactive: None,
            timer_closed: None,
            date_inactive: None,
            date_closed: None,
            bindings: None,
            created_by: None,
            next_message_index: 0,
            date_created: 0,
            date_updated: 0,
        })
    }

    fn tenant(account: &str, service: ServiceRef) -> Tenant {
        Tenant {
            account_sid: account.into(),
            service,
            path: "/v1/Conversations/CH1".into(),
            webhooks: false,
        }
    }

    #[test]
    fn a_row_is_seen_only_by_its_tenant() {
        let cache = ConversationCache::default();
        let default = tenant("AC1", ServiceRef::Default);
        cache.offer(&default, &row(1, "CH1", "IS1"), cache.generation());
        assert!(cache.get(&default, "CH1").is_some());
        assert!(
            cache
                .get(&tenant("AC1", ServiceRef::Sid("IS1".into())), "CH1")
                .is_some()
        );
        assert!(
            cache
                .get(&tenant("AC1", ServiceRef::Sid("IS2".into())), "CH1")
                .is_none()
        );
        assert!(
            cache
                .get(&tenant("AC2", ServiceRef::Default), "CH1")
                .is_none()
        );
        assert!(cache.get(&default, "CH2").is_none());
    }

    #[test]
    fn a_row_offered_from_before_a_change_is_refused() {
        let cache = ConversationCache::default();
        let t = tenant("AC1", ServiceRef::Sid("IS1".into()));
        let before = cache.generation();
        cache.forget(&Changes {
            conversations: vec![1],
            tenants: false,
        });
        cache.offer(&t, &row(1, "CH1", "IS1"), before);
        assert!(cache.get(&t, "CH1").is_none());
        cache.offer(&t, &row(1, "CH1", "IS1"), cache.generation());
        assert!(cache.get(&t, "CH1").is_some());
    }

    #[test]
    fn changes_forget_their_rows_and_tenant_changes_forget_all() {
        let cache = ConversationCache::default();
        let t = tenant("AC1", ServiceRef::Default);
        for (id, sid) in [(1, "CH1"), (2, "CH2")] {
            cache.offer(&t, &row(id, sid, "IS1"), cache.generation());
        }
        let mut changes = Changes::default();
        changes.record("messages", 1);
        changes.record("conversations", 1);
        cache.forget(&changes);
        assert!(cache.get(&t, "CH1").is_none());
        assert!(cache.get(&t, "CH2").is_some());
        let mut changes = Changes::default();
        changes.record("account_configurations", 7);
        cache.forget(&changes);
        assert!(cache.get(&t, "CH2").is_none());
    }
}
