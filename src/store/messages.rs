//! Conversation Messages (IM...): create (the hottest path of the server: one write job, cached
//! statements, no read-back), list by index in either order, fetch, update, delete; the
//! `delivery` summary from the receipts table; and what a new message does to its conversation.

use std::sync::LazyLock;

use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};

use super::conversations::{self, ConversationRow, resolve_in_tenant};
use super::outbox::{self, Params};
use super::services::Tenant;
use super::sql::{Keyset, optional};
use super::{Store, WriteCtx};
use super::{lifecycle, media};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};
use crate::wire::time::format_date;

/// How many of a message's non-chat recipients reached each delivery status (twilio-behavior.md 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub total: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub undelivered: i64,
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub sid: String,
    /// The next three are the conversation's.
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub index: i64,
    pub author: String,
    pub body: Option<String>,
    /// The wire `media` array as JSON text, when the message has media.
    pub media: Option<String>,
    pub attributes: String,
    pub participant_sid: Option<String>,
    pub content_sid: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    /// `None` when the message has no receipts.
    pub delivery: Option<Delivery>,
}

/// The delivery counts, one indexed probe of `receipts` per message. Only the latest status of a
/// receipt is stored, and the statuses are cumulative: a read message was delivered, a delivered
/// one was sent. The spec's example (`total 2, sent all, delivered some, read some`) reads so.
/// Most messages (chat only) have no receipt: their `receipts` count (set when the message is
/// created, the only time receipts are recorded) answers those without touching the receipts.
const DELIVERY: &str = "CASE WHEN m.receipts > 0
    THEN (SELECT json_array(count(*),
        count(*) FILTER (WHERE r.status IN ('sent', 'delivered', 'read')),
        count(*) FILTER (WHERE r.status IN ('delivered', 'read')),
        count(*) FILTER (WHERE r.status = 'read'),
        count(*) FILTER (WHERE r.status = 'failed'),
        count(*) FILTER (WHERE r.status = 'undelivered'))
    FROM receipts r WHERE r.message_id = m.id) END";

/// Every message column and its delivery counts; built once.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT m.id, m.sid, m.idx, m.author, m.body, m.media, m.attributes, m.participant_sid,
            m.content_sid, m.date_created, m.date_updated, {DELIVERY}
         FROM messages m"
    )
});
static SELECT_BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE m.conversation_id = ?1 AND m.sid = ?2", *SELECT));
static SELECT_IN_CONVERSATION: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE m.conversation_id = ?1", *SELECT));

fn parse_delivery(counts: Option<String>) -> rusqlite::Result<Option<Delivery>> {
    let Some(counts) = counts else {
        return Ok(None);
    };
    let [total, sent, delivered, read, failed, undelivered] =
        serde_json::from_str::<[i64; 6]>(&counts).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, e.into())
        })?;
    Ok(Some(Delivery {
        total,
        sent,
        delivered,
        read,
        failed,
        undelivered,
    }))
}

/// A message as one row of [`SELECT`] holds it while SQLite is on that row, borrowed from the
/// statement and the conversation: a page is written from these, without the `String` per
/// column (allocated, copied, then copied again into the answer) that a [`MessageRow`] takes.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub conversation_sid: &'a str,
    pub index: i64,
    pub author: &'a str,
    pub body: Option<&'a str>,
    /// The wire `media` array as JSON text, when the message has media.
    pub media: Option<&'a str>,
    pub attributes: &'a str,
    pub participant_sid: Option<&'a str>,
    pub content_sid: Option<&'a str>,
    pub date_created: i64,
    pub date_updated: i64,
    /// `None` when the message has no receipts.
    pub delivery: Option<Delivery>,
}

