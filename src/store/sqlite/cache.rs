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
//!
//! **Writes.** A write job may take its conversation from here too ([`BatchView`]): every
//! earlier batch's changes were forgotten before its batch began, so a cached row that the
//! batch itself has not changed is the committed one. A job that changes a conversation and
//! knows exactly what it wrote (a message taking the next index) hands the new row to the
//! batch; later jobs of the batch take it from there, and after the commit it replaces what was
//! forgotten ([`ConversationCache::keep_written`]). Such a row may know more than SQLite's: the
//! index its next message takes, which a message in the same second as the last one keeps
//! here alone (`messages::allocate_index`). So a conversation that takes messages stays
//! cached, and posting a message costs no SQLite lookup of its conversation.

use std::cell::RefCell;
// foldhash, not std's SipHash: the keys are SIDs and rowids this server minted, and every
// request that names a conversation, and every message the writer adds, hashes them.
use foldhash::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::store::conversations::ConversationRow;
use crate::store::{ServiceRef, Tenant};

/// Past this many conversations, the cache starts over empty: it holds the hot set, and a row
/// is a few hundred bytes.
const MAX_CONVERSATIONS: usize = 20_000;

/// What a batch has changed so far, as the update hook saw it.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Rowids of `conversations` rows inserted, updated or deleted, in the order of the changes.
    pub conversations: Vec<i64>,
    /// A service, an account or an account's configuration (its default service) changed.
    pub tenants: bool,
    /// For each conversation changed, how many conversation changes the batch had made when it
    /// last changed: a row known after that change is still current while this stays the same.
    last_change: HashMap<i64, usize>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty() && !self.tenants
    }

    /// Records one row change reported by SQLite's update hook.
    pub fn record(&mut self, table: &str, rowid: i64) {
        match table {
            "conversations" => {
                self.conversations.push(rowid);
                self.last_change.insert(rowid, self.conversations.len());
            }
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
        inner.visible(row, tenant).then(|| Arc::clone(row))
    }

    /// The cached conversations of these rowids, under one lock; `None` where one is not
    /// cached. Not checked against a tenant: for a read that found the ids inside its tenant's
    /// service (ParticipantConversations, through the service's participants).
    pub fn get_by_ids(&self, ids: &[i64]) -> Vec<Option<Arc<ConversationRow>>> {
        let inner = self.inner.read().expect("conversation cache poisoned");
        ids.iter()
            .map(|id| {
                let sid = inner.sid_by_id.get(id)?;
                inner.by_sid.get(sid).cloned()
            })
            .collect()
    }

    /// Whether the tenant may see `row` under the request's service, as far as the cache knows
    /// (an account's default service is known once a lookup went through it).
    fn visible(&self, row: &ConversationRow, tenant: &Tenant) -> bool {
        let inner = self.inner.read().expect("conversation cache poisoned");
        inner.visible(row, tenant)
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
        if matches!(tenant.service, ServiceRef::Default) {
            // The lookup went through the account's configuration to this service.
            inner
                .default_service
                .insert(tenant.account_sid.clone(), row.service_sid.clone());
        }
        inner.keep(Arc::clone(row));
    }

    /// Keeps what a committed batch wrote and learned (the writer calls it after
    /// [`ConversationCache::forget`], before answering the batch): see [`BatchView`].
    pub(super) fn keep_written(&self, written: Written) {
        if written.rows.is_empty() && written.default_services.is_empty() {
            return;
        }
        let mut inner = self.inner.write().expect("conversation cache poisoned");
        inner.default_service.extend(written.default_services);
        for row in written.rows {
            inner.keep(row);
        }
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

impl Inner {
    fn visible(&self, row: &ConversationRow, tenant: &Tenant) -> bool {
        if row.account_sid != tenant.account_sid {
            return false;
        }
        match &tenant.service {
            ServiceRef::Sid(service) => row.service_sid == *service,
            ServiceRef::Default => {
                self.default_service.get(&tenant.account_sid) == Some(&row.service_sid)
            }
        }
    }

    fn keep(&mut self, row: Arc<ConversationRow>) {
        if self.by_sid.len() >= MAX_CONVERSATIONS && !self.by_sid.contains_key(&row.sid) {
            self.by_sid.clear();
            self.sid_by_id.clear();
        }
        self.sid_by_id.insert(row.id, row.sid.clone());
        self.by_sid.insert(row.sid.clone(), row);
    }
}

/// The writer's view of conversations while it runs one batch (see "Writes" above). A row is
/// given to a job only if it is the committed one or one the batch wrote, and no change the
/// update hook reported since has touched it; otherwise the job reads SQLite.
pub(super) struct BatchView<'a> {
    cache: &'a ConversationCache,
    changes: &'a Mutex<Changes>,
    /// By SID: rows that jobs of the batch which succeeded wrote.
    written: RefCell<HashMap<String, WrittenRow>>,
    /// The same, for the job that runs: kept only if it succeeds, since a job that fails is
    /// rolled back to its savepoint, which the update hook does not report.
    staged: RefCell<Vec<WrittenRow>>,
    /// Accounts' default services, as the batch's lookups through them found them.
    default_services: RefCell<HashMap<String, String>>,
}

/// A row a job wrote, with the batch's change count of that row right after the write (see
/// [`Changes`]; `None` if the batch had not changed the row in SQLite, only what the writer
/// knows of it): the row is current while the count stays the same.
type WrittenRow = (Arc<ConversationRow>, Option<usize>);

/// What a batch leaves for the cache once it has committed.
#[derive(Default)]
pub(super) struct Written {
    /// The rows it wrote that no later change of the batch touched, as they now are.
    rows: Vec<Arc<ConversationRow>>,
    /// Each account's default service, by account.
    default_services: HashMap<String, String>,
}

impl<'a> BatchView<'a> {
    pub fn new(cache: &'a ConversationCache, changes: &'a Mutex<Changes>) -> Self {
        BatchView {
            cache,
            changes,
            written: RefCell::default(),
            staged: RefCell::default(),
            default_services: RefCell::default(),
        }
    }

    /// Conversation `sid` as it is now in the batch's transaction, if the batch knows it and
    /// the tenant may see it; `None` means: ask SQLite.
    pub fn get(&self, tenant: &Tenant, sid: &str) -> Option<Arc<ConversationRow>> {
        let written = self.written.borrow().get(sid).cloned();
        // The batch's change count the row is current at: `None` for a committed row, which is
        // current only while the batch has not changed it at all.
        let (row, current_at) = match written {
            Some((row, after)) => (self.visible(&row, tenant).then_some(row)?, after),
            // The cache has already checked the tenant.
            None => (self.cache.get(tenant, sid)?, None),
        };
        let changes = self.changes.lock().expect("change log poisoned");
        let current = !changes.tenants && changes.last_change.get(&row.id).copied() == current_at;
        current.then_some(row)
    }

    fn visible(&self, row: &ConversationRow, tenant: &Tenant) -> bool {
        let learned = matches!(tenant.service, ServiceRef::Default)
            && row.account_sid == tenant.account_sid
            && self.default_services.borrow().get(&row.account_sid) == Some(&row.service_sid);
        learned || self.cache.visible(row, tenant)
    }

    /// A lookup through the account's default service found a conversation of `row`'s service.
    pub fn found_in_default_service(&self, row: &ConversationRow) {
        self.default_services
            .borrow_mut()
            .insert(row.account_sid.clone(), row.service_sid.clone());
    }

    /// The running job has just made `row` what it is: in the conversations table, or, for
    /// what only the writer knows (the count of its messages), here alone. It is current until
    /// the next change the update hook reports for it.
    pub fn wrote(&self, row: ConversationRow) {
        let after = self
            .changes
            .lock()
            .expect("change log poisoned")
            .last_change
            .get(&row.id)
            .copied();
        self.staged.borrow_mut().push((Arc::new(row), after));
    }

    /// The running job has ended: what it wrote is kept if it succeeded.
    pub fn job_ended(&self, succeeded: bool) {
        let staged = std::mem::take(&mut *self.staged.borrow_mut());
        if succeeded {
            let mut written = self.written.borrow_mut();
            for (row, after) in staged {
                written.insert(row.sid.clone(), (row, after));
            }
        }
    }

    /// What to keep once the batch commits: the rows it wrote that no later change touched,
    /// and the default services it found. Nothing if it changed a tenant.
    pub fn into_written(self) -> Written {
        let changes = self.changes.lock().expect("change log poisoned");
        if changes.tenants {
            return Written::default();
        }
        let rows = self
            .written
            .into_inner()
            .into_values()
            .filter(|(row, after)| changes.last_change.get(&row.id).copied() == *after)
            .map(|(row, _)| row)
            .collect();
        Written {
            rows,
            default_services: self.default_services.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, sid: &str, service: &str) -> Arc<ConversationRow> {
        Arc::new(ConversationRow::for_test(id, sid, "AC1", service))
    }

    fn tenant(account: &str, service: ServiceRef) -> Tenant {
        Tenant {
            account_sid: account.into(),
            service,
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
        let mut changes = Changes::default();
        changes.record("conversations", 1);
        cache.forget(&changes);
        cache.offer(&t, &row(1, "CH1", "IS1"), before);
        assert!(cache.get(&t, "CH1").is_none());
        cache.offer(&t, &row(1, "CH1", "IS1"), cache.generation());
        assert!(cache.get(&t, "CH1").is_some());
    }

    /// Stands for the update hook reporting that a job wrote conversation `id`.
    fn hook(changes: &Mutex<Changes>, id: i64) {
        changes.lock().unwrap().record("conversations", id);
    }

    #[test]
    fn a_batch_gives_back_what_it_wrote_until_something_else_changes_it() {
        let cache = ConversationCache::default();
        let changes = Mutex::new(Changes::default());
        let t = tenant("AC1", ServiceRef::Sid("IS1".into()));
        let view = BatchView::new(&cache, &changes);
        hook(&changes, 1);
        view.wrote((*row(1, "CH1", "IS1")).clone());
        view.job_ended(true);
        assert!(view.get(&t, "CH1").is_some());
        assert!(
            view.get(&tenant("AC2", ServiceRef::Sid("IS1".into())), "CH1")
                .is_none()
        );
        hook(&changes, 1); // a later job changed it without saying how
        assert!(view.get(&t, "CH1").is_none());
        assert!(view.into_written().rows.is_empty());
    }

    #[test]
    fn a_row_known_only_to_the_writer_is_current_until_sqlite_changes_it() {
        let cache = ConversationCache::default();
        let changes = Mutex::new(Changes::default());
        let t = tenant("AC1", ServiceRef::Sid("IS1".into()));
        cache.offer(&t, &row(1, "CH1", "IS1"), cache.generation());
        let view = BatchView::new(&cache, &changes);
        let counted = ConversationRow {
            next_message_index: Some(7),
            ..(*row(1, "CH1", "IS1")).clone()
        };
        view.wrote(counted); // no UPDATE: the hook reported nothing
        view.job_ended(true);
        assert_eq!(view.get(&t, "CH1").unwrap().next_message_index, Some(7));
        let written = view.into_written();
        cache.keep_written(written);
        assert_eq!(cache.get(&t, "CH1").unwrap().next_message_index, Some(7));

        let view = BatchView::new(&cache, &changes);
        view.wrote((*cache.get(&t, "CH1").unwrap()).clone());
        view.job_ended(true);
        hook(&changes, 1); // a later job changed the row in SQLite
        assert!(view.get(&t, "CH1").is_none());
        assert!(view.into_written().rows.is_empty());
    }

    #[test]
    fn a_failed_job_leaves_nothing_and_a_tenant_change_everything_to_sqlite() {
        let cache = ConversationCache::default();
        let changes = Mutex::new(Changes::default());
        let t = tenant("AC1", ServiceRef::Sid("IS1".into()));
        cache.offer(&t, &row(2, "CH2", "IS1"), cache.generation());
        let view = BatchView::new(&cache, &changes);
        hook(&changes, 1);
        view.wrote((*row(1, "CH1", "IS1")).clone());
        view.job_ended(false); // rolled back to its savepoint
        assert!(view.get(&t, "CH1").is_none());
        assert!(
            view.get(&t, "CH2").is_some(),
            "unchanged since the last commit"
        );
        changes.lock().unwrap().record("services", 1);
        assert!(view.get(&t, "CH2").is_none());
    }

    #[test]
    fn what_a_batch_wrote_is_kept_after_its_commit() {
        let cache = ConversationCache::default();
        let changes = Mutex::new(Changes::default());
        let t = tenant("AC1", ServiceRef::Default);
        let view = BatchView::new(&cache, &changes);
        view.found_in_default_service(&row(1, "CH1", "IS1"));
        hook(&changes, 1);
        view.wrote((*row(1, "CH1", "IS1")).clone());
        view.job_ended(true);
        let written = view.into_written();
        cache.forget(&std::mem::take(&mut *changes.lock().unwrap()));
        cache.keep_written(written);
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
