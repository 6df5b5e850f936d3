//! Participants (MB...): who takes part in a conversation, as a chat identity or through a
//! messaging binding, on either engine. The rules that span rows (one identity per
//! conversation, one non-closed conversation per address/proxy pair, the size limits); the
//! lookups behind ParticipantConversations; and ConversationWithParticipants, a conversation
//! and its participants written as one job.

use std::sync::Arc;

use super::conversations::{self, NewConversation};
use super::events::{self, Site};
use super::webhook_params::{self, Params};
use super::{roles, service_configuration, services, users};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::states::{ConversationState, RoleType};
use crate::store::conversations::ConversationRow;
use crate::store::participants::{
    Binding, ListedParticipant, Lookup, ParticipantRef, ParticipantRow,
};
use crate::store::{Store, Tenant, Tx};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

/// Participants per conversation, chat and non-chat together (twilio-behavior.md 6, 10.2).
pub const MAX_PARTICIPANTS: i64 = 1000;
/// Non-chat (SMS, WhatsApp, ...) participants per conversation.
pub const MAX_NON_CHAT_PARTICIPANTS: i64 = 50;
/// Non-closed conversations one identity may take part in (twilio-behavior.md 6: closed ones do not
/// count).
pub const MAX_CONVERSATIONS_PER_IDENTITY: i64 = 1000;

/// The channel prefixes an address may carry (`whatsapp:+1...`); an address without one is SMS,
/// or email when it looks like one (twilio-behavior.md 10.1).
const CHANNEL_PREFIXES: &[&str] = &["whatsapp", "messenger", "gbm", "rcs", "apple", "email"];

/// The channel of an address, which is the binding's `type`: its prefix, else `email` for
/// `user@host`, else `sms`.
pub fn channel_of(address: &str) -> &'static str {
    if let Some((prefix, _)) = address.split_once(':')
        && let Some(channel) = CHANNEL_PREFIXES
            .iter()
            .find(|c| c.eq_ignore_ascii_case(prefix))
    {
        return channel;
    }
    if address.contains('@') {
        "email"
    } else {
        "sms"
    }
}

/// The address without its channel prefix (`whatsapp:+1555` → `+1555`).
pub fn without_channel(address: &str) -> &str {
    match address.split_once(':') {
        Some((prefix, rest))
            if CHANNEL_PREFIXES
                .iter()
                .any(|c| c.eq_ignore_ascii_case(prefix)) =>
        {
            rest
        }
        _ => address,
    }
}

/// A validated CreateConversationParticipant (or one `Participant` of
/// ConversationWithParticipants).
#[derive(Debug, Clone, Default)]
pub struct NewParticipant {
    pub identity: Option<String>,
    pub binding: Option<Binding>,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// A change to a binding's proxy or projected address: the literal `null` removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressChange {
    Set(String),
    Remove,
}

/// A validated UpdateConversationParticipant: `None` leaves a field as it is; for the read
/// horizon, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ParticipantUpdate {
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
    pub proxy_address: Option<AddressChange>,
    pub projected_address: Option<AddressChange>,
    pub identity: Option<String>,
    pub last_read_message_index: Option<Option<i64>>,
    pub last_read_timestamp: Option<Option<String>>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// Finds a participant of the conversation by MB SID or, failing the SID pattern, by identity
/// (twilio-behavior.md 3), or answers 404.
pub fn find(tx: &dyn Tx, conversation_id: i64, sid_or_identity: &str) -> Result<ParticipantRow> {
    let by = if is_sid(Prefix::Participant, sid_or_identity) {
        ParticipantRef::Sid(sid_or_identity)
    } else {
        ParticipantRef::Identity(sid_or_identity)
    };
    tx.find_participant(conversation_id, by)?
        .ok_or_else(Error::not_found)
}

/// The role a participant gets: the one asked for, which must be a conversation role of the
/// service, or the service's `default_conversation_role_sid`.
///
/// An unknown RoleSid, or a service-level role, answers 400 / `ConversationRoleNotFound`:
/// twilio-behavior.md 5 and 21 recommend 400 with the specific code for unknown SIDs in body
/// parameters, and `ConversationRoleNotFound` is the dictionary's code for a missing
/// conversation-level role (a service role is not one).
fn participant_role(
    tx: &dyn Tx,
    service_id: i64,
    requested: Option<&str>,
) -> Result<Option<String>> {
    match requested {
        Some(role_sid) => match roles::find(tx, service_id, role_sid)? {
            Some(role) if RoleType::parse(&role.role_type) == Some(RoleType::Conversation) => {
                Ok(Some(role.sid))
            }
            _ => Err(role_not_found(role_sid)),
        },
        None => {
            Ok(service_configuration::configuration(tx, service_id)?.default_conversation_role_sid)
        }
    }
}

