//! Users (US...): the chat identities of a service, and their User Conversations (the
//! conversations in which the identity is a participant, seen from the user's side).

use rusqlite::{Connection, Row, params};

use super::Store;
use super::conversations::ConversationRow;
use super::services::{self, ServiceKey, Tenant};
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{Keyset, optional};
use crate::domain::events::{self, Site};
use crate::domain::webhook_params::Params;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};
use crate::wire::time::format_date;

/// The user with this identity in the service, created with the service's default role
/// (`default_chat_service_role_sid`) if there is none: a chat participant always has a User
/// (twilio-behavior.md 10.1). A created user is reported with `onUserAdded`. Returns the user's SID.
pub fn find_or_create_for_identity(
    ctx: &mut WriteCtx,
    tenant: &Tenant,
    service_id: i64,
    identity: &str,
) -> Result<String> {
    let existing: Option<String> = optional(
        ctx.tx,
        "SELECT sid FROM users WHERE service_id = ?1 AND identity = ?2",
        &[&service_id, &identity],
        |r| r.get(0),
    )?;
    if let Some(sid) = existing {
        return Ok(sid);
    }
    let role_sid = default_role(ctx.tx, service_id)?;
    let sid = new_sid(Prefix::User);
    ctx.tx.execute(
        "INSERT INTO users (sid, service_id, identity, attributes, role_sid, date_created, date_updated)
         VALUES (?1, ?2, ?3, '{}', ?4, ?5, ?5)",
        params![sid, service_id, identity, role_sid, ctx.now],
    )?;
    let user = resolve(ctx.tx, tenant, service_id, &sid)?;
    let service = ServiceKey {
        id: service_id,
        sid: user.service_sid.clone(),
    };
    events::post_action(
        ctx,
        tenant,
        site(&service),
        EventType::UserAdded,
        event_params(&user),
    )?;
    Ok(sid)
}

/// The service configuration's `default_chat_service_role_sid` (twilio-behavior.md 7.3).
fn default_role(conn: &Connection, service_id: i64) -> Result<Option<String>> {
    Ok(optional(
        conn,
        "SELECT default_chat_service_role_sid FROM service_configurations WHERE service_id = ?1",
        &[&service_id],
        |r| r.get(0),
    )?
    .flatten())
}

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

const SELECT: &str =
    "SELECT u.id, u.sid, s.account_sid, u.service_id, s.sid, u.identity, u.friendly_name,
    u.attributes, u.role_sid, u.date_created, u.date_updated
    FROM users u JOIN services s ON s.id = u.service_id";

fn map_row(row: &Row) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_id: row.get(3)?,
        service_sid: row.get(4)?,
        identity: row.get(5)?,
        friendly_name: row.get(6)?,
        attributes: row.get(7)?,
        role_sid: row.get(8)?,
        date_created: row.get(9)?,
        date_updated: row.get(10)?,
    })
}

/// Finds a user of the service by SID or, failing the SID pattern, by identity (exact and
/// case-sensitive; twilio-behavior.md 3), or answers 404 for the request path. Identities never
/// look like a SID (`IdentityLooksLikeSid`), so the two cannot be confused.
pub fn resolve(
    conn: &Connection,
    tenant: &Tenant,
    service_id: i64,
    sid_or_identity: &str,
) -> Result<UserRow> {
    let column = if is_sid(Prefix::User, sid_or_identity) {
        "u.sid"
    } else {
        "u.identity"
    };
    optional(
        conn,
        &format!("{SELECT} WHERE u.service_id = ?1 AND {column} = ?2"),
        &[&service_id, &sid_or_identity],
        map_row,
    )?
    .ok_or_else(Error::not_found)
}

/// `is_online` and `is_notifiable`, which the spec returns only on single-resource answers
/// (`null` in lists), and only while the service's `reachability_enabled` is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reachability {
    pub is_online: Option<bool>,
    pub is_notifiable: Option<bool>,
}

