//! The writer connection's VFS: SQLite's default one, except that each commit's WAL frames
//! reach the operating system in a few large writes instead of two small ones per frame.
//!
//! SQLite writes every WAL frame with two `pwrite`s, its 24-byte header and then its page, and
//! a batch's commit writes a frame for each page the batch changed. In a profile of spread
//! message posts those `pwrite`s took a fifth of the writer's time (docs/design.md, "The VFS
//! that gathers WAL frames"). This VFS passes every call through to SQLite's
//! own (`unix`), but for the WAL file it gathers appended frames in memory and writes them out
//! when the commit frame's page arrives, which is before SQLite publishes the commit to
//! readers and before `COMMIT` returns: what a reader, a sync or a crash sees is what it would
//! see without this VFS.
//!
//! The rules, for the WAL file only:
//! - A write at or past the furthest byte appended so far is an append: it is gathered if it
//!   follows what is gathered, or else starts a new gathering (after writing out the last).
//! - The page after a frame header with a commit mark ends the commit: everything gathered is
//!   written out, in pieces of 64 KiB. (With `synchronous=NORMAL`, which the writer runs with,
//!   SQLite writes that page in one call; only `FULL` may split a frame around a sync, and a
//!   sync writes out what is gathered too.)
//! - Anything else (the WAL's header when the log starts over, a page or a checksum written
//!   again over an earlier frame) is written through at once, after what is gathered. So is
//!   anything gathered before a read, a sync, a truncation, a size query, a file control or a
//!   close, so that SQLite never finds the file other than it wrote it.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's name, to open a connection with it.
pub(super) const NAME: &CStr = c"confab-gather";
/// Gathered bytes beyond this are written out even before the commit (a transaction that
/// spills pages from SQLite's cache writes frames long before it commits).
const MAX_GATHERED: usize = 4 << 20;
/// Each WAL frame's header, before its page (`wal.rs` has the WAL's layout), as the lengths of
/// SQLite's writes are typed.
const FRAME_HEADER_BYTES: c_int = super::wal::FRAME_HEADER_BYTES as c_int;
/// The most written in one call: the `unix` VFS writes at most 128 KiB - 1 bytes per call (it
/// masks the length to 17 bits, and a write of exactly 128 KiB writes nothing).
const MAX_WRITE: usize = 64 << 10;
/// The WAL's own header, at offset 0, written when the log starts (over).
const WAL_HEADER_BYTES: c_int = super::wal::HEADER_BYTES as c_int;

