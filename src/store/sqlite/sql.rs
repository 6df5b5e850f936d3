//! Small SQL helpers shared by the per-resource store modules.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::error::{Code, Error, Result};
use crate::wire::paging::{Cursor, Page, PageRequest};

/// One list query in keyset form: `select` is everything up to and including the WHERE
/// conditions that filter the list (it must end in a condition, e.g. `... WHERE service_id = ?`),
/// `keys` the ORDER BY columns (unique together), `descending` the list's direction.
pub struct Keyset<'a> {
    pub select: &'a str,
    pub keys: &'a [&'a str],
    pub descending: bool,
}

impl Keyset<'_> {
    /// Runs the query for one page, with one row of look-ahead, and returns the page in the
    /// list's order. `key` reads a row's sort key back, to build the next and previous tokens.
    pub fn page<T>(
        &self,
        conn: &Connection,
        params: &[&dyn ToSql],
        req: &PageRequest,
        map: impl Fn(&Row) -> rusqlite::Result<T>,
        key: impl Fn(&T) -> Vec<i64>,
    ) -> Result<Page<T>> {
        let mut rows = Vec::with_capacity(req.size + 1);
        self.each(conn, params, req, |row| {
            rows.push(map(row)?);
            Ok(())
        })?;
        Ok(Page::from_read(rows, req, key))
    }

    /// Runs the query for one page, with one row of look-ahead, and hands each row to `each`
    /// while SQLite is on it, in the order read: walking backwards from a `PB` token reads the
    /// list in reverse (`Page::from_read` flips the rows back).
    pub fn each(
        &self,
        conn: &Connection,
        params: &[&dyn ToSql],
        req: &PageRequest,
        mut each: impl FnMut(&Row) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let cols = self.keys.join(", ");
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
            let marks = vec!["?"; k.len()].join(", ");
            sql.push_str(&format!(" AND ({cols}) {cmp} ({marks})"));
            values.extend(k);
        }
        let order: Vec<String> = self.keys.iter().map(|k| format!("{k} {dir}")).collect();
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            order.join(", "),
            req.size + 1
        ));
        let mut all: Vec<&dyn ToSql> = params.to_vec();
        all.extend(values.iter().map(|v| v as &dyn ToSql));
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(all.as_slice())?;
        while let Some(row) = rows.next()? {
            each(row)?;
        }
        Ok(())
    }
}

/// `query_row` that answers `None` for no row.
pub fn optional<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnOnce(&Row) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, map)
        .optional()?)
}

/// Whether an error is a UNIQUE constraint failure (SQLite names no constraint, so callers that
/// have several unique keys check the likely one first, inside the write job).
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// A list kept in one column as a JSON array (webhook filters, trigger words); NULL when unset.
pub fn json_list(list: Option<&[String]>) -> Result<Option<String>> {
    list.map(|l| serde_json::to_string(l).map_err(Error::internal))
        .transpose()
}

/// A JSON array column read back; NULL (or anything unreadable) is unset.
pub fn from_json_list(stored: Option<String>) -> Option<Vec<String>> {
    stored.and_then(|s| serde_json::from_str(&s).ok())
}