/// The user's reachability, as the spec's field descriptions define it: both `null` while the
/// service's `reachability_enabled` is off. When it is on, `is_online` stays `null` ("null ...
/// if the User has never been online for this Conversations Service, even if ...
/// reachability_enabled is true"): confab has no client connections, so no user has ever been
/// online. `is_notifiable` is `true` when the identity has a push registration (an APN, GCM or
/// FCM binding) in the service, and otherwise `null` ("null ... if the User has never had a
/// notification registration"; confab keeps no history of removed registrations).
fn reachability(conn: &Connection, user: &UserRow) -> Result<Reachability> {
    let enabled: bool = optional(
        conn,
        "SELECT reachability_enabled FROM service_configurations WHERE service_id = ?1",
        &[&user.service_id],
        |r| r.get::<_, i64>(0),
    )?
    .is_some_and(|on| on != 0);
    if !enabled {
        return Ok(Reachability::default());
    }
    let registered = optional(
        conn,
        "SELECT 1 FROM bindings WHERE service_id = ?1 AND identity = ?2
           AND binding_type IN ('apn', 'gcm', 'fcm') LIMIT 1",
        &[&user.service_id, &user.identity],
        |_| Ok(()),
    )?
    .is_some();
    Ok(Reachability {
        is_online: None,
        is_notifiable: registered.then_some(true),
    })
}

/// A validated CreateUser.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
}

/// A validated UpdateUser: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
}

/// A user's `RoleSid` must be a service-type role of its own service: 400 with `RoleNotFound`
/// (twilio-behavior.md 11 and 21) otherwise, whether the SID names nothing, a role of
/// another service, or a conversation role.
fn check_role(conn: &Connection, service_id: i64, role_sid: &str) -> Result<()> {
    match super::sqlite::roles::find(conn, service_id, role_sid)? {
        Some(role) if role.role_type == "service" => Ok(()),
        Some(_) => Err(Error::with(
            Code::RoleNotFound,
            format!("{role_sid} is not a service role"),
        )),
        None => Err(Error::with(Code::RoleNotFound, role_sid)),
    }
}

/// The parameters every user event carries (twilio-behavior.md 17.4).
fn event_params(user: &UserRow) -> Params {
    vec![
        ("ChatServiceSid", Some(user.service_sid.clone())),
        ("UserSid", Some(user.sid.clone())),
        ("Identity", Some(user.identity.clone())),
        ("FriendlyName", user.friendly_name.clone()),
        ("RoleSid", user.role_sid.clone()),
        ("Attributes", Some(user.attributes.clone())),
        ("DateCreated", Some(format_date(user.date_created))),
    ]
}

fn site(service: &ServiceKey) -> Site<'_> {
    Site {
        service_id: service.id,
        service_sid: &service.sid,
        conversation: None,
    }
}

/// CreateUser. An identity is unique in its service (409 / `UserExists`, as observed on Twilio).
pub async fn create(
    store: &Store,
    tenant: Tenant,
    new: NewUser,
) -> Result<(UserRow, Reachability)> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            if optional(
                ctx.tx,
                "SELECT 1 FROM users WHERE service_id = ?1 AND identity = ?2",
                &[&service.id, &new.identity],
                |_| Ok(()),
            )?
            .is_some()
            {
                return Err(Error::with(Code::UserExists, &new.identity));
            }
            let role_sid = match new.role_sid {
                Some(sid) => {
                    check_role(ctx.tx, service.id, &sid)?;
                    Some(sid)
                }
                None => default_role(ctx.tx, service.id)?,
            };
            let sid = new_sid(Prefix::User);
            ctx.tx.execute(
                "INSERT INTO users (sid, service_id, identity, friendly_name, attributes, role_sid, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    sid,
                    service.id,
                    new.identity,
                    new.friendly_name,
                    new.attributes.unwrap_or_else(|| "{}".into()),
                    role_sid,
                    ctx.now,
                ],
            )?;
            let user = resolve(ctx.tx, &tenant, service.id, &sid)?;
            let event = EventType::UserAdded;
            events::post_action(ctx, &tenant, site(&service), event, event_params(&user))?;
            let reach = reachability(ctx.tx, &user)?;
            Ok((user, reach))
        })
        .await
}

