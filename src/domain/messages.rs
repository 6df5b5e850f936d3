//! Conversation Messages (IM...): what adding, changing and deleting one means, on either
//! engine. Adding one is the hottest path of the server: one write job that finds the
//! conversation, claims the media, takes the index, records the activity, inserts the message,
//! records what goes out to SMS/WhatsApp recipients, and queues its events.

use super::conversations::{self, after_activity, refuse_if_closed, site};
use super::events;
use super::webhook_params::Params;
use super::{media, outbound, webhook_params};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::states::Source;
use crate::store::conversations::ConversationRow;
use crate::store::media::MediaRow;
use crate::store::messages::{Delivery, MessageRef, MessageRow};
use crate::store::{Store, Tenant, Tx};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

/// A validated CreateConversationMessage.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub author: String,
    pub body: Option<String>,
    pub attributes: Option<String>,
    pub media_sid: Option<String>,
    pub content_sid: Option<String>,
    pub content_variables: Option<String>,
    pub subject: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// A validated UpdateConversationMessage: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MessageUpdate {
    pub author: Option<String>,
    pub body: Option<String>,
    pub attributes: Option<String>,
    pub subject: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// A message of the conversation by its IM SID, or 404 (the spec's `{Sid}` is an IM SID only;
/// an index is not an alternative).
pub fn find(tx: &dyn Tx, conv: &ConversationRow, sid: &str) -> Result<MessageRow> {
    if !is_sid(Prefix::Message, sid) {
        return Err(Error::not_found());
    }
    tx.find_message(conv, sid)?.ok_or_else(Error::not_found)
}

/// The participant of the conversation whose identity is the author, if any
/// (twilio-behavior.md 14.1: `participant_sid` is null for system messages and authors that
/// match no participant).
fn author_participant(tx: &dyn Tx, conv: &ConversationRow, author: &str) -> Result<Option<String>> {
    tx.participant_sid_by_identity(conv.id, author)
}

/// The row a new message will be, before it has an id, a SID and an index.
fn new_row(
    conv: &ConversationRow,
    new: &mut NewMessage,
    media: &[MediaRow],
    participant_sid: Option<String>,
    now: i64,
) -> MessageRow {
    let date_created = new.date_created.unwrap_or(now);
    MessageRow {
        id: 0,
        sid: String::new(),
        account_sid: conv.account_sid.clone(),
        service_sid: conv.service_sid.clone(),
        conversation_sid: conv.sid.clone(),
        index: 0,
        author: std::mem::take(&mut new.author),
        body: new.body.take(),
        media: (!media.is_empty()).then(|| media::media_json(media)),
        attributes: new.attributes.take().unwrap_or_else(|| "{}".into()),
        participant_sid,
        content_sid: new.content_sid.take(),
        date_created,
        date_updated: new.date_updated.unwrap_or(date_created),
        delivery: None,
    }
}

/// Where a new message comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// CreateConversationMessage: its author is matched to a participant by identity, and its
    /// media (if any) is an upload it claims.
    Rest,
    /// A message that arrived on a messaging channel (`POST /confab/Inbound`): from the
    /// participant that holds the sender's binding, with the media stored for it in this job,
    /// and its events say where it came from.
    Channel {
        participant_sid: String,
        media: Vec<MediaRow>,
        source: Source,
    },
}

/// Adds a message to the conversation, inside the caller's job.
pub fn add(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    conversation: &str,
    new: NewMessage,
) -> Result<MessageRow> {
    add_from(tx, tenant, conversation, new, Origin::Rest)
}

/// What `origin` brings to a new message: its media, its participant when the origin names
/// one (else the author's, by identity), and the `Source` of its events.
fn resolve(
    tx: &dyn Tx,
    conv: &ConversationRow,
    new: &NewMessage,
    origin: Origin,
) -> Result<(Vec<MediaRow>, Option<String>, Source)> {
    Ok(match origin {
        Origin::Rest => {
            let media = match &new.media_sid {
                Some(sid) => vec![media::claimable(tx, conv.service_id, sid)?],
                None => Vec::new(),
            };
            (media, None, Source::Api)
        }
        Origin::Channel {
            participant_sid,
            media,
            source,
        } => (media, Some(participant_sid), source),
    })
}

/// Adds a message that came from `origin` to the conversation, inside the caller's job.
pub fn add_from(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    conversation: &str,
    mut new: NewMessage,
    origin: Origin,
) -> Result<MessageRow> {
    let now = tx.now();
    let conv = conversations::lock(tx, tenant, conversation)?;
    refuse_if_closed(&conv)?;
    let (media, sender, source) = resolve(tx, &conv, &new, origin)?;
    let audience = outbound::audience(tx, &conv, &new.author)?;
    let (content_variables, subject) = (new.content_variables.take(), new.subject.take());
    let author = sender.or(audience.author);
    let mut row = new_row(&conv, &mut new, &media, author, now);
    row.sid = new_sid(Prefix::Message);
    let active = after_activity(&conv, now);
    row.index = tx.take_message_index(&conv, &active)?;
    row.id = tx.insert_message(
        conv.id,
        &row,
        content_variables.as_deref(),
        subject.as_deref(),
    )?;
    for media in &media {
        media::attach(tx, media, row.id)?;
    }
    let recipients = outbound::record(tx, &row, &audience.recipients)?;
    if recipients > 0 {
        row.delivery = Some(Delivery::queued(recipients));
    }
    // A message wakes an inactive conversation (twilio-behavior.md 8.2): Reason=EVENT. Both
    // events reach the event stream whether or not the request asked for webhooks.
    conversations::state_updated_from(tx, tenant, &active, conv.state, "EVENT", source)?;
    let params = webhook_params::message_added(&row, conv.messaging_service_sid.as_deref());
    events::post_action_from(
        tx,
        tenant,
        site(&conv),
        EventType::MessageAdded,
        params,
        source,
    )?;
    Ok(row)
}

