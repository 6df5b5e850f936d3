//! Users and User Conversations in SQLite. A user's identity is unique in its service by the
//! table's UNIQUE (service_id, identity); a User Conversation is the user's row of
//! `participants`.

use std::sync::LazyLock;

use rusqlite::Row;

use super::SqliteTx;
use super::sql::{Keyset, is_unique_violation};
use crate::error::{Code, Error, Result};
use crate::store::users::{MembershipRow, UserConversationUpdate, UserRow, UserStore};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str =
    "SELECT u.id, u.sid, s.account_sid, u.service_id, s.sid, u.identity, u.friendly_name,
    u.attributes, u.role_sid, u.date_created, u.date_updated
    FROM users u JOIN services s ON s.id = u.service_id";

static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE u.service_id = ?1 AND u.sid = ?2"));
static BY_IDENTITY: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE u.service_id = ?1 AND u.identity = ?2"));

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

const MEMBERSHIP: &str =
    "SELECT p.id, p.sid, p.conversation_id, p.last_read_message_index, p.notification_level
    FROM participants p";

static MEMBERSHIP_BY_IDENTITY: LazyLock<String> =
    LazyLock::new(|| format!("{MEMBERSHIP} WHERE p.conversation_id = ?1 AND p.identity = ?2"));

fn map_membership(row: &Row) -> rusqlite::Result<MembershipRow> {
    Ok(MembershipRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        conversation_id: row.get(2)?,
        last_read_message_index: row.get(3)?,
        notification_level: row.get(4)?,
    })
}

/// A unique key refused the row: the service has a user with this identity.
fn conflict_on_unique(e: rusqlite::Error) -> Error {
    if is_unique_violation(&e) {
        Error::new(Code::Conflict)
    } else {
        e.into()
    }
}

impl UserStore for SqliteTx<'_, '_> {
    fn user_by_sid(&self, service_id: i64, sid: &str) -> Result<Option<UserRow>> {
        self.tx.optional(&BY_SID, &[&service_id, &sid], map_row)
    }

    fn user_by_identity(&self, service_id: i64, identity: &str) -> Result<Option<UserRow>> {
        self.tx
            .optional(&BY_IDENTITY, &[&service_id, &identity], map_row)
    }

    fn list_users(&self, service_id: i64, req: &PageRequest) -> Result<Page<UserRow>> {
        let keyset = Keyset {
            select: &format!("{SELECT} WHERE u.service_id = ?1"),
            keys: &["u.id"],
            descending: false,
        };
        keyset.page(self.tx, &[&service_id], req, map_row, |r| vec![r.id])
    }