pub fn role_not_found(role_sid: &str) -> Error {
    Error::with(Code::ConversationRoleNotFound, role_sid)
}

/// The participant limits (twilio-behavior.md 10.2). Twilio's docs give no status for them; confab
/// answers 400, as for every other refused participant parameter.
fn check_capacity(tx: &dyn Tx, conversation_id: i64, non_chat: bool) -> Result<()> {
    let headcount = tx.headcount(conversation_id)?;
    if headcount.total >= MAX_PARTICIPANTS {
        return Err(Error::with(
            Code::TooManyParticipants,
            format!("a conversation has at most {MAX_PARTICIPANTS} participants"),
        ));
    }
    if non_chat && headcount.non_chat >= MAX_NON_CHAT_PARTICIPANTS {
        return Err(Error::with(
            Code::TooManyNonChatParticipants,
            format!("a conversation has at most {MAX_NON_CHAT_PARTICIPANTS} non-chat participants"),
        ));
    }
    Ok(())
}

/// One identity appears once per conversation (`ParticipantExists`), and in at most
/// [`MAX_CONVERSATIONS_PER_IDENTITY`] non-closed conversations of the service
/// (`UserConversationLimit`).
fn check_identity_free(tx: &dyn Tx, conversation: &ConversationRow, identity: &str) -> Result<()> {
    if tx
        .participant_sid_by_identity(conversation.id, identity)?
        .is_some()
    {
        return Err(identity_taken(identity));
    }
    let open = tx.open_conversations_of_identity(
        conversation.service_id,
        identity,
        MAX_CONVERSATIONS_PER_IDENTITY,
    )?;
    if open >= MAX_CONVERSATIONS_PER_IDENTITY {
        return Err(Error::with(
            Code::UserConversationLimit,
            format!(
                "{identity} is already in {MAX_CONVERSATIONS_PER_IDENTITY} conversations that are not closed"
            ),
        ));
    }
    Ok(())
}

fn identity_taken(identity: &str) -> Error {
    Error::with(
        Code::ParticipantExists,
        format!("{identity} is already a participant of this conversation"),
    )
}

/// The routing invariant (twilio-behavior.md 10.2): an (address, proxy address) pair belongs to at
/// most one non-closed conversation of the account, this one included (`BindingTaken`, naming the
/// holder). A group MMS member (an address without proxy) is unique within its conversation
/// (`GroupParticipantExists`). `except` is the participant being updated.
fn check_binding_free(
    tx: &dyn Tx,
    tenant: &Tenant,
    conversation_id: i64,
    binding: &Binding,
    except: Option<i64>,
) -> Result<()> {
    let Some(address) = &binding.address else {
        return Ok(());
    };
    match &binding.proxy_address {
        Some(proxy) => match tx.binding_holder(&tenant.account_sid, address, proxy, except)? {
            Some(holder) => Err(Error::with(Code::BindingTaken, holder)),
            None => Ok(()),
        },
        None if tx.group_member_exists(conversation_id, address, except)? => {
            Err(Error::with(Code::GroupParticipantExists, address))
        }
        None => Ok(()),
    }
}

/// Whether the participant holds its binding's (address, proxy address) pair: while its
/// conversation is not closed (twilio-behavior.md 10.2). The store keeps one holder per pair in
/// the account, whatever else writes at the same time; the check above only names the holder
/// first.
fn holds_pair(conversation: &ConversationRow, row: &ParticipantRow) -> bool {
    conversation.state != ConversationState::Closed
        && row
            .binding
            .as_ref()
            .is_some_and(|b| b.address.is_some() && b.proxy_address.is_some())
}