impl MessageRow {
    /// The row as the borrowed form the wire is written from.
    pub fn borrowed(&self) -> MessageRef<'_> {
        MessageRef {
            sid: &self.sid,
            account_sid: &self.account_sid,
            service_sid: &self.service_sid,
            conversation_sid: &self.conversation_sid,
            index: self.index,
            author: &self.author,
            body: self.body.as_deref(),
            media: self.media.as_deref(),
            attributes: &self.attributes,
            participant_sid: self.participant_sid.as_deref(),
            content_sid: self.content_sid.as_deref(),
            date_created: self.date_created,
            date_updated: self.date_updated,
            delivery: self.delivery,
        }
    }
}

fn text<'r>(row: &'r Row, column: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(column)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, e.into()))
}

fn optional_text<'r>(row: &'r Row, column: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(column)?
        .as_str_or_null()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, e.into()))
}

/// The message on a row of [`SELECT`]; the conversation supplies the SIDs the row does not hold.
fn borrowed<'r>(row: &'r Row, conv: &'r ConversationRow) -> rusqlite::Result<MessageRef<'r>> {
    Ok(MessageRef {
        sid: text(row, 1)?,
        account_sid: &conv.account_sid,
        service_sid: &conv.service_sid,
        conversation_sid: &conv.sid,
        index: row.get(2)?,
        author: text(row, 3)?,
        body: optional_text(row, 4)?,
        media: optional_text(row, 5)?,
        attributes: text(row, 6)?,
        participant_sid: optional_text(row, 7)?,
        content_sid: optional_text(row, 8)?,
        date_created: row.get(9)?,
        date_updated: row.get(10)?,
        delivery: parse_delivery(row.get(11)?)?,
    })
}

/// Reads rows of [`SELECT`] into owned rows.
fn reader(conv: &ConversationRow) -> impl Fn(&Row) -> rusqlite::Result<MessageRow> + use<'_> {
    move |row| {
        let m = borrowed(row, conv)?;
        Ok(MessageRow {
            id: row.get(0)?,
            sid: m.sid.to_owned(),
            account_sid: m.account_sid.to_owned(),
            service_sid: m.service_sid.to_owned(),
            conversation_sid: m.conversation_sid.to_owned(),
            index: m.index,
            author: m.author.to_owned(),
            body: m.body.map(str::to_owned),
            media: m.media.map(str::to_owned),
            attributes: m.attributes.to_owned(),
            participant_sid: m.participant_sid.map(str::to_owned),
            content_sid: m.content_sid.map(str::to_owned),
            date_created: m.date_created,
            date_updated: m.date_updated,
            delivery: m.delivery,
        })
    }
}

/// Finds a message of the conversation by its IM SID, or answers 404 for the request path (the
/// spec's `{Sid}` is an IM SID only; an index is not an alternative).
pub fn resolve(
    conn: &Connection,
    tenant: &Tenant,
    conv: &ConversationRow,
    sid: &str,
) -> Result<MessageRow> {
    if !is_sid(Prefix::Message, sid) {
        return Err(tenant.not_found());
    }
    optional(conn, &SELECT_BY_SID, &[&conv.id, &sid], reader(conv))?
        .ok_or_else(|| tenant.not_found())
}

/// The internal id of a message of the conversation, or 404 (for the receipts under it).
pub fn resolve_id(
    conn: &Connection,
    tenant: &Tenant,
    conv: &ConversationRow,
    sid: &str,
) -> Result<i64> {
    if !is_sid(Prefix::Message, sid) {
        return Err(tenant.not_found());
    }
    optional(
        conn,
        "SELECT id FROM messages WHERE conversation_id = ?1 AND sid = ?2",
        &[&conv.id, &sid],
        |r| r.get(0),
    )?
    .ok_or_else(|| tenant.not_found())
}

/// What activity does to a conversation (twilio-behavior.md 8.2): an inactive conversation becomes
/// active, the inactive timer counts again from now (it runs only while active), the closed
/// timer counts again from now, and `date_updated` moves. `?1` is the conversation's id, `?2`
/// now. In SQLite a SET expression reads the row as it was before the UPDATE.
const ACTIVITY: &str = "state = CASE state WHEN 'inactive' THEN 'active' ELSE state END,
    date_inactive = CASE WHEN state IN ('active', 'inactive') AND timer_inactive > 0
        THEN ?2 + timer_inactive END,
    date_closed = CASE WHEN timer_closed > 0 THEN ?2 + timer_closed END,
    date_updated = ?2";

