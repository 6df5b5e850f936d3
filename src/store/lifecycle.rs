//! Time-driven changes: conversation timers (active → inactive → closed, twilio-behavior.md 8.2) and
//! the progress of delivery receipts for non-chat recipients (section 15). Due work is found
//! through indexes on the due times, so an idle conversation costs nothing.

use rusqlite::params;

use super::conversations::{self, ConversationRow};
use super::outbox::{self, Params};
use super::services::{ServiceRef, Tenant};
use super::sql::optional;
use super::{Store, WriteCtx};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::webhook_events::EventType;
use crate::wire::time::format_date;

/// At most this many conversations or receipts move in one write.
const BATCH: i64 = 500;
/// Seconds between a receipt's statuses: queued → sent → delivered.
pub const RECEIPT_STEP_SECS: i64 = 1;

/// The tenant on whose behalf time acts: not a REST request, so its webhooks always fire
/// (the `X-Twilio-Webhook-Enabled` gate is for REST actions only).
fn system_tenant(account_sid: &str, service_sid: &str) -> Tenant {
    Tenant {
        account_sid: account_sid.to_string(),
        service: ServiceRef::Sid(service_sid.to_string()),
        path: String::new(),
        webhooks: true,
    }
}

/// The earliest time any timer or receipt transition falls due, if any is scheduled.
pub async fn next_due(store: &Store) -> Result<Option<i64>> {
    store
        .read(|conn| {
            let min = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0));
            let times = [
                min(
                    "SELECT min(date_inactive) FROM conversations WHERE date_inactive IS NOT NULL",
                )?,
                min("SELECT min(date_closed) FROM conversations WHERE date_closed IS NOT NULL")?,
                min("SELECT min(next_status_at) FROM receipts WHERE next_status_at IS NOT NULL")?,
            ];
            Ok(times.into_iter().flatten().min())
        })
        .await
}

/// Moves every conversation whose timer is due and every receipt whose next status is due.
/// Returns how many things changed.
pub async fn run_due(store: &Store) -> Result<usize> {
    store
        .write(|ctx| {
            let closed = fire_timers(ctx, "date_closed", "closed")?;
            let inactive = fire_timers(ctx, "date_inactive", "inactive")?;
            let receipts = advance_receipts(ctx)?;
            Ok(closed + inactive + receipts)
        })
        .await
}

fn due_ids(ctx: &WriteCtx, sql: &str) -> Result<Vec<i64>> {
    let mut stmt = ctx.tx.prepare_built(sql)?;
    let ids = stmt.query_map(params![ctx.now, BATCH], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<Vec<i64>>>()?)
}

/// Moves conversations whose `column` timer is due to `state`, with `onConversationStateUpdated`
/// (Reason=TIMER). Closing clears both timers; going inactive clears the inactive one.
fn fire_timers(ctx: &WriteCtx, column: &str, state: &str) -> Result<usize> {
    let ids = due_ids(
        ctx,
        &format!("SELECT id FROM conversations WHERE {column} <= ?1 ORDER BY {column} LIMIT ?2"),
    )?;
    for id in &ids {
        let Some(before) = by_id(ctx, *id)? else {
            continue;
        };
        let clears = if state == "closed" {
            "date_inactive = NULL, date_closed = NULL"
        } else {
            "date_inactive = NULL"
        };
        ctx.tx.execute(
            &format!(
                "UPDATE conversations SET state = ?1, {clears}, date_updated = ?2 WHERE id = ?3"
            ),
            params![state, ctx.now, id],
        )?;
        let Some(after) = by_id(ctx, *id)? else {
            continue;
        };
        let tenant = system_tenant(&after.account_sid, &after.service_sid);
        conversations::state_updated(ctx, &tenant, &after, &before.state, "TIMER")?;
    }
    Ok(ids.len())
}

fn by_id(ctx: &WriteCtx, id: i64) -> Result<Option<ConversationRow>> {
    optional(
        ctx.tx,
        &format!("{} WHERE c.id = ?1", conversations::SELECT),
        &[&id],
        conversations::map_row,
    )
}

/// The status a receipt moves to next on its own, and whether that one is final.
fn next_status(current: Option<&str>) -> Option<(&'static str, bool)> {
    match current {
        None => Some(("sent", false)),
        Some("sent") => Some(("delivered", true)),
        _ => None,
    }
}

/// Moves due receipts one status forward (queued → sent → delivered), each with
/// `onDeliveryUpdated`.
fn advance_receipts(ctx: &WriteCtx) -> Result<usize> {
    let ids = due_ids(
        ctx,
        "SELECT id FROM receipts WHERE next_status_at <= ?1 ORDER BY next_status_at LIMIT ?2",
    )?;
    for id in &ids {
        let current: Option<String> =
            ctx.tx
                .query_row("SELECT status FROM receipts WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        let (status, next_at) = match next_status(current.as_deref()) {
            Some((status, true)) => (status, None),
            Some((status, false)) => (status, Some(ctx.now + RECEIPT_STEP_SECS)),
            None => {
                ctx.tx.execute(
                    "UPDATE receipts SET next_status_at = NULL WHERE id = ?1",
                    [id],
                )?;
                continue;
            }
        };
        set_receipt_status(ctx, *id, status, None, next_at)?;
    }
    Ok(ids.len())
}

