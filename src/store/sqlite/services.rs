//! Services in SQLite.

use rusqlite::{Connection, Row};

use super::SqliteTx;
use super::sql::{Keyset, optional};
use crate::error::Result;
use crate::store::services::{DefaultRoles, SeededRole, ServiceKey, ServiceRow, ServiceStore};
use crate::store::{ServiceRef, Tenant};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str =
    "SELECT id, sid, account_sid, friendly_name, date_created, date_updated FROM services";

fn map_row(row: &Row) -> rusqlite::Result<ServiceRow> {
    Ok(ServiceRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        friendly_name: row.get(3)?,
        date_created: row.get(4)?,
        date_updated: row.get(5)?,
    })
}

fn find(conn: &Connection, tenant: &Tenant) -> Result<Option<ServiceKey>> {
    let key = |r: &Row| {
        Ok(ServiceKey {
            id: r.get(0)?,
            sid: r.get(1)?,
        })
    };
    match &tenant.service {
        ServiceRef::Sid(sid) => optional(
            conn,
            "SELECT id, sid FROM services WHERE sid = ?1 AND account_sid = ?2",
            &[sid, &tenant.account_sid],
            key,
        ),
        ServiceRef::Default => optional(
            conn,
            "SELECT s.id, s.sid FROM account_configurations c JOIN services s ON s.sid = c.default_chat_service_sid
             WHERE c.account_sid = ?1",
            &[&tenant.account_sid],
            key,
        ),
    }
}

impl ServiceStore for SqliteTx<'_, '_> {
    fn find_service(&self, tenant: &Tenant) -> Result<Option<ServiceKey>> {
        find(self.tx, tenant)
    }

    fn service(&self, id: i64) -> Result<Option<ServiceRow>> {
        self.tx.optional(
            "SELECT id, sid, account_sid, friendly_name, date_created, date_updated FROM services
             WHERE id = ?1",
            &[&id],
            map_row,
        )
    }

    fn list_services(&self, account_sid: &str, req: &PageRequest) -> Result<Page<ServiceRow>> {
        let select = format!("{SELECT} WHERE account_sid = ?1");
        let keyset = Keyset {
            select: &select,
            keys: &["id"],
            descending: false,
        };
        keyset.page(self.tx, &[&account_sid], req, map_row, |r| vec![r.id])
    }

    fn oldest_service(&self, account_sid: &str) -> Result<Option<String>> {
        self.tx.optional(
            "SELECT sid FROM services WHERE account_sid = ?1 ORDER BY id LIMIT 1",
            &[&account_sid],
            |r| r.get(0),
        )
    }

    fn insert_service(
        &mut self,
        row: &ServiceRow,
        roles: &[SeededRole],
        defaults: &DefaultRoles,
    ) -> Result<i64> {
        self.tx.run(
            "INSERT INTO services (sid, account_sid, friendly_name, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                &row.sid,
                &row.account_sid,
                &row.friendly_name,
                &row.date_created,
                &row.date_updated,
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        for role in roles {
            self.tx.run(
                "INSERT INTO roles (sid, service_id, friendly_name, type, permissions, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                &[
                    &role.sid,
                    &id,
                    &role.friendly_name,
                    &role.role_type,
                    &role.permissions,
                    &row.date_created,
                ],
            )?;
        }
        self.tx.run(
            "INSERT INTO service_configurations (service_id, default_conversation_creator_role_sid,
                 default_conversation_role_sid, default_chat_service_role_sid) VALUES (?1, ?2, ?3, ?4)",
            &[
                &id,
                &defaults.conversation_creator,
                &defaults.conversation,
                &defaults.chat_service,
            ],
        )?;
        self.tx.run(
            "INSERT INTO service_webhooks (service_id) VALUES (?1)",
            &[&id],
        )?;
        Ok(id)
    }

    fn delete_service(&mut self, id: i64) -> Result<()> {
        self.tx.run("DELETE FROM services WHERE id = ?1", &[&id])?;
        Ok(())
    }

    fn replace_default_service(&mut self, account_sid: &str, from: &str, to: &str) -> Result<()> {
        self.tx.run(
            "UPDATE account_configurations SET default_chat_service_sid = ?1
             WHERE account_sid = ?2 AND default_chat_service_sid = ?3",
            &[&to, &account_sid, &from],
        )?;
        Ok(())
    }
}