/// What the store's `Code::Conflict` on a participant means: a row has one unique key, by what
/// it is. A pair's holder is named when the store could tell (the check before the write names
/// it otherwise; this is the case of a write that raced another).
fn taken(e: Error, row: &ParticipantRow) -> Error {
    if e.code != Code::Conflict {
        return e;
    }
    let binding = row.binding.as_ref();
    let address = binding.and_then(|b| b.address.as_deref());
    let proxy = binding.and_then(|b| b.proxy_address.as_deref());
    match (address, proxy, e.detail) {
        (Some(_), Some(_), Some(holder)) => Error::with(Code::BindingTaken, holder),
        (Some(_), Some(_), None) => Error::new(Code::BindingTaken),
        (Some(address), None, _) => Error::with(Code::GroupParticipantExists, address),
        (None, _, _) => identity_taken(row.identity.as_deref().unwrap_or_default()),
    }
}

/// A conversation that closes gives up the pairs its participants held, in the job that closes
/// it: another conversation may take them from then on (twilio-behavior.md 10.2). Closed is
/// final, so they are never held again.
pub fn release_if_closed(tx: &mut dyn Tx, conversation: &ConversationRow) -> Result<()> {
    if conversation.state == ConversationState::Closed {
        tx.release_bindings(conversation.id)?;
    }
    Ok(())
}

/// Where a participant event happened, for the outbox.
fn site(row: &ParticipantRow) -> Site<'_> {
    Site {
        service_id: row.service_id,
        service_sid: &row.service_sid,
        conversation: Some((row.conversation_id, &row.conversation_sid)),
    }
}

/// Every rule a new participant must pass in its conversation (state, messaging service, role,
/// limits, free identity and binding); returns the role it gets.
fn check_can_add(
    tx: &dyn Tx,
    tenant: &Tenant,
    conversation: &ConversationRow,
    new: &NewParticipant,
) -> Result<Option<String>> {
    if conversation.state == ConversationState::Closed {
        return Err(Error::with(
            Code::ConversationClosed,
            "a closed conversation takes no participants",
        ));
    }
    let non_chat = new.binding.as_ref().is_some_and(|b| b.address.is_some());
    if non_chat && conversation.messaging_service_sid.is_none() {
        return Err(Error::with(
            Code::NoMessagingService,
            "it cannot take non-chat participants",
        ));
    }
    let role_sid = participant_role(tx, conversation.service_id, new.role_sid.as_deref())?;
    check_capacity(tx, conversation.id, non_chat)?;
    if let Some(identity) = &new.identity {
        check_identity_free(tx, conversation, identity)?;
    }
    if let Some(binding) = &new.binding {
        check_binding_free(tx, tenant, conversation.id, binding, None)?;
    }
    Ok(role_sid)
}

/// The participant `new` makes in the conversation at `now`, with its role, before it has an
/// id, a SID and a User.
fn new_row(
    conversation: &ConversationRow,
    new: NewParticipant,
    role_sid: Option<String>,
    now: i64,
) -> ParticipantRow {
    let date_created = new.date_created.unwrap_or(now);
    ParticipantRow {
        id: 0,
        sid: String::new(),
        account_sid: conversation.account_sid.clone(),
        service_id: conversation.service_id,
        service_sid: conversation.service_sid.clone(),
        conversation_id: conversation.id,
        conversation_sid: conversation.sid.clone(),
        identity: new.identity,
        user_sid: None,
        attributes: new.attributes.unwrap_or_else(|| "{}".into()),
        role_sid,
        binding: new.binding,
        last_read_message_index: None,
        last_read_timestamp: None,
        date_created,
        date_updated: new.date_updated.unwrap_or(date_created),
    }
}

/// The parameters of `onParticipantAdd` (twilio-behavior.md 17.4): the participant `new` would add,
/// with the role it would get. What the write would refuse is refused here first, so that a
/// request bound to fail sends no webhook.
pub async fn add_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewParticipant,
) -> Result<Params> {
    store
        .read(move |tx| {
            let conversation = conversations::find(tx, &tenant, &conversation)?;
            let role_sid = check_can_add(tx, &tenant, &conversation, &new)?;
            let draft = new_row(&conversation, new, role_sid, tx.now());
            Ok(webhook_params::participant_add(&draft))
        })
        .await
}

