//! Users (US...): the chat identities of a service, what creating, changing and deleting one
//! means, and their User Conversations (the conversations in which the identity is a
//! participant, seen from the user's side).

use std::sync::Arc;

use super::events::{self, Site};
use super::webhook_params::{self, Params};
use super::{conversations, roles, service_configuration, services};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::store::conversations::ConversationRow;
use crate::store::services::ServiceKey;
use crate::store::users::{MembershipRow, UserConversationUpdate, UserRow};
use crate::store::{Store, Tenant, Tx};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

/// `unread_messages_count` counts at most this many messages (twilio-behavior.md 6 and 12).
pub const UNREAD_CAP: i64 = 1000;

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

/// `is_online` and `is_notifiable`, which the spec returns only on single-resource answers
/// (`null` in lists), and only while the service's `reachability_enabled` is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reachability {
    pub is_online: Option<bool>,
    pub is_notifiable: Option<bool>,
}

/// One conversation of a user: the conversation, and the user's participant in it.
#[derive(Debug, Clone)]
pub struct UserConversationRow {
    pub user_sid: String,
    pub participant_sid: String,
    pub notification_level: String,
    pub last_read_message_index: Option<i64>,
    pub unread_messages_count: Option<i64>,
    pub conversation: Arc<ConversationRow>,
}

/// Finds a user of the service by SID or, failing the SID pattern, by identity (exact and
/// case-sensitive; twilio-behavior.md 3). Identities never look like a SID
/// (`IdentityLooksLikeSid`), so the two cannot be confused.
pub fn find(tx: &dyn Tx, service_id: i64, sid_or_identity: &str) -> Result<Option<UserRow>> {
    if is_sid(Prefix::User, sid_or_identity) {
        tx.user_by_sid(service_id, sid_or_identity)
    } else {
        tx.user_by_identity(service_id, sid_or_identity)
    }
}

/// A user of the service named by the request path, or 404.
fn find_in_path(tx: &dyn Tx, service_id: i64, sid_or_identity: &str) -> Result<UserRow> {
    find(tx, service_id, sid_or_identity)?.ok_or_else(Error::not_found)
}

/// The role a new user of the service gets: its configuration's `default_chat_service_role_sid`,
/// if it names one.
fn default_role(tx: &dyn Tx, service_id: i64) -> Result<Option<String>> {
    Ok(service_configuration::configuration(tx, service_id)?.default_chat_service_role_sid)
}

/// The user's reachability, as the spec's field descriptions define it: both `null` while the
/// service's `reachability_enabled` is off. When it is on, `is_online` stays `null` ("null ...
/// if the User has never been online for this Conversations Service, even if ...
/// reachability_enabled is true"): confab has no client connections, so no user has ever been
/// online. `is_notifiable` is `true` when the identity has a push registration (an APN, GCM or
/// FCM binding) in the service, and otherwise `null` ("null ... if the User has never had a
/// notification registration"; confab keeps no history of removed registrations).
fn reachability(tx: &dyn Tx, user: &UserRow) -> Result<Reachability> {
    if !service_configuration::configuration(tx, user.service_id)?.reachability_enabled {
        return Ok(Reachability::default());
    }
    let registered = tx.has_push_registration(user.service_id, &user.identity)?;
    Ok(Reachability {
        is_online: None,
        is_notifiable: registered.then_some(true),
    })
}

/// A user's `RoleSid` must be a service-type role of its own service: 400 with `RoleNotFound`
/// (twilio-behavior.md 11 and 21) otherwise, whether the SID names nothing, a role of
/// another service, or a conversation role.
fn check_role(tx: &dyn Tx, service_id: i64, role_sid: &str) -> Result<()> {
    roles::require_of_type(tx, service_id, role_sid, "service", Code::RoleNotFound).map(|_| ())
}

/// Where a user's events happen: its service, outside any conversation.
fn site(service: &ServiceKey) -> Site<'_> {
    Site {
        service_id: service.id,
        service_sid: &service.sid,
        conversation: None,
    }
}

