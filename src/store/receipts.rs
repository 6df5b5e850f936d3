//! Delivery Receipts (DY...): one per outbound channel message to a non-chat participant,
//! holding only the latest status (twilio-behavior.md 15), and the outbound messages they
//! report on.

use super::conversations::ConversationRow;
use crate::error::Result;
use crate::states::ReceiptStatus;
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct ReceiptRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub message_sid: String,
    pub participant_sid: Option<String>,
    pub channel_message_sid: Option<String>,
    /// `None` while the channel message is still queued inside Twilio.
    pub status: Option<ReceiptStatus>,
    pub error_code: Option<i64>,
    pub date_created: i64,
    /// `None` until the receipt is first updated.
    pub date_updated: Option<i64>,
}

/// What a new message sends to one non-chat recipient, with its receipt.
#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub sid: String,
    pub participant_sid: String,
    pub channel_message_sid: String,
    pub to_address: String,
    pub from_address: Option<String>,
    pub channel: Option<String>,
    pub body: Option<String>,
    pub media: Option<String>,
    /// When it moves to its next status on its own.
    pub next_status_at: i64,
}

/// One message that would have gone out by SMS/WhatsApp, with its receipt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outbound {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub conversation_id: i64,
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
    pub status: Option<ReceiptStatus>,
    pub error_code: Option<i64>,
    #[serde(serialize_with = "crate::wire::time::serialize_date")]
    pub date_created: i64,
}

pub trait ReceiptStore {
    /// ListConversationMessageReceipt: the message's receipts, in creation order.
    fn list_receipts(
        &self,
        conv: &ConversationRow,
        message_id: i64,
        message_sid: &str,
        req: &PageRequest,
    ) -> Result<Page<ReceiptRow>>;

    /// One of the message's receipts by SID.
    fn find_receipt(
        &self,
        conv: &ConversationRow,
        message_id: i64,
        message_sid: &str,
        sid: &str,
    ) -> Result<Option<ReceiptRow>>;

    /// Records a new message's receipts, and their number on the message (which tells a
    /// message list which rows have a delivery summary; receipts are recorded nowhere else).
    fn insert_receipts(&mut self, message_id: i64, receipts: &[NewReceipt]) -> Result<()>;

    /// Receipts whose next status is due by `now`, earliest first, at most `limit`, each
    /// claimed for this job.
    fn claim_due_receipts(&mut self, now: i64, limit: usize) -> Result<Vec<Outbound>>;

    /// How many receipts have their next status due at `now`.
    fn count_due_receipts(&self, now: i64) -> Result<i64>;

    /// When the earliest receipt due after `after` moves on its own, if any will
    /// (`i64::MIN`: any).
    fn next_receipt_due(&self, after: i64) -> Result<Option<i64>>;

    /// Sets a receipt's status and error code, and when it moves next (`None`: it stays).
    fn set_receipt_status(
        &mut self,
        id: i64,
        status: Option<ReceiptStatus>,
        error_code: Option<i64>,
        next_status_at: Option<i64>,
    ) -> Result<()>;

    /// What the account's messages sent by SMS/WhatsApp, newest first, optionally for one
    /// conversation (by SID).
    fn list_outbound(
        &self,
        account_sid: &str,
        conversation_sid: Option<&str>,
        req: &PageRequest,
    ) -> Result<Page<Outbound>>;

    /// One of the account's outbound messages, by its receipt's SID.
    fn find_outbound(&self, account_sid: &str, receipt_sid: &str) -> Result<Option<Outbound>>;
}
