//! Participants in SQLite.

use std::sync::{Arc, LazyLock};

use rusqlite::{Row, ToSql};

use super::conversations::{SELECT as CONVERSATION_SELECT, map_row as map_conversation};
use super::sql::{Keyset, is_unique_violation};
use super::{ConversationCache, Mode, SqliteTx};
use crate::error::{Code, Error, Result};
use crate::store::Tenant;
use crate::store::conversations::ConversationRow;
use crate::store::participants::{
    AudienceMember, Binding, Headcount, ListedParticipant, Lookup, ParticipantRef, ParticipantRow,
    ParticipantStore,
};
use crate::wire::paging::{Page, PageRequest};

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

/// The `binding_*` columns a participant's binding is written to (a chat participant without
/// one has them all NULL).
struct BindingColumns<'a> {
    kind: Option<&'a str>,
    address: Option<&'a str>,
    proxy_address: Option<&'a str>,
    projected_address: Option<&'a str>,
    name: Option<&'a str>,
    level: Option<&'a str>,
}

impl<'a> BindingColumns<'a> {
    fn of(row: &'a ParticipantRow) -> Self {
        let b = row.binding.as_ref();
        let field = |f: fn(&Binding) -> &Option<String>| b.and_then(|b| f(b).as_deref());
        BindingColumns {
            kind: b.map(|b| b.kind.as_str()).filter(|k| !k.is_empty()),
            address: field(|b| &b.address),
            proxy_address: field(|b| &b.proxy_address),
            projected_address: field(|b| &b.projected_address),
            name: field(|b| &b.name),
            level: field(|b| &b.level),
        }
    }
}

/// `routing_account_sid`: the account's SID while the participant holds its pair (the
/// `participants_routing` key, schema/0009_participant_routing.sql), NULL otherwise.
fn routing_account_sid(row: &ParticipantRow, holds_pair: bool) -> Option<&str> {
    holds_pair.then_some(row.account_sid.as_str())
}

static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE p.conversation_id = ?1 AND p.sid = ?2"));
static BY_IDENTITY: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE p.conversation_id = ?1 AND p.identity = ?2"));
static IN_CONVERSATION: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE p.conversation_id = ?1"));

impl ParticipantStore for SqliteTx<'_, '_> {
    fn participant_sid_by_identity(
        &self,
        conversation_id: i64,
        identity: &str,
    ) -> Result<Option<String>> {
        self.tx.optional(
            "SELECT sid FROM participants WHERE conversation_id = ?1 AND identity = ?2",
            &[&conversation_id, &identity],
            |r| r.get(0),
        )
    }

    /// One statement for the author and the recipients: they were two (each a scan of the
    /// conversation's participants), and both ran for every message posted.
    fn message_audience(&self, conversation_id: i64, author: &str) -> Result<Vec<AudienceMember>> {
        self.tx.all(
            "SELECT sid, identity, binding_type, binding_address, binding_proxy_address,
                 binding_projected_address
             FROM participants
             WHERE conversation_id = ?1 AND (identity = ?2 OR binding_address IS NOT NULL)
             ORDER BY id",
            &[&conversation_id, &author],
            |r| {
                Ok(AudienceMember {
                    sid: r.get(0)?,
                    identity: r.get(1)?,
                    channel: r.get(2)?,
                    address: r.get(3)?,
                    proxy_address: r.get(4)?,
                    projected_address: r.get(5)?,
                })
            },
        )
    }

    fn find_participant(
        &self,
        conversation_id: i64,
        participant: ParticipantRef<'_>,
    ) -> Result<Option<ParticipantRow>> {
        let (sql, key): (&'static str, _) = match participant {
            ParticipantRef::Sid(sid) => (BY_SID.as_str(), sid),
            ParticipantRef::Identity(identity) => (BY_IDENTITY.as_str(), identity),
        };
        self.tx.optional(sql, &[&conversation_id, &key], map_row)
    }

    fn list_participants(
        &self,
        conversation_id: i64,
        req: &PageRequest,
    ) -> Result<Page<ParticipantRow>> {
        let keyset = Keyset {
            select: &IN_CONVERSATION,
            keys: &["p.id"],
            descending: false,
        };
        keyset.page(self.tx, &[&conversation_id], req, map_row, |r| vec![r.id])
    }

    fn headcount(&self, conversation_id: i64) -> Result<Headcount> {
        let counted = self.tx.optional(
            "SELECT COUNT(*), COUNT(binding_address) FROM participants WHERE conversation_id = ?1",
            &[&conversation_id],
            |r| {
                Ok(Headcount {
                    total: r.get(0)?,
                    non_chat: r.get(1)?,
                })
            },
        )?;
        Ok(counted.unwrap_or_default())
    }

