//! Lists in keyset form, for PostgreSQL (the same pages as the SQLite engine's `sql::Keyset`).

use postgres::Row;
use postgres::types::ToSql;

use super::PgTx;
use crate::error::{Code, Error, Result};
use crate::wire::paging::{Cursor, Page, PageRequest};

/// One list query: `select` ends in the WHERE conditions that filter the list, with `$1`..`$n`
/// for `params`; `keys` are the ORDER BY columns (unique together).
pub struct Keyset<'a> {
    pub select: &'a str,
    pub keys: &'a [&'a str],
    pub descending: bool,
}

impl Keyset<'_> {
    /// One page, with one row of look-ahead, in the list's order.
    pub fn page<T>(
        &self,
        tx: &PgTx,
        params: &[&(dyn ToSql + Sync)],
        req: &PageRequest,
        map: impl Fn(&Row) -> T,
        key: impl Fn(&T) -> Vec<i64>,
    ) -> Result<Page<T>> {
        let rows = self.rows(tx, params, req)?;
        Ok(Page::from_read(rows.iter().map(map).collect(), req, key))
    }

    /// The page's rows in the order read (a page before a `PB` token is read backwards).
    pub fn rows(
        &self,
        tx: &PgTx,
        params: &[&(dyn ToSql + Sync)],
        req: &PageRequest,
    ) -> Result<Vec<Row>> {
        let backwards = matches!(req.cursor, Some(Cursor::Before(_)));
        let descending = self.descending != backwards;
        let (dir, cmp) = if descending {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        let mut sql = String::from(self.select);
        let mut values: Vec<i64> = Vec::new();
        if let Some(Cursor::After(k) | Cursor::Before(k)) = &req.cursor {
            if k.len() != self.keys.len() {
                return Err(Error::new(Code::InvalidPageToken));
            }
            let marks: Vec<String> = (0..k.len())
                .map(|i| format!("${}", params.len() + i + 1))
                .collect();
            sql.push_str(&format!(
                " AND ({}) {cmp} ({})",
                self.keys.join(", "),
                marks.join(", ")
            ));
            values.extend(k);
        }
        let order: Vec<String> = self.keys.iter().map(|k| format!("{k} {dir}")).collect();
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            order.join(", "),
            req.size + 1
        ));
        let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
        all.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
        tx.query_built(&sql, &all)
    }
}

/// A JSON array column read back; NULL (or anything unreadable) is unset.
pub fn from_json_list(stored: Option<String>) -> Option<Vec<String>> {
    stored.and_then(|s| serde_json::from_str(&s).ok())
}

/// A list kept in one column as a JSON array (webhook filters, trigger words); NULL when unset.
pub fn json_list(list: Option<&[String]>) -> Result<Option<String>> {
    list.map(|l| serde_json::to_string(l).map_err(Error::internal))
        .transpose()
}
