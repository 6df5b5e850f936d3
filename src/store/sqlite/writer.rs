//! The write path: one writer thread with group commit, a syncer thread that makes each batch
//! durable before its callers are answered, a writeback thread that starts writing each commit
//! to the disk before the syncer gets to it, and a checkpointer thread.
//!
//! ```text
//!   Store::write ──job──> writer: BEGIN; SAVEPOINT/RELEASE per job; COMMIT ──batch──> syncer
//!                                   │                                               │
//!                                   ├──"committed"──> writeback          fdatasync(WAL), then
//!                                   │                 (starts the WAL's    answer every job of
//!                                   │                  writeback)          the batches it covers
//!                                   └──"committed"──> checkpointer
//!                                                     (PASSIVE, off the writer's path)
//! ```
//!
//! **Durability.** The WAL runs with `synchronous=NORMAL`, so COMMIT writes the batch's frames
//! to the WAL without waiting for the disk, and the syncer `fdatasync`s the WAL file before any
//! job of the batch is answered. A 2xx is therefore on disk, exactly as with
//! `synchronous=FULL`, but the writer does not wait for the disk: it runs the next batch while
//! the syncer waits, and one sync covers every batch committed since the last one. (SQLite
//! itself still syncs the WAL before each checkpoint and the database after it.) A write that
//! is committed but not yet synced is visible to readers, as any committed write is between
//! COMMIT and its answer; a power failure can lose it, and it was never answered 2xx.
//!
//! A sync has the disk write the frames the OS still holds, then flush its cache. While the
//! syncer waits for one sync, the writeback thread has the disk start writing the batches
//! committed since, so that the next sync finds their frames written or on their way
//! (`spawn_writeback`).
//!
//! With `--durability process`, and for an in-memory store, there is no syncer: batches are
//! answered right after COMMIT, when their frames are in the operating system's hands (a
//! killed process loses nothing; a power loss may lose the last answered writes).

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Action;
use tokio::sync::mpsc;

use super::cache::{BatchView, Changes, ConversationCache, Written};
use super::statements::Sql;
use super::wal::{self, WalAhead};
use super::{Durability, Job, Location, Mode, Reply, SqliteTx, StreamEvent, Wakeups};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// At most this many write jobs share one commit.
const MAX_BATCH: usize = 512;
/// The WAL size (in pages, about 200 MB) at which the writer checkpoints inside its own commit
/// (SQLite's default is 1000 pages).
///
/// Under a steady stream of writes the checkpointer's PASSIVE checkpoints never catch up with
/// the last frame, so only the writer's own checkpoint lets the WAL start over, and every write
/// waits while it copies what is left and syncs the database (20-30 ms in the benchmark's
/// spread writes). At 10,000 pages that came every 200 ms and set the p99 at 64 connections
/// (14-21 ms); at 50,000 it comes about every 0.7 s and the p99 is 4-5 ms. The WAL file keeps
/// its largest size until the store closes.
pub(super) const WRITER_CHECKPOINT_PAGES: u64 = 50_000;
/// The checkpointer runs at most this often.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// Committed batches waiting for the syncer; beyond this the writer waits for the disk.
const MAX_UNSYNCED_BATCHES: usize = 64;