/// Adds a participant to a conversation inside the caller's job (also used by
/// ConversationWithParticipants): every cross-row rule, the chat participant's User, the row,
/// and the `onParticipantAdded` event.
pub fn add(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    conversation: &ConversationRow,
    new: NewParticipant,
) -> Result<ParticipantRow> {
    // The identity's User first: it is held from here on, so the identity's conversations
    // are counted (in `check_can_add`) with no other job adding it elsewhere meanwhile.
    let user = match new.identity.as_deref() {
        Some(identity) => Some(users::find_or_create_for_identity(
            tx,
            tenant,
            conversation.service_id,
            identity,
        )?),
        None => None,
    };
    let role_sid = check_can_add(tx, tenant, conversation, &new)?;
    let mut row = new_row(conversation, new, role_sid, tx.now());
    row.user_sid = user;
    row.sid = new_sid(Prefix::Participant);
    row.id = tx
        .insert_participant(&row, holds_pair(conversation, &row))
        .map_err(|e| taken(e, &row))?;
    let params = webhook_params::participant(&row);
    events::post_action(tx, tenant, site(&row), EventType::ParticipantAdded, params)?;
    Ok(row)
}

/// CreateConversationParticipant.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewParticipant,
) -> Result<ParticipantRow> {
    store
        .write(move |tx| {
            let conversation = conversations::lock(tx, &tenant, &conversation)?;
            add(tx, &tenant, &conversation, new)
        })
        .await
}

/// ListConversationParticipant, in the order they joined. Returns the conversation's SID too
/// (the path may have named it by unique name), for the list's URLs.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    req: PageRequest,
) -> Result<(String, Page<ParticipantRow>)> {
    conversations::read_within(store, tenant, conversation, move |tx, conversation| {
        let page = tx.list_participants(conversation.id, &req)?;
        Ok((conversation.sid.clone(), page))
    })
    .await
}

/// FetchConversationParticipant: by MB SID or identity.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    participant: String,
) -> Result<ParticipantRow> {
    conversations::read_within(store, tenant, conversation, move |tx, conversation| {
        find(tx, conversation.id, &participant)
    })
    .await
}

/// Applies a proxy address change to a binding (twilio-behavior.md 10.3): removing one the
/// participant lacks is `NoProxyAddress`; adding one to a participant without an address is
/// `ProxyWithoutAddress`; the proxy must differ from the address (`AddressEqualsProxy`) and be on
/// its channel (`AddressTypeMismatch`).
fn change_proxy(binding: &mut Option<Binding>, change: AddressChange) -> Result<()> {
    match change {
        AddressChange::Remove => match binding.as_mut() {
            Some(b) if b.proxy_address.is_some() => {
                b.proxy_address = None;
                Ok(())
            }
            _ => Err(Error::with(Code::NoProxyAddress, "it has none")),
        },
        AddressChange::Set(proxy) => {
            let Some(b) = binding.as_mut().filter(|b| b.address.is_some()) else {
                return Err(Error::with(
                    Code::ProxyWithoutAddress,
                    "it has no messaging binding address",
                ));
            };
            let address = b.address.as_deref().unwrap_or_default();
            if proxy == address {
                return Err(address_equals_proxy());
            }
            if channel_of(&proxy) != channel_of(address) {
                return Err(channel_mismatch());
            }
            b.proxy_address = Some(proxy);
            Ok(())
        }
    }
}

pub fn address_equals_proxy() -> Error {
    Error::new(Code::AddressEqualsProxy)
}

pub fn channel_mismatch() -> Error {
    Error::new(Code::AddressTypeMismatch)
}

/// Applies a projected address change (twilio-behavior.md 10.2, 10.3): only a participant without a
/// device address may have one (`ProjectedNotAllowed`); removing one it lacks is
/// `NoProjectedAddress`.
fn change_projected(binding: &mut Option<Binding>, change: AddressChange) -> Result<()> {
    match change {
        AddressChange::Remove => match binding.as_mut() {
            Some(b) if b.projected_address.is_some() => {
                b.projected_address = None;
                if b.address.is_none() {
                    *binding = None;
                }
                Ok(())
            }
            _ => Err(Error::with(Code::NoProjectedAddress, "it has none")),
        },
        AddressChange::Set(projected) => {
            if binding.as_ref().is_some_and(|b| b.address.is_some()) {
                return Err(projected_on_bound_participant());
            }
            let b = binding.get_or_insert_with(|| Binding {
                kind: "sms".into(),
                ..Binding::default()
            });
            b.projected_address = Some(projected);
            Ok(())
        }
    }
}

pub fn projected_on_bound_participant() -> Error {
    Error::with(
        Code::ProjectedNotAllowed,
        "only a participant without a messaging binding address may have one",
    )
}