/// Registers the VFS (once per process; not as the default).
pub(super) fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` returns SQLite's own VFS, which lives as long as the
            // process; the copy made from it is leaked, as SQLite keeps a registered VFS's
            // address.
            unsafe {
                let real = ffi::sqlite3_vfs_find(c"unix".as_ptr());
                if real.is_null() {
                    return Err("SQLite has no `unix` VFS".into());
                }
                let real_file_bytes = usize::try_from((*real).szOsFile).expect("VFS file size");
                let mut vfs = *real;
                vfs.szOsFile = c_int::try_from(std::mem::size_of::<GatherFile>() + real_file_bytes)
                    .expect("VFS file size");
                vfs.zName = NAME.as_ptr();
                vfs.pNext = std::ptr::null_mut();
                vfs.xOpen = Some(open);
                let vfs = Box::leak(Box::new(vfs));
                REAL.set(RealVfs(real)).map_err(|_| "registered twice")?;
                match ffi::sqlite3_vfs_register(vfs, 0) {
                    ffi::SQLITE_OK => Ok(()),
                    rc => Err(format!("could not register the VFS (SQLite error {rc})")),
                }
            }
        })
        .clone()
}

/// SQLite's `unix` VFS, which this one passes its calls to.
struct RealVfs(*mut ffi::sqlite3_vfs);
// SAFETY: a VFS is a table of functions that SQLite calls from any thread.
unsafe impl Send for RealVfs {}
unsafe impl Sync for RealVfs {}
static REAL: OnceLock<RealVfs> = OnceLock::new();

/// An open file of this VFS: SQLite's own file, and for the WAL what is gathered. SQLite
/// allocates `szOsFile` bytes for it; the real file lives in the bytes after this struct.
#[repr(C)]
struct GatherFile {
    /// Must come first: SQLite sees this struct as an `sqlite3_file`.
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// The WAL's gathered frames; null for every other file.
    gathered: *mut Gathered,
}

#[derive(Default)]
struct Gathered {
    /// The offset of `bytes[0]` in the file.
    start: i64,
    bytes: Vec<u8>,
    /// The end of the furthest append: a write before it is not an append.
    appended_to: i64,
    /// The last gathered write was a frame header with a commit mark: its page ends the commit.
    commit_page_next: bool,
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite hands this VFS `szOsFile` bytes at `file`, aligned for an
    // `sqlite3_file`; the real file gets the bytes after `GatherFile` (a multiple of 8 long).
    unsafe {
        let file = file.cast::<GatherFile>();
        (*file).base.pMethods = std::ptr::null();
        let real_vfs = REAL.get().expect("VFS registered").0;
        let real = file.add(1).cast::<ffi::sqlite3_file>();
        let rc =
            ((*real_vfs).xOpen.expect("unix VFS opens"))(real_vfs, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if (*real).pMethods.is_null() {
            return ffi::SQLITE_CANTOPEN;
        }
        let gathered = if flags & ffi::SQLITE_OPEN_WAL != 0 {
            Box::into_raw(Box::default())
        } else {
            std::ptr::null_mut()
        };
        file.write(GatherFile {
            base: ffi::sqlite3_file { pMethods: &METHODS },
            real,
            gathered,
        });
        ffi::SQLITE_OK
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// The real file, its methods, and what is gathered for it (null unless it is the WAL).
///
/// # Safety
/// `file` is a `GatherFile` that `open` filled.
unsafe fn parts(
    file: *mut ffi::sqlite3_file,
) -> (
    *mut ffi::sqlite3_file,
    &'static ffi::sqlite3_io_methods,
    *mut Gathered,
) {
    // SAFETY: as the caller promises; SQLite's method tables are static.
    unsafe {
        let file = &*file.cast::<GatherFile>();
        (file.real, &*(*file.real).pMethods, file.gathered)
    }
}

/// Writes out what is gathered, if anything.
///
/// # Safety
/// `real` and `methods` are the file that `gathered` belongs to.
unsafe fn write_out(
    gathered: &mut Gathered,
    real: *mut ffi::sqlite3_file,
    methods: &ffi::sqlite3_io_methods,
) -> c_int {
    gathered.commit_page_next = false;
    let mut rc = ffi::SQLITE_OK;
    let mut at = gathered.start;
    for piece in gathered.bytes.chunks(MAX_WRITE) {
        // SAFETY: as the caller promises; a piece is shorter than `c_int::MAX`.
        rc = unsafe {
            (methods.xWrite.expect("unix files write"))(
                real,
                piece.as_ptr().cast(),
                piece.len() as c_int,
                at,
            )
        };
        if rc != ffi::SQLITE_OK {
            break;
        }
        at += piece.len() as i64;
    }
    // Cleared whether or not the writes succeeded: a failed write fails SQLite's commit, which
    // writes its frames again when it is retried.
    gathered.bytes.clear();
    rc
}

/// Writes out what is gathered for `file`, if it is the WAL.
///
/// # Safety
/// `file` is a `GatherFile` that `open` filled, and no reference to its `Gathered` is alive.
unsafe fn write_out_file(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as the caller promises; SQLite calls a file's methods from one thread at a time.
    unsafe {
        let (real, methods, gathered) = parts(file);
        match gathered.as_mut() {
            Some(gathered) => write_out(gathered, real, methods),
            None => ffi::SQLITE_OK,
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls this on a file `open` filled, with `amount` bytes at `data`, from
    // one thread at a time.
    unsafe {
        let (real, methods, gathered) = parts(file);
        let write_through = |gathered: Option<&mut Gathered>| {
            if let Some(gathered) = gathered {
                let rc = write_out(gathered, real, methods);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            (methods.xWrite.expect("unix files write"))(real, data, amount, offset)
        };
        let Some(g) = gathered.as_mut() else {
            return write_through(None);
        };
        if offset == 0 && amount == WAL_HEADER_BYTES {
            // The log starts over: every frame from here on is appended again.
            g.appended_to = i64::from(WAL_HEADER_BYTES);
            return write_through(Some(g));
        }
        if offset < g.appended_to {
            return write_through(Some(g));
        }
        g.appended_to = offset + i64::from(amount);
        if !g.bytes.is_empty() && offset != g.start + g.bytes.len() as i64 {
            let rc = write_out(g, real, methods);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if g.bytes.is_empty() {
            g.start = offset;
        }
        let data = std::slice::from_raw_parts(data.cast::<u8>(), amount as usize);
        g.bytes.extend_from_slice(data);
        let ends_commit = std::mem::take(&mut g.commit_page_next);
        if amount == FRAME_HEADER_BYTES {
            // Bytes 4..8 of a frame header: the database's size in pages after a commit, zero
            // for any other frame.
            g.commit_page_next = data[4..8] != [0; 4];
        }
        if ends_commit || g.bytes.len() >= MAX_GATHERED {
            return write_out(g, real, methods);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file `open` filled, once; `gathered` came from `Box::into_raw`.
    unsafe {
        let written = write_out_file(file);
        let (real, methods, gathered) = parts(file);
        let closed = (methods.xClose.expect("unix files close"))(real);
        if !gathered.is_null() {
            drop(Box::from_raw(gathered));
        }
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

/// Defines a method that writes out what is gathered, then passes the call on.
macro_rules! after_writing_out {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) ) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite calls this on a file `open` filled.
            unsafe {
                let rc = write_out_file(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                let (real, methods, _) = parts(file);
                match methods.$method {
                    Some(method) => method(real, $($arg),*),
                    None => ffi::SQLITE_MISUSE,
                }
            }
        }
    };
}

/// Defines a method that passes the call on.
macro_rules! passed_on {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty, $missing:expr ) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            // SAFETY: SQLite calls this on a file `open` filled.
            unsafe {
                let (real, methods, _) = parts(file);
                match methods.$method {
                    Some(method) => method(real, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

after_writing_out!(read, xRead(data: *mut c_void, amount: c_int, offset: i64));
after_writing_out!(truncate, xTruncate(size: i64));
after_writing_out!(sync, xSync(flags: c_int));
after_writing_out!(file_size, xFileSize(size: *mut i64));
after_writing_out!(file_control, xFileControl(op: c_int, arg: *mut c_void));
passed_on!(lock, xLock(level: c_int) -> c_int, ffi::SQLITE_MISUSE);
passed_on!(unlock, xUnlock(level: c_int) -> c_int, ffi::SQLITE_MISUSE);
passed_on!(check_reserved_lock, xCheckReservedLock(out: *mut c_int) -> c_int, ffi::SQLITE_MISUSE);
passed_on!(sector_size, xSectorSize() -> c_int, 4096);
passed_on!(device_characteristics, xDeviceCharacteristics() -> c_int, 0);
passed_on!(shm_map, xShmMap(page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
passed_on!(shm_lock, xShmLock(offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
passed_on!(shm_barrier, xShmBarrier() -> (), ());
passed_on!(shm_unmap, xShmUnmap(delete: c_int) -> c_int, ffi::SQLITE_OK);
passed_on!(fetch, xFetch(offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int, {
    // No memory map: SQLite reads the page instead.
    *out = std::ptr::null_mut();
    ffi::SQLITE_OK
});
passed_on!(unfetch, xUnfetch(offset: i64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::{Connection, OpenFlags};

    use super::super::wal::after_a_crash;
    use super::*;

    /// A connection through this VFS, set up as the writer's is.
    fn gathering(db: &Path) -> Connection {
        register().unwrap();
        let conn = Connection::open_with_flags_and_vfs(db, OpenFlags::default(), NAME).unwrap();
        super::super::writer::configure(&conn).unwrap();
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER, filler BLOB)", [])
            .unwrap();
        conn
    }

    /// Commits a transaction of `rows` rows numbered from `first`, each filling most of a page.
    fn commit_rows(conn: &Connection, first: i64, rows: i64) {
        conn.execute("BEGIN IMMEDIATE", []).unwrap();
        for n in first..first + rows {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(3000))", [n])
                .unwrap();
        }
        conn.execute("COMMIT", []).unwrap();
    }

    fn sum(rows: i64) -> i64 {
        (0..rows).sum()
    }

    #[test]
    fn each_commit_is_in_the_file_and_seen_by_readers_when_commit_returns() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let conn = gathering(&db);
        let reader = Connection::open(&db).unwrap();
        for batch in 0..40 {
            commit_rows(&conn, batch * 10, 10);
            let seen: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(seen, (batch + 1) * 10);
            assert_eq!(
                after_a_crash(&db),
                ((batch + 1) * 10, sum((batch + 1) * 10), "ok".into())
            );
        }
    }

    /// A transaction larger than the page cache writes frames before it commits, and writes
    /// some pages again over their earlier frames, which makes SQLite rewrite the checksums of
    /// every frame from there at commit.
    #[test]
    fn a_transaction_that_spills_and_rewrites_its_frames_commits_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let conn = gathering(&db);
        commit_rows(&conn, 0, 10);
        conn.pragma_update(None, "cache_size", 10).unwrap();
        conn.execute("BEGIN IMMEDIATE", []).unwrap();
        for n in 10..400 {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(3000))", [n])
                .unwrap();
        }
        conn.execute("UPDATE t SET n = n + 1000 WHERE n < 50", [])
            .unwrap();
        conn.execute("UPDATE t SET n = n - 1000 WHERE n >= 1000", [])
            .unwrap();
        conn.execute("COMMIT", []).unwrap();
        assert_eq!(after_a_crash(&db), (400, sum(400), "ok".into()));
    }

    /// After a checkpoint lets the log start over, SQLite writes the WAL's header and its
    /// frames again from the beginning of the file, over the old ones.
    #[test]
    fn commits_after_the_log_starts_over_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let conn = gathering(&db);
        commit_rows(&conn, 0, 50);
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            .unwrap();
        for batch in 0..5 {
            commit_rows(&conn, 50 + batch * 10, 10);
        }
        assert_eq!(after_a_crash(&db), (100, sum(100), "ok".into()));
    }
}
