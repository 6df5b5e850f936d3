//! The WAL file kept written a few MiB ahead of SQLite's last frame (file stores with
//! `--durability disk`).
//!
//! SQLite appends to the WAL until a checkpoint lets it start over from the beginning, so a new
//! WAL (after every start: a store stopped cleanly leaves none) grows with every commit until it
//! reaches the size at which the writer checkpoints. An `fdatasync` of a file that grew must
//! also write the file's new size (its inode, or a journal commit), a second synchronous write
//! after the data: on the benchmark's disk an 8 KiB write and `fdatasync` took 183 µs at the end
//! of a file and 105 µs over bytes already written (docs/design.md, "The WAL written ahead").
//! So the writer writes zeros past the end of the WAL before
//! SQLite gets there, and SQLite's appends become overwrites. `fallocate` would not do: the
//! blocks it reserves are marked unwritten, and writing them changes the file's metadata as
//! growing it does (168 µs).
//!
//! Zeros are never taken for frames. SQLite ends the log at the first frame whose salt and
//! checksum do not match its header, as it does with the stale frames of a log it restarted.
//! Zeros are written only past the end of the file and only while the writer holds the WAL's
//! write lock (inside its transaction), so they never land on a frame, not even one written by
//! another process (`confab create-account`).

use std::cell::Cell;
use std::ffi::c_int;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

/// The WAL's header, before its first frame.
pub(super) const HEADER_BYTES: u64 = 32;
/// Each frame's header, before its page.
pub(super) const FRAME_HEADER_BYTES: u64 = 24;
/// When SQLite's last frame comes within this distance of the end of the WAL file...
const AHEAD_BYTES: u64 = 4 << 20;
/// ...the writer writes this much more, at most once per batch. A batch adds a little over
/// 4 KiB per page it changed, tens of pages in the benchmark; one that adds more than this only
/// has SQLite append the rest, as it would without the zeros.
const CHUNK_BYTES: u64 = 1 << 20;
/// ...in writes of this size each (see `keep_ahead`).
const PIECE_BYTES: u64 = 64 << 10;

thread_local! {
    /// Frames in the WAL after the last commit on this thread's connection (the writer's), as
    /// SQLite's WAL hook reports them.
    static FRAMES: Cell<u64> = const { Cell::new(0) };
}

/// Registers the writer's WAL hook: it records the WAL's length after each commit and
/// checkpoints once the WAL holds `WRITER_CHECKPOINT_PAGES` frames. It takes the place of
/// SQLite's automatic checkpoint (`wal_autocheckpoint`, which `writer::configure` sets for the
/// migrations), which is a WAL hook too: a connection has one. Its checkpoint is PASSIVE, as
/// the automatic one's is.
pub(super) fn record_commits(conn: &Connection) {
    conn.wal_hook(Some(after_commit));
}

fn after_commit(wal: &Wal, frames: c_int) -> rusqlite::Result<()> {
    let frames = u64::try_from(frames).unwrap_or(0);
    FRAMES.set(frames);
    if frames >= super::writer::WRITER_CHECKPOINT_PAGES {
        // As SQLite's own automatic checkpoint does, a failure (most often SQLITE_BUSY: the
        // checkpointer thread's checkpoint is running) leaves the WAL to the next commit.
        let _ = wal.checkpoint();
    }
    Ok(())
}

/// The writer's handle on the WAL file, to write it ahead of SQLite.
pub(super) struct WalAhead {
    file: File,
    frame_bytes: u64,
}

impl WalAhead {
    /// Opens the WAL of the database at `db`, whose writer connection is `conn` (already in
    /// WAL mode, so the file exists).
    pub fn open(db: &Path, conn: &Connection) -> anyhow::Result<Self> {
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(WalAhead {
            file: open_for_writing(db)?,
            frame_bytes: page_size + FRAME_HEADER_BYTES,
        })
    }

