//! Conversations (CH...): what creating, changing and deleting one means, on either engine.

use std::sync::Arc;

use super::events::{self, Site};
use super::{participants, services, webhook_params};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::states::{ConversationState, Source};
use crate::store::conversations::{ConversationFilter, ConversationRow};
use crate::store::{Store, Tenant, Tx};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

/// The validated fields of a CreateConversation or an UpdateConversation (and the conversation
/// of ConversationWithParticipants): on create, `None` takes the default; on update, it leaves
/// the field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConversationChange {
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: Option<ConversationState>,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub bindings: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// A CreateConversation's fields.
pub type NewConversation = ConversationChange;
/// An UpdateConversation's fields.
pub type ConversationUpdate = ConversationChange;

/// Where this conversation's events happen.
pub fn site(row: &ConversationRow) -> Site<'_> {
    Site {
        service_id: row.service_id,
        service_sid: &row.service_sid,
        conversation: Some((row.id, &row.sid)),
    }
}

/// A closed conversation is archived and read-only (twilio-behavior.md 8.2): nothing in it
/// changes any more, but it can still be deleted.
pub fn refuse_if_closed(row: &ConversationRow) -> Result<()> {
    if row.state == ConversationState::Closed {
        return Err(Error::new(Code::ConversationClosed));
    }
    Ok(())
}

/// When a timer fires, counted from `from` (the last activity); a zero duration disables it.
fn schedule(from: i64, timer: Option<i64>) -> Option<i64> {
    timer.filter(|secs| *secs > 0).map(|secs| from + secs)
}

/// The row as activity at `now` leaves it (twilio-behavior.md 8.2): an inactive conversation
/// becomes active, the inactive timer counts again from now (it runs only while active), the
/// closed timer counts again from now, and `date_updated` moves.
pub fn after_activity(row: &ConversationRow, now: i64) -> ConversationRow {
    let state = match row.state {
        ConversationState::Inactive => ConversationState::Active,
        state => state,
    };
    ConversationRow {
        state,
        date_inactive: match state {
            ConversationState::Active => schedule(now, row.timer_inactive),
            _ => None,
        },
        date_closed: schedule(now, row.timer_closed),
        date_updated: now,
        ..row.clone()
    }
}

/// The tenant's conversation, or 404.
pub fn find(tx: &dyn Tx, tenant: &Tenant, sid_or_name: &str) -> Result<Arc<ConversationRow>> {
    tx.find_conversation(tenant, sid_or_name)?
        .ok_or_else(Error::not_found)
}

/// The tenant's conversation, for a write that changes it or adds to it, or 404.
pub fn lock(tx: &mut dyn Tx, tenant: &Tenant, sid_or_name: &str) -> Result<Arc<ConversationRow>> {
    tx.lock_conversation(tenant, sid_or_name)?
        .ok_or_else(Error::not_found)
}

/// An account's default timer (`/v1/Configuration`), for conversations created without their
/// own; `PT0S` (or anything unreadable) sets none.
fn default_timer(duration: Option<&str>) -> Option<i64> {
    duration
        .and_then(crate::wire::time::parse_duration)
        .filter(|secs| *secs > 0)
}

/// The unique name is taken in the service.
fn unique_name_taken(e: Error, name: Option<&str>) -> Error {
    e.on_conflict(|| Error::with(Code::UniqueNameTaken, name.unwrap_or("")))
}

/// Queues `onConversationStateUpdated` for a state change (`reason`: API, TIMER or EVENT).
pub fn state_updated(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    row: &ConversationRow,
    from: ConversationState,
    reason: &str,
) -> Result<()> {
    state_updated_from(tx, tenant, row, from, reason, Source::Api)
}

/// [`state_updated`] by an action that did not come from REST (`source`: an inbound message's
/// channel).
pub fn state_updated_from(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    row: &ConversationRow,
    from: ConversationState,
    reason: &str,
    source: Source,
) -> Result<()> {
    if from == row.state {
        return Ok(());
    }
    let params = webhook_params::state_updated(row, from, reason, tx.now());
    events::post_action_from(
        tx,
        tenant,
        site(row),
        EventType::ConversationStateUpdated,
        params,
        source,
    )
}