/// Answers what [`ACTIVITY`] made of the state and the timers, so that the batch knows the row
/// as written (`cache.rs`, "Writes").
static TAKE_INDEX_WITH_ACTIVITY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE conversations SET next_message_index = ?3 + 1, {ACTIVITY} WHERE id = ?1
         RETURNING state, date_inactive, date_closed"
    )
});

/// [`ACTIVITY`] for a conversation that is active with no timer: only `date_updated` moves.
/// Leaving `state` and the timer dates out of the SET spares the UPDATE their indexes, on
/// the path of every message.
const TAKE_INDEX_WHEN_ACTIVE: &str =
    "UPDATE conversations SET next_message_index = ?3 + 1, date_updated = ?2 WHERE id = ?1";

/// The index the conversation's next message takes, counted from SQLite: one past its highest
/// message index, or the stored floor if that is higher (its last messages were deleted).
const NEXT_INDEX: &str = "SELECT max(c.next_message_index,
        coalesce((SELECT max(m.idx) + 1 FROM messages m WHERE m.conversation_id = ?1), 0))
    FROM conversations c WHERE c.id = ?1";

/// Takes the conversation's next message index and records the activity.
///
/// Indexes start at 0 and are never reused: deleting the last message frees nothing. The
/// conversation's `next_message_index` column is a floor under the next index, not the index
/// itself: it is written with the activity, and when a message is deleted ([`delete`]). The
/// writer counts the next index once ([`NEXT_INDEX`]) and then keeps it in the conversation's
/// cached row, as each message leaves it. So a message into a plainly active conversation
/// whose `date_updated` is already this second (dates are whole seconds) writes nothing to the
/// conversation's row: spread over many conversations, that row's page was one more page in
/// every message's commit.
fn allocate_index(ctx: &WriteCtx, conv: &ConversationRow) -> Result<i64> {
    let plainly_active = conv.state == "active"
        && conv.timer_inactive.is_none_or(|t| t <= 0)
        && conv.timer_closed.is_none_or(|t| t <= 0)
        && conv.date_inactive.is_none()
        && conv.date_closed.is_none();
    let index = match conv.next_message_index {
        Some(index) => index,
        None => ctx
            .tx
            .prepare_cached(NEXT_INDEX)?
            .query_row([conv.id], |r| r.get(0))?,
    };
    let args = params![conv.id, ctx.now, index];
    let mut written = ConversationRow {
        next_message_index: Some(index + 1),
        date_updated: ctx.now,
        ..conv.clone()
    };
    if plainly_active && conv.date_updated == ctx.now {
        // Nothing of the row changes but the floor, which may lag.
    } else if plainly_active {
        ctx.tx
            .prepare_cached(TAKE_INDEX_WHEN_ACTIVE)?
            .execute(args)?;
    } else {
        (written.state, written.date_inactive, written.date_closed) = ctx
            .tx
            .prepare_cached(&TAKE_INDEX_WITH_ACTIVITY)?
            .query_row(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    }
    // The batch's next message here takes the conversation from this, not from SQLite.
    ctx.conversations.wrote(written);
    Ok(index)
}

/// The participant of the conversation whose identity is the author, if any (twilio-behavior.md 14.1:
/// `participant_sid` is null for system messages and authors that match no participant).
fn participant_for(
    conn: &Connection,
    conversation_id: i64,
    author: &str,
) -> Result<Option<String>> {
    optional(
        conn,
        "SELECT sid FROM participants WHERE conversation_id = ?1 AND identity = ?2",
        &[&conversation_id, &author],
        |r| r.get(0),
    )
}

/// A closed conversation is archived and read-only (twilio-behavior.md 8.2): no message is added or
/// edited there any more (`ConversationClosed`, "can't be used for chatting anymore"). Deleting
/// stays possible, as deleting the conversation itself does: data retention must not depend on its
/// state.
fn refuse_if_closed(conv: &ConversationRow) -> Result<()> {
    if conv.state == "closed" {
        return Err(Error::with(
            Code::ConversationClosed,
            "its messages can't change",
        ));
    }
    Ok(())
}

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

/// CreateConversationMessage: one write job that resolves the conversation, claims the media,
/// takes the index, records the activity, inserts the message and queues its events.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewMessage,
) -> Result<MessageRow> {
    store
        .write(move |ctx| insert(ctx, &tenant, &conversation, new))
        .await
}

