//! Users and User Conversations in PostgreSQL. A user's identity is unique in its service by
//! the table's UNIQUE (service_id, identity), whichever node inserts; a User Conversation is
//! the user's row of `participants`.

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::store::users::{MembershipRow, UserConversationUpdate, UserRow, UserStore};
use crate::wire::paging::{Page, PageRequest};

/// Every column of a user, with its service's SID and account.
macro_rules! select_user {
    ($rest:literal) => {
        concat!(
            "SELECT u.id, u.sid, s.account_sid, u.service_id, s.sid, u.identity, u.friendly_name,
                 u.attributes, u.role_sid, u.date_created, u.date_updated
             FROM users u JOIN services s ON s.id = u.service_id ",
            $rest
        )
    };
}

/// The participant columns a User Conversation shows.
macro_rules! select_membership {
    ($rest:literal) => {
        concat!(
            "SELECT p.id, p.sid, p.conversation_id, p.last_read_message_index, p.notification_level
             FROM participants p ",
            $rest
        )
    };
}

fn map_row(row: &Row) -> UserRow {
    UserRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        service_id: row.get(3),
        service_sid: row.get(4),
        identity: row.get(5),
        friendly_name: row.get(6),
        attributes: row.get(7),
        role_sid: row.get(8),
        date_created: row.get(9),
        date_updated: row.get(10),
    }
}

fn map_membership(row: &Row) -> MembershipRow {
    MembershipRow {
        id: row.get(0),
        sid: row.get(1),
        conversation_id: row.get(2),
        last_read_message_index: row.get(3),
        notification_level: row.get(4),
    }
}

impl UserStore for PgTx<'_> {
    fn user_by_sid(&self, service_id: i64, sid: &str) -> Result<Option<UserRow>> {
        let row = self.query_opt(
            select_user!("WHERE u.service_id = $1 AND u.sid = $2"),
            &[&service_id, &sid],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn user_by_identity(&self, service_id: i64, identity: &str) -> Result<Option<UserRow>> {
        let row = self.query_opt(
            select_user!("WHERE u.service_id = $1 AND u.identity = $2"),
            &[&service_id, &identity],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn list_users(&self, service_id: i64, req: &PageRequest) -> Result<Page<UserRow>> {
        let keyset = Keyset {
            select: select_user!("WHERE u.service_id = $1"),
            keys: &["u.id"],
            descending: false,
        };
        keyset.page(self, &[&service_id], req, map_row, |r| vec![r.id])
    }

    /// The UNIQUE key refuses a taken identity (`Code::Conflict`, see `From<postgres::Error>`).
    fn insert_user(&mut self, row: &UserRow) -> Result<i64> {
        Ok(self
            .query_one(
                "INSERT INTO users (sid, service_id, identity, friendly_name, attributes, role_sid,
                     date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
            )?
            .get(0))
    }

    /// `ON CONFLICT DO NOTHING` waits for a job inserting the same identity to end, then
    /// inserts nothing: no unique violation ends this job's transaction.
    fn insert_user_if_absent(&mut self, row: &UserRow) -> Result<Option<i64>> {
        let row = self.query_opt(
            "INSERT INTO users (sid, service_id, identity, friendly_name, attributes, role_sid,
                 date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn lock_user_by_identity(
        &mut self,
        service_id: i64,
        identity: &str,
    ) -> Result<Option<UserRow>> {
        let row = self.query_opt(
            select_user!("WHERE u.service_id = $1 AND u.identity = $2 FOR UPDATE OF u"),
            &[&service_id, &identity],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn update_user(&mut self, row: &UserRow) -> Result<()> {
        self.execute(
            "UPDATE users SET friendly_name = $1, attributes = $2, role_sid = $3, date_updated = $4
             WHERE id = $5",
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
        self.execute("DELETE FROM users WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn has_push_registration(&self, service_id: i64, identity: &str) -> Result<bool> {
        let row = self.query_opt(
            "SELECT 1 FROM bindings WHERE service_id = $1 AND identity = $2
               AND binding_type IN ('apn', 'gcm', 'fcm') LIMIT 1",
            &[&service_id, &identity],
        )?;
        Ok(row.is_some())
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
            select: select_membership!("WHERE p.service_id = $1 AND p.identity = $2"),
            keys: &["p.conversation_id"],
            descending: false,
        };
        keyset.page(self, &[&service_id, &identity], req, map_membership, |m| {
            vec![m.conversation_id]
        })
    }

    fn membership(&self, conversation_id: i64, identity: &str) -> Result<Option<MembershipRow>> {
        let row = self.query_opt(
            select_membership!("WHERE p.conversation_id = $1 AND p.identity = $2"),
            &[&conversation_id, &identity],
        )?;
        Ok(row.as_ref().map(map_membership))
    }

    /// One statement: what the change leaves out is never read and written back, so a change
    /// another node makes meanwhile to those fields stays.
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
        let row = self.query_opt(
            "UPDATE participants SET
                 notification_level = COALESCE($1, notification_level),
                 last_read_message_index = CASE WHEN $2 THEN $3 ELSE last_read_message_index END,
                 last_read_timestamp = CASE WHEN $4 THEN $5 ELSE last_read_timestamp END,
                 date_updated = $6
             WHERE id = $7
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
        )?;
        Ok(row.as_ref().map(map_membership))
    }

    fn remove_membership(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM participants WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn remove_identity_participants(&mut self, service_id: i64, identity: &str) -> Result<()> {
        self.execute(
            "DELETE FROM participants WHERE service_id = $1 AND identity = $2",
            &[&service_id, &identity],
        )?;
        Ok(())
    }

    fn count_unread(&self, conversation_id: i64, last_read: i64, cap: i64) -> Result<i64> {
        let row = self.query_one(
            "SELECT count(*) FROM
                 (SELECT 1 FROM messages WHERE conversation_id = $1 AND idx > $2 LIMIT $3) unread",
            &[&conversation_id, &last_read, &cap],
        )?;
        Ok(row.get(0))
    }
}