    fn insert_user(&mut self, row: &UserRow) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO users (sid, service_id, identity, friendly_name, attributes, role_sid,
                     date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(rusqlite::params![
                row.sid,
                row.service_id,
                row.identity,
                row.friendly_name,
                row.attributes,
                row.role_sid,
                row.date_created,
                row.date_updated,
            ])
            .map_err(conflict_on_unique)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn insert_user_if_absent(&mut self, row: &UserRow) -> Result<Option<i64>> {
        self.tx.optional(
            "INSERT INTO users (sid, service_id, identity, friendly_name, attributes, role_sid,
                 date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (service_id, identity) DO NOTHING
             RETURNING id",
            &[
                &row.sid,
                &row.service_id,
                &row.identity,
                &row.friendly_name,
                &row.attributes,
                &row.role_sid,
                &row.date_created,
                &row.date_updated,
            ],
            |r| r.get(0),
        )
    }

    /// The single writer holds everything for the job already.
    fn lock_user_by_identity(
        &mut self,
        service_id: i64,
        identity: &str,
    ) -> Result<Option<UserRow>> {
        self.user_by_identity(service_id, identity)
    }

    fn update_user(&mut self, row: &UserRow) -> Result<()> {
        self.tx.run(
            "UPDATE users SET friendly_name = ?1, attributes = ?2, role_sid = ?3, date_updated = ?4
             WHERE id = ?5",
            &[
                &row.friendly_name,
                &row.attributes,
                &row.role_sid,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn delete_user(&mut self, id: i64) -> Result<()> {
        self.tx.run("DELETE FROM users WHERE id = ?1", &[&id])?;
        Ok(())
    }

    fn has_push_registration(&self, service_id: i64, identity: &str) -> Result<bool> {
        Ok(self
            .tx
            .optional(
                "SELECT 1 FROM bindings WHERE service_id = ?1 AND identity = ?2
                   AND binding_type IN ('apn', 'gcm', 'fcm') LIMIT 1",
                &[&service_id, &identity],
                |_| Ok(()),
            )?
            .is_some())
    }

    fn list_memberships(
        &self,
        service_id: i64,
        identity: &str,
        req: &PageRequest,
    ) -> Result<Page<MembershipRow>> {
        // (conversation_id, identity) is unique, so the conversation orders the user's
        // participants, along the participants_by_identity index.
        let keyset = Keyset {
            select: &format!("{MEMBERSHIP} WHERE p.service_id = ?1 AND p.identity = ?2"),
            keys: &["p.conversation_id"],
            descending: false,
        };
        keyset.page(
            self.tx,
            &[&service_id, &identity],
            req,
            map_membership,
            |m| vec![m.conversation_id],
        )
    }

    fn membership(&self, conversation_id: i64, identity: &str) -> Result<Option<MembershipRow>> {
        self.tx.optional(
            &MEMBERSHIP_BY_IDENTITY,
            &[&conversation_id, &identity],
            map_membership,
        )
    }

    fn update_membership(
        &mut self,
        id: i64,
        change: &UserConversationUpdate,
        date_updated: i64,
    ) -> Result<Option<MembershipRow>> {
        let (set_index, index) = match change.last_read_message_index {
            Some(index) => (true, index),
            None => (false, None),
        };
        let (set_timestamp, timestamp) = match &change.last_read_timestamp {
            Some(timestamp) => (true, timestamp.as_deref()),
            None => (false, None),
        };
        self.tx.optional(
            "UPDATE participants SET
                 notification_level = COALESCE(?1, notification_level),
                 last_read_message_index = CASE WHEN ?2 THEN ?3 ELSE last_read_message_index END,
                 last_read_timestamp = CASE WHEN ?4 THEN ?5 ELSE last_read_timestamp END,
                 date_updated = ?6
             WHERE id = ?7
             RETURNING id, sid, conversation_id, last_read_message_index, notification_level",
            &[
                &change.notification_level,
                &set_index,
                &index,
                &set_timestamp,
                &timestamp,
                &date_updated,
                &id,
            ],
            map_membership,
        )
    }

    fn remove_membership(&mut self, id: i64) -> Result<()> {
        self.tx
            .run("DELETE FROM participants WHERE id = ?1", &[&id])?;
        Ok(())
    }

    fn remove_identity_participants(&mut self, service_id: i64, identity: &str) -> Result<()> {
        self.tx.run(
            "DELETE FROM participants WHERE service_id = ?1 AND identity = ?2",
            &[&service_id, &identity],
        )?;
        Ok(())
    }

    fn count_unread(&self, conversation_id: i64, last_read: i64, cap: i64) -> Result<i64> {
        Ok(self
            .tx
            .optional(
                "SELECT COUNT(*) FROM
                     (SELECT 1 FROM messages WHERE conversation_id = ?1 AND idx > ?2 LIMIT ?3)",
                &[&conversation_id, &last_read, &cap],
                |r| r.get(0),
            )?
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    //! What the HTTP tests cannot reach on their own, run on this engine through the domain:
    //! the unread count against many messages (the cap), reachability with a push binding, and
    //! the events queued in the outbox. The rows the boundary has no operation for here (a
    //! participant, a message in bulk, a service's settings) are written as SQL.

    use rusqlite::params;

    use super::*;
    use crate::clock::Clock;
    use crate::domain::users::{self, NewUser, Reachability, UNREAD_CAP, UserUpdate};
    use crate::sid::{Prefix, new_sid};
    use crate::store::{Engine, Location, ServiceRef, Store, Tenant};

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

    /// Runs `job` as a write job of this engine, where it may run SQL of its own.
    async fn on_writer<T, F>(store: &Store, job: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteTx) -> Result<T> + Send + 'static,
    {
        let Engine::Sqlite(engine) = &store.engine else {
            unreachable!("an in-memory store is SQLite");
        };
        engine.write(job).await.unwrap()
    }

    /// The id of the tenant's service, inside a job.
    fn service_id(tx: &SqliteTx, tenant: &Tenant) -> Result<i64> {
        Ok(crate::domain::services::find(tx, tenant)?.id)
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
        on_writer(&fx.store, move |tx| {
            let conv = crate::domain::conversations::add(tx, &tenant, Default::default())?;
            let user_sid =
                users::find_or_create_for_identity(tx, &tenant, conv.service_id, identity)?;
            tx.tx.execute(
                "INSERT INTO participants (sid, conversation_id, service_id, identity, user_sid,
                     attributes, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, '{}', ?6, ?6)",
                params![
                    new_sid(Prefix::Participant),
                    conv.id,
                    conv.service_id,
                    identity,
                    user_sid,
                    tx.now
                ],
            )?;
            for idx in 0..messages {
                tx.tx.execute(
                    "INSERT INTO messages (sid, conversation_id, idx, attributes, date_created,
                         date_updated)
                     VALUES (?1, ?2, ?3, '{}', ?4, ?4)",
                    params![new_sid(Prefix::Message), conv.id, idx, tx.now],
                )?;
            }
            Ok(conv.sid)
        })
        .await
    }

    async fn read_up_to(fx: &Fixture, conv: &str, index: Option<i64>) -> Option<i64> {
        let change = UserConversationUpdate {
            last_read_message_index: Some(index),
            ..Default::default()
        };
        users::update_conversation(
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
            users::fetch_conversation(&fx.store, fx.tenant.clone(), "alice".into(), conv.clone())
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
        let (_, reach) = users::create(&fx.store, fx.tenant.clone(), new_user("alice"))
            .await
            .unwrap();
        assert_eq!(reach, Reachability::default(), "off by default: both null");
        let tenant = fx.tenant.clone();
        on_writer(&fx.store, move |tx| {
            tx.tx.execute(
                "UPDATE service_configurations SET reachability_enabled = 1 WHERE service_id = ?1",
                params![service_id(tx, &tenant)?],
            )?;
            Ok(())
        })
        .await;
        let fetch_reach = || async {
            users::fetch(&fx.store, fx.tenant.clone(), "alice".into())
                .await
                .unwrap()
                .1
        };
        assert_eq!(fetch_reach().await, Reachability::default());
        let tenant = fx.tenant.clone();
        on_writer(&fx.store, move |tx| {
            tx.tx.execute(
                "INSERT INTO bindings (sid, service_id, endpoint, identity, binding_type,
                     message_types, date_created, date_updated)
                 VALUES (?1, ?2, 'e', 'alice', 'fcm', '[]', ?3, ?3)",
                params![new_sid(Prefix::Binding), service_id(tx, &tenant)?, tx.now],
            )?;
            Ok(())
        })
        .await;
        assert_eq!(
            fetch_reach().await,
            Reachability {
                is_online: None,
                is_notifiable: Some(true)
            }
        );
    }

    async fn outbox(fx: &Fixture) -> Vec<(String, Vec<(String, String)>)> {
        on_writer(&fx.store, |tx| {
            let mut stmt = tx
                .tx
                .prepare("SELECT event_type, params FROM webhook_outbox ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                let params: String = r.get(1)?;
                Ok((r.get(0)?, serde_json::from_str(&params).unwrap()))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
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
            on_writer(&fx.store, move |tx| {
                tx.tx.execute(
                    "UPDATE service_webhooks SET post_webhook_url = 'http://hook.test/post',
                         filters = '[\"onUserAdded\",\"onUserUpdated\"]' WHERE service_id = ?1",
                    params![service_id(tx, &tenant)?],
                )?;
                Ok(())
            })
            .await;
            let (user, _) = users::create(&fx.store, fx.tenant.clone(), new_user("alice"))
                .await
                .unwrap();
            let change = UserUpdate {
                friendly_name: Some("Alice".into()),
                ..Default::default()
            };
            users::update(&fx.store, fx.tenant.clone(), user.sid.clone(), change)
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