/// Applies an identity change: a participant keeps the identity it has (`IdentityExists` for
/// another), and one reached at a device address takes none (`IdentityNotAcceptable`).
fn change_identity(current: &ParticipantRow, identity: &str) -> Result<bool> {
    match &current.identity {
        Some(same) if same == identity => Ok(false),
        Some(_) => Err(Error::with(Code::IdentityExists, "it already has one")),
        None if current.is_non_chat() => Err(identity_not_acceptable()),
        None => Ok(true),
    }
}

pub fn identity_not_acceptable() -> Error {
    Error::with(
        Code::IdentityNotAcceptable,
        "a participant with a messaging binding address has no identity",
    )
}

/// The binding after an update's proxy and projected address changes; a new proxy must make a
/// pair no other open conversation holds, and removing the proxy makes a group member, whose
/// address no other group member of the conversation may have.
fn updated_binding(
    tx: &dyn Tx,
    tenant: &Tenant,
    current: &ParticipantRow,
    change: &ParticipantUpdate,
) -> Result<Option<Binding>> {
    let mut binding = current.binding.clone();
    if let Some(proxy) = change.proxy_address.clone() {
        change_proxy(&mut binding, proxy)?;
        if let Some(b) = &binding {
            check_binding_free(tx, tenant, current.conversation_id, b, Some(current.id))?;
        }
    }
    if let Some(projected) = change.projected_address.clone() {
        change_projected(&mut binding, projected)?;
    }
    Ok(binding)
}

/// The participant as an update would leave it, or why the update is refused: the role must
/// be a conversation role of the service, the binding changes must follow the binding rules,
/// and a new identity must be free. The User of a new identity is not looked up here (the write
/// creates it if needed): the plan keeps the current `user_sid`.
fn planned_update(
    tx: &dyn Tx,
    tenant: &Tenant,
    conversation: &ConversationRow,
    current: &ParticipantRow,
    change: &ParticipantUpdate,
) -> Result<ParticipantRow> {
    let mut planned = current.clone();
    if let Some(role) = change.role_sid.as_deref() {
        planned.role_sid = participant_role(tx, conversation.service_id, Some(role))?;
    }
    planned.binding = updated_binding(tx, tenant, current, change)?;
    if let Some(identity) = change.identity.as_deref()
        && change_identity(current, identity)?
    {
        check_identity_free(tx, conversation, identity)?;
        planned.identity = Some(identity.to_string());
    }
    if let Some(attributes) = &change.attributes {
        planned.attributes = attributes.clone();
    }
    if let Some(index) = change.last_read_message_index {
        planned.last_read_message_index = index;
    }
    if let Some(timestamp) = &change.last_read_timestamp {
        planned.last_read_timestamp = timestamp.clone();
    }
    planned.date_created = change.date_created.unwrap_or(current.date_created);
    planned.date_updated = change.date_updated.unwrap_or(tx.now());
    Ok(planned)
}

/// The parameters of `onParticipantUpdate` (twilio-behavior.md 17.4): the participant as the update
/// would leave it (refused here first when the write would refuse it).
pub async fn update_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    participant: String,
    change: ParticipantUpdate,
) -> Result<Params> {
    store
        .read(move |tx| {
            let conversation = conversations::find(tx, &tenant, &conversation)?;
            let current = find(tx, conversation.id, &participant)?;
            let planned = planned_update(tx, &tenant, &conversation, &current, &change)?;
            Ok(webhook_params::participant(&planned))
        })
        .await
}

/// The parameters of `onParticipantRemove`: the participant as it is.
pub async fn remove_event_params(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    participant: String,
) -> Result<Params> {
    let row = fetch(store, tenant, conversation, participant).await?;
    Ok(webhook_params::participant(&row))
}

/// UpdateConversationParticipant (the rules are [`planned_update`]'s). A participant that takes
/// an identity gets its User, as at creation. A read-horizon change is reported with
/// `onParticipantUpdated`, like every other change.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    participant: String,
    change: ParticipantUpdate,
) -> Result<ParticipantRow> {
    store
        .write(move |tx| {
            let conversation = conversations::lock(tx, &tenant, &conversation)?;
            let current = find(tx, conversation.id, &participant)?;
            let mut row = planned_update(tx, &tenant, &conversation, &current, &change)?;
            if let Some(identity) = row.identity.as_deref()
                && row.identity != current.identity
            {
                let user = users::find_or_create_for_identity(
                    tx,
                    &tenant,
                    conversation.service_id,
                    identity,
                )?;
                row.user_sid = Some(user);
            }
            tx.update_participant(&row, holds_pair(&conversation, &row))
                .map_err(|e| taken(e, &row))?;
            let params = webhook_params::participant_updated(&row);
            events::post_action(
                tx,
                &tenant,
                site(&row),
                EventType::ParticipantUpdated,
                params,
            )?;
            Ok(row)
        })
        .await
}

