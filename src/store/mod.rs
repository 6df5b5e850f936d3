//! The store: the only module that knows SQL. Handlers call its per-resource functions
//! (`store::conversations::create(...)`), which run either as a read on a pooled connection or
//! as a write job on the single writer thread.
//!
//! The write path, designed once for what every issue needs:
//! - **One writer thread** owns the write connection. Write jobs queue on a channel.
//! - **Group commit**: the writer takes every job that is waiting, runs each inside its own
//!   SAVEPOINT within one transaction and commits once; a job that fails is rolled back to its
//!   savepoint alone, and the others commit. Each job is answered only once its batch is
//!   committed and, with the default [`Durability::Disk`], synced to disk, so every 2xx write
//!   survives a crash (`writer.rs`).
//! - **Everything in the same transaction**: a job gets a [`WriteCtx`] with the transaction and
//!   the time of the batch (from the one injectable [`Clock`]), so the outbox row that reports a
//!   change and any timer it schedules commit with the change itself, or not at all.
//! - **Single writer, no races**: invariants that span rows (unique addresses among open
//!   conversations, per-conversation message indexes) are checked and written by one thread.

pub mod accounts;
pub mod addresses;
pub mod bindings;
pub mod cache;
pub mod configuration;
pub mod conversation_webhooks;
pub mod conversations;
pub mod credentials;
pub mod lifecycle;
pub mod media;
pub mod messages;
mod migrations;
pub mod outbox;
pub mod participants;
pub mod receipts;
pub mod roles;
pub mod service_configuration;
pub mod services;
pub mod sql;
mod statements;
pub mod users;
mod wal;
mod wal_gather;
mod writer;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::Clock;
use crate::error::{Error, Result};

/// At most this many read connections are kept open.
const MAX_READERS: usize = 8;

/// What a write job sees: the open transaction and the batch's clock reading.
pub struct WriteCtx<'a, 'conn> {
    pub tx: &'a statements::WriteConn<'conn>,
    /// Seconds since the epoch, the same for every job in the batch.
    pub now: i64,
    /// Set when the job queued webhook deliveries: the delivery worker is woken after commit.
    pub queued_webhooks: Cell<bool>,
    /// Conversations the batch knows to be current (`cache.rs`, "Writes").
    conversations: &'a cache::BatchView<'a>,
}

type Reply = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&mut WriteCtx) -> (bool, Reply) + Send>;

/// When a write is answered, and so what it survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Answered once its batch is synced to disk (fdatasync): it survives a power loss.
    #[default]
    Disk,
    /// Answered once its batch is committed and handed to the operating system: it survives
    /// the process being killed (kill -9) or crashing, not a power loss or a kernel crash
    /// (SQLite's `synchronous=NORMAL` in WAL mode). For CI and laptops that want the speed.
    Process,
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Location {
    File(PathBuf),
    Memory,
}

impl Location {
    pub fn parse(s: &str) -> Self {
        if s == ":memory:" {
            Location::Memory
        } else {
            Location::File(PathBuf::from(s))
        }
    }
}

#[derive(Clone)]
pub struct Store {
    writer: mpsc::UnboundedSender<Job>,
    readers: Option<Arc<ReaderPool>>,
    pub clock: Clock,
    /// Wakes the background workers when there is work for them.
    pub wake: Arc<Wakeups>,
    /// Conversations by SID; the writer forgets what each batch changes (`cache.rs`).
    pub conversations: Arc<cache::ConversationCache>,
}

/// How the store and the test clock wake the background workers without polling.
#[derive(Default)]
pub struct Wakeups {
    /// A commit queued webhook deliveries, or the clock moved (retries may be due).
    pub webhooks: Notify,
    /// The clock moved, or a timer or receipt transition may have become due sooner.
    pub scheduler: Notify,
}

