//! Push bindings in SQLite: one per service, identity, endpoint and binding type by the
//! table's UNIQUE key; they go with their service (ON DELETE CASCADE). The message types are a
//! JSON array in one column.

use std::sync::LazyLock;

use rusqlite::{Row, ToSql};

use super::SqliteTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::store::bindings::{BindingFilter, BindingRegistration, BindingRow, BindingStore};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str =
    "SELECT b.id, b.sid, s.account_sid, s.sid, b.credential_sid, b.endpoint, b.identity,
    b.binding_type, b.message_types, b.date_created, b.date_updated
    FROM bindings b JOIN services s ON s.id = b.service_id";

static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE b.service_id = ?1 AND b.sid = ?2"));

fn map_row(row: &Row) -> rusqlite::Result<BindingRow> {
    let message_types: String = row.get(8)?;
    Ok(BindingRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_sid: row.get(3)?,
        credential_sid: row.get(4)?,
        endpoint: row.get(5)?,
        identity: row.get(6)?,
        binding_type: row.get(7)?,
        // Written only by this engine, always as a JSON array of strings.
        message_types: serde_json::from_str(&message_types).unwrap_or_default(),
        date_created: row.get(9)?,
        date_updated: row.get(10)?,
    })
}

impl BindingStore for SqliteTx<'_, '_> {
    fn find_binding(&self, service_id: i64, sid: &str) -> Result<Option<BindingRow>> {
        self.tx.optional(&BY_SID, &[&service_id, &sid], map_row)
    }

    fn list_bindings(
        &self,
        service_id: i64,
        filter: &BindingFilter,
        req: &PageRequest,
    ) -> Result<Page<BindingRow>> {
        let mut select = format!("{SELECT} WHERE b.service_id = ?1");
        let mut params: Vec<&dyn ToSql> = vec![&service_id];
        for (column, values) in [
            ("b.binding_type", &filter.binding_types),
            ("b.identity", &filter.identities),
        ] {
            if values.is_empty() {
                continue;
            }
            let first = params.len() + 1;
            let marks: Vec<String> = (first..first + values.len())
                .map(|n| format!("?{n}"))
                .collect();
            select.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
            params.extend(values.iter().map(|v| v as &dyn ToSql));
        }
        let keyset = Keyset {
            select: &select,
            keys: &["b.id"],
            descending: false,
        };
        keyset.page(self.tx, &params, req, map_row, |r| vec![r.id])
    }

    /// The single writer makes the look-up and the write one step: nothing registers between
    /// them.
    fn register_binding(&mut self, reg: &BindingRegistration) -> Result<(String, bool)> {
        let message_types = serde_json::to_string(&reg.message_types).map_err(Error::internal)?;
        let existing: Option<String> = self.tx.optional(
            "SELECT sid FROM bindings
             WHERE service_id = ?1 AND identity = ?2 AND endpoint = ?3 AND binding_type = ?4",
            &[
                &reg.service_id,
                &reg.identity,
                &reg.endpoint,
                &reg.binding_type,
            ],
            |r| r.get(0),
        )?;
        if let Some(sid) = existing {
            self.tx.run(
                "UPDATE bindings SET credential_sid = ?1, address = ?2, message_types = ?3,
                     date_updated = ?4
                 WHERE sid = ?5",
                &[
                    &reg.credential_sid,
                    &reg.address,
                    &message_types,
                    &reg.date,
                    &sid,
                ],
            )?;
            return Ok((sid, false));
        }
        self.tx.run(
            "INSERT INTO bindings (sid, service_id, credential_sid, endpoint, address, identity,
                 binding_type, message_types, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
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
        )?;
        Ok((reg.sid.clone(), true))
    }

    fn delete_binding(&mut self, id: i64) -> Result<()> {
        self.tx.run("DELETE FROM bindings WHERE id = ?1", &[&id])?;
        Ok(())
    }
}