/// FetchUser, by SID or identity.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    sid_or_identity: String,
) -> Result<(UserRow, Reachability)> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let user = resolve(conn, &tenant, service.id, &sid_or_identity)?;
            let reach = reachability(conn, &user)?;
            Ok((user, reach))
        })
        .await
}

/// ListUser, in creation order.
pub async fn list(store: &Store, tenant: Tenant, req: PageRequest) -> Result<Page<UserRow>> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let keyset = Keyset {
                select: &format!("{SELECT} WHERE u.service_id = ?1"),
                keys: &["u.id"],
                descending: false,
            };
            keyset.page(conn, &[&service.id], &req, map_row, |r| vec![r.id])
        })
        .await
}

/// UpdateUser, by SID or identity. The identity itself cannot change.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid_or_identity: String,
    change: UserUpdate,
) -> Result<(UserRow, Reachability)> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let current = resolve(ctx.tx, &tenant, service.id, &sid_or_identity)?;
            let planned = planned_update(ctx.tx, current, change, ctx.now)?;
            ctx.tx.execute(
                "UPDATE users SET friendly_name = ?1, attributes = ?2, role_sid = ?3, date_updated = ?4
                 WHERE id = ?5",
                params![
                    planned.friendly_name,
                    planned.attributes,
                    planned.role_sid,
                    planned.date_updated,
                    planned.id,
                ],
            )?;
            let user = resolve(ctx.tx, &tenant, service.id, &planned.sid)?;
            let reach = reachability(ctx.tx, &user)?;
            let mut event = updated_event_params(&user);
            event.extend([
                ("IsOnline", reach.is_online.map(|b| b.to_string())),
                ("IsNotifiable", reach.is_notifiable.map(|b| b.to_string())),
            ]);
            events::post_action(ctx, &tenant, site(&service), EventType::UserUpdated, event)?;
            Ok((user, reach))
        })
        .await
}

/// The user as an update would leave it, or why not: a new role must be a service role of its
/// service (`RoleNotFound`).
fn planned_update(
    conn: &Connection,
    current: UserRow,
    change: UserUpdate,
    now: i64,
) -> Result<UserRow> {
    if let Some(role_sid) = &change.role_sid {
        check_role(conn, current.service_id, role_sid)?;
    }
    Ok(UserRow {
        friendly_name: change.friendly_name.or(current.friendly_name),
        attributes: change.attributes.unwrap_or(current.attributes),
        role_sid: change.role_sid.or(current.role_sid),
        date_updated: now,
        ..current
    })
}

/// The parameters of `onUserUpdate` and (with the reachability) `onUserUpdated`.
fn updated_event_params(user: &UserRow) -> Params {
    let mut params = event_params(user);
    params.push(("DateUpdated", Some(format_date(user.date_updated))));
    params
}

/// The parameters of `onUserUpdate` (twilio-behavior.md 17.4): the user as the update would leave it
/// (refused here first when the write would refuse it).
pub async fn update_event_params(
    store: &Store,
    tenant: Tenant,
    sid_or_identity: String,
    change: UserUpdate,
) -> Result<Params> {
    let now = store.clock.now_secs();
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let current = resolve(conn, &tenant, service.id, &sid_or_identity)?;
            Ok(updated_event_params(&planned_update(
                conn, current, change, now,
            )?))
        })
        .await
}