impl Wakeups {
    /// The clock moved: whatever fell due is looked at now, not at the next tick.
    pub fn clock_moved(&self) {
        self.webhooks.notify_one();
        self.scheduler.notify_one();
    }
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (creating and migrating if needed) the store and starts its writer thread.
    pub fn open(location: &Location, durability: Durability, clock: Clock) -> anyhow::Result<Self> {
        let mut conn = match location {
            Location::File(path) => {
                wal_gather::register().map_err(anyhow::Error::msg)?;
                Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_gather::NAME)?
            }
            Location::Memory => Connection::open_in_memory()?,
        };
        writer::configure(&conn)?;
        migrations::run(&mut conn)?;
        let (writer, jobs) = mpsc::unbounded_channel();
        let wake = Arc::new(Wakeups::default());
        let conversations = Arc::new(cache::ConversationCache::default());
        writer::start(
            conn,
            location,
            durability,
            clock.clone(),
            wake.clone(),
            conversations.clone(),
            jobs,
        )?;
        let readers = match location {
            Location::File(path) => Some(Arc::new(ReaderPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
            })),
            // An in-memory database is private to its connection: reads go through the writer.
            Location::Memory => None,
        };
        Ok(Store {
            writer,
            readers,
            clock,
            wake,
            conversations,
        })
    }

    /// Runs `job` in the next write batch and answers once that batch has committed and is on
    /// disk (with `Durability::Process`: once the operating system has it).
    pub async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> Result<T> + Send + 'static,
    {
        let (reply_to, reply) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |ctx| {
            let result = job(ctx);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed| {
                let _ = reply_to.send(committed.and(result));
            });
            (ok, reply)
        });
        self.writer
            .send(job)
            .map_err(|_| Error::internal("the writer has stopped"))?;
        reply
            .await
            .map_err(|_| Error::internal("the writer dropped a job"))?
    }

    /// Moves the whole WAL into the database file and empties it. Called once the server has
    /// stopped taking requests, so that a stopped server leaves its data in the database file
    /// and not in a WAL of up to 200 MB (`writer.rs`, `WRITER_CHECKPOINT_PAGES`). A write still
    /// running finishes first: the checkpoint waits for the write lock.
    pub fn truncate_wal(&self) -> anyhow::Result<()> {
        let Some(pool) = &self.readers else {
            return Ok(()); // an in-memory store has no WAL
        };
        let conn = Connection::open(&pool.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            anyhow::bail!("the WAL is still in use: it was not emptied");
        }
        Ok(())
    }

    /// Runs `query` on a read connection, inside one read transaction, so that everything it
    /// reads comes from one snapshot; it sees every write that has answered.
    ///
    /// The query runs right here, on the runtime's worker thread, not on a blocking thread:
    /// reads are short indexed queries (a page is at most a few hundred rows) that never wait
    /// for the writer (WAL), and the benchmark measured the hand-off to `spawn_blocking` and
    /// back costing more than the query itself (conversation fetch: 69 µs of CPU per request
    /// with the hand-off, 45 µs without). Running inline also bounds the open read connections
    /// by the threads that can run a read at once, so none is opened per request.
    pub async fn read<T, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Some(pool) = &self.readers else {
            return self.write(move |ctx| query(ctx.tx)).await;
        };
        let conn = pool.take()?;
        let result = in_read_transaction(&conn, query);
        // A connection whose transaction could not end is not reused.
        if conn.is_autocommit() {
            pool.give_back(conn);
        }
        result
    }
}

/// `BEGIN` ... `COMMIT` around `query`: one snapshot for all its statements, and one WAL read
/// lock taken and released instead of one per statement.
fn in_read_transaction<T>(
    conn: &Connection,
    query: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = query(conn);
    // A read-only transaction has nothing to roll back: COMMIT only ends it.
    conn.prepare_cached("COMMIT")?.execute([])?;
    result
}

impl ReaderPool {
    fn take(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().expect("reader pool poisoned").pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", true)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("reader pool poisoned");
        if idle.len() < MAX_READERS {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    /// `.cargo/config.toml` builds SQLite with a page cache per connection and without global
    /// allocation statistics, both to keep readers and the writer off process-wide mutexes.
    #[test]
    fn sqlite_is_built_without_process_wide_caches_and_statistics() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(options.iter().any(|o| o == "THREADSAFE=1"), "{options:?}");
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }
}