/// Adds a conversation to the tenant's service, inside the caller's job (also used by
/// ConversationWithParticipants and by inbound messages).
pub fn add(tx: &mut dyn Tx, tenant: &Tenant, new: NewConversation) -> Result<ConversationRow> {
    let now = tx.now();
    let service = services::find(tx, tenant)?;
    let defaults = tx
        .account_configuration(&tenant.account_sid)?
        .unwrap_or_default();
    let (timer_inactive, timer_closed) =
        if new.timer_inactive.is_none() && new.timer_closed.is_none() {
            (
                default_timer(defaults.default_inactive_timer.as_deref()),
                default_timer(defaults.default_closed_timer.as_deref()),
            )
        } else {
            (new.timer_inactive, new.timer_closed)
        };
    let state = new.state.unwrap_or(ConversationState::Active);
    let date_created = new.date_created.unwrap_or(now);
    let mut row = ConversationRow {
        id: 0,
        sid: new_sid(Prefix::Conversation),
        account_sid: tenant.account_sid.clone(),
        service_id: service.id,
        service_sid: service.sid,
        unique_name: new.unique_name,
        friendly_name: new.friendly_name,
        attributes: new.attributes.unwrap_or_else(|| "{}".into()),
        messaging_service_sid: new
            .messaging_service_sid
            .or(defaults.default_messaging_service_sid),
        state,
        timer_inactive,
        timer_closed,
        date_inactive: match state {
            ConversationState::Active => schedule(now, timer_inactive),
            _ => None,
        },
        date_closed: schedule(now, timer_closed),
        bindings: new.bindings,
        created_by: None,
        next_message_index: None,
        date_created,
        date_updated: new.date_updated.unwrap_or(date_created),
    };
    row.id = tx
        .insert_conversation(&row)
        .map_err(|e| unique_name_taken(e, row.unique_name.as_deref()))?;
    let params = webhook_params::conversation(&row);
    events::post_action(tx, tenant, site(&row), EventType::ConversationAdded, params)?;
    Ok(row)
}

/// CreateConversation.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    new: NewConversation,
) -> Result<ConversationRow> {
    store.write(move |tx| add(tx, &tenant, new)).await
}

/// FetchConversation.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    sid_or_name: String,
) -> Result<Arc<ConversationRow>> {
    store.read(move |tx| find(tx, &tenant, &sid_or_name)).await
}

/// Runs the read `query` on one of the tenant's conversations (by SID or unique name): the
/// read of every conversation sub-resource. A 404 if there is no such conversation.
pub async fn read_within<T, F>(
    store: &Store,
    tenant: Tenant,
    sid_or_name: String,
    query: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn Tx, &ConversationRow) -> Result<T> + Send + 'static,
{
    store
        .read(move |tx| {
            let conversation = find(tx, &tenant, &sid_or_name)?;
            query(tx, &conversation)
        })
        .await
}

/// ListConversation.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    filter: ConversationFilter,
    req: PageRequest,
) -> Result<Page<ConversationRow>> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            tx.list_conversations(service.id, &filter, &req)
        })
        .await
}

/// UpdateConversation. A closed conversation is final; a state change or any update counts
/// as activity and restarts the timers.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid_or_name: String,
    change: ConversationUpdate,
) -> Result<ConversationRow> {
    store
        .write(move |tx| {
            let current = lock(tx, &tenant, &sid_or_name)?;
            refuse_if_closed(&current)?;
            let row = updated(&current, change, tx.now());
            tx.update_conversation(&row)
                .map_err(|e| unique_name_taken(e, row.unique_name.as_deref()))?;
            participants::release_if_closed(tx, &row)?;
            let params = webhook_params::conversation(&row);
            events::post_action(
                tx,
                &tenant,
                site(&row),
                EventType::ConversationUpdated,
                params,
            )?;
            state_updated(tx, &tenant, &row, current.state, "API")?;
            Ok(row)
        })
        .await
}

/// What an update makes of the conversation at `now`.
fn updated(current: &ConversationRow, change: ConversationUpdate, now: i64) -> ConversationRow {
    let state = change.state.unwrap_or(current.state);
    let timer_inactive = change.timer_inactive.or(current.timer_inactive);
    let timer_closed = change.timer_closed.or(current.timer_closed);
    let (date_inactive, date_closed) = match state {
        ConversationState::Closed => (None, None),
        ConversationState::Active => (schedule(now, timer_inactive), schedule(now, timer_closed)),
        ConversationState::Inactive => (None, schedule(now, timer_closed)),
    };
    ConversationRow {
        unique_name: change.unique_name.or_else(|| current.unique_name.clone()),
        friendly_name: change
            .friendly_name
            .or_else(|| current.friendly_name.clone()),
        attributes: change
            .attributes
            .unwrap_or_else(|| current.attributes.clone()),
        messaging_service_sid: change
            .messaging_service_sid
            .or_else(|| current.messaging_service_sid.clone()),
        state,
        timer_inactive,
        timer_closed,
        date_inactive,
        date_closed,
        bindings: change.bindings.or_else(|| current.bindings.clone()),
        date_created: change.date_created.unwrap_or(current.date_created),
        date_updated: change.date_updated.unwrap_or(now),
        next_message_index: None,
        ..current.clone()
    }
}

/// DeleteConversation: its messages, participants, receipts and webhooks go with it.
pub async fn delete(store: &Store, tenant: Tenant, sid_or_name: String) -> Result<()> {
    store
        .write(move |tx| {
            let current = lock(tx, &tenant, &sid_or_name)?;
            // Queued before the delete, while the conversation's scoped webhooks still exist.
            let params = webhook_params::conversation_removed(&current, tx.now());
            events::post_action(
                tx,
                &tenant,
                site(&current),
                EventType::ConversationRemoved,
                params,
            )?;
            tx.delete_conversation(current.id)
        })
        .await
}