/// Sets a receipt's status (and error code), schedules its next move, and queues
/// `onDeliveryUpdated` with the parameters of twilio-behavior.md 17.4.
pub fn set_receipt_status(
    ctx: &WriteCtx,
    receipt_id: i64,
    status: &str,
    error_code: Option<i64>,
    next_status_at: Option<i64>,
) -> Result<()> {
    ctx.tx.execute(
        "UPDATE receipts SET status = ?1, error_code = ?2, next_status_at = ?3, date_updated = ?4 WHERE id = ?5",
        params![status, error_code, next_status_at, ctx.now, receipt_id],
    )?;
    let (conversation_id, sid, message_sid, channel_sid, participant_sid, date_created): (i64, String, String, Option<String>, Option<String>, i64) =
        ctx.tx.query_row(
            "SELECT m.conversation_id, r.sid, m.sid, r.channel_message_sid, r.participant_sid, r.date_created
             FROM receipts r JOIN messages m ON m.id = r.message_id WHERE r.id = ?1",
            [receipt_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )?;
    let Some(conversation) = by_id(ctx, conversation_id)? else {
        return Ok(());
    };
    let params: Params = vec![
        ("ConversationSid", Some(conversation.sid.clone())),
        ("ChatServiceSid", Some(conversation.service_sid.clone())),
        ("MessageSid", Some(message_sid)),
        ("DeliveryReceiptSid", Some(sid)),
        ("ChannelMessageSid", channel_sid),
        ("ParticipantSid", participant_sid),
        ("Status", Some(status.to_string())),
        ("ErrorCode", error_code.map(|c| c.to_string())),
        ("DateCreated", Some(format_date(date_created))),
        ("DateUpdated", Some(format_date(ctx.now))),
    ];
    let tenant = system_tenant(&conversation.account_sid, &conversation.service_sid);
    outbox::enqueue(
        ctx,
        &tenant,
        conversation.site(),
        EventType::DeliveryUpdated,
        params,
    )
}

/// A participant a new message would go out to by SMS, WhatsApp...: see [`audience`].
#[derive(Debug)]
pub struct Recipient {
    sid: String,
    channel: Option<String>,
    address: String,
    proxy_address: Option<String>,
    projected_address: Option<String>,
}

/// Whom a new message in a conversation concerns, found in one pass over its participants.
#[derive(Debug, Default)]
pub struct Audience {
    /// The participant whose identity is the author, if any (twilio-behavior.md 14.1:
    /// `participant_sid` is null for system messages and authors that match no participant).
    pub author: Option<String>,
    /// The non-chat participants other than the author, in the order they joined.
    pub recipients: Vec<Recipient>,
}

/// The author's participant and the message's recipients, in one statement: they were two
/// (each a scan of the conversation's participants), and both ran for every message posted.
pub fn audience(ctx: &WriteCtx, conversation_id: i64, author: &str) -> Result<Audience> {
    let mut stmt = ctx.tx.prepare_cached(
        "SELECT sid, identity IS ?2, binding_address IS NOT NULL AND binding_address <> ?2,
             binding_type, binding_address, binding_proxy_address, binding_projected_address
         FROM participants
         WHERE conversation_id = ?1
           AND (identity = ?2 OR (binding_address IS NOT NULL AND binding_address <> ?2))
         ORDER BY id",
    )?;
    let mut rows = stmt.query(params![conversation_id, author])?;
    let mut audience = Audience::default();
    while let Some(r) = rows.next()? {
        let sid: String = r.get(0)?;
        let (is_author, is_recipient): (bool, bool) = (r.get(1)?, r.get(2)?);
        if is_recipient {
            audience.recipients.push(Recipient {
                sid: sid.clone(),
                channel: r.get(3)?,
                address: r.get(4)?,
                proxy_address: r.get(5)?,
                projected_address: r.get(6)?,
            });
        }
        if is_author && audience.author.is_none() {
            audience.author = Some(sid);
        }
    }
    Ok(audience)
}

/// Records what a new message would send to each of its recipients ([`audience`]): one receipt
/// per recipient, queued now and moving on the server's clock, and their number on the message
/// (`messages.receipts`, which tells a message list which rows have a delivery summary;
/// receipts are recorded nowhere else). Chat participants get none, as on Twilio. Returns how
/// many were recorded.
pub fn record_outbound(
    ctx: &WriteCtx,
    message_id: i64,
    recipients: &[Recipient],
    body: Option<&str>,
    media: Option<&str>,
) -> Result<usize> {
    for recipient in recipients {
        let channel_prefix = if recipient.channel.as_deref() == Some("whatsapp") {
            "MM"
        } else {
            "SM"
        };
        let channel_message_sid =
            format!("{channel_prefix}{}", &new_sid(Prefix::ChannelMessage)[2..]);
        ctx.tx.execute(
            "INSERT INTO receipts (sid, message_id, participant_sid, channel_message_sid, status, date_created,
                 to_address, from_address, channel, body, media, next_status_at)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                new_sid(Prefix::Receipt),
                message_id,
                recipient.sid,
                channel_message_sid,
                ctx.now,
                recipient.address,
                recipient
                    .proxy_address
                    .as_ref()
                    .or(recipient.projected_address.as_ref()),
                recipient.channel,
                body,
                media,
                ctx.now + RECEIPT_STEP_SECS,
            ],
        )?;
    }
    if !recipients.is_empty() {
        ctx.tx
            .prepare_cached("UPDATE messages SET receipts = ?1 WHERE id = ?2")?
            .execute(params![recipients.len(), message_id])?;
    }
    Ok(recipients.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_move_sent_then_delivered_then_stop() {
        assert_eq!(next_status(None), Some(("sent", false)));
        assert_eq!(next_status(Some("sent")), Some(("delivered", true)));
        assert_eq!(next_status(Some("delivered")), None);
        assert_eq!(next_status(Some("failed")), None);
    }
}