/// Starts the writer (and, for a file store, its checkpointer, and its syncer and writeback
/// threads if writes must reach the disk before they are answered) on `conn`, already migrated.
pub(super) fn start(
    conn: Connection,
    location: &Location,
    durability: Durability,
    clock: Clock,
    wake: Arc<Wakeups>,
    cache: Arc<ConversationCache>,
    jobs: mpsc::UnboundedReceiver<Job>,
) -> anyhow::Result<()> {
    let changes = Arc::new(Mutex::new(Changes::default()));
    let recorded = changes.clone();
    conn.update_hook(Some(move |_: Action, _: &str, table: &str, rowid: i64| {
        recorded
            .lock()
            .expect("change log poisoned")
            .record(table, rowid);
    }));
    // A file store's WAL is checkpointed off the writer's path; with `Durability::Disk` it is
    // also synced before any write is answered, written ahead, and its writeback started early.
    let file = match location {
        Location::SqliteFile(path) => Some(path),
        _ => None,
    };
    let disk = file.filter(|_| durability == Durability::Disk);
    if file.is_some() {
        wal::record_commits(&conn);
    }
    let wal_ahead = disk.map(|path| WalAhead::open(path, &conn)).transpose()?;
    let writer = Writer {
        syncer: disk
            .map(|path| spawn_syncer(path, wake.clone()))
            .transpose()?,
        writeback: disk
            .map(|path| spawn_writeback(path))
            .transpose()?
            .flatten(),
        checkpoints: file.map(|path| spawn_checkpointer(path)).transpose()?,
        wal_ahead,
        conn,
        clock,
        wake,
        changes,
        cache,
    };
    std::thread::Builder::new()
        .name("confab-writer".into())
        .spawn(move || writer.run(jobs))?;
    Ok(())
}

/// Settings of the writer's connection, before the migrations run.
pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL lets readers run beside the writer.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // The syncer makes every batch durable before it is answered (see the module's doc).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // The checkpointer copies the WAL into the database; the writer checkpoints by itself only
    // if that falls far behind, so that the WAL stays bounded.
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    Ok(())
}

/// The writer thread's own state.
struct Writer {
    conn: Connection,
    clock: Clock,
    wake: Arc<Wakeups>,
    /// Makes committed batches durable and answers them (file stores, `Durability::Disk`).
    syncer: Option<SyncSender<Committed>>,
    /// Told of every commit (file stores), to checkpoint the WAL off this thread.
    checkpoints: Option<SyncSender<()>>,
    /// Told of every commit, to start writing it to the disk before the syncer syncs it (file
    /// stores, `Durability::Disk`, on Linux).
    writeback: Option<SyncSender<()>>,
    /// Keeps the WAL file written ahead of SQLite, so that the syncer's `fdatasync`s do not
    /// also write a growing file's size (file stores, `Durability::Disk`; `wal.rs`).
    wal_ahead: Option<WalAhead>,
    /// What the batch being run has changed, as SQLite's update hook reports it.
    changes: Arc<Mutex<Changes>>,
    /// Forgets, after each commit and before any answer, the conversations a batch changed,
    /// then keeps those it wrote and knows as they now are.
    cache: Arc<ConversationCache>,
}

/// A committed batch, waiting to be made durable and answered.
struct Committed {
    replies: Vec<Reply>,
    outcome: Result<()>,
    queued_webhooks: bool,
    /// The events its jobs recorded, in commit order.
    events: Vec<StreamEvent>,
}

impl Committed {
    /// Answers every job of the batch, wakes the webhook worker if the batch queued any, and
    /// then hands its events to the streams: an event never reaches a stream before its write
    /// is durable and answered. Batches are answered in commit order, so events are published
    /// in id order.
    fn answer(self, wake: &Wakeups) {
        let ok = self.outcome.is_ok();
        if ok && self.queued_webhooks {
            wake.webhooks.notify_one();
        }
        for reply in self.replies {
            reply(self.outcome.clone());
        }
        if ok {
            wake.events.publish(self.events);
        }
    }
}

