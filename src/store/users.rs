//! Users (US...): the chat identities of a service, and their User Conversations (the
//! conversations in which the identity is a participant, seen from the user's side): the rows,
//! and what each engine does with them.

use crate::error::Result;
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_id: i64,
    pub service_sid: String,
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub role_sid: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The user's participant in one conversation: the participant columns a User Conversation
/// shows.
#[derive(Debug, Clone)]
pub struct MembershipRow {
    pub id: i64,
    pub sid: String,
    pub conversation_id: i64,
    pub last_read_message_index: Option<i64>,
    pub notification_level: String,
}

/// A validated UpdateUserConversation: `None` leaves a field as it is; `Some(None)` clears the
/// read horizon.
#[derive(Debug, Clone, Default)]
pub struct UserConversationUpdate {
    pub notification_level: Option<String>,
    pub last_read_message_index: Option<Option<i64>>,
    /// Stored as Twilio writes dates (`2015-12-16T22:18:37Z`).
    pub last_read_timestamp: Option<Option<String>>,
}

pub trait UserStore {
    /// The service's user with this SID.
    fn user_by_sid(&self, service_id: i64, sid: &str) -> Result<Option<UserRow>>;

    /// The service's user with this identity (compared exactly, case-sensitively).
    fn user_by_identity(&self, service_id: i64, identity: &str) -> Result<Option<UserRow>>;

    /// The service's users, in creation order.
    fn list_users(&self, service_id: i64, req: &PageRequest) -> Result<Page<UserRow>>;

    /// Inserts a user (its `id`, `account_sid` and `service_sid` are ignored) and returns its
    /// id. `Code::Conflict` if the service has a user with this identity already: the store
    /// keeps identities unique per service, whatever runs at the same time.
    fn insert_user(&mut self, row: &UserRow) -> Result<i64>;

    /// Inserts a user unless the service has one with this identity already: its id if it was
    /// inserted, `None` if not. Two jobs that add the same new identity at once never both
    /// insert, and neither fails.
    fn insert_user_if_absent(&mut self, row: &UserRow) -> Result<Option<i64>>;

    /// The service's user with this identity, held for this write job: no other job adds the
    /// identity to a conversation until this one ends (what counts its conversations relies on
    /// it).
    fn lock_user_by_identity(&mut self, service_id: i64, identity: &str)
    -> Result<Option<UserRow>>;

    /// Writes the user's friendly name, attributes, role and `date_updated` (found by its id);
    /// its identity never changes.
    fn update_user(&mut self, row: &UserRow) -> Result<()>;

    /// Deletes the user (not its participants: see [`UserStore::remove_identity_participants`]).
    fn delete_user(&mut self, id: i64) -> Result<()>;

    /// Whether the identity has a push registration in the service: a binding of a push
    /// channel (`apn`, `gcm` or `fcm`; a `twilsock` binding is not one).
    fn has_push_registration(&self, service_id: i64, identity: &str) -> Result<bool>;

    /// The identity's participants in the service's conversations, in the order the
    /// conversations were created (an identity is in a conversation at most once).
    fn list_memberships(
        &self,
        service_id: i64,
        identity: &str,
        req: &PageRequest,
    ) -> Result<Page<MembershipRow>>;

    /// The identity's participant in the conversation.
    fn membership(&self, conversation_id: i64, identity: &str) -> Result<Option<MembershipRow>>;

    /// Writes what `change` sets on the participant (found by its id), and `date_updated`;
    /// answers the participant as written. Fields `change` leaves out keep their stored value,
    /// whatever another job wrote to them.
    fn update_membership(
        &mut self,
        id: i64,
        change: &UserConversationUpdate,
        date_updated: i64,
    ) -> Result<Option<MembershipRow>>;

    /// Removes one participant (its messages stay).
    fn remove_membership(&mut self, id: i64) -> Result<()>;

    /// Removes the identity's participants from every conversation of the service (their
    /// messages stay).
    fn remove_identity_participants(&mut self, service_id: i64, identity: &str) -> Result<()>;

    /// How many of the conversation's messages have an index above `last_read`, counting at
    /// most `cap` (so that the count reads at most that many messages).
    fn count_unread(&self, conversation_id: i64, last_read: i64, cap: i64) -> Result<i64>;
}