/// DeleteConversationParticipant: by MB SID or identity. Its past messages keep their
/// `participant_sid` and `author` (twilio-behavior.md 10.3); its binding pair is free again.
pub async fn delete(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    participant: String,
) -> Result<()> {
    store
        .write(move |tx| {
            let conversation = conversations::lock(tx, &tenant, &conversation)?;
            let current = find(tx, conversation.id, &participant)?;
            tx.delete_participant(current.id)?;
            let params = webhook_params::participant_removed(&current, tx.now());
            events::post_action(
                tx,
                &tenant,
                site(&current),
                EventType::ParticipantRemoved,
                params,
            )
        })
        .await
}

/// CreateConversationWithParticipants: the conversation and every participant in one write
/// job, so that any refused participant (a taken binding, a duplicate identity, an unknown
/// role...) rolls the whole job back and creates nothing. Events: `onConversationAdded` (queued
/// by `conversations::add`), then `onParticipantAdded` per participant.
pub async fn create_conversation_with(
    store: &Store,
    tenant: Tenant,
    conversation: NewConversation,
    participants: Vec<NewParticipant>,
) -> Result<ConversationRow> {
    store
        .write(move |tx| {
            let conversation = conversations::add(tx, &tenant, conversation)?;
            for participant in participants {
                add(tx, &tenant, &conversation, participant)?;
            }
            Ok(conversation)
        })
        .await
}