/// DeleteUser, by SID or identity. The user leaves every conversation of the service: its chat
/// participants are removed with it (twilio-behavior.md 11, inferred from Chat, where deleting a User
/// removes its Members; their messages stay, as when a participant is removed). Twilio has no
/// "user removed" event, and the removals are not reported as participant events either.
pub async fn delete(store: &Store, tenant: Tenant, sid_or_identity: String) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let user = resolve(ctx.tx, &tenant, service.id, &sid_or_identity)?;
            ctx.tx.execute(
                "DELETE FROM participants WHERE service_id = ?1 AND identity = ?2",
                params![service.id, user.identity],
            )?;
            ctx.tx
                .execute("DELETE FROM users WHERE id = ?1", params![user.id])?;
            Ok(())
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// User Conversations: `/Users/{UserSid}/Conversations[/{ConversationSid}]`.

/// `unread_messages_count` counts at most this many messages (twilio-behavior.md 6 and 12).
pub const UNREAD_CAP: i64 = 1000;

/// One conversation of a user: the conversation, and the user's participant in it.
#[derive(Debug, Clone)]
pub struct UserConversationRow {
    pub user_sid: String,
    pub participant_sid: String,
    pub notification_level: String,
    pub last_read_message_index: Option<i64>,
    pub unread_messages_count: Option<i64>,
    pub conversation: ConversationRow,
}

/// The participant columns a User Conversation shows.
struct Membership {
    id: i64,
    sid: String,
    conversation_id: i64,
    last_read_message_index: Option<i64>,
    notification_level: String,
}

const MEMBERSHIP: &str =
    "SELECT p.id, p.sid, p.conversation_id, p.last_read_message_index, p.notification_level
    FROM participants p";

fn map_membership(row: &Row) -> rusqlite::Result<Membership> {
    Ok(Membership {
        id: row.get(0)?,
        sid: row.get(1)?,
        conversation_id: row.get(2)?,
        last_read_message_index: row.get(3)?,
        notification_level: row.get(4)?,
    })
}

/// The number of messages after the read horizon, capped at [`UNREAD_CAP`] (so the count reads
/// at most that many index entries); `None` while the horizon was never set (twilio-behavior.md 12:
/// null rather than the total, the documented example's reading).
pub fn unread_count(
    conn: &Connection,
    conversation_id: i64,
    last_read_message_index: Option<i64>,
) -> Result<Option<i64>> {
    let Some(last_read) = last_read_message_index else {
        return Ok(None);
    };
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE conversation_id = ?1 AND idx > ?2 LIMIT ?3)",
        )?
        .query_row(params![conversation_id, last_read, UNREAD_CAP], |r| r.get(0))?;
    Ok(Some(count))
}

fn conversation_by_id(conn: &Connection, id: i64) -> Result<ConversationRow> {
    optional(
        conn,
        &format!("{} WHERE c.id = ?1", super::sqlite::conversations::SELECT),
        &[&id],
        super::sqlite::conversations::map_row,
    )?
    .ok_or_else(|| Error::internal(format!("participant of missing conversation {id}")))
}

fn assemble(
    conn: &Connection,
    user: &UserRow,
    membership: Membership,
) -> Result<UserConversationRow> {
    let conversation = conversation_by_id(conn, membership.conversation_id)?;
    let unread = unread_count(
        conn,
        membership.conversation_id,
        membership.last_read_message_index,
    )?;
    Ok(UserConversationRow {
        user_sid: user.sid.clone(),
        participant_sid: membership.sid,
        notification_level: membership.notification_level,
        last_read_message_index: membership.last_read_message_index,
        unread_messages_count: unread,
        conversation,
    })
}

/// The user's participant in one conversation (by CH SID or unique name), or 404 for the path:
/// a conversation the user is not in is not one of the user's conversations.
fn resolve_membership(
    conn: &Connection,
    tenant: &Tenant,
    user_ref: &str,
    conversation_ref: &str,
) -> Result<(UserRow, Membership)> {
    let service = services::resolve(conn, tenant)?;
    let user = resolve(conn, tenant, service.id, user_ref)?;
    let conversation =
        super::sqlite::conversations::resolve_in_tenant(conn, tenant, conversation_ref)?;
    let membership = optional(
        conn,
        &format!("{MEMBERSHIP} WHERE p.conversation_id = ?1 AND p.identity = ?2"),
        &[&conversation.id, &user.identity],
        map_membership,
    )?
    .ok_or_else(Error::not_found)?;
    Ok((user, membership))
}

