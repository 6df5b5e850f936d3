//! Participants in PostgreSQL: no cache, so ParticipantConversations reads its conversations
//! with its page.

use std::sync::Arc;

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::store::Tenant;
use crate::store::conversations::ConversationRow;
use crate::store::participants::{
    AudienceMember, Binding, Headcount, ListedParticipant, Lookup, ParticipantRef, ParticipantRow,
    ParticipantStore,
};
use crate::wire::paging::{Page, PageRequest};

/// Every column of a participant, with its conversation's SID and its service's SID and
/// account; `p`, `c` and `s` are the participant, its conversation and its service.
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT p.id, p.sid, s.account_sid, p.service_id, s.sid, p.conversation_id, c.sid,
                 p.identity, p.user_sid, p.attributes, p.role_sid, p.binding_type, p.binding_address,
                 p.binding_proxy_address, p.binding_projected_address, p.binding_name, p.binding_level,
                 p.last_read_message_index, p.last_read_timestamp, p.date_created, p.date_updated
             FROM participants p JOIN conversations c ON c.id = p.conversation_id
                 JOIN services s ON s.id = p.service_id ",
            $($rest),*
        )
    };
}

fn map_row(row: &Row) -> ParticipantRow {
    ParticipantRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        service_id: row.get(3),
        service_sid: row.get(4),
        conversation_id: row.get(5),
        conversation_sid: row.get(6),
        identity: row.get(7),
        user_sid: row.get(8),
        attributes: row.get(9),
        role_sid: row.get(10),
        binding: binding_at(row, 11),
        last_read_message_index: row.get(17),
        last_read_timestamp: row.get(18),
        date_created: row.get(19),
        date_updated: row.get(20),
    }
}

