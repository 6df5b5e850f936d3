//! Participants (MB...): who takes part in a conversation, as a chat identity or through a
//! messaging binding; the rules that span rows (one identity per conversation, one non-closed
//! conversation per address/proxy pair, the size limits); the lookups behind
//! ParticipantConversations; and ConversationWithParticipants, a conversation and its
//! participants written as one job.

use std::sync::Arc;

use rusqlite::{Connection, Row, params};

use super::Store;
use super::conversations::ConversationRow;
use super::services::Tenant;
use super::sqlite::ConversationCache;
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{Keyset, is_unique_violation, optional};
use crate::domain::conversations::{self, NewConversation};
use crate::domain::events::{self, Site};
use crate::domain::users;
use crate::domain::webhook_params::Params;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};
use crate::wire::time::format_date;

/// Participants per conversation, chat and non-chat together (twilio-behavior.md 6, 10.2).
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
}

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

const SELECT: &str = "SELECT p.id, p.sid, s.account_sid, p.service_id, s.sid, p.conversation_id, c.sid,
    p.identity, p.user_sid, p.attributes, p.role_sid, p.binding_type, p.binding_address,
    p.binding_proxy_address, p.binding_projected_address, p.binding_name, p.binding_level,
    p.last_read_message_index, p.last_read_timestamp, p.date_created, p.date_updated
    FROM participants p JOIN conversations c ON c.id = p.conversation_id JOIN services s ON s.id = p.service_id";

fn map_row(row: &Row) -> rusqlite::Result<ParticipantRow> {
    let binding = binding_at(row, 11)?;
    Ok(ParticipantRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_id: row.get(3)?,
        service_sid: row.get(4)?,
        conversation_id: row.get(5)?,
        conversation_sid: row.get(6)?,
        identity: row.get(7)?,
        user_sid: row.get(8)?,
        attributes: row.get(9)?,
        role_sid: row.get(10)?,
        binding,
        last_read_message_index: row.get(17)?,
        last_read_timestamp: row.get(18)?,
        date_created: row.get(19)?,
        date_updated: row.get(20)?,
    })
}

/// The six `binding_*` columns, from column `first` on: none when `binding_type` is NULL.
fn binding_at(row: &Row, first: usize) -> rusqlite::Result<Option<Binding>> {
    let Some(kind) = row.get::<_, Option<String>>(first)? else {
        return Ok(None);
    };
    Ok(Some(Binding {
        kind,
        address: row.get(first + 1)?,
        proxy_address: row.get(first + 2)?,
        projected_address: row.get(first + 3)?,
        name: row.get(first + 4)?,
        level: row.get(first + 5)?,
    }))
}

/// Finds a participant of the conversation by MB SID or, failing the SID pattern, by identity
/// (twilio-behavior.md 3), or answers 404 for the request path.
pub fn resolve(
    conn: &Connection,
    tenant: &Tenant,
    conversation_id: i64,
    sid_or_identity: &str,
) -> Result<ParticipantRow> {
    let column = if is_sid(Prefix::Participant, sid_or_identity) {
        "p.sid"
    } else {
        "p.identity"
    };
    optional(
        conn,
        &format!("{SELECT} WHERE p.conversation_id = ?1 AND {column} = ?2"),
        &[&conversation_id, &sid_or_identity],
        map_row,
    )?
    .ok_or_else(Error::not_found)
}