    /// Writes the next chunk of zeros past the end of the WAL file if SQLite's last frame is
    /// within `AHEAD_BYTES` of it. Only with the WAL's write lock held: inside the writer's
    /// transaction. The file's length is read each time, so nothing anyone wrote is ever
    /// written over.
    ///
    /// The length comes from `lseek`, not `fstat`: on the benchmark's machine a stat of the
    /// file made the next write dirty its inode, and so the next `fdatasync` write the inode as
    /// a growing file's does (an 8 KiB write and `fdatasync`: 88 to 96 µs after an `lseek`,
    /// 126 to 128 µs after an `fstat`, 93 to 107 µs after neither).
    pub fn keep_ahead(&self) -> std::io::Result<()> {
        let last_frame_end = HEADER_BYTES + FRAMES.get() * self.frame_bytes;
        let len = (&self.file).seek(SeekFrom::End(0))?;
        if len >= last_frame_end + AHEAD_BYTES || len >= max_wal_bytes(self.frame_bytes) {
            return Ok(());
        }
        // In pieces of 64 KiB, not in one write: the page cache keeps what one write adds in
        // folios as large as the write, and on this kernel each write into a folio makes ext4
        // walk every block of it (`ext4_block_write_begin`, `block_commit_write`). SQLite's
        // frames then land in small writes (two per frame when this was measured, before
        // `wal_gather.rs` gathered each commit's): over 1 MiB folios that took a fifth of the
        // writer's time. Page-sized pieces spared that too, but their 256 writes per chunk
        // measured slower under load (docs/design.md, "The WAL written ahead").
        static ZEROS: [u8; PIECE_BYTES as usize] = [0; PIECE_BYTES as usize];
        for at in (len..len + CHUNK_BYTES).step_by(PIECE_BYTES as usize) {
            self.file.write_all_at(&ZEROS, at)?;
        }
        Ok(())
    }
}

/// The largest the WAL grows while the writer's checkpoint can restart it, and a chunk more:
/// past that SQLite appends as before.
fn max_wal_bytes(frame_bytes: u64) -> u64 {
    HEADER_BYTES + super::writer::WRITER_CHECKPOINT_PAGES * frame_bytes + CHUNK_BYTES
}

/// The WAL of the database at `db`, opened for writing: the writer's connection has opened
/// (and, if needed, created) it by now, so this only gives another descriptor on the same file,
/// which stays the same while the writer is open.
pub(super) fn open_for_writing(db: &Path) -> std::io::Result<File> {
    File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(wal_path(db))
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push("-wal");
    path.into()
}

/// For tests of the WAL's writing: the database at `db` and its WAL copied as a crash would
/// leave them now, opened, and counted from a table `t (n INTEGER, ...)`: its rows, the sum of
/// `n`, and what SQLite's integrity check says.
#[cfg(test)]
pub(super) fn after_a_crash(db: &Path) -> (i64, i64, String) {
    let crashed = tempfile::tempdir().unwrap();
    let copy = crashed.path().join("store.db");
    std::fs::copy(db, &copy).unwrap();
    std::fs::copy(wal_path(db), wal_path(&copy)).unwrap();
    let reopened = Connection::open(&copy).unwrap();
    let (rows, sum) = reopened
        .query_row("SELECT count(*), coalesce(sum(n), 0) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let check = reopened
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    (rows, sum, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a crash leaves, the database and the WAL as they are on disk, still holds every
    /// committed row when the WAL is written ahead with zeros, and the zeros are past SQLite's
    /// last frame.
    #[test]
    fn a_wal_written_ahead_keeps_every_commit_and_runs_past_the_last_frame() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let conn = Connection::open(&db).unwrap();
        super::super::writer::configure(&conn).unwrap();
        conn.execute("CREATE TABLE t (n INTEGER, filler BLOB)", [])
            .unwrap();
        record_commits(&conn);
        let ahead = WalAhead::open(&db, &conn).unwrap();
        for n in 0..300 {
            conn.execute("BEGIN IMMEDIATE", []).unwrap();
            ahead.keep_ahead().unwrap();
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(2000))", [n])
                .unwrap();
            conn.execute("COMMIT", []).unwrap();
        }

        let wal_len = std::fs::metadata(wal_path(&db)).unwrap().len();
        let last_frame_end = HEADER_BYTES + FRAMES.get() * ahead.frame_bytes;
        assert!(FRAMES.get() > 0);
        assert!(
            wal_len >= last_frame_end + AHEAD_BYTES,
            "{wal_len} bytes, the last frame ending at {last_frame_end}"
        );

        assert_eq!(after_a_crash(&db), (300, (0..300).sum(), "ok".into()));
    }
}