/// The six `binding_*` columns, from column `first` on: none when `binding_type` is NULL.
fn binding_at(row: &Row, first: usize) -> Option<Binding> {
    let kind: Option<String> = row.get(first);
    Some(Binding {
        kind: kind?,
        address: row.get(first + 1),
        proxy_address: row.get(first + 2),
        projected_address: row.get(first + 3),
        name: row.get(first + 4),
        level: row.get(first + 5),
    })
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
/// `participants_routing` key, schema/0002_participant_routing.sql), NULL otherwise.
fn routing_account_sid(row: &ParticipantRow, holds_pair: bool) -> Option<&str> {
    holds_pair.then_some(row.account_sid.as_str())
}

/// The columns ListParticipantConversation renders of a participant.
const LISTED_SELECT: &str = "SELECT p.id, p.sid, p.conversation_id, p.identity, p.user_sid,
    p.binding_type, p.binding_address, p.binding_proxy_address, p.binding_projected_address,
    p.binding_name, p.binding_level
    FROM participants p";

fn map_listed(row: &Row) -> ListedParticipant {
    ListedParticipant {
        id: row.get(0),
        sid: row.get(1),
        conversation_id: row.get(2),
        identity: row.get(3),
        user_sid: row.get(4),
        binding: binding_at(row, 5),
    }
}

impl ParticipantStore for PgTx<'_> {
    fn participant_sid_by_identity(
        &self,
        conversation_id: i64,
        identity: &str,
    ) -> Result<Option<String>> {
        let row = self.query_opt(
            "SELECT sid FROM participants WHERE conversation_id = $1 AND identity = $2",
            &[&conversation_id, &identity],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn message_audience(&self, conversation_id: i64, author: &str) -> Result<Vec<AudienceMember>> {
        let rows = self.query(
            "SELECT sid, identity, binding_type, binding_address, binding_proxy_address,
                 binding_projected_address
             FROM participants
             WHERE conversation_id = $1 AND (identity = $2 OR binding_address IS NOT NULL)
             ORDER BY id",
            &[&conversation_id, &author],
        )?;
        Ok(rows
            .iter()
            .map(|r| AudienceMember {
                sid: r.get(0),
                identity: r.get(1),
                channel: r.get(2),
                address: r.get(3),
                proxy_address: r.get(4),
                projected_address: r.get(5),
            })
            .collect())
    }

    fn find_participant(
        &self,
        conversation_id: i64,
        participant: ParticipantRef<'_>,
    ) -> Result<Option<ParticipantRow>> {
        let row = match participant {
            ParticipantRef::Sid(sid) => self.query_opt(
                select!("WHERE p.conversation_id = $1 AND p.sid = $2"),
                &[&conversation_id, &sid],
            )?,
            ParticipantRef::Identity(identity) => self.query_opt(
                select!("WHERE p.conversation_id = $1 AND p.identity = $2"),
                &[&conversation_id, &identity],
            )?,
        };
        Ok(row.as_ref().map(map_row))
    }

    fn list_participants(
        &self,
        conversation_id: i64,
        req: &PageRequest,
    ) -> Result<Page<ParticipantRow>> {
        let keyset = Keyset {
            select: select!("WHERE p.conversation_id = $1"),
            keys: &["p.id"],
            descending: false,
        };
        keyset.page(self, &[&conversation_id], req, map_row, |r| vec![r.id])
    }

    fn headcount(&self, conversation_id: i64) -> Result<Headcount> {
        let row = self.query_one(
            "SELECT COUNT(*), COUNT(binding_address) FROM participants WHERE conversation_id = $1",
            &[&conversation_id],
        )?;
        Ok(Headcount {
            total: row.get(0),
            non_chat: row.get(1),
        })
    }

    fn open_conversations_of_identity(
        &self,
        service_id: i64,
        identity: &str,
        limit: i64,
    ) -> Result<i64> {
        let row = self.query_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM participants p JOIN conversations c ON c.id = p.conversation_id
             WHERE p.service_id = $1 AND p.identity = $2 AND c.state <> 'closed' LIMIT $3) open",
            &[&service_id, &identity, &limit],
        )?;
        Ok(row.get(0))
    }

    fn binding_holder(
        &self,
        account_sid: &str,
        address: &str,
        proxy_address: &str,
        except: Option<i64>,
    ) -> Result<Option<String>> {
        // Along `participants_routing`: the key the database keeps unique.
        let row = self.query_opt(
            "SELECT c.sid FROM participants p JOIN conversations c ON c.id = p.conversation_id
             WHERE p.routing_account_sid = $1 AND p.binding_address = $2
               AND p.binding_proxy_address = $3 AND p.id <> $4",
            &[&account_sid, &address, &proxy_address, &except.unwrap_or(0)],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn group_member_exists(
        &self,
        conversation_id: i64,
        address: &str,
        except: Option<i64>,
    ) -> Result<bool> {
        let row = self.query_opt(
            "SELECT 1 FROM participants WHERE conversation_id = $1 AND binding_address = $2
               AND binding_proxy_address IS NULL AND id <> $3 LIMIT 1",
            &[&conversation_id, &address, &except.unwrap_or(0)],
        )?;
        Ok(row.is_some())
    }

    /// A pair's holder is not named on a conflict: the failed statement has ended the
    /// transaction, and the check before the write names it in every case but a race.
    fn insert_participant(&mut self, row: &ParticipantRow, holds_pair: bool) -> Result<i64> {
        let binding = BindingColumns::of(row);
        let inserted = self.query_one(
            "INSERT INTO participants (sid, conversation_id, service_id, identity, user_sid, attributes,
                 role_sid, binding_type, binding_address, binding_proxy_address,
                 binding_projected_address, binding_name, binding_level, date_created, date_updated,
                 routing_account_sid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             RETURNING id",
            &[
                &row.sid,
                &row.conversation_id,
                &row.service_id,
                &row.identity,
                &row.user_sid,
                &row.attributes,
                &row.role_sid,
                &binding.kind,
                &binding.address,
                &binding.proxy_address,
                &binding.projected_address,
                &binding.name,
                &binding.level,
                &row.date_created,
                &row.date_updated,
                &routing_account_sid(row, holds_pair),
            ],
        )?;
        Ok(inserted.get(0))
    }

    fn update_participant(&mut self, row: &ParticipantRow, holds_pair: bool) -> Result<()> {
        let binding = BindingColumns::of(row);
        self.execute(
            "UPDATE participants SET identity = $1, user_sid = $2, attributes = $3, role_sid = $4,
                 binding_type = $5, binding_address = $6, binding_proxy_address = $7,
                 binding_projected_address = $8, last_read_message_index = $9,
                 last_read_timestamp = $10, date_created = $11, date_updated = $12,
                 routing_account_sid = $13
             WHERE id = $14",
            &[
                &row.identity,
                &row.user_sid,
                &row.attributes,
                &row.role_sid,
                &binding.kind,
                &binding.address,
                &binding.proxy_address,
                &binding.projected_address,
                &row.last_read_message_index,
                &row.last_read_timestamp,
                &row.date_created,
                &row.date_updated,
                &routing_account_sid(row, holds_pair),
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn delete_participant(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM participants WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn release_bindings(&mut self, conversation_id: i64) -> Result<()> {
        self.execute(
            "UPDATE participants SET routing_account_sid = NULL
             WHERE conversation_id = $1 AND routing_account_sid IS NOT NULL",
            &[&conversation_id],
        )?;
        Ok(())
    }

    /// The same order as the SQLite engine's, along the same indexes; the page's conversations
    /// in one more query.
    fn participant_conversations(
        &self,
        _tenant: &Tenant,
        service_id: i64,
        lookup: &Lookup,
        req: &PageRequest,
    ) -> Result<Page<(ListedParticipant, Arc<ConversationRow>)>> {
        let (select, value) = match lookup {
            Lookup::Identity(identity) => (
                format!("{LISTED_SELECT} WHERE p.service_id = $1 AND p.identity = $2"),
                identity,
            ),
            Lookup::Address(address) => (
                format!("{LISTED_SELECT} WHERE p.service_id = $1 AND p.binding_address = $2"),
                address,
            ),
        };
        let keyset = Keyset {
            select: &select,
            keys: &["p.conversation_id", "p.id"],
            descending: false,
        };
        let page = keyset.page(self, &[&service_id, value], req, map_listed, |r| {
            vec![r.conversation_id, r.id]
        })?;
        let mut ids: Vec<i64> = page.rows.iter().map(|p| p.conversation_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let conversations: foldhash::HashMap<i64, Arc<ConversationRow>> = self
            .conversations_by_ids(&ids)?
            .into_iter()
            .map(|c| (c.id, Arc::new(c)))
            .collect();
        page.try_map(|p| match conversations.get(&p.conversation_id) {
            Some(c) => Ok((p, Arc::clone(c))),
            None => Err(Error::internal("a participant without its conversation")),
        })
    }
}