    fn open_conversations_of_identity(
        &self,
        service_id: i64,
        identity: &str,
        limit: i64,
    ) -> Result<i64> {
        let counted = self.tx.optional(
            "SELECT COUNT(*) FROM (SELECT 1 FROM participants p JOIN conversations c ON c.id = p.conversation_id
             WHERE p.service_id = ?1 AND p.identity = ?2 AND c.state != 'closed' LIMIT ?3)",
            &[&service_id, &identity, &limit],
            |r| r.get(0),
        )?;
        Ok(counted.unwrap_or(0))
    }

    fn binding_holder(
        &self,
        account_sid: &str,
        address: &str,
        proxy_address: &str,
        except: Option<i64>,
    ) -> Result<Option<String>> {
        // Along `participants_routing`: the key the database keeps unique.
        self.tx.optional(
            "SELECT c.sid FROM participants p JOIN conversations c ON c.id = p.conversation_id
             WHERE p.routing_account_sid = ?1 AND p.binding_address = ?2
               AND p.binding_proxy_address = ?3 AND p.id != ?4",
            &[&account_sid, &address, &proxy_address, &except.unwrap_or(0)],
            |r| r.get(0),
        )
    }

    fn group_member_exists(
        &self,
        conversation_id: i64,
        address: &str,
        except: Option<i64>,
    ) -> Result<bool> {
        let found = self.tx.optional(
            "SELECT 1 FROM participants WHERE conversation_id = ?1 AND binding_address = ?2
               AND binding_proxy_address IS NULL AND id != ?3",
            &[&conversation_id, &address, &except.unwrap_or(0)],
            |_| Ok(()),
        )?;
        Ok(found.is_some())
    }

    fn insert_participant(&mut self, row: &ParticipantRow, holds_pair: bool) -> Result<i64> {
        let binding = BindingColumns::of(row);
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO participants (sid, conversation_id, service_id, identity, user_sid, attributes,
                     role_sid, binding_type, binding_address, binding_proxy_address,
                     binding_projected_address, binding_name, binding_level, date_created, date_updated,
                     routing_account_sid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(rusqlite::params![
                row.sid,
                row.conversation_id,
                row.service_id,
                row.identity,
                row.user_sid,
                row.attributes,
                row.role_sid,
                binding.kind,
                binding.address,
                binding.proxy_address,
                binding.projected_address,
                binding.name,
                binding.level,
                row.date_created,
                row.date_updated,
                routing_account_sid(row, holds_pair),
            ]);
        match inserted {
            Ok(_) => Ok(self.tx.last_insert_rowid()),
            Err(e) => Err(self.refused(e, row, holds_pair)),
        }
    }

    fn update_participant(&mut self, row: &ParticipantRow, holds_pair: bool) -> Result<()> {
        let binding = BindingColumns::of(row);
        let updated = self
            .tx
            .prepare_cached(
                "UPDATE participants SET identity = ?1, user_sid = ?2, attributes = ?3, role_sid = ?4,
                     binding_type = ?5, binding_address = ?6, binding_proxy_address = ?7,
                     binding_projected_address = ?8, last_read_message_index = ?9,
                     last_read_timestamp = ?10, date_created = ?11, date_updated = ?12,
                     routing_account_sid = ?13
                 WHERE id = ?14",
            )?
            .execute(rusqlite::params![
                row.identity,
                row.user_sid,
                row.attributes,
                row.role_sid,
                binding.kind,
                binding.address,
                binding.proxy_address,
                binding.projected_address,
                row.last_read_message_index,
                row.last_read_timestamp,
                row.date_created,
                row.date_updated,
                routing_account_sid(row, holds_pair),
                row.id,
            ]);
        match updated {
            Ok(_) => Ok(()),
            Err(e) => Err(self.refused(e, row, holds_pair)),
        }
    }

    fn delete_participant(&mut self, id: i64) -> Result<()> {
        self.tx
            .run("DELETE FROM participants WHERE id = ?1", &[&id])?;
        Ok(())
    }

    fn release_bindings(&mut self, conversation_id: i64) -> Result<()> {
        self.tx.run(
            "UPDATE participants SET routing_account_sid = NULL
             WHERE conversation_id = ?1 AND routing_account_sid IS NOT NULL",
            &[&conversation_id],
        )?;
        Ok(())
    }

    /// Twilio documents the list as sorted by conversation SID (twilio-behavior.md 13). confab's
    /// SIDs are random, so that order would need a scan; this walks the
    /// `participants_by_identity` / `participants_by_address` indexes instead, in conversation
    /// creation order (then participant order), so that a page costs the same however many
    /// conversations the identity is in.
    fn participant_conversations(
        &self,
        tenant: &Tenant,
        service_id: i64,
        lookup: &Lookup,
        req: &PageRequest,
    ) -> Result<Page<(ListedParticipant, Arc<ConversationRow>)>> {
        let (select, value) = match lookup {
            Lookup::Identity(identity) => (&*LISTED_BY_IDENTITY, identity),
            Lookup::Address(address) => (&*LISTED_BY_ADDRESS, address),
        };
        let keyset = Keyset {
            select,
            keys: &["p.conversation_id", "p.id"],
            descending: false,
        };
        let page = keyset.page(self.tx, &[&service_id, value], req, map_listed, |r| {
            vec![r.conversation_id, r.id]
        })?;
        let conversations = self.conversations_of(tenant, &page.rows)?;
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
    }
}