/// ListUserConversation: every conversation of the service in which the user's identity is a
/// participant, in the order the conversations were created.
pub async fn list_conversations(
    store: &Store,
    tenant: Tenant,
    user_ref: String,
    req: PageRequest,
) -> Result<(UserRow, Page<UserConversationRow>)> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let user = resolve(conn, &tenant, service.id, &user_ref)?;
            // (conversation_id, identity) is unique, so the conversation orders the user's
            // participants, along the participants_by_identity index.
            let keyset = Keyset {
                select: &format!("{MEMBERSHIP} WHERE p.service_id = ?1 AND p.identity = ?2"),
                keys: &["p.conversation_id"],
                descending: false,
            };
            let page = keyset.page(
                conn,
                &[&service.id, &user.identity],
                &req,
                map_membership,
                |m| vec![m.conversation_id],
            )?;
            let mut rows = Vec::with_capacity(page.rows.len());
            let Page {
                rows: memberships,
                first_key,
                last_key,
                has_next,
                has_previous,
            } = page;
            for membership in memberships {
                rows.push(assemble(conn, &user, membership)?);
            }
            let page = Page {
                rows,
                first_key,
                last_key,
                has_next,
                has_previous,
            };
            Ok((user, page))
        })
        .await
}

/// FetchUserConversation.
pub async fn fetch_conversation(
    store: &Store,
    tenant: Tenant,
    user_ref: String,
    conversation_ref: String,
) -> Result<UserConversationRow> {
    store
        .sqlite_read(move |conn| {
            let (user, membership) =
                resolve_membership(conn, &tenant, &user_ref, &conversation_ref)?;
            assemble(conn, &user, membership)
        })
        .await
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

/// UpdateUserConversation: the notification level and the same read horizon as the
/// participant resource (twilio-behavior.md 12), written on the user's participant.
pub async fn update_conversation(
    store: &Store,
    tenant: Tenant,
    user_ref: String,
    conversation_ref: String,
    change: UserConversationUpdate,
) -> Result<UserConversationRow> {
    store
        .sqlite_write(move |ctx| {
            let (user, membership) =
                resolve_membership(ctx.tx, &tenant, &user_ref, &conversation_ref)?;
            let (set_index, index) = match change.last_read_message_index {
                Some(index) => (true, index),
                None => (false, None),
            };
            let (set_timestamp, timestamp) = match change.last_read_timestamp {
                Some(timestamp) => (true, timestamp),
                None => (false, None),
            };
            ctx.tx.execute(
                "UPDATE participants SET
                     notification_level = COALESCE(?1, notification_level),
                     last_read_message_index = CASE WHEN ?2 THEN ?3 ELSE last_read_message_index END,
                     last_read_timestamp = CASE WHEN ?4 THEN ?5 ELSE last_read_timestamp END,
                     date_updated = ?6
                 WHERE id = ?7",
                params![
                    change.notification_level,
                    set_index,
                    index,
                    set_timestamp,
                    timestamp,
                    ctx.now,
                    membership.id,
                ],
            )?;
            let membership = optional(
                ctx.tx,
                &format!("{MEMBERSHIP} WHERE p.id = ?1"),
                &[&membership.id],
                map_membership,
            )?
            .ok_or_else(Error::not_found)?;
            assemble(ctx.tx, &user, membership)
        })
        .await
}

/// DeleteUserConversation: the user leaves the conversation (its participant is removed, the
/// same as DeleteParticipant; its messages stay).
pub async fn delete_conversation(
    store: &Store,
    tenant: Tenant,
    user_ref: String,
    conversation_ref: String,
) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let (_, membership) =
                resolve_membership(ctx.tx, &tenant, &user_ref, &conversation_ref)?;
            ctx.tx.execute(
                "DELETE FROM participants WHERE id = ?1",
                params![membership.id],
            )?;
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    //! What the HTTP tests cannot reach on their own: the unread count against many messages
    //! (the cap), reachability with a push binding, and the events queued in the outbox.

    use super::*;
    use crate::clock::Clock;
    use crate::store::Location;
    use crate::store::services::ServiceRef;

    struct Fixture {
        store: Store,
        tenant: Tenant,
    }

    async fn fixture(webhooks: bool) -> Fixture {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = crate::domain::accounts::create(&store, "unit".into())
            .await
            .unwrap();
        Fixture {
            store,
            tenant: Tenant {
                account_sid: account.account_sid,
                service: ServiceRef::Default,
                webhooks,
            },
        }
    }

    fn new_user(identity: &str) -> NewUser {
        NewUser {
            identity: identity.into(),
            ..NewUser::default()
        }
    }

    /// A conversation with `messages` messages (indexes 0..messages) and `identity` in it.
    async fn conversation_with(fx: &Fixture, identity: &'static str, messages: i64) -> String {
        let tenant = fx.tenant.clone();
        fx.store
            .sqlite_write(move |ctx| {
                let conv = crate::domain::conversations::add(ctx, &tenant, Default::default())?;
                let user_sid = find_or_create_for_identity(ctx, &tenant, conv.service_id, identity)?;
                ctx.tx.execute(
                    "INSERT INTO participants (sid, conversation_id, service_id, identity, user_sid, attributes,
                         date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, '{}', ?6, ?6)",
                    params![new_sid(Prefix::Participant), conv.id, conv.service_id, identity, user_sid, ctx.now],
                )?;
                for idx in 0..messages {
                    ctx.tx.execute(
                        "INSERT INTO messages (sid, conversation_id, idx, attributes, date_created, date_updated)
                         VALUES (?1, ?2, ?3, '{}', ?4, ?4)",
                        params![new_sid(Prefix::Message), conv.id, idx, ctx.now],
                    )?;
                }
                Ok(conv.sid)
            })
            .await
            .unwrap()
    }

    async fn read_up_to(fx: &Fixture, conv: &str, index: Option<i64>) -> Option<i64> {
        let change = UserConversationUpdate {
            last_read_message_index: Some(index),
            ..Default::default()
        };
        update_conversation(
            &fx.store,
            fx.tenant.clone(),
            "alice".into(),
            conv.into(),
            change,
        )
        .await
        .unwrap()
        .unread_messages_count
    }

    #[tokio::test]
    async fn unread_count_follows_the_read_horizon_and_stops_at_the_cap() {
        let fx = fixture(false).await;
        let conv = conversation_with(&fx, "alice", UNREAD_CAP + 5).await;
        let fetched =
            fetch_conversation(&fx.store, fx.tenant.clone(), "alice".into(), conv.clone())
                .await
                .unwrap();
        assert_eq!(fetched.unread_messages_count, None, "horizon never set");
        assert_eq!(read_up_to(&fx, &conv, Some(0)).await, Some(UNREAD_CAP));
        assert_eq!(read_up_to(&fx, &conv, Some(5)).await, Some(UNREAD_CAP - 1));
        assert_eq!(read_up_to(&fx, &conv, Some(UNREAD_CAP)).await, Some(4));
        assert_eq!(read_up_to(&fx, &conv, Some(UNREAD_CAP + 4)).await, Some(0));
        assert_eq!(read_up_to(&fx, &conv, Some(UNREAD_CAP + 50)).await, Some(0));
        assert_eq!(read_up_to(&fx, &conv, None).await, None, "horizon cleared");
    }

    #[tokio::test]
    async fn reachability_shows_only_when_enabled_and_notifiable_needs_a_push_binding() {
        let fx = fixture(false).await;
        let (_, reach) = create(&fx.store, fx.tenant.clone(), new_user("alice"))
            .await
            .unwrap();
        assert_eq!(reach, Reachability::default(), "off by default: both null");
        let tenant = fx.tenant.clone();
        fx.store
            .sqlite_write(move |ctx| {
                let service = services::resolve(ctx.tx, &tenant)?;
                ctx.tx.execute(
                    "UPDATE service_configurations SET reachability_enabled = 1 WHERE service_id = ?1",
                    params![service.id],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let fetch_reach = || async {
            fetch(&fx.store, fx.tenant.clone(), "alice".into())
                .await
                .unwrap()
                .1
        };
        assert_eq!(fetch_reach().await, Reachability::default());
        let tenant = fx.tenant.clone();
        fx.store
            .sqlite_write(move |ctx| {
                let service = services::resolve(ctx.tx, &tenant)?;
                ctx.tx.execute(
                    "INSERT INTO bindings (sid, service_id, endpoint, identity, binding_type, message_types,
                         date_created, date_updated) VALUES (?1, ?2, 'e', 'alice', 'fcm', '[]', ?3, ?3)",
                    params![new_sid(Prefix::Binding), service.id, ctx.now],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            fetch_reach().await,
            Reachability {
                is_online: None,
                is_notifiable: Some(true)
            }
        );
    }

    async fn outbox(fx: &Fixture) -> Vec<(String, Vec<(String, String)>)> {
        fx.store
            .sqlite_read(|conn| {
                let mut stmt =
                    conn.prepare("SELECT event_type, params FROM webhook_outbox ORDER BY id")?;
                let rows = stmt.query_map([], |r| {
                    let params: String = r.get(1)?;
                    Ok((r.get(0)?, serde_json::from_str(&params).unwrap()))
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
            .unwrap()
    }

    fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn user_events_are_queued_with_their_parameters_only_when_asked() {
        let quiet = fixture(false).await;
        let loud = fixture(true).await;
        for fx in [&quiet, &loud] {
            let tenant = fx.tenant.clone();
            fx.store
                .sqlite_write(move |ctx| {
                    let service = services::resolve(ctx.tx, &tenant)?;
                    ctx.tx.execute(
                        "UPDATE service_webhooks SET post_webhook_url = 'http://hook.test/post',
                             filters = '[\"onUserAdded\",\"onUserUpdated\"]' WHERE service_id = ?1",
                        params![service.id],
                    )?;
                    Ok(())
                })
                .await
                .unwrap();
            let (user, _) = create(&fx.store, fx.tenant.clone(), new_user("alice"))
                .await
                .unwrap();
            let change = UserUpdate {
                friendly_name: Some("Alice".into()),
                ..Default::default()
            };
            update(&fx.store, fx.tenant.clone(), user.sid.clone(), change)
                .await
                .unwrap();
        }
        assert!(outbox(&quiet).await.is_empty(), "no header, no events");

        let events = outbox(&loud).await;
        let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(names, ["onUserAdded", "onUserUpdated"]);
        let (_, added) = &events[0];
        for name in [
            "AccountSid",
            "EventType",
            "Source",
            "ChatServiceSid",
            "UserSid",
            "Identity",
            "RoleSid",
            "Attributes",
            "DateCreated",
        ] {
            assert!(param(added, name).is_some(), "onUserAdded lacks {name}");
        }
        assert_eq!(param(added, "Identity"), Some("alice"));
        assert_eq!(
            param(added, "FriendlyName"),
            None,
            "null values are omitted"
        );
        let (_, updated) = &events[1];
        assert_eq!(param(updated, "FriendlyName"), Some("Alice"));
        assert!(param(updated, "DateUpdated").is_some());
        assert_eq!(param(updated, "IsOnline"), None, "reachability is off");
    }
}