/// The identity is taken in the service (409 / `UserExists`, as observed on Twilio).
fn identity_taken(e: Error, identity: &str) -> Error {
    e.on_conflict(|| Error::with(Code::UserExists, identity))
}

/// Inserts `new` into the service with `role_sid`, and reports it with `onUserAdded`.
fn add(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    service: &ServiceKey,
    new: NewUser,
    role_sid: Option<String>,
) -> Result<UserRow> {
    let now = tx.now();
    let mut row = UserRow {
        id: 0,
        sid: new_sid(Prefix::User),
        account_sid: tenant.account_sid.clone(),
        service_id: service.id,
        service_sid: service.sid.clone(),
        identity: new.identity,
        friendly_name: new.friendly_name,
        attributes: new.attributes.unwrap_or_else(|| "{}".into()),
        role_sid,
        date_created: now,
        date_updated: now,
    };
    row.id = tx
        .insert_user(&row)
        .map_err(|e| identity_taken(e, &row.identity))?;
    let params = webhook_params::user(&row);
    events::post_action(tx, tenant, site(service), EventType::UserAdded, params)?;
    Ok(row)
}

/// The user with this identity in the service, created with the service's default role
/// (`default_chat_service_role_sid`) if there is none: a chat participant always has a User
/// (twilio-behavior.md 10.1). A created user is reported with `onUserAdded`. The user is held
/// for the rest of the job, so that what is counted of the identity's conversations stays true
/// until the job ends, whichever node runs another. Returns the user's SID.
pub fn find_or_create_for_identity(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    service_id: i64,
    identity: &str,
) -> Result<String> {
    if let Some(user) = tx.lock_user_by_identity(service_id, identity)? {
        return Ok(user.sid);
    }
    let service = tx
        .service(service_id)?
        .ok_or_else(|| Error::internal(format!("a user for missing service {service_id}")))?;
    let service = ServiceKey {
        id: service.id,
        sid: service.sid,
    };
    let role_sid = default_role(tx, service_id)?;
    let now = tx.now();
    let mut row = UserRow {
        id: 0,
        sid: new_sid(Prefix::User),
        account_sid: tenant.account_sid.clone(),
        service_id: service.id,
        service_sid: service.sid.clone(),
        identity: identity.to_string(),
        friendly_name: None,
        attributes: "{}".into(),
        role_sid,
        date_created: now,
        date_updated: now,
    };
    match tx.insert_user_if_absent(&row)? {
        Some(id) => {
            row.id = id;
            let params = webhook_params::user(&row);
            events::post_action(tx, tenant, site(&service), EventType::UserAdded, params)?;
        }
        // Another job added the identity meanwhile: its user is the one.
        None => {
            row = tx
                .lock_user_by_identity(service_id, identity)?
                .ok_or_else(|| Error::internal("a user was added and is gone"))?;
        }
    }
    Ok(row.sid)
}

/// CreateUser. An identity is unique in its service (409 / `UserExists`, as observed on
/// Twilio); without a `RoleSid` the user gets the service's default role.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    new: NewUser,
) -> Result<(UserRow, Reachability)> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let role_sid = match &new.role_sid {
                Some(sid) => Some(sid.clone()),
                None => default_role(tx, service.id)?,
            };
            let given_role = new.role_sid.clone();
            let user = add(tx, &tenant, &service, new, role_sid)?;
            // Checked once the identity is known to be free, so that a taken identity is
            // `UserExists` whatever the role; a refused role fails the job, and so undoes the
            // insert and its event.
            if let Some(sid) = &given_role {
                check_role(tx, service.id, sid)?;
            }
            let reach = reachability(tx, &user)?;
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
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            let user = find_in_path(tx, service.id, &sid_or_identity)?;
            let reach = reachability(tx, &user)?;
            Ok((user, reach))
        })
        .await
}

/// ListUser, in creation order.
pub async fn list(store: &Store, tenant: Tenant, req: PageRequest) -> Result<Page<UserRow>> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            tx.list_users(service.id, &req)
        })
        .await
}