const LISTED_SELECT: &str = "SELECT p.id, p.sid, p.conversation_id, p.identity, p.user_sid,
    p.binding_type, p.binding_address, p.binding_proxy_address, p.binding_projected_address,
    p.binding_name, p.binding_level
    FROM participants p";

static LISTED_BY_IDENTITY: LazyLock<String> =
    LazyLock::new(|| format!("{LISTED_SELECT} WHERE p.service_id = ?1 AND p.identity = ?2"));
static LISTED_BY_ADDRESS: LazyLock<String> =
    LazyLock::new(|| format!("{LISTED_SELECT} WHERE p.service_id = ?1 AND p.binding_address = ?2"));

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

type ConversationsById = foldhash::HashMap<i64, Arc<ConversationRow>>;

impl SqliteTx<'_, '_> {
    /// The error of a write a unique key may have refused: `Code::Conflict`, naming the pair's
    /// holder when the row holds a pair (a row has no other unique key then; SQLite names no
    /// constraint). The statement failed alone, so the holder can still be looked up; the
    /// check before the write finds it first, and this runs only when the check was bypassed.
    fn refused(&self, e: rusqlite::Error, row: &ParticipantRow, holds_pair: bool) -> Error {
        if !is_unique_violation(&e) {
            return e.into();
        }
        let pair = row
            .binding
            .as_ref()
            .and_then(|b| b.address.as_deref().zip(b.proxy_address.as_deref()));
        let holder = match pair {
            Some((address, proxy)) if holds_pair => {
                self.binding_holder(&row.account_sid, address, proxy, Some(row.id))
            }
            _ => Ok(None),
        };
        match holder {
            Ok(Some(conversation_sid)) => Error::with(Code::Conflict, conversation_sid),
            Ok(None) => Error::new(Code::Conflict),
            Err(lookup_failed) => lookup_failed,
        }
    }

    /// The conversations of a page of participants. A read takes them from the cache where it
    /// has them (decoding a conversation's 19 columns for every row was most of a
    /// ParticipantConversations page's SQLite time), the others in one query, offered to the
    /// cache with the generation read before the read transaction began. A write job (an
    /// in-memory store reads through the writer) reads them all: the cache may not have
    /// forgotten what its own batch changed yet. The participants were found in the tenant's
    /// service, and so were their conversations.
    fn conversations_of(
        &self,
        tenant: &Tenant,
        participants: &[ListedParticipant],
    ) -> Result<ConversationsById> {
        let ids: Vec<i64> = participants.iter().map(|p| p.conversation_id).collect();
        // foldhash, not std's SipHash, which was 4% of a page's instructions: the keys are rowids.
        let mut found = ConversationsById::with_capacity_and_hasher(ids.len(), Default::default());
        let Mode::Read { cache, generation } = &self.mode else {
            self.load_conversations(ids, |row| {
                found.insert(row.id, row);
            })?;
            return Ok(found);
        };
        let missing = cached_conversations(cache, &ids, &mut found);
        self.load_conversations(missing, |row| {
            cache.offer(tenant, &row, *generation);
            found.insert(row.id, row);
        })?;
        Ok(found)
    }

    /// The conversations of these rowids, in one query, each handed to `each`.
    fn load_conversations(
        &self,
        mut ids: Vec<i64>,
        mut each: impl FnMut(Arc<ConversationRow>),
    ) -> Result<()> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!("{CONVERSATION_SELECT} WHERE c.id IN ({marks})");
        let mut stmt = self.tx.prepare_built(&sql)?;
        let params: Vec<&dyn ToSql> = ids.iter().map(|id| id as &dyn ToSql).collect();
        let rows = stmt.query_map(params.as_slice(), map_conversation)?;
        for row in rows {
            each(Arc::new(row?));
        }
        Ok(())
    }
}