impl Writer {
    fn run(self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let conn = Sql::writer(&self.conn);
        while let Some(first) = jobs.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let (committed, written) = self.run_batch(&conn, batch);
            if let Some(writeback) = &self.writeback
                && committed.outcome.is_ok()
            {
                // Full means a pass is already pending, and it will cover this commit too.
                let _ = writeback.try_send(());
            }
            self.forget_changes();
            if committed.outcome.is_ok() {
                self.cache.keep_written(written);
            }
            if let Some(checkpoints) = &self.checkpoints {
                // Full means a wake-up is already pending.
                let _ = checkpoints.try_send(());
            }
            match &self.syncer {
                Some(syncer) => {
                    if let Err(unsent) = syncer.send(committed) {
                        // The syncer is gone (it only stops with the process): answer an error
                        // rather than claim durability.
                        let mut committed = unsent.0;
                        committed.outcome = Err(Error::internal("the WAL syncer has stopped"));
                        committed.answer(&self.wake);
                    }
                }
                None => committed.answer(&self.wake),
            }
        }
    }

    /// Drops from the cache what the last batch changed, whether it committed or not (a rolled
    /// back change only costs a miss). Before any of its jobs is answered, so that no answered
    /// write is hidden by a cached row.
    fn forget_changes(&self) {
        let changes = std::mem::take(&mut *self.changes.lock().expect("change log poisoned"));
        if !changes.is_empty() {
            self.cache.forget(&changes);
        }
    }

    /// One transaction for the whole batch, one savepoint per job, one commit. Also answers
    /// the conversations the batch wrote and knows as they now are (`cache.rs`, "Writes").
    fn run_batch(&self, conn: &Sql, batch: Vec<Job>) -> (Committed, Written) {
        let now = self.clock.now_secs();
        if let Err(e) = execute(conn, "BEGIN IMMEDIATE") {
            // Dropping the jobs answers their callers with an internal error.
            tracing::error!(error = %e, jobs = batch.len(), "could not begin a write batch");
            let failed = Committed {
                replies: Vec::new(),
                outcome: Err(e.into()),
                queued_webhooks: false,
                events: Vec::new(),
            };
            return (failed, Written::default());
        }
        // The transaction holds the WAL's write lock: no one else appends while this runs.
        if let Some(ahead) = &self.wal_ahead
            && let Err(e) = ahead.keep_ahead()
        {
            tracing::warn!(error = %e, "could not write the WAL file ahead of SQLite");
        }
        let view = BatchView::new(&self.cache, &self.changes);
        let mut replies = Vec::with_capacity(batch.len());
        let mut queued_webhooks = false;
        let mut events = Vec::new();
        for job in batch {
            if let Err(e) = execute(conn, "SAVEPOINT job") {
                // Dropping the job answers its caller with an internal error.
                tracing::error!(error = %e, "could not open a job's savepoint");
                continue;
            }
            let queued = Cell::new(false);
            let recorded = RefCell::new(Vec::new());
            let mut tx = SqliteTx {
                tx: conn,
                now,
                mode: Mode::Write {
                    batch: &view,
                    queued_webhooks: &queued,
                    events: &recorded,
                },
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tx)));
            let (ok, reply) = match outcome {
                Ok((ok, reply)) => (ok, Some(reply)),
                Err(_) => (false, None),
            };
            let ended = if ok {
                execute(conn, "RELEASE job")
            } else {
                execute(conn, "ROLLBACK TO job").and_then(|()| execute(conn, "RELEASE job"))
            };
            if let Err(e) = &ended {
                tracing::error!(error = %e, "could not end a job's savepoint");
            }
            view.job_ended(ok && ended.is_ok());
            queued_webhooks |= ok && queued.get();
            if ok && ended.is_ok() {
                events.append(&mut recorded.take());
            }
            replies.extend(reply);
        }
        let written = view.into_written();
        let committed = Committed {
            replies,
            outcome: commit(conn).map_err(Error::from),
            queued_webhooks,
            events,
        };
        (committed, written)
    }
}