fn insert(
    ctx: &WriteCtx,
    tenant: &Tenant,
    conversation: &str,
    mut new: NewMessage,
) -> Result<MessageRow> {
    let conv = conversations::resolve_in_batch(ctx, tenant, conversation)?;
    refuse_if_closed(&conv)?;
    let media = match &new.media_sid {
        Some(sid) => Some(media::claim(ctx, conv.service_id, sid)?),
        None => None,
    };
    let audience = lifecycle::audience(ctx, conv.id, &new.author)?;
    let (content_variables, subject) = (new.content_variables.take(), new.subject.take());
    let mut row = new_row(&conv, new, media.as_ref(), audience.author, ctx.now);
    row.sid = new_sid(Prefix::Message);
    row.index = allocate_index(ctx, &conv)?;
    row.id = insert_row(ctx, conv.id, &row, content_variables, subject)?;
    if let Some(media) = &media {
        media::attach(ctx, media.id, row.id)?;
    }
    let recipients = lifecycle::record_outbound(
        ctx,
        row.id,
        &audience.recipients,
        row.body.as_deref(),
        row.media.as_deref(),
    )?;
    if recipients > 0 {
        row.delivery = Some(Delivery {
            total: recipients as i64,
            sent: 0,
            delivered: 0,
            read: 0,
            failed: 0,
            undelivered: 0,
        });
    }
    if tenant.webhooks {
        if conv.state == "inactive" {
            // A message wakes an inactive conversation (twilio-behavior.md 8.2): Reason=EVENT.
            let woken = ConversationRow {
                state: "active".into(),
                ..(*conv).clone()
            };
            conversations::state_updated(ctx, tenant, &woken, &conv.state, "EVENT")?;
        }
        let mut params = event_params(&row);
        params.push(("MessagingServiceSid", conv.messaging_service_sid.clone()));
        outbox::enqueue(ctx, tenant, conv.site(), EventType::MessageAdded, params)?;
    }
    Ok(row)
}

/// The row a new message will be, before it has an id, a SID and an index.
fn new_row(
    conv: &ConversationRow,
    new: NewMessage,
    media: Option<&media::MediaRow>,
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
        author: new.author,
        body: new.body,
        media: media.map(|m| m.message_media_json()),
        attributes: new.attributes.unwrap_or_else(|| "{}".into()),
        participant_sid,
        content_sid: new.content_sid,
        date_created,
        date_updated: new.date_updated.unwrap_or(date_created),
        delivery: None,
    }
}

/// The parameters of `onMessageAdd` (twilio-behavior.md 17.4): the message `new` would add, before it
/// has a SID or an index. What the write would refuse (an unknown or closed conversation,
/// unusable media) is refused here first, so that a request bound to fail sends no webhook.
pub async fn add_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewMessage,
) -> Result<Params> {
    const ON_MESSAGE_ADD: &[&str] = &[
        "ConversationSid",
        "Body",
        "Author",
        "ParticipantSid",
        "Attributes",
        "Media",
    ];
    let now = store.clock.now_secs();
    store
        .read(move |conn| {
            let conv = resolve_in_tenant(conn, &tenant, &conversation)?;
            refuse_if_closed(&conv)?;
            let media = match &new.media_sid {
                Some(sid) => Some(media::claimable(conn, conv.service_id, sid, now)?),
                None => None,
            };
            let participant_sid = participant_for(conn, conv.id, &new.author)?;
            let row = new_row(&conv, new, media.as_ref(), participant_sid, now);
            let mut params = event_params(&row);
            params.retain(|(name, _)| ON_MESSAGE_ADD.contains(name));
            Ok(params)
        })
        .await
}