/// The user as an update would leave it at `now`, or why not: a new role must be a service
/// role of its service (`RoleNotFound`).
fn planned_update(tx: &dyn Tx, current: UserRow, change: UserUpdate, now: i64) -> Result<UserRow> {
    if let Some(role_sid) = &change.role_sid {
        check_role(tx, current.service_id, role_sid)?;
    }
    Ok(UserRow {
        friendly_name: change.friendly_name.or(current.friendly_name),
        attributes: change.attributes.unwrap_or(current.attributes),
        role_sid: change.role_sid.or(current.role_sid),
        date_updated: now,
        ..current
    })
}

/// UpdateUser, by SID or identity. The identity itself cannot change.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid_or_identity: String,
    change: UserUpdate,
) -> Result<(UserRow, Reachability)> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let current = find_in_path(tx, service.id, &sid_or_identity)?;
            let now = tx.now();
            let user = planned_update(tx, current, change, now)?;
            tx.update_user(&user)?;
            let reach = reachability(tx, &user)?;
            let params = webhook_params::user_updated(&user, reach);
            events::post_action(tx, &tenant, site(&service), EventType::UserUpdated, params)?;
            Ok((user, reach))
        })
        .await
}

/// The parameters of `onUserUpdate` (twilio-behavior.md 17.4): the user as the update would
/// leave it (refused here first when the write would refuse it).
pub async fn update_event_params(
    store: &Store,
    tenant: Tenant,
    sid_or_identity: String,
    change: UserUpdate,
) -> Result<Params> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            let current = find_in_path(tx, service.id, &sid_or_identity)?;
            let planned = planned_update(tx, current, change, tx.now())?;
            Ok(webhook_params::user_update(&planned))
        })
        .await
}

/// DeleteUser, by SID or identity. The user leaves every conversation of the service: its chat
/// participants are removed with it (twilio-behavior.md 11, inferred from Chat, where deleting a
/// User removes its Members; their messages stay, as when a participant is removed). Twilio has
/// no "user removed" event, and the removals are not reported as participant events either.
pub async fn delete(store: &Store, tenant: Tenant, sid_or_identity: String) -> Result<()> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let user = find_in_path(tx, service.id, &sid_or_identity)?;
            tx.remove_identity_participants(service.id, &user.identity)?;
            tx.delete_user(user.id)
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// User Conversations: `/Users/{UserSid}/Conversations[/{ConversationSid}]`.

/// The number of messages after the read horizon, capped at [`UNREAD_CAP`]; `None` while the
/// horizon was never set (twilio-behavior.md 12: null rather than the total, the documented
/// example's reading).
fn unread_count(tx: &dyn Tx, membership: &MembershipRow) -> Result<Option<i64>> {
    let Some(last_read) = membership.last_read_message_index else {
        return Ok(None);
    };
    let count = tx.count_unread(membership.conversation_id, last_read, UNREAD_CAP)?;
    Ok(Some(count))
}

/// The User Conversation that `membership`, the user's participant in `conversation`, makes.
fn assemble(
    tx: &dyn Tx,
    user: &UserRow,
    membership: MembershipRow,
    conversation: Arc<ConversationRow>,
) -> Result<UserConversationRow> {
    let unread = unread_count(tx, &membership)?;
    Ok(UserConversationRow {
        user_sid: user.sid.clone(),
        participant_sid: membership.sid,
        notification_level: membership.notification_level,
        last_read_message_index: membership.last_read_message_index,
        unread_messages_count: unread,
        conversation,
    })
}