/// One message that would have gone out by SMS/WhatsApp, with its receipt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outbound {
    #[serde(skip)]
    pub id: i64,
    pub receipt_sid: String,
    pub message_sid: String,
    pub conversation_sid: String,
    pub participant_sid: Option<String>,
    pub channel_message_sid: Option<String>,
    pub channel: Option<String>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub body: Option<String>,
    /// The message's media, as the message shows it (a JSON array), when it has any.
    pub media: Option<serde_json::Value>,
    pub status: Option<String>,
    pub error_code: Option<i64>,
    #[serde(serialize_with = "as_date")]
    pub date_created: i64,
}

fn as_date<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_date(*secs))
}

const OUTBOUND_SELECT: &str = "SELECT r.id, r.sid, m.sid, c.sid, r.participant_sid, r.channel_message_sid, r.channel,
    r.to_address, r.from_address, r.body, r.media, r.status, r.error_code, r.date_created
    FROM receipts r JOIN messages m ON m.id = r.message_id JOIN conversations c ON c.id = m.conversation_id
    JOIN services s ON s.id = c.service_id";

fn map_outbound(r: &rusqlite::Row) -> rusqlite::Result<Outbound> {
    let media: Option<String> = r.get(10)?;
    Ok(Outbound {
        id: r.get(0)?,
        receipt_sid: r.get(1)?,
        message_sid: r.get(2)?,
        conversation_sid: r.get(3)?,
        participant_sid: r.get(4)?,
        channel_message_sid: r.get(5)?,
        channel: r.get(6)?,
        to: r.get(7)?,
        from: r.get(8)?,
        body: r.get(9)?,
        media: media.and_then(|m| serde_json::from_str(&m).ok()),
        status: r.get(11)?,
        error_code: r.get(12)?,
        date_created: r.get(13)?,
    })
}

/// What the account's messages would have sent by SMS/WhatsApp, newest first, optionally for
/// one conversation (by SID).
pub async fn list_outbound(
    store: &Store,
    account_sid: String,
    conversation_sid: Option<String>,
    req: crate::wire::paging::PageRequest,
) -> Result<crate::wire::paging::Page<Outbound>> {
    store
        .read(move |conn| {
            let (select, params): (String, Vec<&dyn rusqlite::ToSql>) = match &conversation_sid {
                Some(sid) => (
                    format!("{OUTBOUND_SELECT} WHERE s.account_sid = ?1 AND c.sid = ?2"),
                    vec![&account_sid, sid],
                ),
                None => (
                    format!("{OUTBOUND_SELECT} WHERE s.account_sid = ?1"),
                    vec![&account_sid],
                ),
            };
            let keyset = super::sql::Keyset {
                select: &select,
                keys: &["r.id"],
                descending: true,
            };
            keyset.page(conn, &params, &req, map_outbound, |o| vec![o.id])
        })
        .await
}

/// Sets a receipt's status by hand (a test asking for `failed` or `undelivered`, or `read` on
/// WhatsApp): it stops moving on its own, and `onDeliveryUpdated` fires.
pub async fn force_receipt_status(
    store: &Store,
    account_sid: String,
    receipt_sid: String,
    status: String,
    error_code: Option<i64>,
) -> Result<Outbound> {
    store
        .write(move |ctx| {
            let found = optional(
                ctx.tx,
                &format!("{OUTBOUND_SELECT} WHERE s.account_sid = ?1 AND r.sid = ?2"),
                &[&account_sid, &receipt_sid],
                map_outbound,
            )?;
            let found = found.ok_or_else(|| {
                Error::with(Code::NotFound, format!("/confab/Receipts/{receipt_sid}"))
            })?;
            set_receipt_status(ctx, found.id, &status, error_code, None)?;
            Ok(Outbound {
                status: Some(status),
                error_code,
                ..found
            })
        })
        .await
}