/// Writes a new message; returns its internal id.
fn insert_row(
    ctx: &WriteCtx,
    conversation_id: i64,
    row: &MessageRow,
    content_variables: Option<String>,
    subject: Option<String>,
) -> Result<i64> {
    ctx.tx
        .prepare_cached(
            "INSERT INTO messages (sid, conversation_id, idx, author, body, media, attributes,
                 participant_sid, content_sid, content_variables, subject, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            row.sid,
            conversation_id,
            row.index,
            row.author,
            row.body,
            row.media,
            row.attributes,
            row.participant_sid,
            row.content_sid,
            content_variables,
            subject,
            row.date_created,
            row.date_updated,
        ])?;
    Ok(ctx.tx.last_insert_rowid())
}

/// The form parameters the message events share (twilio-behavior.md 17.4). `Media` goes as a JSON
/// array string with PascalCase keys, as Twilio's webhooks send it.
fn event_params(row: &MessageRow) -> Params {
    vec![
        ("ConversationSid", Some(row.conversation_sid.to_string())),
        ("MessageSid", Some(row.sid.clone())),
        ("Index", Some(row.index.to_string())),
        ("DateCreated", Some(format_date(row.date_created))),
        ("Body", row.body.clone()),
        ("Author", Some(row.author.clone())),
        ("ParticipantSid", row.participant_sid.clone()),
        ("Attributes", Some(row.attributes.clone())),
        ("Media", row.media.as_deref().map(media::webhook_media)),
    ]
}

/// FetchConversationMessage.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
) -> Result<MessageRow> {
    conversations::read_within(store, tenant.clone(), conversation, move |conn, conv| {
        resolve(conn, &tenant, conv, &message)
    })
    .await
}

