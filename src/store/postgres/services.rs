//! Services in PostgreSQL.

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::store::services::{DefaultRoles, SeededRole, ServiceKey, ServiceRow, ServiceStore};
use crate::store::{ServiceRef, Tenant};
use crate::wire::paging::{Page, PageRequest};

fn map_row(row: &Row) -> ServiceRow {
    ServiceRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        friendly_name: row.get(3),
        date_created: row.get(4),
        date_updated: row.get(5),
    }
}

impl ServiceStore for PgTx<'_> {
    fn find_service(&self, tenant: &Tenant) -> Result<Option<ServiceKey>> {
        let row = match &tenant.service {
            ServiceRef::Sid(sid) => self.query_opt(
                "SELECT id, sid FROM services WHERE sid = $1 AND account_sid = $2",
                &[sid, &tenant.account_sid],
            )?,
            ServiceRef::Default => self.query_opt(
                "SELECT s.id, s.sid FROM account_configurations c
                 JOIN services s ON s.sid = c.default_chat_service_sid
                 WHERE c.account_sid = $1",
                &[&tenant.account_sid],
            )?,
        };
        Ok(row.map(|r| ServiceKey {
            id: r.get(0),
            sid: r.get(1),
        }))
    }

    fn service(&self, id: i64) -> Result<Option<ServiceRow>> {
        let row = self.query_opt(
            "SELECT id, sid, account_sid, friendly_name, date_created, date_updated FROM services
             WHERE id = $1",
            &[&id],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn list_services(&self, account_sid: &str, req: &PageRequest) -> Result<Page<ServiceRow>> {
        let keyset = Keyset {
            select: "SELECT id, sid, account_sid, friendly_name, date_created, date_updated
                     FROM services WHERE account_sid = $1",
            keys: &["id"],
            descending: false,
        };
        keyset.page(self, &[&account_sid], req, map_row, |r| vec![r.id])
    }

    fn oldest_service(&self, account_sid: &str) -> Result<Option<String>> {
        let row = self.query_opt(
            "SELECT sid FROM services WHERE account_sid = $1 ORDER BY id LIMIT 1",
            &[&account_sid],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_service(
        &mut self,
        row: &ServiceRow,
        roles: &[SeededRole],
        defaults: &DefaultRoles,
    ) -> Result<i64> {
        let id: i64 = self
            .query_one(
                "INSERT INTO services (sid, account_sid, friendly_name, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &row.sid,
                    &row.account_sid,
                    &row.friendly_name,
                    &row.date_created,
                    &row.date_updated,
                ],
            )?
            .get(0);
        for role in roles {
            self.execute(
                "INSERT INTO roles (sid, service_id, friendly_name, type, permissions, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
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
        self.execute(
            "INSERT INTO service_configurations (service_id, default_conversation_creator_role_sid,
                 default_conversation_role_sid, default_chat_service_role_sid) VALUES ($1, $2, $3, $4)",
            &[
                &id,
                &defaults.conversation_creator,
                &defaults.conversation,
                &defaults.chat_service,
            ],
        )?;
        self.execute(
            "INSERT INTO service_webhooks (service_id) VALUES ($1)",
            &[&id],
        )?;
        Ok(id)
    }

    fn delete_service(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM services WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn replace_default_service(&mut self, account_sid: &str, from: &str, to: &str) -> Result<()> {
        self.execute(
            "UPDATE account_configurations SET default_chat_service_sid = $1
             WHERE account_sid = $2 AND default_chat_service_sid = $3",
            &[&to, &account_sid, &from],
        )?;
        Ok(())
    }
}
