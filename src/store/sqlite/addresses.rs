//! Address configurations in SQLite. `(account_sid, address)` is UNIQUE: the database refuses a
//! second configuration of one address.

use std::sync::LazyLock;

use rusqlite::Row;
use rusqlite::types::Type;

use super::SqliteTx;
use super::sql::{Keyset, from_json_list, is_unique_violation, json_list};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::states::{AddressType, AutoCreationType};
use crate::store::addresses::{AddressConfigurationStore, AddressRow, AutoCreation};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str = "SELECT id, sid, account_sid, type, address, friendly_name, address_country,
    auto_enabled, auto_type, auto_service_sid, auto_webhook_url, auto_webhook_method, auto_webhook_filters,
    auto_studio_flow_sid, auto_studio_retry_count, date_created, date_updated
    FROM address_configurations";

static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE account_sid = ?1 AND sid = ?2"));
static BY_ADDRESS: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE account_sid = ?1 AND address = ?2"));

/// A stored kind (`type`, `auto_type`) read back; SQLite holds only what confab wrote.
fn kind<T>(row: &Row, column: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Text,
            format!("unknown {text:?} in column {column}").into(),
        )
    })
}

fn map_row(row: &Row) -> rusqlite::Result<AddressRow> {
    Ok(AddressRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        address_type: kind(row, 3, AddressType::parse)?,
        address: row.get(4)?,
        friendly_name: row.get(5)?,
        address_country: row.get(6)?,
        auto: AutoCreation {
            enabled: row.get(7)?,
            kind: kind(row, 8, AutoCreationType::parse)?,
            service_sid: row.get(9)?,
            webhook_url: row.get(10)?,
            webhook_method: row.get(11)?,
            webhook_filters: from_json_list(row.get(12)?),
            studio_flow_sid: row.get(13)?,
            studio_retry_count: row.get(14)?,
        },
        date_created: row.get(15)?,
        date_updated: row.get(16)?,
    })
}

impl SqliteTx<'_, '_> {
    /// By IG SID or, failing the SID pattern, by address.
    fn read_address(&self, account_sid: &str, sid_or_address: &str) -> Result<Option<AddressRow>> {
        let sql = if is_sid(Prefix::AddressConfiguration, sid_or_address) {
            &BY_SID
        } else {
            &BY_ADDRESS
        };
        self.tx
            .optional(sql, &[&account_sid, &sid_or_address], map_row)
    }
}

/// The UNIQUE key refused the row: the account configures the address already.
fn conflict_on_unique(e: rusqlite::Error) -> Error {
    if is_unique_violation(&e) {
        Error::new(Code::Conflict)
    } else {
        e.into()
    }
}

impl AddressConfigurationStore for SqliteTx<'_, '_> {
    fn find_address_configuration(
        &self,
        account_sid: &str,
        sid_or_address: &str,
    ) -> Result<Option<AddressRow>> {
        self.read_address(account_sid, sid_or_address)
    }

    /// The single writer is the lock.
    fn lock_address_configuration(
        &mut self,
        account_sid: &str,
        sid_or_address: &str,
    ) -> Result<Option<AddressRow>> {
        self.read_address(account_sid, sid_or_address)
    }

    fn list_address_configurations(
        &self,
        account_sid: &str,
        address_type: Option<AddressType>,
        req: &PageRequest,
    ) -> Result<Page<AddressRow>> {
        let mut select = format!("{SELECT} WHERE account_sid = ?1");
        let type_name = address_type.map(AddressType::as_str);
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&account_sid];
        if let Some(t) = &type_name {
            params.push(t);
            select.push_str(" AND type = ?2");
        }
        let keyset = Keyset {
            select: &select,
            keys: &["id"],
            descending: false,
        };
        keyset.page(self.tx, &params, req, map_row, |r| vec![r.id])
    }

    fn insert_address_configuration(&mut self, row: &AddressRow) -> Result<i64> {
        let auto = &row.auto;
        self.tx
            .prepare_cached(
                "INSERT INTO address_configurations (sid, account_sid, type, address, friendly_name,
                     address_country, auto_enabled, auto_type, auto_service_sid, auto_webhook_url,
                     auto_webhook_method, auto_webhook_filters, auto_studio_flow_sid,
                     auto_studio_retry_count, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(rusqlite::params![
                row.sid,
                row.account_sid,
                row.address_type.as_str(),
                row.address,
                row.friendly_name,
                row.address_country,
                auto.enabled,
                auto.kind.as_str(),
                auto.service_sid,
                auto.webhook_url,
                auto.webhook_method,
                json_list(auto.webhook_filters.as_deref())?,
                auto.studio_flow_sid,
                auto.studio_retry_count,
                row.date_created,
                row.date_updated,
            ])
            .map_err(conflict_on_unique)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn update_address_configuration(&mut self, row: &AddressRow) -> Result<()> {
        let auto = &row.auto;
        self.tx.run(
            "UPDATE address_configurations SET friendly_name = ?1, auto_enabled = ?2, auto_type = ?3,
                 auto_service_sid = ?4, auto_webhook_url = ?5, auto_webhook_method = ?6,
                 auto_webhook_filters = ?7, auto_studio_flow_sid = ?8, auto_studio_retry_count = ?9,
                 date_updated = ?10
             WHERE id = ?11",
            &[
                &row.friendly_name,
                &auto.enabled,
                &auto.kind.as_str(),
                &auto.service_sid,
                &auto.webhook_url,
                &auto.webhook_method,
                &json_list(auto.webhook_filters.as_deref())?,
                &auto.studio_flow_sid,
                &auto.studio_retry_count,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn delete_address_configuration(&mut self, id: i64) -> Result<()> {
        self.tx
            .run("DELETE FROM address_configurations WHERE id = ?1", &[&id])?;
        Ok(())
    }
}
