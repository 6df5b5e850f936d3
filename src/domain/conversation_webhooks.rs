//! Conversation-scoped webhooks (WH...): up to five post-event targets attached to one
//! conversation (twilio-behavior.md 17.7). Events fan out to them in `events::post_action`.

use super::conversations;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::states::WebhookTarget;
use crate::store::conversation_webhooks::ScopedWebhook;
use crate::store::conversations::ConversationRow;
use crate::store::{Store, Tenant, Tx};
use crate::wire::paging::{Page, PageRequest};

/// At most this many scoped webhooks per conversation (twilio-behavior.md 6, 17.7;
/// `TooManyConversationWebhooks`).
pub const MAX_PER_CONVERSATION: usize = 5;

/// A validated CreateConversationScopedWebhook: the target's required settings are present.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub target: WebhookTarget,
    pub url: Option<String>,
    pub method: Option<String>,
    pub filters: Option<Vec<String>>,
    pub triggers: Option<Vec<String>>,
    pub flow_sid: Option<String>,
    pub replay_after: Option<i64>,
}

/// A validated UpdateConversationScopedWebhook: `None` leaves a setting as it is. The target
/// and `replay_after` are fixed at creation; `target`, when sent, must repeat the current one.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub target: Option<WebhookTarget>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub filters: Option<Vec<String>>,
    pub triggers: Option<Vec<String>>,
    pub flow_sid: Option<String>,
}

/// A scoped webhook with the conversation it is attached to, as the API shows it.
#[derive(Debug, Clone)]
pub struct ConversationWebhook {
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub webhook: ScopedWebhook,
}

fn attached(conversation: &ConversationRow, webhook: ScopedWebhook) -> ConversationWebhook {
    ConversationWebhook {
        account_sid: conversation.account_sid.clone(),
        service_sid: conversation.service_sid.clone(),
        conversation_sid: conversation.sid.clone(),
        webhook,
    }
}

/// The conversation's webhook `sid`, or 404.
fn find(tx: &dyn Tx, conversation: &ConversationRow, sid: &str) -> Result<ScopedWebhook> {
    tx.conversation_webhook(conversation.id, sid)?
        .ok_or_else(Error::not_found)
}

/// A sixth webhook on one conversation is refused with `TooManyConversationWebhooks`, as 400:
/// twilio-behavior.md 21 hesitates between 400 and 403, and it is a limit on the request's
/// content rather than on the caller's rights.
fn refuse_if_full(tx: &dyn Tx, conversation: &ConversationRow) -> Result<()> {
    if tx.scoped_webhooks(conversation.id)?.len() >= MAX_PER_CONVERSATION {
        return Err(Error::with(
            Code::TooManyConversationWebhooks,
            format!("a conversation has at most {MAX_PER_CONVERSATION}"),
        ));
    }
    Ok(())
}

/// Attaches a webhook to the conversation, inside the caller's job, which holds the
/// conversation locked (also used by inbound autocreation).
pub fn attach(
    tx: &mut dyn Tx,
    conversation: &ConversationRow,
    new: NewWebhook,
) -> Result<ScopedWebhook> {
    refuse_if_full(tx, conversation)?;
    let now = tx.now();
    let mut row = ScopedWebhook {
        id: 0,
        sid: new_sid(Prefix::Webhook),
        target: new.target,
        url: new.url,
        method: new.method,
        filters: new.filters,
        triggers: new.triggers,
        flow_sid: new.flow_sid,
        replay_after: new.replay_after,
        date_created: now,
        date_updated: now,
    };
    row.id = tx.insert_conversation_webhook(conversation.id, &row)?;
    Ok(row)
}

/// CreateConversationScopedWebhook.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewWebhook,
) -> Result<ConversationWebhook> {
    store
        .write(move |tx| {
            // Locked, so that two creates cannot both pass the limit.
            let conversation = conversations::lock(tx, &tenant, &conversation)?;
            let row = attach(tx, &conversation, new)?;
            Ok(attached(&conversation, row))
        })
        .await
}

/// ListConversationScopedWebhook, in creation order.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    req: PageRequest,
) -> Result<Page<ConversationWebhook>> {
    conversations::read_within(store, tenant, conversation, move |tx, conversation| {
        let page = tx.list_conversation_webhooks(conversation.id, &req)?;
        Ok(page.map(|webhook| attached(conversation, webhook)))
    })
    .await
}

/// FetchConversationScopedWebhook.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    sid: String,
) -> Result<ConversationWebhook> {
    conversations::read_within(store, tenant, conversation, move |tx, conversation| {
        Ok(attached(conversation, find(tx, conversation, &sid)?))
    })
    .await
}

/// The webhook as an update at `now` leaves it, or why not. The target cannot change (the
/// spec's update has no `Target`); a different one sent anyway answers `InvalidWebhookTarget`
/// rather than being silently ignored.
fn updated(current: ScopedWebhook, change: WebhookUpdate, now: i64) -> Result<ScopedWebhook> {
    if let Some(target) = change.target.filter(|t| *t != current.target) {
        return Err(Error::with(
            Code::InvalidWebhookTarget,
            format!(
                "the target of a webhook cannot change from '{}' to '{target}'",
                current.target
            ),
        ));
    }
    Ok(ScopedWebhook {
        url: change.url.or(current.url),
        method: change.method.or(current.method),
        filters: change.filters.or(current.filters),
        triggers: change.triggers.or(current.triggers),
        flow_sid: change.flow_sid.or(current.flow_sid),
        date_updated: now,
        ..current
    })
}

/// UpdateConversationScopedWebhook.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    sid: String,
    change: WebhookUpdate,
) -> Result<ConversationWebhook> {
    store
        .write(move |tx| {
            let conversation = conversations::lock(tx, &tenant, &conversation)?;
            let current = find(tx, &conversation, &sid)?;
            let row = updated(current, change, tx.now())?;
            tx.update_conversation_webhook(&row)?;
            Ok(attached(&conversation, row))
        })
        .await
}

/// DeleteConversationScopedWebhook.
pub async fn delete(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    sid: String,
) -> Result<()> {
    store
        .write(move |tx| {
            let conversation = conversations::lock(tx, &tenant, &conversation)?;
            let current = find(tx, &conversation, &sid)?;
            tx.delete_conversation_webhook(current.id)
        })
        .await
}