/// CreateConversationMessage.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewMessage,
) -> Result<MessageRow> {
    store
        .write(move |tx| add(tx, &tenant, &conversation, new))
        .await
}

/// The parameters of `onMessageAdd` (twilio-behavior.md 17.4): the message `new` would add,
/// before it has a SID or an index. What the write would refuse (an unknown or closed
/// conversation, unusable media) is refused here first, so that a request bound to fail sends
/// no webhook.
pub async fn add_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    mut new: NewMessage,
) -> Result<Params> {
    store
        .read(move |tx| {
            let conv = conversations::find(tx, &tenant, &conversation)?;
            refuse_if_closed(&conv)?;
            let media = match &new.media_sid {
                Some(sid) => vec![media::claimable(tx, conv.service_id, sid)?],
                None => Vec::new(),
            };
            let participant_sid = author_participant(tx, &conv, &new.author)?;
            let row = new_row(&conv, &mut new, &media, participant_sid, tx.now());
            Ok(webhook_params::message_add(&row))
        })
        .await
}

/// FetchConversationMessage.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
) -> Result<MessageRow> {
    conversations::read_within(store, tenant, conversation, move |tx, conv| {
        find(tx, conv, &message)
    })
    .await
}

/// ListConversationMessage: by index, ascending unless `descending`; the page token is the
/// index, so a page deep in a long conversation costs what the first one costs. Each message
/// is handed to `write` while the engine holds its row, and the page holds what `write` made of
/// it (the answer's bytes: docs/design.md, "Hand-written JSON for hot resources").
pub async fn list<T: Send + 'static>(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    descending: bool,
    req: PageRequest,
    write: impl Fn(MessageRef<'_>) -> T + Send + 'static,
) -> Result<Page<T>> {
    conversations::read_within(store, tenant, conversation, move |tx, conv| {
        let mut written = Vec::with_capacity(req.size + 1);
        tx.list_messages(conv, descending, &req, &mut |message| {
            written.push((message.index, write(message)));
        })?;
        let page = Page::from_read(written, &req, |(index, _)| vec![*index]);
        Ok(page.map(|(_, written)| written))
    })
    .await
}

/// What an update does to a message, or why it cannot: the body of a media message is fixed
/// (`MediaBodyLocked`), and so is every message of a closed conversation
/// (`ConversationClosed`); a new author is matched to a participant again.
fn apply_update(
    tx: &dyn Tx,
    conv: &ConversationRow,
    row: &mut MessageRow,
    change: &MessageUpdate,
) -> Result<()> {
    refuse_if_closed(conv)?;
    if change.body.is_some() && row.media.is_some() {
        return Err(Error::new(Code::MediaBodyLocked));
    }
    if let Some(author) = &change.author {
        row.participant_sid = author_participant(tx, conv, author)?;
        row.author = author.clone();
    }
    if let Some(body) = &change.body {
        row.body = Some(body.clone());
    }
    if let Some(attributes) = &change.attributes {
        row.attributes = attributes.clone();
    }
    row.date_created = change.date_created.unwrap_or(row.date_created);
    row.date_updated = change.date_updated.unwrap_or(tx.now());
    Ok(())
}

/// UpdateConversationMessage (the rules are [`apply_update`]'s).
pub async fn update(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
    change: MessageUpdate,
) -> Result<MessageRow> {
    store
        .write(move |tx| {
            let conv = conversations::lock(tx, &tenant, &conversation)?;
            let mut row = find(tx, &conv, &message)?;
            apply_update(tx, &conv, &mut row, &change)?;
            tx.update_message(&row, change.subject.as_deref())?;
            let params = webhook_params::message_updated(&row);
            events::post_action(tx, &tenant, site(&conv), EventType::MessageUpdated, params)?;
            Ok(row)
        })
        .await
}

/// The parameters of `onMessageUpdate`: the message as the update would leave it (refused
/// here first when the write would refuse it).
pub async fn update_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
    change: MessageUpdate,
) -> Result<Params> {
    store
        .read(move |tx| {
            let conv = conversations::find(tx, &tenant, &conversation)?;
            let mut row = find(tx, &conv, &message)?;
            apply_update(tx, &conv, &mut row, &change)?;
            Ok(webhook_params::message_updated(&row))
        })
        .await
}

/// The parameters of `onMessageRemove`: the message as it is.
pub async fn remove_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
) -> Result<Params> {
    let row = fetch(store, tenant, conversation, message).await?;
    Ok(webhook_params::message_updated(&row))
}

/// DeleteConversationMessage: its media and receipts go with it; no other index changes, and
/// its own is never taken again.
pub async fn delete(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
) -> Result<()> {
    store
        .write(move |tx| {
            let conv = conversations::lock(tx, &tenant, &conversation)?;
            let row = find(tx, &conv, &message)?;
            tx.delete_message(&conv, &row)?;
            let params = webhook_params::message_removed(&row, tx.now());
            events::post_action(tx, &tenant, site(&conv), EventType::MessageRemoved, params)
        })
        .await
}
