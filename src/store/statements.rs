//! The writer's connection, with every statement it runs kept prepared and found by where its
//! SQL text lives rather than by the text itself.
//!
//! rusqlite's `prepare_cached` trims the SQL, hashes all of it to take the statement out of its
//! LRU, copies it into a new `Arc<str>` as the key, and on drop clears the bindings and hashes
//! the text again to put the statement back: about a thousand instructions per use, and a
//! posted message runs five statements, its batch two more (`bench/instructions.py` put it at
//! a tenth of the writer thread). Here a statement is found by the address and length of its
//! SQL, which is `&'static str`, so the same address always holds the same text. As with
//! rusqlite's cache, a statement is reset after each use and its bindings cleared when it goes
//! back, so nothing of one use is left for the next.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use rusqlite::{CachedStatement, Connection, PrepFlags, Statement};

/// The writer's connection (`WriteCtx::tx`). Everything but `prepare_cached` and
/// `prepare_built` is the connection's own, through `Deref`.
pub struct WriteConn<'conn> {
    conn: &'conn Connection,
    /// Each SQL text's statement, by the text's address and length. A statement in use is out
    /// of its slot (`None`) until its `Kept` drops. foldhash, not std's SipHash: std's took a
    /// fifth of what it saved.
    kept: RefCell<foldhash::HashMap<(usize, usize), Option<Statement<'conn>>>>,
}

impl<'conn> WriteConn<'conn> {
    pub fn new(conn: &'conn Connection) -> Self {
        WriteConn {
            conn,
            kept: RefCell::default(),
        }
    }

    /// The statement for `sql`, prepared on first use and kept for the writer's life. The same
    /// text used again while a first use is still running (a nested query) gets a statement
    /// of its own.
    pub fn prepare_cached(&self, sql: &'static str) -> rusqlite::Result<Kept<'_, 'conn>> {
        let key = (sql.as_ptr() as usize, sql.len());
        let taken = self.kept.borrow_mut().get_mut(&key).and_then(Option::take);
        let statement = match taken {
            Some(statement) => statement,
            None => self
                .conn
                .prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?,
        };
        Ok(Kept {
            owner: self,
            key,
            statement: Some(statement),
        })
    }

    /// A statement whose SQL is built at run time (a column name put in, say), through
    /// rusqlite's cache, which finds it by its text. For the scheduler's rarer statements.
    pub fn prepare_built(&self, sql: &str) -> rusqlite::Result<CachedStatement<'conn>> {
        self.conn.prepare_cached(sql)
    }
}

impl<'conn> Deref for WriteConn<'conn> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A kept statement in use; it goes back to its slot when dropped.
pub struct Kept<'a, 'conn> {
    owner: &'a WriteConn<'conn>,
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
        let mut kept = self.owner.kept.borrow_mut();
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
        let tx = WriteConn::new(&conn);
        tx.prepare_cached(INSERT)
            .unwrap()
            .execute((1, "one"))
            .unwrap();
        tx.prepare_cached(INSERT)
            .unwrap()
            .execute((2, None::<String>))
            .unwrap();
        assert_eq!(tx.kept.borrow().len(), 1);
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
        let tx = WriteConn::new(&conn);
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
        assert_eq!(tx.kept.borrow().len(), 2);
        assert!(tx.kept.borrow().values().all(Option::is_some));
    }
}
