//! What a new message sends beyond chat: to each participant reached by SMS, WhatsApp or
//! another messaging channel, one outbound message with a delivery receipt that moves on the
//! server's clock (twilio-behavior.md 15). Chat participants get none, as on Twilio.

use crate::error::Result;
use crate::sid::{Prefix, new_sid};
use crate::store::Tx;
use crate::store::conversations::ConversationRow;
use crate::store::messages::MessageRow;
use crate::store::participants::AudienceMember;
use crate::store::receipts::NewReceipt;

/// Seconds between a receipt's statuses: queued → sent → delivered.
pub const RECEIPT_STEP_SECS: i64 = 1;

/// Whom a new message in a conversation concerns.
#[derive(Debug, Default)]
pub struct Audience {
    /// The participant whose identity is the author, if any (twilio-behavior.md 14.1:
    /// `participant_sid` is null for system messages and authors that match no participant).
    pub author: Option<String>,
    /// The non-chat participants other than the author, in the order they joined.
    pub recipients: Vec<AudienceMember>,
}

/// The author's participant and the message's recipients: every participant with a messaging
/// binding whose address is not the author's own.
pub fn audience(tx: &dyn Tx, conv: &ConversationRow, author: &str) -> Result<Audience> {
    let mut audience = Audience::default();
    for member in tx.message_audience(conv.id, author)? {
        if audience.author.is_none() && member.identity.as_deref() == Some(author) {
            audience.author = Some(member.sid.clone());
        }
        if member.address.as_deref().is_some_and(|a| a != author) {
            audience.recipients.push(member);
        }
    }
    Ok(audience)
}

/// The channel message SID a receipt reports on: `MM...` on WhatsApp, `SM...` otherwise.
fn channel_message_sid(channel: Option<&str>) -> String {
    let prefix = if channel == Some("whatsapp") {
        "MM"
    } else {
        "SM"
    };
    format!("{prefix}{}", &new_sid(Prefix::ChannelMessage)[2..])
}

/// Records what the message sends to each recipient: one receipt each, queued now and moving
/// on the server's clock. Returns how many were recorded.
pub fn record(
    tx: &mut dyn Tx,
    message: &MessageRow,
    recipients: &[AudienceMember],
) -> Result<usize> {
    if recipients.is_empty() {
        return Ok(0);
    }
    let now = tx.now();
    let receipts: Vec<NewReceipt> = recipients
        .iter()
        .filter_map(|recipient| {
            Some(NewReceipt {
                sid: new_sid(Prefix::Receipt),
                participant_sid: recipient.sid.clone(),
                channel_message_sid: channel_message_sid(recipient.channel.as_deref()),
                to_address: recipient.address.clone()?,
                from_address: recipient
                    .proxy_address
                    .clone()
                    .or_else(|| recipient.projected_address.clone()),
                channel: recipient.channel.clone(),
                body: message.body.clone(),
                media: message.media.clone(),
                next_status_at: now + RECEIPT_STEP_SECS,
            })
        })
        .collect();
    tx.insert_receipts(message.id, &receipts)?;
    Ok(receipts.len())
}