/// Puts the cached conversations of `ids` in `found`, under one lock; returns the ids it has
/// not.
fn cached_conversations(
    cache: &ConversationCache,
    ids: &[i64],
    found: &mut ConversationsById,
) -> Vec<i64> {
    let mut missing = Vec::new();
    for (id, cached) in ids.iter().zip(cache.get_by_ids(ids)) {
        match cached {
            Some(row) => {
                found.insert(*id, row);
            }
            None => missing.push(*id),
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    //! The participant rules the HTTP tests cannot reach, set up or observed through SQL.

    use super::*;
    use crate::clock::Clock;
    use crate::domain::conversations::{self, NewConversation};
    use crate::domain::participants::{
        NewParticipant, ParticipantUpdate, create, create_conversation_with, delete, update,
    };
    use crate::sid::{Prefix, new_sid};
    use crate::store::{Location, ServiceRef, Store};
    use crate::webhook_events::EventType;

    use super::super::engine_of as engine;

    /// Runs `sql` on the store's writer, with these parameters.
    async fn execute<const N: usize>(store: &Store, sql: &'static str, params: [String; N]) {
        engine(store)
            .write(move |tx| Ok(tx.tx.execute(sql, rusqlite::params_from_iter(params))?))
            .await
            .unwrap();
    }

    async fn store_with_account(name: &str, webhooks: bool) -> (Store, Tenant) {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = crate::domain::accounts::create(&store, name.into())
            .await
            .unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            webhooks,
        };
        (store, tenant)
    }

    fn texter() -> NewParticipant {
        NewParticipant {
            binding: Some(Binding {
                kind: "sms".into(),
                address: Some("+15550001".into()),
                proxy_address: Some("+15559999".into()),
                ..Binding::default()
            }),
            ..NewParticipant::default()
        }
    }

    fn chat(identity: &str) -> NewParticipant {
        NewParticipant {
            identity: Some(identity.into()),
            ..NewParticipant::default()
        }
    }

    /// Rules the HTTP tests cannot reach yet (roles and configuration are other resources):
    /// a service-level role is no participant role, and a conversation without a Messaging
    /// Service takes no SMS participant.
    #[tokio::test]
    async fn service_roles_and_missing_messaging_services_are_refused() {
        let (store, tenant) = store_with_account("rules", false).await;
        let account_sid = tenant.account_sid.clone();
        let service_role: String = engine(&store)
            .write(move |tx| {
                Ok(tx.tx.query_row(
                    "SELECT r.sid FROM roles r JOIN services s ON s.id = r.service_id
                     WHERE s.account_sid = ?1 AND r.type = 'service' LIMIT 1",
                    [account_sid],
                    |r| r.get(0),
                )?)
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
                role_sid: Some(service_role),
                ..chat("alice")
            },
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, Code::ConversationRoleNotFound);

        execute(
            &store,
            "UPDATE account_configurations SET default_messaging_service_sid = NULL WHERE account_sid = ?1",
            [tenant.account_sid.clone()],
        )
        .await;
        let bare = conversations::create(&store, tenant.clone(), NewConversation::default())
            .await
            .unwrap();
        assert_eq!(bare.messaging_service_sid, None);
        let refused = create(&store, tenant.clone(), bare.sid.clone(), texter())
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::NoMessagingService);
        create(&store, tenant, bare.sid, chat("alice"))
            .await
            .expect("a chat participant needs no Messaging Service");
    }

    /// Post-action events land in the outbox with their documented parameters when the request
    /// asked for webhooks, and not otherwise.
    #[tokio::test]
    async fn participant_changes_queue_their_events() {
        let (store, with_webhooks) = store_with_account("events", true).await;
        let filters = [
            EventType::ParticipantAdded,
            EventType::ParticipantUpdated,
            EventType::ParticipantRemoved,
            EventType::ConversationAdded,
        ]
        .map(EventType::as_str);
        execute(
            &store,
            "UPDATE service_webhooks SET post_webhook_url = 'https://hooks.example/post', method = 'POST',
                 filters = ?2
             WHERE service_id = (SELECT s.id FROM services s WHERE s.account_sid = ?1)",
            [
                with_webhooks.account_sid.clone(),
                serde_json::to_string(&filters).unwrap(),
            ],
        )
        .await;
        let conversation = create_conversation_with(
            &store,
            with_webhooks.clone(),
            NewConversation::default(),
            vec![chat("alice"), texter()],
        )
        .await
        .unwrap();
        update(
            &store,
            with_webhooks.clone(),
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
            with_webhooks.clone(),
            conversation.sid.clone(),
            "alice".into(),
        )
        .await
        .unwrap();
        // Without the header nothing is queued.
        let without = Tenant {
            webhooks: false,
            ..with_webhooks
        };
        create(&store, without, conversation.sid.clone(), chat("bob"))
            .await
            .unwrap();

        let queued: Vec<(String, String)> = engine(&store)
            .write(|tx| {
                let mut stmt = tx
                    .tx
                    .prepare("SELECT event_type, params FROM webhook_outbox ORDER BY id")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
            .unwrap();
        let events: Vec<&str> = queued.iter().map(|(e, _)| e.as_str()).collect();
        let expected = [
            EventType::ConversationAdded,
            EventType::ParticipantAdded,
            EventType::ParticipantAdded,
            EventType::ParticipantUpdated,
            EventType::ParticipantRemoved,
        ];
        assert_eq!(events, expected.map(EventType::as_str));
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

    /// A participant of `conversation` reached at `address`, through `proxy` if any, as the
    /// domain would write it.
    fn reached_at(
        conversation: &ConversationRow,
        address: &str,
        proxy: Option<&str>,
    ) -> ParticipantRow {
        ParticipantRow {
            id: 0,
            sid: new_sid(Prefix::Participant),
            account_sid: conversation.account_sid.clone(),
            service_id: conversation.service_id,
            service_sid: conversation.service_sid.clone(),
            conversation_id: conversation.id,
            conversation_sid: conversation.sid.clone(),
            identity: None,
            user_sid: None,
            attributes: "{}".into(),
            role_sid: None,
            binding: Some(Binding {
                kind: "sms".into(),
                address: Some(address.into()),
                proxy_address: proxy.map(str::to_string),
                ..Binding::default()
            }),
            last_read_message_index: None,
            last_read_timestamp: None,
            date_created: 0,
            date_updated: 0,
        }
    }

    /// Inserts `row` in a job of its own, through the store's interface alone: no check of the
    /// domain's runs first, as when two nodes race past it.
    async fn insert(store: &Store, row: &ParticipantRow, holds_pair: bool) -> Result<i64> {
        let row = row.clone();
        store
            .write(move |tx| tx.insert_participant(&row, holds_pair))
            .await
    }

    /// The database keeps one holder per pair in the account, whatever the checks before a
    /// write would have said: a second holder is refused, by insert or by update, naming the
    /// holder; a participant that holds nothing (its conversation is closed) may have the
    /// pair; a released pair is free again. A group member's address is the conversation's
    /// once.
    #[tokio::test]
    async fn the_database_refuses_a_second_holder_even_past_the_checks() {
        let (store, tenant) = store_with_account("routing", false).await;
        let mut open = Vec::new();
        for _ in 0..3 {
            let conversation =
                conversations::create(&store, tenant.clone(), NewConversation::default())
                    .await
                    .unwrap();
            open.push(conversation);
        }
        let (first, second, third) = (&open[0], &open[1], &open[2]);
        let (address, proxy) = ("+15550001", Some("+15559999"));
        insert(&store, &reached_at(first, address, proxy), true)
            .await
            .unwrap();
        let second_holder = reached_at(second, address, proxy);
        let refused = insert(&store, &second_holder, true).await.unwrap_err();
        assert_eq!(refused, Error::with(Code::Conflict, &first.sid));

        // Another proxy is another pair; moving onto the held one is refused as well.
        let mut elsewhere = reached_at(third, address, Some("+15558888"));
        elsewhere.id = insert(&store, &elsewhere, true).await.unwrap();
        let mut moved = elsewhere.clone();
        moved.binding.as_mut().unwrap().proxy_address = proxy.map(str::to_string);
        let update = moved.clone();
        let refused = store
            .write(move |tx| tx.update_participant(&update, true))
            .await
            .unwrap_err();
        assert_eq!(refused, Error::with(Code::Conflict, &first.sid));

        // What holds nothing does not collide; once released, the pair is free.
        insert(&store, &second_holder, false).await.unwrap();
        let first_id = first.id;
        store
            .write(move |tx| tx.release_bindings(first_id))
            .await
            .unwrap();
        store
            .write(move |tx| tx.update_participant(&moved, true))
            .await
            .expect("the released pair is free");

        let member = reached_at(first, "+15550002", None);
        insert(&store, &member, false).await.unwrap();
        let again = reached_at(first, "+15550002", None);
        let refused = insert(&store, &again, false).await.unwrap_err();
        assert_eq!(refused, Error::new(Code::Conflict));
        insert(&store, &reached_at(second, "+15550002", None), false)
            .await
            .expect("another conversation's group member");
    }
}