/// ListParticipantConversation: every conversation of the service, in any state, with a
/// participant of this identity or address, each with that participant.
pub async fn list_conversations(
    store: &Store,
    tenant: Tenant,
    lookup: Lookup,
    req: PageRequest,
) -> Result<Page<(ListedParticipant, Arc<ConversationRow>)>> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            tx.participant_conversations(&tenant, service.id, &lookup, &req)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_come_from_the_address_prefix() {
        for (address, channel) in [
            ("+15558675310", "sms"),
            ("whatsapp:+15558675310", "whatsapp"),
            ("WhatsApp:+15558675310", "whatsapp"),
            ("rcs:+15558675310", "rcs"),
            ("messenger:1234", "messenger"),
            ("gbm:agent", "gbm"),
            ("apple:urn:biz:1", "apple"),
            ("email:joe@example.com", "email"),
            ("joe@example.com", "email"),
            ("fax:+1555", "sms"),
        ] {
            assert_eq!(channel_of(address), channel, "{address}");
        }
        assert_eq!(without_channel("whatsapp:+1555"), "+1555");
        assert_eq!(without_channel("+1555"), "+1555");
        assert_eq!(without_channel("fax:+1555"), "fax:+1555");
    }

    #[test]
    fn proxy_and_projected_changes_follow_the_binding_rules() {
        let sms = || {
            Some(Binding {
                kind: "sms".into(),
                address: Some("+15550001".into()),
                proxy_address: Some("+15559999".into()),
                ..Binding::default()
            })
        };
        let mut b = sms();
        change_proxy(&mut b, AddressChange::Remove).unwrap();
        assert_eq!(b.as_ref().unwrap().proxy_address, None);
        let code = |r: Result<()>| r.unwrap_err().code;
        assert_eq!(
            code(change_proxy(&mut b, AddressChange::Remove)),
            Code::NoProxyAddress
        );
        assert_eq!(
            code(change_proxy(&mut None, AddressChange::Set("+1555".into()))),
            Code::ProxyWithoutAddress
        );
        assert_eq!(
            code(change_proxy(
                &mut sms(),
                AddressChange::Set("+15550001".into())
            )),
            Code::AddressEqualsProxy
        );
        assert_eq!(
            code(change_proxy(
                &mut sms(),
                AddressChange::Set("whatsapp:+1555".into())
            )),
            Code::AddressTypeMismatch
        );
        assert_eq!(
            code(change_projected(
                &mut sms(),
                AddressChange::Set("+1555".into())
            )),
            Code::ProjectedNotAllowed
        );
        assert_eq!(
            code(change_projected(&mut None, AddressChange::Remove)),
            Code::NoProjectedAddress
        );
        let mut chat = None;
        change_projected(&mut chat, AddressChange::Set("+15557777".into())).unwrap();
        assert_eq!(chat.as_ref().unwrap().kind, "sms");
        change_projected(&mut chat, AddressChange::Remove).unwrap();
        assert_eq!(
            chat, None,
            "a chat participant without projected address has no binding"
        );
    }

    async fn store_with_account(name: &str) -> (Store, Tenant) {
        let store = crate::store::open_for_test().await;
        let account = super::super::accounts::create(&store, name.into())
            .await
            .unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: crate::store::ServiceRef::Default,
            webhooks: false,
        };
        (store, tenant)
    }

    async fn new_conversation(store: &Store, tenant: &Tenant, new: NewConversation) -> String {
        conversations::create(store, tenant.clone(), new)
            .await
            .unwrap()
            .sid
    }

    fn reached_at(address: &str, proxy: Option<&str>) -> NewParticipant {
        NewParticipant {
            binding: Some(Binding {
                kind: "sms".into(),
                address: Some(address.into()),
                proxy_address: proxy.map(str::to_string),
                ..Binding::default()
            }),
            ..NewParticipant::default()
        }
    }

    /// A removed participant's past messages stay, still naming it (twilio-behavior.md 10.3).
    #[tokio::test]
    async fn removing_a_participant_keeps_its_messages() {
        let (store, tenant) = store_with_account("messages").await;
        let conversation = new_conversation(&store, &tenant, NewConversation::default()).await;
        let alice = NewParticipant {
            identity: Some("alice".into()),
            ..NewParticipant::default()
        };
        let alice = create(&store, tenant.clone(), conversation.clone(), alice)
            .await
            .unwrap();
        let said = super::super::messages::NewMessage {
            author: "alice".into(),
            body: Some("hi".into()),
            ..Default::default()
        };
        let said =
            super::super::messages::create(&store, tenant.clone(), conversation.clone(), said)
                .await
                .unwrap();
        delete(&store, tenant.clone(), conversation.clone(), "alice".into())
            .await
            .unwrap();
        let kept = super::super::messages::fetch(&store, tenant, conversation, said.sid)
            .await
            .unwrap();
        assert_eq!(
            (kept.author, kept.participant_sid),
            ("alice".to_string(), Some(alice.sid))
        );
    }

    /// A conversation closed by its timer gives up its pairs in the job that closes it: another
    /// conversation may take them at once (the store would refuse a second holder otherwise).
    #[tokio::test]
    async fn a_conversation_closed_by_its_timer_releases_its_pairs() {
        let (store, tenant) = store_with_account("timers").await;
        let texter = || reached_at("+15550001", Some("+15559999"));
        let closing = NewConversation {
            timer_closed: Some(60),
            ..NewConversation::default()
        };
        let closing = new_conversation(&store, &tenant, closing).await;
        create(&store, tenant.clone(), closing.clone(), texter())
            .await
            .unwrap();
        let next = new_conversation(&store, &tenant, NewConversation::default()).await;
        let refused = create(&store, tenant.clone(), next.clone(), texter())
            .await
            .unwrap_err();
        assert_eq!(refused, Error::with(Code::BindingTaken, &closing));
        store.clock.advance(chrono::Duration::seconds(60)).unwrap();
        assert_eq!(super::super::lifecycle::run_due(&store).await.unwrap(), 1);
        create(&store, tenant, next, texter())
            .await
            .expect("the closed conversation released the pair");
    }

    /// A participant that gives up its proxy address becomes a group member of its
    /// conversation, whose address no other group member may have.
    #[tokio::test]
    async fn removing_a_proxy_makes_a_group_member_that_must_be_alone() {
        let (store, tenant) = store_with_account("groups").await;
        let conversation = new_conversation(&store, &tenant, NewConversation::default()).await;
        let member = reached_at("+15550001", None);
        create(&store, tenant.clone(), conversation.clone(), member)
            .await
            .unwrap();
        let texter = reached_at("+15550001", Some("+15559999"));
        let texter = create(&store, tenant.clone(), conversation.clone(), texter)
            .await
            .unwrap();
        let change = ParticipantUpdate {
            proxy_address: Some(AddressChange::Remove),
            ..ParticipantUpdate::default()
        };
        let refused = update(&store, tenant, conversation, texter.sid, change)
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            Error::with(Code::GroupParticipantExists, "+15550001")
        );
    }
}
