//! Address configurations in PostgreSQL. `(account_sid, address)` is UNIQUE: the database
//! refuses a second configuration of one address, whichever node inserts it. Booleans are kept
//! as 0 and 1, as the SQLite engine keeps them.

use postgres::Row;
use postgres::types::ToSql;

use super::PgTx;
use super::sql::{Keyset, from_json_list, json_list};
use crate::error::{Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::states::{AddressType, AutoCreationType};
use crate::store::addresses::{AddressConfigurationStore, AddressRow, AutoCreation};
use crate::wire::paging::{Page, PageRequest};

/// Every column of an address configuration, then `rest` (the conditions).
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT id, sid, account_sid, type, address, friendly_name, address_country,
                 auto_enabled, auto_type, auto_service_sid, auto_webhook_url, auto_webhook_method,
                 auto_webhook_filters, auto_studio_flow_sid, auto_studio_retry_count, date_created,
                 date_updated
             FROM address_configurations ",
            $($rest),*
        )
    };
}

/// A stored kind (`type`, `auto_type`) read back; the database holds only what confab wrote.
fn kind<T>(row: &Row, column: usize, parse: fn(&str) -> Option<T>) -> Result<T> {
    let text: &str = row.get(column);
    parse(text).ok_or_else(|| Error::internal(format!("unknown {text:?} in column {column}")))
}

fn map_row(row: &Row) -> Result<AddressRow> {
    Ok(AddressRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        address_type: kind(row, 3, AddressType::parse)?,
        address: row.get(4),
        friendly_name: row.get(5),
        address_country: row.get(6),
        auto: AutoCreation {
            enabled: row.get::<_, i64>(7) != 0,
            kind: kind(row, 8, AutoCreationType::parse)?,
            service_sid: row.get(9),
            webhook_url: row.get(10),
            webhook_method: row.get(11),
            webhook_filters: from_json_list(row.get(12)),
            studio_flow_sid: row.get(13),
            studio_retry_count: row.get(14),
        },
        date_created: row.get(15),
        date_updated: row.get(16),
    })
}

impl PgTx<'_> {
    /// By IG SID or, failing the SID pattern, by address; locked for this transaction when
    /// `lock`.
    fn address(
        &self,
        account_sid: &str,
        sid_or_address: &str,
        lock: bool,
    ) -> Result<Option<AddressRow>> {
        let by_sid = is_sid(Prefix::AddressConfiguration, sid_or_address);
        let sql = match (by_sid, lock) {
            (true, false) => select!("WHERE account_sid = $1 AND sid = $2"),
            (false, false) => select!("WHERE account_sid = $1 AND address = $2"),
            (true, true) => select!("WHERE account_sid = $1 AND sid = $2 FOR UPDATE"),
            (false, true) => select!("WHERE account_sid = $1 AND address = $2 FOR UPDATE"),
        };
        let row = self.query_opt(sql, &[&account_sid, &sid_or_address])?;
        row.as_ref().map(map_row).transpose()
    }
}

impl AddressConfigurationStore for PgTx<'_> {
    fn find_address_configuration(
        &self,
        account_sid: &str,
        sid_or_address: &str,
    ) -> Result<Option<AddressRow>> {
        self.address(account_sid, sid_or_address, false)
    }

    /// Locks the row until the transaction ends.
    fn lock_address_configuration(
        &mut self,
        account_sid: &str,
        sid_or_address: &str,
    ) -> Result<Option<AddressRow>> {
        self.address(account_sid, sid_or_address, true)
    }

    fn list_address_configurations(
        &self,
        account_sid: &str,
        address_type: Option<AddressType>,
        req: &PageRequest,
    ) -> Result<Page<AddressRow>> {
        let type_name = address_type.map(AddressType::as_str);
        let (select, params): (&str, Vec<&(dyn ToSql + Sync)>) = match &type_name {
            Some(t) => (
                select!("WHERE account_sid = $1 AND type = $2"),
                vec![&account_sid, t],
            ),
            None => (select!("WHERE account_sid = $1"), vec![&account_sid]),
        };
        let keyset = Keyset {
            select,
            keys: &["id"],
            descending: false,
        };
        let rows = keyset.rows(self, &params, req)?;
        let addresses = rows.iter().map(map_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_read(addresses, req, |r| vec![r.id]))
    }

    /// The UNIQUE key's refusal is the engine's `Code::Conflict` (`From<postgres::Error>`).
    fn insert_address_configuration(&mut self, row: &AddressRow) -> Result<i64> {
        let auto = &row.auto;
        let inserted = self.query_one(
            "INSERT INTO address_configurations (sid, account_sid, type, address, friendly_name,
                 address_country, auto_enabled, auto_type, auto_service_sid, auto_webhook_url,
                 auto_webhook_method, auto_webhook_filters, auto_studio_flow_sid,
                 auto_studio_retry_count, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             RETURNING id",
            &[
                &row.sid,
                &row.account_sid,
                &row.address_type.as_str(),
                &row.address,
                &row.friendly_name,
                &row.address_country,
                &i64::from(auto.enabled),
                &auto.kind.as_str(),
                &auto.service_sid,
                &auto.webhook_url,
                &auto.webhook_method,
                &json_list(auto.webhook_filters.as_deref())?,
                &auto.studio_flow_sid,
                &auto.studio_retry_count,
                &row.date_created,
                &row.date_updated,
            ],
        )?;
        Ok(inserted.get(0))
    }

    fn update_address_configuration(&mut self, row: &AddressRow) -> Result<()> {
        let auto = &row.auto;
        self.execute(
            "UPDATE address_configurations SET friendly_name = $1, auto_enabled = $2, auto_type = $3,
                 auto_service_sid = $4, auto_webhook_url = $5, auto_webhook_method = $6,
                 auto_webhook_filters = $7, auto_studio_flow_sid = $8, auto_studio_retry_count = $9,
                 date_updated = $10
             WHERE id = $11",
            &[
                &row.friendly_name,
                &i64::from(auto.enabled),
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
        self.execute("DELETE FROM address_configurations WHERE id = $1", &[&id])?;
        Ok(())
    }
}