/// Runs one of the statements that open and close transactions and savepoints, which run for
/// every job or batch: kept prepared, as the jobs' own statements are.
fn execute(conn: &Sql, sql: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Commits the batch; if the commit fails, rolls it back, so that the next batch begins on a
/// connection outside any transaction (as rusqlite's `Transaction` does when dropped).
fn commit(conn: &Sql) -> rusqlite::Result<()> {
    let committed = execute(conn, "COMMIT");
    if committed.is_err()
        && !conn.is_autocommit()
        && let Err(e) = execute(conn, "ROLLBACK")
    {
        tracing::error!(error = %e, "could not roll back a batch whose commit failed");
    }
    committed
}

/// Starts the thread that syncs the WAL file and then answers the batches the sync covers.
fn spawn_syncer(db: &Path, wake: Arc<Wakeups>) -> anyhow::Result<SyncSender<Committed>> {
    let wal = wal::open_for_writing(db)?;
    let (batches, committed) = sync_channel(MAX_UNSYNCED_BATCHES);
    std::thread::Builder::new()
        .name("confab-sync".into())
        .spawn(move || sync_and_answer(wal, committed, wake))?;
    Ok(batches)
}

fn sync_and_answer(wal: File, committed: Receiver<Committed>, wake: Arc<Wakeups>) {
    // Ends when the writer, the only sender, stops.
    while let Ok(first) = committed.recv() {
        // Every batch committed before this sync starts is covered by it.
        let mut covered = vec![first];
        covered.extend(committed.try_iter());
        let synced = wal.sync_data().map_err(|e| {
            tracing::error!(error = %e, "could not sync the WAL: answering its batches 500");
            Error::internal("the write could not be made durable")
        });
        for mut batch in covered {
            if let Err(e) = &synced {
                batch.outcome = batch.outcome.and(Err(e.clone()));
            }
            batch.answer(&wake);
        }
    }
}

/// Starts the thread that has the disk start writing each commit's WAL frames as soon as the
/// writer has committed them (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait for
/// the disk).
///
/// A batch's callers wait for the sync before theirs to end and then for their own, and a sync
/// has the disk write what the OS still holds and then flush its cache: two requests, one after
/// the other. Started by this thread, the frames of the batches committed while a sync runs are
/// on their way by the time the next sync begins, and that sync mostly waits for them and the
/// flush. Not on the writer thread: issuing the writes there cost it as much time as the sync
/// saved (docs/design.md, "Writeback started early"). This changes
/// only when the frames reach the disk, not what is answered when: every answer still waits for
/// the syncer's `fdatasync`, which writes anything this has not. POST at 16 connections went
/// about 5% faster with it, on average over 25 alternations, in a noise wider than that
/// (docs/design.md, "Writeback started early").
#[cfg(target_os = "linux")]
fn spawn_writeback(db: &Path) -> anyhow::Result<Option<SyncSender<()>>> {
    use std::os::fd::AsRawFd;

    let wal = wal::open_for_writing(db)?;
    // Capacity 1: commits made while a pass runs leave one wake-up, and the next pass covers
    // them all.
    let (commits, committed) = sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("confab-writeback".into())
        .spawn(move || {
            // Ends when the writer, the only sender, stops.
            while committed.recv().is_ok() {
                // SAFETY: a system call on a descriptor this thread owns, with no pointers.
                let rc = unsafe {
                    libc::sync_file_range(wal.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
                };
                // A failure only loses the head start: the syncer's `fdatasync` writes the
                // frames, and reports any error of the file's.
                if rc != 0 {
                    let error = std::io::Error::last_os_error();
                    tracing::debug!(%error, "WAL writeback not started");
                }
            }
        })?;
    Ok(Some(commits))
}

/// Elsewhere than on Linux there is no `sync_file_range`: each sync writes its frames itself.
#[cfg(not(target_os = "linux"))]
fn spawn_writeback(_db: &Path) -> anyhow::Result<Option<SyncSender<()>>> {
    Ok(None)
}

/// Starts the thread that checkpoints the WAL after commits, on a connection of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL pages, on the
/// writer thread: the benchmark's profile put it at 8% of the write path's CPU, and that batch's
/// callers waited for it (the worst latencies). A PASSIVE checkpoint from another connection
/// copies the same pages without holding up the writer or any reader.
fn spawn_checkpointer(db: &Path) -> anyhow::Result<SyncSender<()>> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Capacity 1: commits made while a checkpoint runs leave one wake-up, not one each.
    let (commits, committed) = sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("confab-checkpoint".into())
        .spawn(move || {
            // Ends when the writer, the only sender, stops.
            while committed.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; the writer's own will run");
                }
                std::thread::sleep(CHECKPOINT_INTERVAL);
            }
        })?;
    Ok(commits)
}