fn by_id(conn: &Connection, id: i64) -> Result<ParticipantRow> {
    optional(conn, &format!("{SELECT} WHERE p.id = ?1"), &[&id], map_row)?
        .ok_or_else(|| Error::internal(format!("participant {id} vanished")))
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

/// The role a participant gets: the one asked for, which must be a conversation role of the
/// service, or the service's `default_conversation_role_sid`.
///
/// An unknown RoleSid, or a service-level role, answers 400 / `ConversationRoleNotFound`:
/// twilio-behavior.md 5 and 21 recommend 400 with the specific code for unknown SIDs in body
/// parameters, and `ConversationRoleNotFound` is the dictionary's code for a missing
/// conversation-level role (a service role is not one).
fn participant_role(
    conn: &Connection,
    service_id: i64,
    requested: Option<&str>,
) -> Result<Option<String>> {
    match requested {
        Some(role_sid) => optional(
            conn,
            "SELECT sid FROM roles WHERE service_id = ?1 AND sid = ?2 AND type = 'conversation'",
            &[&service_id, &role_sid],
            |r| r.get::<_, String>(0),
        )?
        .map(Some)
        .ok_or_else(|| role_not_found(role_sid)),
        None => Ok(optional(
            conn,
            "SELECT default_conversation_role_sid FROM service_configurations WHERE service_id = ?1",
            &[&service_id],
            |r| r.get::<_, Option<String>>(0),
        )?
        .flatten()),
    }
}

pub fn role_not_found(role_sid: &str) -> Error {
    Error::with(Code::ConversationRoleNotFound, role_sid)
}

/// The participant limits (twilio-behavior.md 10.2). Twilio's docs give no status for them; confab
/// answers 400, as for every other refused participant parameter.
fn check_capacity(conn: &Connection, conversation_id: i64, non_chat: bool) -> Result<()> {
    let (total, non_chat_count): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COUNT(binding_address) FROM participants WHERE conversation_id = ?1",
        )?
        .query_row([conversation_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if total >= MAX_PARTICIPANTS {
        return Err(Error::with(
            Code::TooManyParticipants,
            format!("a conversation has at most {MAX_PARTICIPANTS} participants"),
        ));
    }
    if non_chat && non_chat_count >= MAX_NON_CHAT_PARTICIPANTS {
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
fn check_identity_free(
    conn: &Connection,
    conversation: &ConversationRow,
    identity: &str,
) -> Result<()> {
    let taken = optional(
        conn,
        "SELECT 1 FROM participants WHERE conversation_id = ?1 AND identity = ?2",
        &[&conversation.id, &identity],
        |_| Ok(()),
    )?
    .is_some();
    if taken {
        return Err(identity_taken(identity));
    }
    let open: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM participants p JOIN conversations c ON c.id = p.conversation_id
             WHERE p.service_id = ?1 AND p.identity = ?2 AND c.state != 'closed' LIMIT ?3)",
        )?
        .query_row(
            params![conversation.service_id, identity, MAX_CONVERSATIONS_PER_IDENTITY],
            |r| r.get(0),
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
    conn: &Connection,
    tenant: &Tenant,
    conversation_id: i64,
    binding: &Binding,
    except: Option<i64>,
) -> Result<()> {
    let Some(address) = &binding.address else {
        return Ok(());
    };
    let except = except.unwrap_or(0);
    match &binding.proxy_address {
        Some(proxy) => {
            let holder: Option<String> = optional(
                conn,
                "SELECT c.sid FROM participants p JOIN conversations c ON c.id = p.conversation_id
                 JOIN services s ON s.id = c.service_id
                 WHERE p.binding_address = ?1 AND p.binding_proxy_address = ?2 AND c.state != 'closed'
                   AND s.account_sid = ?3 AND p.id != ?4 LIMIT 1",
                &[address, proxy, &tenant.account_sid, &except],
                |r| r.get(0),
            )?;
            match holder {
                Some(sid) => Err(Error::with(Code::BindingTaken, sid)),
                None => Ok(()),
            }
        }
        None => {
            let duplicate = optional(
                conn,
                "SELECT 1 FROM participants WHERE conversation_id = ?1 AND binding_address = ?2
                   AND binding_proxy_address IS NULL AND id != ?3",
                &[&conversation_id, address, &except],
                |_| Ok(()),
            )?
            .is_some();
            if duplicate {
                Err(Error::with(Code::GroupParticipantExists, address))
            } else {
                Ok(())
            }
        }
    }
}

/// Where a participant event happened, for the outbox.
fn site(row: &ParticipantRow) -> Site<'_> {
    Site {
        service_id: row.service_id,
        service_sid: &row.service_sid,
        conversation: Some((row.conversation_id, &row.conversation_sid)),
    }
}

/// The parameters every participant event carries (twilio-behavior.md 17.4). `MessagingBinding.Type`
/// is upper case (`SMS`, `WHATSAPP`), and `CHAT` for a participant without a binding.
fn event_params(row: &ParticipantRow) -> Params {
    let binding = row.binding.as_ref();
    let field = |f: fn(&Binding) -> &Option<String>| binding.and_then(|b| f(b).clone());
    vec![
        ("ConversationSid", Some(row.conversation_sid.clone())),
        ("ParticipantSid", Some(row.sid.clone())),
        ("DateCreated", Some(format_date(row.date_created))),
        ("DateUpdated", Some(format_date(row.date_updated))),
        ("Identity", row.identity.clone()),
        ("RoleSid", row.role_sid.clone()),
        ("Attributes", Some(row.attributes.clone())),
        ("MessagingBinding.ProxyAddress", field(|b| &b.proxy_address)),
        ("MessagingBinding.Address", field(|b| &b.address)),
        (
            "MessagingBinding.ProjectedAddress",
            field(|b| &b.projected_address),
        ),
        (
            "MessagingBinding.Type",
            Some(binding.map_or("CHAT".to_string(), |b| b.kind.to_uppercase())),
        ),
    ]
}

/// Every rule a new participant must pass in its conversation (state, messaging service, role,
/// limits, free identity and binding); returns the role it gets.
fn check_can_add(
    conn: &Connection,
    tenant: &Tenant,
    conversation: &ConversationRow,
    new: &NewParticipant,
) -> Result<Option<String>> {
    if conversation.state == crate::states::ConversationState::Closed {
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
    let role_sid = participant_role(conn, conversation.service_id, new.role_sid.as_deref())?;
    check_capacity(conn, conversation.id, non_chat)?;
    if let Some(identity) = &new.identity {
        check_identity_free(conn, conversation, identity)?;
    }
    if let Some(binding) = &new.binding {
        check_binding_free(conn, tenant, conversation.id, binding, None)?;
    }
    Ok(role_sid)
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
    const ON_PARTICIPANT_ADD: &[&str] = &[
        "ConversationSid",
        "Identity",
        "RoleSid",
        "Attributes",
        "MessagingBinding.ProxyAddress",
        "MessagingBinding.Address",
        "MessagingBinding.ProjectedAddress",
        "MessagingBinding.Type",
    ];
    let now = store.clock.now_secs();
    store
        .sqlite_read(move |conn| {
            let conversation =
                super::sqlite::conversations::resolve_in_tenant(conn, &tenant, &conversation)?;
            let role_sid = check_can_add(conn, &tenant, &conversation, &new)?;
            let date_created = new.date_created.unwrap_or(now);
            let draft = ParticipantRow {
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
            };
            let mut params = event_params(&draft);
            params.retain(|(name, _)| ON_PARTICIPANT_ADD.contains(name));
            Ok(params)
        })
        .await
}

/// The parameters of `onParticipantUpdated`, and of `onParticipantRemoved` before its
/// `DateRemoved`: twilio-behavior.md 17.4 lists each as "the above plus ...", the row above, as its
/// user events chain `onUserAdded` → `onUserUpdate` → `onUserUpdated`.
fn updated_event_params(row: &ParticipantRow) -> Params {
    let mut params = event_params(row);
    params.push((
        "LastReadMessageIndex",
        row.last_read_message_index.map(|i| i.to_string()),
    ));
    params
}

/// Adds a participant to a conversation inside the caller's transaction (also used by
/// ConversationWithParticipants): every cross-row rule, the chat participant's User, the row,
/// and the `onParticipantAdded` event.
pub fn insert(
    ctx: &mut WriteCtx,
    tenant: &Tenant,
    conversation: &ConversationRow,
    new: NewParticipant,
) -> Result<ParticipantRow> {
    let role_sid = check_can_add(ctx.tx, tenant, conversation, &new)?;
    let user_sid = new
        .identity
        .as_deref()
        .map(|identity| {
            users::find_or_create_for_identity(ctx, tenant, conversation.service_id, identity)
        })
        .transpose()?;
    let date_created = new.date_created.unwrap_or(ctx.now);
    let date_updated = new.date_updated.unwrap_or(date_created);
    let binding = new.binding.unwrap_or_default();
    let inserted = ctx.tx.execute(
        "INSERT INTO participants (sid, conversation_id, service_id, identity, user_sid, attributes, role_sid,
             binding_type, binding_address, binding_proxy_address, binding_projected_address, binding_name,
             binding_level, date_created, date_updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            new_sid(Prefix::Participant),
            conversation.id,
            conversation.service_id,
            new.identity,
            user_sid,
            new.attributes.unwrap_or_else(|| "{}".into()),
            role_sid,
            (!binding.kind.is_empty()).then_some(&binding.kind),
            binding.address,
            binding.proxy_address,
            binding.projected_address,
            binding.name,
            binding.level,
            date_created,
            date_updated,
        ],
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            Err(identity_taken(new.identity.as_deref().unwrap_or_default()))
        }
        other => other.map_err(Error::from),
    }?;
    let row = by_id(ctx.tx, ctx.tx.last_insert_rowid())?;
    events::post_action(
        ctx,
        tenant,
        site(&row),
        EventType::ParticipantAdded,
        event_params(&row),
    )?;
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
        .sqlite_write(move |ctx| {
            let conversation =
                super::sqlite::conversations::resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            insert(ctx, &tenant, &conversation, new)
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
    store
        .sqlite_read_within(tenant, conversation, move |conn, conversation| {
            let keyset = Keyset {
                select: &format!("{SELECT} WHERE p.conversation_id = ?1"),
                keys: &["p.id"],
                descending: false,
            };
            let page = keyset.page(conn, &[&conversation.id], &req, map_row, |r| vec![r.id])?;
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
    store
        .sqlite_read_within(tenant.clone(), conversation, move |conn, conversation| {
            resolve(conn, &tenant, conversation.id, &participant)
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
/// pair no other open conversation holds.
fn updated_binding(
    conn: &Connection,
    tenant: &Tenant,
    current: &ParticipantRow,
    change: &ParticipantUpdate,
) -> Result<Option<Binding>> {
    let mut binding = current.binding.clone();
    if let Some(proxy) = change.proxy_address.clone() {
        let adds = matches!(proxy, AddressChange::Set(_));
        change_proxy(&mut binding, proxy)?;
        if let (true, Some(b)) = (adds, &binding) {
            check_binding_free(conn, tenant, current.conversation_id, b, Some(current.id))?;
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
    conn: &Connection,
    tenant: &Tenant,
    conversation: &ConversationRow,
    current: &ParticipantRow,
    change: &ParticipantUpdate,
    now: i64,
) -> Result<ParticipantRow> {
    let mut planned = current.clone();
    if let Some(role) = change.role_sid.as_deref() {
        planned.role_sid = participant_role(conn, conversation.service_id, Some(role))?;
    }
    planned.binding = updated_binding(conn, tenant, current, change)?;
    if let Some(identity) = change.identity.as_deref()
        && change_identity(current, identity)?
    {
        check_identity_free(conn, conversation, identity)?;
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
    planned.date_updated = change.date_updated.unwrap_or(now);
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
    let now = store.clock.now_secs();
    store
        .sqlite_read(move |conn| {
            let conversation =
                super::sqlite::conversations::resolve_in_tenant(conn, &tenant, &conversation)?;
            let current = resolve(conn, &tenant, conversation.id, &participant)?;
            let planned = planned_update(conn, &tenant, &conversation, &current, &change, now)?;
            Ok(event_params(&planned))
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
    Ok(event_params(&row))
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
        .sqlite_write(move |ctx| {
            let conversation = super::sqlite::conversations::resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            let current = resolve(ctx.tx, &tenant, conversation.id, &participant)?;
            let mut planned =
                planned_update(ctx.tx, &tenant, &conversation, &current, &change, ctx.now)?;
            if let Some(identity) = planned.identity.as_deref()
                && planned.identity != current.identity
            {
                let user = users::find_or_create_for_identity(
                    ctx,
                    &tenant,
                    conversation.service_id,
                    identity,
                )?;
                planned.user_sid = Some(user);
            }
            let binding = planned.binding.clone().unwrap_or_default();
            ctx.tx.execute(
                "UPDATE participants SET identity = ?1, user_sid = ?2, attributes = ?3, role_sid = ?4,
                     binding_type = ?5, binding_address = ?6, binding_proxy_address = ?7,
                     binding_projected_address = ?8, last_read_message_index = ?9, last_read_timestamp = ?10,
                     date_created = ?11, date_updated = ?12
                 WHERE id = ?13",
                params![
                    planned.identity,
                    planned.user_sid,
                    planned.attributes,
                    planned.role_sid,
                    (!binding.kind.is_empty()).then_some(&binding.kind),
                    binding.address,
                    binding.proxy_address,
                    binding.projected_address,
                    planned.last_read_message_index,
                    planned.last_read_timestamp,
                    planned.date_created,
                    planned.date_updated,
                    current.id,
                ],
            )?;
            let row = by_id(ctx.tx, current.id)?;
            let params = updated_event_params(&row);
            events::post_action(ctx, &tenant, site(&row), EventType::ParticipantUpdated, params)?;
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
        .sqlite_write(move |ctx| {
            let conversation =
                super::sqlite::conversations::resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            let current = resolve(ctx.tx, &tenant, conversation.id, &participant)?;
            ctx.tx.execute(
                "DELETE FROM participants WHERE id = ?1",
                params![current.id],
            )?;
            let mut params = updated_event_params(&current);
            params.push(("DateRemoved", Some(format_date(ctx.now))));
            events::post_action(
                ctx,
                &tenant,
                site(&current),
                EventType::ParticipantRemoved,
                params,
            )?;
            Ok(())
        })
        .await
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

const LISTED_SELECT: &str = "SELECT p.id, p.sid, p.conversation_id, p.identity, p.user_sid,
    p.binding_type, p.binding_address, p.binding_proxy_address, p.binding_projected_address,
    p.binding_name, p.binding_level
    FROM participants p";

fn map_listed(row: &Row) -> rusqlite::Result<ListedParticipant> {
    Ok(ListedParticipant {
        id: row.get(0)?,
        sid: row.get(1)?,
        conversation_id: row.get(2)?,
        identity: row.get(3)?,
        user_sid: row.get(4)?,
        binding: binding_at(row, 5)?,
    })
}

/// Who ListParticipantConversation looks for: a chat identity or a device address.
#[derive(Debug, Clone)]
pub enum Lookup {
    Identity(String),
    Address(String),
}

/// ListParticipantConversation: every conversation of the service, in any state, with a
/// participant of this identity or address, each with that participant.
///
/// Twilio documents the list as sorted by conversation SID (twilio-behavior.md 13). confab's SIDs are
/// random, so that order would need a scan; confab walks the `participants_by_identity` /
/// `participants_by_address` indexes instead, in conversation creation order (then participant
/// order), so that a page costs the same however many conversations the identity is in.
pub async fn list_conversations(
    store: &Store,
    tenant: Tenant,
    lookup: Lookup,
    req: PageRequest,
) -> Result<Page<(ListedParticipant, Arc<ConversationRow>)>> {
    let cache = store.sqlite_cache();
    // Read before the read transaction begins: see `ConversationCache::offer`.
    let generation = cache.generation();
    store
        .sqlite_read(move |conn| {
            let service = super::services::resolve(conn, &tenant)?;
            let (column, value) = match &lookup {
                Lookup::Identity(identity) => ("p.identity", identity),
                Lookup::Address(address) => ("p.binding_address", address),
            };
            let keyset = Keyset {
                select: &format!("{LISTED_SELECT} WHERE p.service_id = ?1 AND {column} = ?2"),
                keys: &["p.conversation_id", "p.id"],
                descending: false,
            };
            let page = keyset.page(conn, &[&service.id, value], &req, map_listed, |r| {
                vec![r.conversation_id, r.id]
            })?;
            let conversations = conversations_of(conn, &cache, generation, &tenant, &page.rows)?;
            if page
                .rows
                .iter()
                .any(|p| !conversations.contains_key(&p.conversation_id))
            {
                return Err(Error::internal("a participant without its conversation"));
            }
            Ok(page.map(|p| {
                let c = Arc::clone(&conversations[&p.conversation_id]);
                (p, c)
            }))
        })
        .await
}

/// The conversations of a page of participants: from the cache where it has them (decoding a
/// conversation's 19 columns for every row was most of a ParticipantConversations page's SQLite
/// time), the others in one query, offered to the cache. The participants were found in the
/// tenant's service, and so were their conversations.
fn conversations_of(
    conn: &Connection,
    cache: &ConversationCache,
    generation: u64,
    tenant: &Tenant,
    participants: &[ListedParticipant],
) -> Result<foldhash::HashMap<i64, Arc<ConversationRow>>> {
    let ids: Vec<i64> = participants.iter().map(|p| p.conversation_id).collect();
    // foldhash, not std's SipHash, which was 4% of a page's instructions: the keys are rowids.
    let mut found = foldhash::HashMap::with_capacity_and_hasher(ids.len(), Default::default());
    let mut missing = Vec::new();
    for (id, cached) in ids.iter().zip(cache.get_by_ids(&ids)) {
        match cached {
            Some(row) => {
                found.insert(*id, row);
            }
            None => missing.push(*id),
        }
    }
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(found);
    }
    let marks = vec!["?"; missing.len()].join(", ");
    let sql = format!(
        "{} WHERE c.id IN ({marks})",
        super::sqlite::conversations::SELECT
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        rusqlite::params_from_iter(missing),
        super::sqlite::conversations::map_row,
    )?;
    for row in rows {
        let row = Arc::new(row?);
        cache.offer(tenant, &row, generation);
        found.insert(row.id, row);
    }
    Ok(found)
}

/// CreateConversationWithParticipants: the conversation and every participant in one write
/// job, so that any refused participant (a taken binding, a duplicate identity, an unknown
/// role...) rolls the whole job back and creates nothing. Events: `onConversationAdded` (queued
/// by `conversations::insert`), then `onParticipantAdded` per participant.
pub async fn create_conversation_with(
    store: &Store,
    tenant: Tenant,
    conversation: NewConversation,
    participants: Vec<NewParticipant>,
) -> Result<ConversationRow> {
    store
        .sqlite_write(move |ctx| {
            let conversation = conversations::add(ctx, &tenant, conversation)?;
            for participant in participants {
                insert(ctx, &tenant, &conversation, participant)?;
            }
            Ok(conversation)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::store::Location;
    use crate::store::services::ServiceRef;

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

    fn tenant_of(account_sid: &str, webhooks: bool) -> Tenant {
        Tenant {
            account_sid: account_sid.to_string(),
            service: ServiceRef::Default,
            webhooks,
        }
    }

    /// Rules the HTTP tests cannot reach yet (roles and configuration are other resources):
    /// a service-level role is no participant role, and a conversation without a Messaging
    /// Service takes no SMS participant.
    #[tokio::test]
    async fn service_roles_and_missing_messaging_services_are_refused() {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = crate::domain::accounts::create(&store, "rules".into())
            .await
            .unwrap();
        let tenant = tenant_of(&account.account_sid, false);
        let service_role: String = store
            .sqlite_read({
                let account_sid = account.account_sid.clone();
                move |conn| {
                    Ok(conn.query_row(
                        "SELECT r.sid FROM roles r JOIN services s ON s.id = r.service_id
                         WHERE s.account_sid = ?1 AND r.type = 'service' LIMIT 1",
                        [account_sid],
                        |r| r.get(0),
                    )?)
                }
            })
            .await
            .unwrap();
        let conversation =
            conversations::create(&store, tenant.clone(), NewConversation::default())
                .await
                .unwrap();
        let refused = create(
            &store,
            tenant.clone(),
            conversation.sid.clone(),
            NewParticipant {
                identity: Some("alice".into()),
                role_sid: Some(service_role),
                ..NewParticipant::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, Code::ConversationRoleNotFound);

        let account_sid = account.account_sid.clone();
        store
            .sqlite_write(move |ctx| {
                ctx.tx.execute(
                    "UPDATE account_configurations SET default_messaging_service_sid = NULL WHERE account_sid = ?1",
                    [account_sid],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let bare = conversations::create(&store, tenant.clone(), NewConversation::default())
            .await
            .unwrap();
        assert_eq!(bare.messaging_service_sid, None);
        let texter = NewParticipant {
            binding: Some(Binding {
                kind: "sms".into(),
                address: Some("+15550001".into()),
                proxy_address: Some("+15559999".into()),
                ..Binding::default()
            }),
            ..NewParticipant::default()
        };
        let refused = create(&store, tenant.clone(), bare.sid.clone(), texter)
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::NoMessagingService);
        create(
            &store,
            tenant,
            bare.sid,
            NewParticipant {
                identity: Some("alice".into()),
                ..NewParticipant::default()
            },
        )
        .await
        .expect("a chat participant needs no Messaging Service");
    }

    /// A removed participant's past messages stay, still naming it (twilio-behavior.md 10.3).
    #[tokio::test]
    async fn removing_a_participant_keeps_its_messages() {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = crate::domain::accounts::create(&store, "messages".into())
            .await
            .unwrap();
        let tenant = tenant_of(&account.account_sid, false);
        let conversation =
            conversations::create(&store, tenant.clone(), NewConversation::default())
                .await
                .unwrap();
        let alice = create(
            &store,
            tenant.clone(),
            conversation.sid.clone(),
            NewParticipant {
                identity: Some("alice".into()),
                ..NewParticipant::default()
            },
        )
        .await
        .unwrap();
        let (conversation_id, participant_sid) = (conversation.id, alice.sid.clone());
        store
            .sqlite_write(move |ctx| {
                ctx.tx.execute(
                    "INSERT INTO messages (sid, conversation_id, idx, author, body, attributes, participant_sid,
                         date_created, date_updated)
                     VALUES ('IM00000000000000000000000000000001', ?1, 0, 'alice', 'hi', '{}', ?2, 0, 0)",
                    params![conversation_id, participant_sid],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        delete(&store, tenant, conversation.sid, "alice".into())
            .await
            .unwrap();
        let kept: (String, String) = store
            .sqlite_read(|conn| {
                Ok(conn.query_row(
                    "SELECT author, participant_sid FROM messages WHERE sid = 'IM00000000000000000000000000000001'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(kept, ("alice".to_string(), alice.sid));
    }

    /// Post-action events land in the outbox with their documented parameters when the request
    /// asked for webhooks, and not otherwise.
    #[tokio::test]
    async fn participant_changes_queue_their_events() {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = crate::domain::accounts::create(&store, "events".into())
            .await
            .unwrap();
        let account_sid = account.account_sid.clone();
        store
            .sqlite_write(move |ctx| {
                ctx.tx.execute(
                    "UPDATE service_webhooks SET post_webhook_url = 'https://hooks.example/post', method = 'POST',
                         filters = '[\"onParticipantAdded\",\"onParticipantUpdated\",\"onParticipantRemoved\",\"onConversationAdded\"]'
                     WHERE service_id = (SELECT s.id FROM services s WHERE s.account_sid = ?1)",
                    params![account_sid],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let tenant = |webhooks| tenant_of(&account.account_sid, webhooks);
        let alice = NewParticipant {
            identity: Some("alice".into()),
            ..NewParticipant::default()
        };
        let sms = NewParticipant {
            binding: Some(Binding {
                kind: "sms".into(),
                address: Some("+15550001".into()),
                proxy_address: Some("+15559999".into()),
                ..Binding::default()
            }),
            ..NewParticipant::default()
        };
        let conversation = create_conversation_with(
            &store,
            tenant(true),
            NewConversation::default(),
            vec![alice, sms],
        )
        .await
        .unwrap();
        update(
            &store,
            tenant(true),
            conversation.sid.clone(),
            "alice".into(),
            ParticipantUpdate {
                last_read_message_index: Some(Some(4)),
                ..ParticipantUpdate::default()
            },
        )
        .await
        .unwrap();
        delete(
            &store,
            tenant(true),
            conversation.sid.clone(),
            "alice".into(),
        )
        .await
        .unwrap();
        // Without the header nothing is queued.
        create(
            &store,
            tenant(false),
            conversation.sid.clone(),
            NewParticipant {
                identity: Some("bob".into()),
                ..NewParticipant::default()
            },
        )
        .await
        .unwrap();

        let queued: Vec<(String, String)> = store
            .sqlite_read(|conn| {
                let mut stmt =
                    conn.prepare("SELECT event_type, params FROM webhook_outbox ORDER BY id")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
            .unwrap();
        let events: Vec<&str> = queued.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            events,
            [
                "onConversationAdded",
                "onParticipantAdded",
                "onParticipantAdded",
                "onParticipantUpdated",
                "onParticipantRemoved"
            ]
        );
        let params =
            |i: usize| -> Vec<(String, String)> { serde_json::from_str(&queued[i].1).unwrap() };
        let get = |i: usize, key: &str| {
            params(i)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        };
        assert_eq!(
            get(0, "ConversationSid").as_deref(),
            Some(conversation.sid.as_str())
        );
        assert_eq!(get(0, "State").as_deref(), Some("active"));
        assert_eq!(get(1, "Identity").as_deref(), Some("alice"));
        assert_eq!(get(1, "MessagingBinding.Type").as_deref(), Some("CHAT"));
        assert!(get(1, "RoleSid").is_some_and(|r| r.starts_with("RL")));
        assert_eq!(get(2, "MessagingBinding.Type").as_deref(), Some("SMS"));
        assert_eq!(
            get(2, "MessagingBinding.Address").as_deref(),
            Some("+15550001")
        );
        assert_eq!(
            get(2, "MessagingBinding.ProxyAddress").as_deref(),
            Some("+15559999")
        );
        assert_eq!(get(2, "Identity"), None, "null parameters are left out");
        assert_eq!(get(3, "LastReadMessageIndex").as_deref(), Some("4"));
        assert!(get(4, "DateRemoved").is_some());
        assert!(get(4, "ParticipantSid").is_some_and(|s| s.starts_with("MB")));
        for (i, event) in events.iter().enumerate() {
            assert_eq!(get(i, "EventType").as_deref(), Some(*event));
            assert_eq!(get(i, "Source").as_deref(), Some("API"));
        }
    }
}
