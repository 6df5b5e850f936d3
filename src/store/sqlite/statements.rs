//! [`Sql`]: the one way a job runs SQL on this engine, on the writer's connection or on a read
//! connection.
//!
//! On the writer's connection every statement is kept prepared and found by where its SQL text
//! lives rather than by the text itself (docs/design.md, "Statements kept by address").
//! rusqlite's `prepare_cached` trims the SQL, hashes all of it to take the statement out of its
//! LRU, copies it into a new `Arc<str>` as the key, and on drop clears the bindings and hashes
//! the text again to put the statement back: about a thousand instructions per use, and a
//! posted message runs five statements, its batch two more (`bench/instructions.py` put it at
//! a tenth of the writer thread). Here a statement is found by the address and length of its
//! SQL, which is `&'static str`, so the same address always holds the same text. As with
//! rusqlite's cache, a statement is reset after each use and its bindings cleared when it goes
//! back, so nothing of one use is left for the next.
//!
//! A read connection is pooled and outlives any one job, so its statements stay in rusqlite's
//! own cache, which lives inside the connection.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use rusqlite::types::ToSql;
use rusqlite::{CachedStatement, Connection, OptionalExtension, PrepFlags, Row, Statement};

use crate::error::Result;

/// A connection as jobs see it. Everything but the statement methods is the connection's own,
/// through `Deref`.
pub struct Sql<'conn> {
    conn: &'conn Connection,
    /// The writer's statements by their text's address and length; `None` on a read
    /// connection. A statement in use is out of its slot (`None`) until its `Kept` drops.
    /// foldhash, not std's SipHash: std's took a fifth of what it saved.
    kept: Option<RefCell<KeptStatements<'conn>>>,
}

/// The writer's statements by their SQL text's address and length; `None` while in use.
type KeptStatements<'conn> = foldhash::HashMap<(usize, usize), Option<Statement<'conn>>>;

impl<'conn> Sql<'conn> {
    /// The writer's connection: statements kept by the address of their SQL.
    pub fn writer(conn: &'conn Connection) -> Self {
        Sql {
            conn,
            kept: Some(RefCell::default()),
        }
    }

    /// A read connection: statements kept in rusqlite's cache, inside the connection.
    pub fn reader(conn: &'conn Connection) -> Self {
        Sql { conn, kept: None }
    }

    /// The statement for `sql`, prepared on first use and kept. The same text used again
    /// while a first use is still running (a nested query) gets a statement of its own.
    pub fn prepare_cached(&self, sql: &'static str) -> rusqlite::Result<Prepared<'_, 'conn>> {
        let Some(kept) = &self.kept else {
            return Ok(Prepared::Cached(self.conn.prepare_cached(sql)?));
        };
        let key = (sql.as_ptr() as usize, sql.len());
        let taken = kept.borrow_mut().get_mut(&key).and_then(Option::take);
        let statement = match taken {
            Some(statement) => statement,
            None => self
                .conn
                .prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?,
        };
        Ok(Prepared::Kept(Kept {
            owner: self,
            key,
            statement: Some(statement),
        }))
    }

    /// A statement whose SQL is built at run time (a list's filters, a page's bounds), through
    /// rusqlite's cache, which finds it by its text.
    pub fn prepare_built(&self, sql: &str) -> rusqlite::Result<CachedStatement<'conn>> {
        self.conn.prepare_cached(sql)
    }

    /// The one row `sql` finds, or `None`.
    pub fn optional<T>(
        &self,
        sql: &'static str,
        params: &[&dyn ToSql],
        map: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        Ok(self
            .prepare_cached(sql)?
            .query_row(params, map)
            .optional()?)
    }

    /// Every row `sql` finds.
    pub fn all<T>(
        &self,
        sql: &'static str,
        params: &[&dyn ToSql],
        map: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.prepare_cached(sql)?;
        let rows = stmt.query_map(params, map)?;
        Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
    }

    /// Runs `sql`; how many rows it changed.
    pub fn run(&self, sql: &'static str, params: &[&dyn ToSql]) -> Result<usize> {
        Ok(self.prepare_cached(sql)?.execute(params)?)
    }
}

