//! Before confab changes anything in a SQLite file (switching it to WAL, migrating it), it makes
//! sure the file is a confab store it can run: another application's database is left exactly
//! as it was, and a store written by a newer confab is refused with both schema versions
//! (docs/design.md, "Opening a SQLite store"). Every refusal names the file.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, anyhow};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::migrations;

/// SQLite's `application_id` of a confab store ("conf" in ASCII), set by migration 0014.
pub const APPLICATION_ID: i32 = 0x636f_6e66;

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What is at the store's path.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing yet (no file, or an empty one): confab creates its store there.
    Nothing,
    /// A confab store at this schema version, which this confab can run (migrating it up).
    Store { version: usize },
}

/// Looks at `path` without writing to it.
pub fn recognise(path: &Path) -> anyhow::Result<Found> {
    let shown = path.display();
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(anyhow!("cannot read the store {shown}: {e}")),
    };
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("the store {shown} is a directory: give --db a file's path");
    }
    let mut header = [0u8; 16];
    let read = read_up_to(&mut file, &mut header)
        .with_context(|| format!("cannot read the store {shown}"))?;
    if read == 0 {
        return Ok(Found::Nothing);
    }
    if read < header.len() || &header != SQLITE_HEADER {
        anyhow::bail!(
            "{shown} is not a SQLite database (file is not a database), so not a confab store: \
             give --db another path"
        );
    }
    let seen = look_inside(path).map_err(|e| describe(path, e))?;
    judge(path, seen)
}

/// What the file's header and schema say, read on a read-only connection.
struct Seen {
    application_id: i32,
    version: usize,
    tables: BTreeSet<String>,
}

fn look_inside(path: &Path) -> rusqlite::Result<Seen> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    Ok(Seen {
        application_id: conn.pragma_query_value(None, "application_id", |r| r.get(0))?,
        version: conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
        tables: tables(&conn)?,
    })
}

fn judge(path: &Path, seen: Seen) -> anyhow::Result<Found> {
    let shown = path.display();
    let latest = migrations::LATEST;
    let foreign = || {
        anyhow!(
            "{shown} is a SQLite database but not a confab store (another application's?): \
             confab leaves it as it is; give --db another path"
        )
    };
    match seen.application_id {
        APPLICATION_ID if seen.version > latest => Err(anyhow!(
            "the store {shown} has schema version {}, newer than this confab's {latest} \
             (it was written by a newer confab): run a newer confab on it, or give --db another \
             path",
            seen.version
        )),
        APPLICATION_ID => Ok(Found::Store {
            version: seen.version,
        }),
        0 if seen.version == 0 && seen.tables.is_empty() => Ok(Found::Nothing),
        // A store made before confab marked its stores: recognised by having exactly the tables
        // a confab store of its version has.
        0 if seen.version > 0 && seen.version < latest => {
            if seen.tables == tables_at(seen.version)? {
                Ok(Found::Store {
                    version: seen.version,
                })
            } else {
                Err(foreign())
            }
        }
        _ => Err(foreign()),
    }
}

/// The tables of a confab store at schema `version`, from the migrations run in memory.
fn tables_at(version: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut conn = Connection::open_in_memory()?;
    migrations::run_to(&mut conn, version)?;
    Ok(tables(&conn)?)
}

fn tables(conn: &Connection) -> rusqlite::Result<BTreeSet<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// SQLite's error about the store, as one line that names it and says what to do.
pub fn describe(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    let shown = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => anyhow!(
            "{shown} is not a SQLite database (file is not a database), so not a confab store: \
             give --db another path"
        ),
        Some(ErrorCode::DatabaseCorrupt) => anyhow!(
            "the store {shown} is damaged (database disk image is malformed): restore it from a \
             backup, or give --db another path"
        ),
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            anyhow!("cannot write the store {shown} or its WAL beside it: permission denied ({e})")
        }
        Some(ErrorCode::CannotOpen) => cannot_open(path, &e.to_string()),
        _ => anyhow!("the store {shown}: {e}"),
    }
}

/// "unable to open database file", said of the path: which part is missing or not writable.
pub fn cannot_open(path: &Path, cause: &str) -> anyhow::Error {
    let shown = path.display();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Err(_) => anyhow!(
            "cannot open the store {shown}: its directory {} does not exist",
            dir.display()
        ),
        Ok(meta) if !meta.is_dir() => anyhow!(
            "cannot open the store {shown}: {} is not a directory",
            dir.display()
        ),
        Ok(meta) if meta.permissions().readonly() => anyhow!(
            "cannot open the store {shown}: its directory {} is not writable",
            dir.display()
        ),
        Ok(_) => anyhow!(
            "cannot open the store {shown} ({cause}): its directory {} must be writable by \
             confab (the WAL and its index live beside the store)",
            dir.display()
        ),
    }
}

/// An I/O error about the store's file, as one line that names it.
pub fn io_error(path: &Path, doing: &str, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => cannot_open(path, &e.to_string()),
        std::io::ErrorKind::PermissionDenied => anyhow!(
            "cannot {doing} the store {}: permission denied",
            path.display()
        ),
        _ => anyhow!("cannot {doing} the store {}: {e}", path.display()),
    }
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_at(version: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut conn = Connection::open(&path).unwrap();
        migrations::run_to(&mut conn, version).unwrap();
        (dir, path)
    }

    #[test]
    fn a_store_of_every_version_is_recognised() {
        for version in 1..=migrations::LATEST {
            let (_dir, path) = store_at(version);
            assert_eq!(recognise(&path).unwrap(), Found::Store { version });
        }
    }

    #[test]
    fn a_store_before_the_application_id_with_a_foreign_table_is_refused() {
        let (_dir, path) = store_at(3);
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE invoices (id INTEGER)")
            .unwrap();
        let error = recognise(&path).unwrap_err().to_string();
        assert!(error.contains("not a confab store"), "{error}");
    }

    #[test]
    fn a_newer_store_is_refused_with_both_versions() {
        let (_dir, path) = store_at(migrations::LATEST);
        let newer = migrations::LATEST + 3;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        let error = recognise(&path).unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "schema version {newer}, newer than this confab's {}",
                migrations::LATEST
            )),
            "{error}"
        );
    }

    #[test]
    fn nothing_and_an_empty_file_are_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        assert_eq!(recognise(&path).unwrap(), Found::Nothing);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(recognise(&path).unwrap(), Found::Nothing);
    }
}
