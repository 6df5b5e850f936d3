//! Conversation Messages (IM...): the row, the borrowed form a page is written from, and what
//! each engine does with them.

use super::conversations::ConversationRow;
use crate::error::Result;
use crate::wire::paging::PageRequest;

/// How many of a message's non-chat recipients reached each delivery status
/// (twilio-behavior.md 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub total: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub undelivered: i64,
}

impl Delivery {
    /// A new message's: every recipient's receipt queued, none further yet.
    pub fn queued(recipients: usize) -> Self {
        Delivery {
            total: recipients as i64,
            sent: 0,
            delivered: 0,
            read: 0,
            failed: 0,
            undelivered: 0,
        }
    }
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

/// A message as the engine holds it while it is on its row, borrowed: a page is written from
/// these, without the `String` per column that a [`MessageRow`] takes (docs/design.md,
/// "Hand-written JSON for hot resources").
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

pub trait MessageStore {
    /// A message of the conversation by its SID.
    fn find_message(&self, conv: &ConversationRow, sid: &str) -> Result<Option<MessageRow>>;

    /// One page of the conversation's messages by index, ascending unless `descending`, with
    /// one row of look-ahead, each handed to `each` while the engine holds it, in the order
    /// read (`Page::from_read` puts them in the list's order).
    fn list_messages(
        &self,
        conv: &ConversationRow,
        descending: bool,
        req: &PageRequest,
        each: &mut dyn FnMut(MessageRef<'_>),
    ) -> Result<()>;

    /// Takes the index the conversation's next message gets (indexes start at 0 and are never
    /// taken twice, even once deleted) and writes `active`: the conversation as the message's
    /// activity leaves it (`domain::conversations::after_activity`). The caller has locked
    /// the conversation.
    fn take_message_index(
        &mut self,
        conv: &ConversationRow,
        active: &ConversationRow,
    ) -> Result<i64>;

    /// Inserts a message (its `id` and `delivery` are ignored) and returns its id.
    fn insert_message(
        &mut self,
        conversation_id: i64,
        row: &MessageRow,
        content_variables: Option<&str>,
        subject: Option<&str>,
    ) -> Result<i64>;

    /// Writes a message's author, body, attributes, participant and dates, and its subject when
    /// one is given.
    fn update_message(&mut self, row: &MessageRow, subject: Option<&str>) -> Result<()>;

    /// Deletes a message (its media and receipts go with it); its index is never taken again.
    fn delete_message(&mut self, conv: &ConversationRow, row: &MessageRow) -> Result<()>;
}