impl<'conn> Deref for Sql<'conn> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A prepared statement in use: one of the writer's, back in its slot when dropped, or one of
/// rusqlite's cache.
pub enum Prepared<'a, 'conn> {
    Kept(Kept<'a, 'conn>),
    Cached(CachedStatement<'conn>),
}

impl<'conn> Deref for Prepared<'_, 'conn> {
    type Target = Statement<'conn>;

    fn deref(&self) -> &Statement<'conn> {
        match self {
            Prepared::Kept(kept) => kept,
            Prepared::Cached(cached) => cached,
        }
    }
}

impl<'conn> DerefMut for Prepared<'_, 'conn> {
    fn deref_mut(&mut self) -> &mut Statement<'conn> {
        match self {
            Prepared::Kept(kept) => kept,
            Prepared::Cached(cached) => cached,
        }
    }
}

/// One of the writer's kept statements in use; it goes back to its slot when dropped.
pub struct Kept<'a, 'conn> {
    owner: &'a Sql<'conn>,
    key: (usize, usize),
    statement: Option<Statement<'conn>>,
}

impl<'conn> Deref for Kept<'_, 'conn> {
    type Target = Statement<'conn>;

    fn deref(&self) -> &Statement<'conn> {
        self.statement
            .as_ref()
            .expect("a kept statement is present until dropped")
    }
}

impl<'conn> DerefMut for Kept<'_, 'conn> {
    fn deref_mut(&mut self) -> &mut Statement<'conn> {
        self.statement
            .as_mut()
            .expect("a kept statement is present until dropped")
    }
}

impl Drop for Kept<'_, '_> {
    fn drop(&mut self) {
        let Some(mut statement) = self.statement.take() else {
            return;
        };
        statement.clear_bindings();
        let Some(kept) = &self.owner.kept else {
            return;
        };
        let mut kept = kept.borrow_mut();
        let slot = kept.entry(self.key).or_default();
        // A nested use of the same text finishes first and takes the slot; the outer one's
        // statement is then simply finalized.
        if slot.is_none() {
            *slot = Some(statement);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSERT: &str = "INSERT INTO t (a, b) VALUES (?1, ?2)";
    const SELECT: &str = "SELECT a, b FROM t ORDER BY a";

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT)")
            .unwrap();
        conn
    }

    #[test]
    fn a_kept_statement_is_reused_and_keeps_nothing_of_its_last_use() {
        let conn = conn();
        let tx = Sql::writer(&conn);
        tx.prepare_cached(INSERT)
            .unwrap()
            .execute((1, "one"))
            .unwrap();
        tx.prepare_cached(INSERT)
            .unwrap()
            .execute((2, None::<String>))
            .unwrap();
        assert_eq!(tx.kept.as_ref().unwrap().borrow().len(), 1);
        let rows: Vec<(i64, Option<String>)> = tx
            .prepare_cached(SELECT)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [(1, Some("one".into())), (2, None)]);
    }

    #[test]
    fn the_same_text_used_inside_its_own_use_gets_a_second_statement() {
        let conn = conn();
        let tx = Sql::writer(&conn);
        for a in 0..3 {
            tx.prepare_cached(INSERT)
                .unwrap()
                .execute((a, "x"))
                .unwrap();
        }
        let mut outer = tx.prepare_cached(SELECT).unwrap();
        let mut rows = outer.query([]).unwrap();
        let mut seen = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let inner: i64 = tx
                .prepare_cached(SELECT)
                .unwrap()
                .query_row([], |r| r.get(0))
                .unwrap();
            seen.push((row.get::<_, i64>(0).unwrap(), inner));
        }
        assert_eq!(seen, [(0, 0), (1, 0), (2, 0)]);
        drop(rows);
        drop(outer);
        // One statement for each text, both back in their slots.
        assert_eq!(tx.kept.as_ref().unwrap().borrow().len(), 2);
        assert!(
            tx.kept
                .as_ref()
                .unwrap()
                .borrow()
                .values()
                .all(Option::is_some)
        );
    }
}