/// The user, one conversation (by CH SID or unique name) and the user's participant in it, or
/// 404 for the path: a conversation the user is not in is not one of the user's conversations.
fn membership_in_path(
    tx: &dyn Tx,
    tenant: &Tenant,
    user_ref: &str,
    conversation_ref: &str,
) -> Result<(UserRow, Arc<ConversationRow>, MembershipRow)> {
    let service = services::find(tx, tenant)?;
    let user = find_in_path(tx, service.id, user_ref)?;
    let conversation = conversations::find(tx, tenant, conversation_ref)?;
    let membership = tx
        .membership(conversation.id, &user.identity)?
        .ok_or_else(Error::not_found)?;
    Ok((user, conversation, membership))
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
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            let user = find_in_path(tx, service.id, &user_ref)?;
            let memberships = tx.list_memberships(service.id, &user.identity, &req)?;
            let page = memberships.try_map(|membership| {
                let id = membership.conversation_id;
                let conversation = tx.conversation_by_id(id)?.ok_or_else(|| {
                    Error::internal(format!("participant of missing conversation {id}"))
                })?;
                assemble(tx, &user, membership, Arc::new(conversation))
            })?;
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
        .read(move |tx| {
            let (user, conversation, membership) =
                membership_in_path(tx, &tenant, &user_ref, &conversation_ref)?;
            assemble(tx, &user, membership, conversation)
        })
        .await
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
        .write(move |tx| {
            let (user, conversation, membership) =
                membership_in_path(tx, &tenant, &user_ref, &conversation_ref)?;
            let now = tx.now();
            let membership = tx
                .update_membership(membership.id, &change, now)?
                .ok_or_else(Error::not_found)?;
            assemble(tx, &user, membership, conversation)
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
        .write(move |tx| {
            let (_, _, membership) = membership_in_path(tx, &tenant, &user_ref, &conversation_ref)?;
            tx.remove_membership(membership.id)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ServiceRef;

    async fn store_and_tenant() -> (Store, Tenant) {
        let store = crate::store::open_for_test().await;
        let account = crate::domain::accounts::create(&store, "unit".into())
            .await
            .unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            webhooks: false,
        };
        (store, tenant)
    }

    fn new_user(identity: &str, role_sid: Option<String>) -> NewUser {
        NewUser {
            identity: identity.into(),
            role_sid,
            ..NewUser::default()
        }
    }

    /// The store refuses a second identity (`Code::Conflict`), which the domain names; a taken
    /// identity is named first, whatever the role, and a refused role leaves no user behind.
    #[tokio::test]
    async fn a_taken_identity_is_refused_before_its_role_and_a_refused_role_adds_nothing() {
        let (store, tenant) = store_and_tenant().await;
        let unknown_role = || Some(new_sid(Prefix::Role));
        create(&store, tenant.clone(), new_user("alice", None))
            .await
            .unwrap();
        let taken = create(&store, tenant.clone(), new_user("alice", unknown_role())).await;
        assert_eq!(taken.unwrap_err().code, Code::UserExists);
        let refused = create(&store, tenant.clone(), new_user("bob", unknown_role())).await;
        assert_eq!(refused.unwrap_err().code, Code::RoleNotFound);
        let missing = fetch(&store, tenant.clone(), "bob".into()).await;
        assert_eq!(missing.unwrap_err().code, Code::NotFound);
        let req = crate::wire::paging::PageParams::default()
            .validate(crate::wire::paging::LIMITS_50)
            .unwrap();
        let page = list(&store, tenant, req).await.unwrap();
        assert_eq!(page.rows.len(), 1);
    }

    /// A chat participant's identity gets its user once, with the service's default role.
    #[tokio::test]
    async fn an_identity_gets_one_user_with_the_default_role() {
        let (store, tenant) = store_and_tenant().await;
        let t = tenant.clone();
        let (first, again) = store
            .write(move |tx| {
                let service = services::find(tx, &t)?;
                let first = find_or_create_for_identity(tx, &t, service.id, "carol")?;
                let again = find_or_create_for_identity(tx, &t, service.id, "carol")?;
                Ok((first, again))
            })
            .await
            .unwrap();
        assert_eq!(first, again);
        let (user, _) = fetch(&store, tenant.clone(), first).await.unwrap();
        let t = tenant.clone();
        let default = store
            .read(move |tx| default_role(tx, services::find(tx, &t)?.id))
            .await
            .unwrap();
        assert!(default.is_some());
        assert_eq!(user.role_sid, default);
        assert_eq!(user.identity, "carol");
    }
}
