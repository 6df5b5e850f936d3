//! Push bindings in PostgreSQL: one per service, identity, endpoint and binding type by the
//! table's UNIQUE key, which a registration writes through (`ON CONFLICT`), so that two nodes
//! registering the same device at once make one binding. The message types are a JSON array in
//! one column, as on SQLite.

use postgres::Row;
use postgres::types::ToSql;

use super::PgTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::store::bindings::{BindingFilter, BindingRegistration, BindingRow, BindingStore};
use crate::wire::paging::{Page, PageRequest};

/// Every column of a binding, with its service's SID and account.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT b.id, b.sid, s.account_sid, s.sid, b.credential_sid, b.endpoint, b.identity,
                 b.binding_type, b.message_types, b.date_created, b.date_updated
             FROM bindings b JOIN services s ON s.id = b.service_id ",
            $rest
        )
    };
}

fn map_row(row: &Row) -> BindingRow {
    let message_types: &str = row.get(8);
    BindingRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        service_sid: row.get(3),
        credential_sid: row.get(4),
        endpoint: row.get(5),
        identity: row.get(6),
        binding_type: row.get(7),
        // Written only by confab, always as a JSON array of strings.
        message_types: serde_json::from_str(message_types).unwrap_or_default(),
        date_created: row.get(9),
        date_updated: row.get(10),
    }
}

impl BindingStore for PgTx<'_> {
    fn find_binding(&self, service_id: i64, sid: &str) -> Result<Option<BindingRow>> {
        let row = self.query_opt(
            select!("WHERE b.service_id = $1 AND b.sid = $2"),
            &[&service_id, &sid],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn list_bindings(
        &self,
        service_id: i64,
        filter: &BindingFilter,
        req: &PageRequest,
    ) -> Result<Page<BindingRow>> {
        let mut select = select!("WHERE b.service_id = $1").to_string();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&service_id];
        for (column, values) in [
            ("b.binding_type", &filter.binding_types),
            ("b.identity", &filter.identities),
        ] {
            if values.is_empty() {
                continue;
            }
            params.push(values);
            select.push_str(&format!(" AND {column} = ANY(${})", params.len()));
        }
        let keyset = Keyset {
            select: &select,
            keys: &["b.id"],
            descending: false,
        };
        keyset.page(self, &params, req, map_row, |r| vec![r.id])
    }

    /// One statement: the UNIQUE key decides between the insert and the refresh, and the SID
    /// answered says which it was (a refreshed binding keeps its own).
    fn register_binding(&mut self, reg: &BindingRegistration) -> Result<(String, bool)> {
        let message_types = serde_json::to_string(&reg.message_types).map_err(Error::internal)?;
        let sid: String = self
            .query_one(
                "INSERT INTO bindings (sid, service_id, credential_sid, endpoint, address, identity,
                     binding_type, message_types, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                 ON CONFLICT (service_id, identity, endpoint, binding_type) DO UPDATE SET
                     credential_sid = EXCLUDED.credential_sid, address = EXCLUDED.address,
                     message_types = EXCLUDED.message_types, date_updated = EXCLUDED.date_updated
                 RETURNING sid",
                &[
                    &reg.sid,
                    &reg.service_id,
                    &reg.credential_sid,
                    &reg.endpoint,
                    &reg.address,
                    &reg.identity,
                    &reg.binding_type,
                    &message_types,
                    &reg.date,
                ],
            )?
            .get(0);
        let created = sid == reg.sid;
        Ok((sid, created))
    }

    fn delete_binding(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM bindings WHERE id = $1", &[&id])?;
        Ok(())
    }
}
