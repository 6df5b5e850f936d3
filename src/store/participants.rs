//! Participants (MB...): who takes part in a conversation, as a chat identity or through a
//! messaging binding; the rows, and what each engine does with them. The rules (one identity
//! per conversation, one non-closed conversation per address/proxy pair, the size limits) are
//! `domain::participants`'.

use std::sync::Arc;

use super::Tenant;
use super::conversations::ConversationRow;
use crate::error::Result;
use crate::wire::paging::{Page, PageRequest};

/// A participant a new message concerns: its author, or a recipient over a messaging channel.
#[derive(Debug, Clone)]
pub struct AudienceMember {
    pub sid: String,
    pub identity: Option<String>,
    /// `sms`, `whatsapp`, ...; `None` for chat.
    pub channel: Option<String>,
    pub address: Option<String>,
    pub proxy_address: Option<String>,
    pub projected_address: Option<String>,
}

/// How a participant exchanges messages outside the chat SDK: a device address and the Twilio
/// number it talks to, or, for a chat participant in a group MMS, only the projected address
/// that stands for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    /// `sms`, `whatsapp`, ... (the address's channel).
    pub kind: String,
    pub address: Option<String>,
    pub proxy_address: Option<String>,
    pub projected_address: Option<String>,
    /// Email bindings only.
    pub name: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ParticipantRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_id: i64,
    pub service_sid: String,
    pub conversation_id: i64,
    pub conversation_sid: String,
    pub identity: Option<String>,
    pub user_sid: Option<String>,
    pub attributes: String,
    pub role_sid: Option<String>,
    pub binding: Option<Binding>,
    pub last_read_message_index: Option<i64>,
    /// ISO-8601, as written by `wire::time::format_date`.
    pub last_read_timestamp: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl ParticipantRow {
    /// A non-chat participant: one reached at a device address (SMS, WhatsApp, ...).
    pub fn is_non_chat(&self) -> bool {
        self.binding.as_ref().is_some_and(|b| b.address.is_some())
    }
}

/// How a path names a participant of a conversation (twilio-behavior.md 3).
#[derive(Debug, Clone, Copy)]
pub enum ParticipantRef<'a> {
    Sid(&'a str),
    /// A chat participant's identity.
    Identity(&'a str),
}

/// How many participants a conversation has, for its limits (twilio-behavior.md 10.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headcount {
    pub total: i64,
    /// Those reached at a device address.
    pub non_chat: i64,
}

/// A participant as ListParticipantConversation shows it: only the columns that list renders.
/// Its account and service are its conversation's, and its conversation comes from the cache,
/// so nothing is joined. Every participant column of every row, joined to its conversation
/// and its service, was a quarter of the page's CPU (at 64 connections, 145 µs a page with
/// them and 109 µs without).
#[derive(Debug, Clone)]
pub struct ListedParticipant {
    pub id: i64,
    pub sid: String,
    pub conversation_id: i64,
    pub identity: Option<String>,
    pub user_sid: Option<String>,
    pub binding: Option<Binding>,
}

/// Who ListParticipantConversation looks for: a chat identity or a device address.
#[derive(Debug, Clone)]
pub enum Lookup {
    Identity(String),
    Address(String),
}

pub trait ParticipantStore {
    /// The SID of the conversation's participant with this identity, if any.
    fn participant_sid_by_identity(
        &self,
        conversation_id: i64,
        identity: &str,
    ) -> Result<Option<String>>;

    /// The participants a message by `author` concerns, in the order they joined: those whose
    /// identity is the author, and those with a messaging binding.
    fn message_audience(&self, conversation_id: i64, author: &str) -> Result<Vec<AudienceMember>>;

    /// The conversation's participant by SID or identity.
    fn find_participant(
        &self,
        conversation_id: i64,
        participant: ParticipantRef<'_>,
    ) -> Result<Option<ParticipantRow>>;

    /// ListConversationParticipant: the conversation's participants in the order they joined.
    fn list_participants(
        &self,
        conversation_id: i64,
        req: &PageRequest,
    ) -> Result<Page<ParticipantRow>>;

    /// How many participants the conversation has, all and non-chat.
    fn headcount(&self, conversation_id: i64) -> Result<Headcount>;

    /// In how many conversations of the service that are not closed the identity is a
    /// participant, counted up to `limit` (the count stops there).
    fn open_conversations_of_identity(
        &self,
        service_id: i64,
        identity: &str,
        limit: i64,
    ) -> Result<i64>;

    /// The SID of the conversation in which a participant other than `except` holds the
    /// (address, proxy address) pair in the account, if any: the pair's holder (see
    /// [`ParticipantStore::insert_participant`]).
    fn binding_holder(
        &self,
        account_sid: &str,
        address: &str,
        proxy_address: &str,
        except: Option<i64>,
    ) -> Result<Option<String>>;

    /// Whether a participant of the conversation other than `except` is a group member with
    /// this address (an address without a proxy address).
    fn group_member_exists(
        &self,
        conversation_id: i64,
        address: &str,
        except: Option<i64>,
    ) -> Result<bool>;

    /// Inserts the participant (its `id` is ignored) and returns its id. With `holds_pair`, the
    /// participant holds its binding's (address, proxy address) pair in its account, which the
    /// engine keeps for one participant at a time, whatever else is written at once (a unique
    /// key, not a check). `Code::Conflict` if a unique key refuses the row; a row has at most one
    /// such key: a chat participant's identity in its conversation, the pair it holds (the
    /// error's detail is then the holder's conversation SID, when the engine can tell), or a
    /// group member's address (an address without proxy) in its conversation.
    fn insert_participant(&mut self, row: &ParticipantRow, holds_pair: bool) -> Result<i64>;

    /// Writes the participant's identity, User, attributes, role, binding (but its name and
    /// level, which never change), read horizon and dates (found by its id), and whether it
    /// holds its pair. `Code::Conflict` as for [`ParticipantStore::insert_participant`].
    fn update_participant(&mut self, row: &ParticipantRow, holds_pair: bool) -> Result<()>;

    /// The conversation's participants hold their pairs no more: it is closed.
    fn release_bindings(&mut self, conversation_id: i64) -> Result<()>;

    /// Deletes the participant; its messages keep naming it.
    fn delete_participant(&mut self, id: i64) -> Result<()>;

    /// ListParticipantConversation: the service's participants with this identity or address,
    /// each with its conversation (in any state), in conversation creation order, then in the
    /// order they joined. `tenant` is who asked (the service is theirs).
    fn participant_conversations(
        &self,
        tenant: &Tenant,
        service_id: i64,
        lookup: &Lookup,
        req: &PageRequest,
    ) -> Result<Page<(ListedParticipant, Arc<ConversationRow>)>>;
}