/// ListConversationMessage: by index, ascending unless `descending`; the page token is the
/// index, so a page deep in a long conversation costs what the first one costs. Each message
/// is handed to `write` while SQLite holds its row, and the page holds what `write` made of it
/// (the answer's bytes).
pub async fn list<T: Send + 'static>(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    descending: bool,
    req: PageRequest,
    write: impl Fn(MessageRef<'_>) -> T + Send + 'static,
) -> Result<Page<T>> {
    conversations::read_within(store, tenant, conversation, move |conn, conv| {
        let keyset = Keyset {
            select: &SELECT_IN_CONVERSATION,
            keys: &["m.idx"],
            descending,
        };
        let written = |row: &Row| {
            let message = borrowed(row, conv)?;
            Ok((message.index, write(message)))
        };
        let page = keyset.page(conn, &[&conv.id], &req, written, |(index, _)| vec![*index])?;
        Ok(page.map(|(_, written)| written))
    })
    .await
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

/// UpdateConversationMessage (the rules are [`apply_update`]'s).
pub async fn update(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
    change: MessageUpdate,
) -> Result<MessageRow> {
    store
        .write(move |ctx| {
            let conv = resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            let mut row = resolve(ctx.tx, &tenant, &conv, &message)?;
            apply_update(ctx.tx, &conv, &mut row, &change, ctx.now)?;
            ctx.tx
                .prepare_cached(
                    "UPDATE messages SET author = ?1, body = ?2, attributes = ?3, participant_sid = ?4,
                         subject = COALESCE(?5, subject), date_created = ?6, date_updated = ?7
                     WHERE id = ?8",
                )?
                .execute(params![
                    row.author,
                    row.body,
                    row.attributes,
                    row.participant_sid,
                    change.subject,
                    row.date_created,
                    row.date_updated,
                    row.id,
                ])?;
            if tenant.webhooks {
                let params = updated_event_params(&row);
                outbox::enqueue(ctx, &tenant, conv.site(), EventType::MessageUpdated, params)?;
            }
            Ok(row)
        })
        .await
}

/// What an update does to a message, or why it cannot: the body of a media message is fixed
/// (`MediaBodyLocked`), and so is every message of a closed conversation (`ConversationClosed`); a
/// new author is matched to a participant again.
fn apply_update(
    conn: &Connection,
    conv: &ConversationRow,
    row: &mut MessageRow,
    change: &MessageUpdate,
    now: i64,
) -> Result<()> {
    refuse_if_closed(conv)?;
    if change.body.is_some() && row.media.is_some() {
        return Err(Error::new(Code::MediaBodyLocked));
    }
    if let Some(author) = &change.author {
        row.participant_sid = participant_for(conn, conv.id, author)?;
        row.author = author.clone();
    }
    if let Some(body) = &change.body {
        row.body = Some(body.clone());
    }
    if let Some(attributes) = &change.attributes {
        row.attributes = attributes.clone();
    }
    row.date_created = change.date_created.unwrap_or(row.date_created);
    row.date_updated = change.date_updated.unwrap_or(now);
    Ok(())
}

/// The parameters of `onMessageUpdate`, `onMessageUpdated` and `onMessageRemove`.
fn updated_event_params(row: &MessageRow) -> Params {
    let mut params = event_params(row);
    params.push(("DateUpdated", Some(format_date(row.date_updated))));
    params
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
    let now = store.clock.now_secs();
    store
        .read(move |conn| {
            let conv = resolve_in_tenant(conn, &tenant, &conversation)?;
            let mut row = resolve(conn, &tenant, &conv, &message)?;
            apply_update(conn, &conv, &mut row, &change, now)?;
            Ok(updated_event_params(&row))
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
    Ok(updated_event_params(&row))
}

/// DeleteConversationMessage: its media and receipts go with it; no other index changes.
pub async fn delete(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
) -> Result<()> {
    store
        .write(move |ctx| {
            let conv = resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            let row = resolve(ctx.tx, &tenant, &conv, &message)?;
            // Raises the floor past the message before it goes, in case it is the last one
            // (`allocate_index`): its index is not taken again.
            ctx.tx
                .prepare_cached(
                    "UPDATE conversations SET next_message_index = max(next_message_index, ?2 + 1)
                     WHERE id = ?1",
                )?
                .execute(params![conv.id, row.index])?;
            ctx.tx
                .prepare_cached("DELETE FROM messages WHERE id = ?1")?
                .execute(params![row.id])?;
            if tenant.webhooks {
                let mut params = updated_event_params(&row);
                params.push(("DateRemoved", Some(format_date(ctx.now))));
                outbox::enqueue(ctx, &tenant, conv.site(), EventType::MessageRemoved, params)?;
            }
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::store::conversations::{self, NewConversation};
    use crate::store::services::ServiceRef;
    use crate::store::{Location, accounts};

    async fn conversation(new: NewConversation) -> (Store, Tenant, ConversationRow) {
        let store = Store::open(&Location::Memory, Default::default(), Clock::default()).unwrap();
        let account = accounts::create(&store, "activity".into()).await.unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            path: "/test".into(),
            webhooks: false,
        };
        let conv = conversations::create(&store, tenant.clone(), new)
            .await
            .unwrap();
        (store, tenant, conv)
    }

    /// Takes an index as a message would: the conversation resolved in the job, then the index.
    /// The conversation stays cached as the job wrote it (see `stored_and_cached`).
    fn take_index(ctx: &WriteCtx, tenant: &Tenant, sid: &str) -> Result<i64> {
        let conv = conversations::resolve_in_batch(ctx, tenant, sid)?;
        allocate_index(ctx, &conv)
    }

    /// The conversation as SQLite has it, and as the cache has it (the writer kept it): the
    /// same but for the next message index, which only the cached row knows, and which must be
    /// what SQLite counts.
    async fn stored_and_cached(
        store: &Store,
        tenant: &Tenant,
        sid: &str,
    ) -> (ConversationRow, Arc<ConversationRow>) {
        let (t, s) = (tenant.clone(), sid.to_string());
        let stored = store
            .read(move |conn| resolve_in_tenant(conn, &t, &s))
            .await
            .unwrap();
        let cached = store.conversations.get(tenant, sid).expect("cached");
        let without_index = ConversationRow {
            next_message_index: None,
            ..(*cached).clone()
        };
        assert_eq!(format!("{without_index:?}"), format!("{stored:?}"));
        assert_eq!(
            cached.next_message_index,
            Some(counted_next_index(store, stored.id).await)
        );
        (stored, cached)
    }

    /// The next message index as the writer counts it from SQLite alone.
    async fn counted_next_index(store: &Store, conversation_id: i64) -> i64 {
        store
            .read(move |conn| Ok(conn.query_row(NEXT_INDEX, [conversation_id], |r| r.get(0))?))
            .await
            .unwrap()
    }

    fn with_timers(state: &str) -> NewConversation {
        NewConversation {
            state: Some(state.into()),
            timer_inactive: Some(60),
            timer_closed: Some(600),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn activity_wakes_an_inactive_conversation_and_restarts_its_timers() {
        let (store, tenant, conv) = conversation(with_timers("inactive")).await;
        assert_eq!(
            conv.date_inactive, None,
            "no inactive timer runs while inactive"
        );
        store.clock.advance(chrono::Duration::seconds(100)).unwrap();
        let now = store.clock.now_secs();
        let (t, sid) = (tenant.clone(), conv.sid.clone());
        store
            .write(move |ctx| take_index(ctx, &t, &sid))
            .await
            .unwrap();
        let (after, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(after.state, "active");
        assert_eq!(after.date_inactive, Some(now + 60));
        assert_eq!(after.date_closed, Some(now + 600));
        assert_eq!(after.date_updated, now);
        assert_eq!(
            cached.next_message_index,
            Some(1),
            "the message took index 0"
        );
    }

    #[tokio::test]
    async fn activity_without_timers_schedules_nothing() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(5)).unwrap();
        let (t, sid) = (tenant.clone(), conv.sid.clone());
        store
            .write(move |ctx| take_index(ctx, &t, &sid))
            .await
            .unwrap();
        let (after, _) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!((after.date_inactive, after.date_closed), (None, None));
        assert_eq!(after.state, "active");
        assert_eq!(after.date_updated, conv.date_created + 5);
    }

    fn message(n: usize) -> NewMessage {
        NewMessage {
            author: "alice".into(),
            body: Some(format!("message {n}")),
            ..Default::default()
        }
    }

    /// Messages and a change of their conversation sent at once share write batches, where a
    /// message takes its conversation from what the batch knows (`cache.rs`, "Writes"): each
    /// must see the change exactly when it is ordered after it.
    #[tokio::test]
    async fn messages_sent_together_see_their_conversation_as_of_their_turn() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        let post = |n| create(&store, tenant.clone(), conv.sid.clone(), message(n));
        let before: Vec<_> = (0..20).map(post).collect();
        let close = conversations::update(
            &store,
            tenant.clone(),
            conv.sid.clone(),
            conversations::ConversationUpdate {
                state: Some("closed".into()),
                ..Default::default()
            },
        );
        let after: Vec<_> = (20..40).map(post).collect();
        let (before, closed, after) = tokio::join!(
            futures_util::future::join_all(before),
            close,
            futures_util::future::join_all(after)
        );
        let indexes: Vec<i64> = before.into_iter().map(|m| m.unwrap().index).collect();
        assert_eq!(indexes, (0..20).collect::<Vec<_>>());
        assert_eq!(closed.unwrap().state, "closed");
        for refused in after {
            assert_eq!(refused.unwrap_err().code, Code::ConversationClosed);
        }
        let now = conversations::fetch(&store, tenant, conv.sid)
            .await
            .unwrap();
        assert_eq!(now.state, "closed");
        assert_eq!(counted_next_index(&store, conv.id).await, 20);
    }

    /// A conversation that takes messages stays cached, as the writer wrote it.
    #[tokio::test]
    async fn a_message_leaves_its_conversation_cached_as_written() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(7)).unwrap();
        for n in 0..3 {
            create(&store, tenant.clone(), conv.sid.clone(), message(n))
                .await
                .unwrap();
        }
        let (_, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(cached.next_message_index, Some(3));
        assert_eq!(cached.date_updated, conv.date_created + 7);
    }

    /// The conversation's stored counter, a floor under the next index.
    async fn stored_floor(store: &Store, conversation_id: i64) -> i64 {
        store
            .read(move |conn| {
                Ok(conn.query_row(
                    "SELECT next_message_index FROM conversations WHERE id = ?1",
                    [conversation_id],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap()
    }

    /// Posts `count` messages in one write job, so in one second.
    async fn post_in_one_second(
        store: &Store,
        tenant: &Tenant,
        sid: &str,
        count: usize,
    ) -> Vec<MessageRow> {
        let (t, s) = (tenant.clone(), sid.to_string());
        store
            .write(move |ctx| {
                (0..count)
                    .map(|n| insert(ctx, &t, &s, message(n)))
                    .collect::<Result<Vec<_>>>()
            })
            .await
            .unwrap()
    }

    /// Drops the cached row (and with it the counted index) by changing the conversation.
    async fn rename(store: &Store, tenant: &Tenant, sid: &str) {
        let change = conversations::ConversationUpdate {
            friendly_name: Some("renamed".into()),
            ..Default::default()
        };
        conversations::update(store, tenant.clone(), sid.into(), change)
            .await
            .unwrap();
        assert!(store.conversations.get(tenant, sid).is_none());
    }

    /// Messages of one second write their conversation's row once: after the first, only the
    /// counter would change, and that is counted from the messages when the row is read again.
    #[tokio::test]
    async fn messages_of_one_second_write_their_conversation_once() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(3)).unwrap();
        let posted = post_in_one_second(&store, &tenant, &conv.sid, 3).await;
        let taken: Vec<i64> = posted.iter().map(|m| m.index).collect();
        assert_eq!(taken, [0, 1, 2]);
        assert_eq!(
            stored_floor(&store, conv.id).await,
            1,
            "written by the first only"
        );
        let (after, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(cached.next_message_index, Some(3));
        assert_eq!(after.date_updated, posted[0].date_created);
        rename(&store, &tenant, &conv.sid).await;
        let next = create(&store, tenant.clone(), conv.sid.clone(), message(3)).await;
        assert_eq!(next.unwrap().index, 3);
    }

    /// Deleting the last message raises the floor past it, so its index stays taken even when
    /// the stored counter lagged behind it.
    #[tokio::test]
    async fn a_deleted_last_index_is_not_taken_again() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(3)).unwrap();
        let last = post_in_one_second(&store, &tenant, &conv.sid, 3)
            .await
            .pop()
            .unwrap();
        delete(&store, tenant.clone(), conv.sid.clone(), last.sid)
            .await
            .unwrap();
        assert_eq!(stored_floor(&store, conv.id).await, 3);
        let next = create(&store, tenant.clone(), conv.sid.clone(), message(3)).await;
        assert_eq!(next.unwrap().index, 3);
    }

    #[tokio::test]
    async fn indexes_count_up_from_zero_with_the_activity() {
        let (store, tenant, conv) = conversation(with_timers("active")).await;
        store.clock.advance(chrono::Duration::seconds(30)).unwrap();
        let now = store.clock.now_secs();
        let (t, sid) = (tenant.clone(), conv.sid.clone());
        let taken = store
            .write(move |ctx| Ok((take_index(ctx, &t, &sid)?, take_index(ctx, &t, &sid)?)))
            .await
            .unwrap();
        assert_eq!(taken, (0, 1));
        let (after, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(cached.next_message_index, Some(2));
        assert_eq!(after.date_inactive, Some(now + 60));
    }
}
