//! Inbound SMS/WhatsApp messages (`POST /confab/Inbound`): the log of what arrived and what
//! became of it, a phone's whole thread (both directions), and the lookup behind the first
//! routing rule (twilio-behavior.md 19.1).

use crate::error::Result;
use crate::states::{InboundChannel, InboundOutcome};
use crate::store::receipts::Outbound;
use crate::wire::paging::{Page, PageRequest};

/// One inbound message as logged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InboundRow {
    #[serde(skip)]
    pub id: i64,
    /// The channel message (`SM...`, `MM...` on WhatsApp): the request's `MessageSid`, or one
    /// made up for it.
    pub sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub channel: InboundChannel,
    pub body: Option<String>,
    /// The message's media (`[{sid, size, content_type, filename}]`) once stored; what arrived
    /// (`[{url, content_type}]`) when it was not.
    pub media: Option<serde_json::Value>,
    pub outcome: InboundOutcome,
    pub conversation_sid: Option<String>,
    pub participant_sid: Option<String>,
    pub message_sid: Option<String>,
    /// Why it failed, or was dropped: a Twilio error code and its message.
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    #[serde(serialize_with = "crate::wire::time::serialize_date")]
    pub date_created: i64,
}

/// One message of a phone's thread, either way.
#[derive(Debug, Clone)]
pub enum ThreadEntry {
    /// The phone sent it.
    Inbound(InboundRow),
    /// It went to the phone.
    Outbound(Outbound),
}

/// Who holds an (address, proxy address) pair: a participant of a conversation that is not
/// closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairHolder {
    pub service_sid: String,
    pub conversation_sid: String,
    pub participant_sid: String,
}

pub trait InboundStore {
    /// The participant that holds the pair in the account, if any (along the key the engine
    /// keeps unique for it: closed conversations hold no pair).
    fn pair_holder(
        &self,
        account_sid: &str,
        address: &str,
        proxy_address: &str,
    ) -> Result<Option<PairHolder>>;

    /// Logs an inbound message (its `id` is ignored) and returns its id; it is placed after
    /// every outbound message written so far.
    fn insert_inbound(&mut self, row: &InboundRow) -> Result<i64>;

    /// The account's inbound messages, newest first, optionally only those from one address.
    fn list_inbound(
        &self,
        account_sid: &str,
        from: Option<&str>,
        req: &PageRequest,
    ) -> Result<Page<InboundRow>>;

    /// Everything `address` sent to the account and every message that went to it, oldest
    /// first, in the order they were written.
    fn thread(
        &self,
        account_sid: &str,
        address: &str,
        req: &PageRequest,
    ) -> Result<Page<ThreadEntry>>;
}
