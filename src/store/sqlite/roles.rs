//! Roles in SQLite: the permissions are a JSON array in one column.

use std::sync::LazyLock;

use rusqlite::Row;

use super::SqliteTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::store::roles::{RoleHolder, RoleRow, RoleStore};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str =
    "SELECT r.id, r.sid, s.account_sid, r.service_id, s.sid, r.friendly_name, r.type,
    r.permissions, r.date_created, r.date_updated
    FROM roles r JOIN services s ON s.id = r.service_id";

static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE r.service_id = ?1 AND r.sid = ?2"));

fn map_row(row: &Row) -> rusqlite::Result<RoleRow> {
    let permissions: String = row.get(7)?;
    Ok(RoleRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_id: row.get(3)?,
        service_sid: row.get(4)?,
        friendly_name: row.get(5)?,
        role_type: row.get(6)?,
        // Written only by this engine, always as a JSON array of strings.
        permissions: serde_json::from_str(&permissions).unwrap_or_default(),
        date_created: row.get(8)?,
        date_updated: row.get(9)?,
    })
}

fn permissions_json(permissions: &[String]) -> Result<String> {
    serde_json::to_string(permissions).map_err(Error::internal)
}

/// One statement per kind of holder, each stopping at the first row it finds.
static HOLDERS: [(RoleHolder, &str); 3] = [
    (
        RoleHolder::Users,
        "SELECT 1 FROM users WHERE service_id = ?1 AND role_sid = ?2 LIMIT 1",
    ),
    (
        RoleHolder::Participants,
        "SELECT 1 FROM participants WHERE service_id = ?1 AND role_sid = ?2 LIMIT 1",
    ),
    (
        RoleHolder::ServiceConfiguration,
        "SELECT 1 FROM service_configurations WHERE service_id = ?1
           AND ?2 IN (default_chat_service_role_sid, default_conversation_role_sid,
                      default_conversation_creator_role_sid)",
    ),
];

impl RoleStore for SqliteTx<'_, '_> {
    fn find_role(&self, service_id: i64, sid: &str) -> Result<Option<RoleRow>> {
        self.tx.optional(&BY_SID, &[&service_id, &sid], map_row)
    }

    fn list_roles(&self, service_id: i64, req: &PageRequest) -> Result<Page<RoleRow>> {
        let keyset = Keyset {
            select: &format!("{SELECT} WHERE r.service_id = ?1"),
            keys: &["r.id"],
            descending: false,
        };
        keyset.page(self.tx, &[&service_id], req, map_row, |r| vec![r.id])
    }

    fn insert_role(&mut self, row: &RoleRow) -> Result<i64> {
        self.tx.run(
            "INSERT INTO roles (sid, service_id, friendly_name, type, permissions, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                &row.sid,
                &row.service_id,
                &row.friendly_name,
                &row.role_type,
                &permissions_json(&row.permissions)?,
                &row.date_created,
                &row.date_updated,
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn update_role(&mut self, row: &RoleRow) -> Result<()> {
        self.tx.run(
            "UPDATE roles SET permissions = ?1, date_updated = ?2 WHERE id = ?3",
            &[
                &permissions_json(&row.permissions)?,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn role_holders(&self, role: &RoleRow) -> Result<Vec<RoleHolder>> {
        let mut found = Vec::new();
        for &(holder, sql) in &HOLDERS {
            let params: [&dyn rusqlite::ToSql; 2] = [&role.service_id, &role.sid];
            if self.tx.optional(sql, &params, |_| Ok(()))?.is_some() {
                found.push(holder);
            }
        }
        Ok(found)
    }

    fn delete_role(&mut self, id: i64) -> Result<()> {
        self.tx.run("DELETE FROM roles WHERE id = ?1", &[&id])?;
        Ok(())
    }
}
