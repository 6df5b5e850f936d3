//! The SQLite engine: one database file (or memory), one writer thread with group commit,
//! read connections beside it, and a cache of conversations.
//!
//! - **One writer thread** owns the write connection; write jobs queue on a channel. It takes
//!   every job that is waiting, runs each inside its own SAVEPOINT within one transaction and
//!   commits once; a job that fails is rolled back to its savepoint alone (`writer.rs`;
//!   docs/design.md, "One writer thread", "Group commit").
//! - **Durable before answered**: with the default [`Durability::Disk`] a job is answered only
//!   once its batch is synced to disk (docs/design.md, "The syncer").
//! - **Reads inline**: a read job runs on the async worker that asked, on a pooled read
//!   connection, inside one read transaction (docs/design.md, "Reads inline on the async
//!   worker").
//! - **Conversations cached** (`cache.rs`), never older than an answered write (docs/design.md,
//!   "The conversation cache and its generation rule").
//!
//! Every statement a job runs goes through [`Sql`] (`statements.rs`): the one way SQL runs here.

mod cache;
mod lock;
mod migrations;
mod recognise;

mod accounts;
mod addresses;
mod bindings;
mod clock;
mod configuration;
mod conversation_webhooks;
pub(crate) mod conversations;
mod credentials;
mod events;
mod inbound;
mod media;
pub(crate) mod messages;
mod participants;
mod receipts;
mod roles;
mod service_configuration;
pub(crate) mod services;
mod users;
mod webhooks;

pub(crate) mod sql;
mod statements;
mod wal;
mod wal_gather;
mod writer;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::events::{EventId, StreamEvent};
use super::{Location, Options, Tx, Wakeups};
use crate::clock::Clock;
use crate::error::{Error, Result};
use cache::BatchView;
pub(crate) use cache::ConversationCache;
pub(crate) use statements::Sql;

impl From<rusqlite::Error> for Error {
    /// SQLite's errors are internal; a refused unique key is mapped where a statement can hit
    /// one (`sql::is_unique_violation`), for the domain to name.
    fn from(e: rusqlite::Error) -> Self {
        Error::internal(e)
    }
}

/// At most this many read connections are kept open.
const MAX_READERS: usize = 8;

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

/// What a job runs against, and what it knows of its batch: this engine's [`Tx`].
pub struct SqliteTx<'a, 'conn> {
    pub(crate) tx: &'a Sql<'conn>,
    /// Seconds since the epoch, the same for every job of a write batch.
    pub(crate) now: i64,
    mode: Mode<'a>,
}

enum Mode<'a> {
    /// A read job: conversations come from the cache, and what it loads is offered to the
    /// cache with the generation read before its read transaction began.
    Read {
        cache: &'a ConversationCache,
        generation: u64,
    },
    /// A write job, inside the writer's batch.
    Write {
        batch: &'a BatchView<'a>,
        /// Set when the job queued webhook deliveries: the delivery worker is woken once the
        /// batch is answered.
        queued_webhooks: &'a Cell<bool>,
        /// The events the job recorded: published to the streams once the batch is answered
        /// (dropped with the job if it fails).
        events: &'a RefCell<Vec<StreamEvent>>,
    },
}

impl SqliteTx<'_, '_> {
    /// Conversations the batch knows to be current (`cache.rs`, "Writes"); `None` in a read.
    fn batch(&self) -> Option<&BatchView<'_>> {
        match &self.mode {
            Mode::Write { batch, .. } => Some(batch),
            Mode::Read { .. } => None,
        }
    }

    /// The job queued webhook deliveries.
    pub(crate) fn queued_webhooks(&self) {
        if let Mode::Write {
            queued_webhooks, ..
        } = &self.mode
        {
            queued_webhooks.set(true);
        }
    }

    /// The job recorded an event (in a read job there is nothing to record).
    pub(crate) fn recorded_event(&self, event: StreamEvent) {
        if let Mode::Write { events, .. } = &self.mode {
            events.borrow_mut().push(event);
        }
    }
}

impl Tx for SqliteTx<'_, '_> {
    fn now(&self) -> i64 {
        self.now
    }
}

type Reply = Box<dyn FnOnce(Result<()>) + Send>;
/// A write job as the writer runs it: it says whether it succeeded (its savepoint is released,
/// or rolled back) and how to answer once its batch is committed and durable.
type Job = Box<dyn FnOnce(&mut SqliteTx) -> (bool, Reply) + Send>;

pub struct Engine {
    writer: mpsc::UnboundedSender<Job>,
    readers: Option<ReaderPool>,
    pub(crate) cache: Arc<ConversationCache>,
    clock: Clock,
    /// A server's hold on its file store: no second server opens it while this one runs.
    _lock: Option<lock::StoreLock>,
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Engine {
    /// Opens (creating and migrating if needed) the store and starts its writer thread.
    pub fn open(
        location: &Location,
        options: &Options,
        clock: Clock,
        wake: Arc<Wakeups>,
    ) -> anyhow::Result<Self> {
        let (mut conn, lock) = match location {
            Location::SqliteFile(path) => open_file(path, options)?,
            Location::SqliteMemory => (Connection::open_in_memory()?, None),
            Location::Postgres(_) => anyhow::bail!("a PostgreSQL URL is not a SQLite store"),
        };
        let prepared = writer::configure(&conn)
            .map_err(anyhow::Error::from)
            .and_then(|()| migrations::run(&mut conn));
        if let Location::SqliteFile(path) = location {
            prepared.map_err(|e| match e.downcast::<rusqlite::Error>() {
                Ok(e) => recognise::describe(path, e),
                Err(e) => anyhow::anyhow!("the store {}: {e:#}", path.display()),
            })?;
            make_private(path)?;
        } else {
            prepared?;
        }
        // Every event already in the store is durable: the streams may hand it out.
        let newest: Option<i64> =
            conn.query_row("SELECT max(id) FROM stream_events", [], |r| r.get(0))?;
        wake.events.start_at(EventId {
            epoch: 0,
            seq: newest.unwrap_or(0),
        });
        let (writer, jobs) = mpsc::unbounded_channel();
        let cache = Arc::new(ConversationCache::default());
        writer::start(
            conn,
            location,
            options.durability,
            clock.clone(),
            wake,
            cache.clone(),
            jobs,
        )?;
        let readers = match location {
            Location::SqliteFile(path) => Some(ReaderPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
            }),
            // An in-memory database is private to its connection: reads go through the writer.
            _ => None,
        };
        Ok(Engine {
            writer,
            readers,
            cache,
            clock,
            _lock: lock,
        })
    }

    /// Runs `job` in the next write batch and answers once that batch has committed and is on
    /// disk (with `Durability::Process`: once the operating system has it).
    pub async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteTx) -> Result<T> + Send + 'static,
    {
        let (reply_to, reply) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |tx| {
            let result = job(tx);
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

    /// Runs `job` on a read connection, inside one read transaction, so that everything it
    /// reads comes from one snapshot; it sees every write that has answered.
    ///
    /// The job runs right here, on the runtime's worker thread, not on a blocking thread
    /// (docs/design.md, "Reads inline on the async worker"): reads are short indexed queries
    /// that never wait for the writer (WAL), and a hand-off to `spawn_blocking` cost more than
    /// the query itself. Running inline also bounds the open read connections by the threads
    /// that can run a read at once.
    pub async fn read<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteTx) -> Result<T> + Send + 'static,
    {
        let Some(pool) = &self.readers else {
            return self.write(move |tx| job(tx)).await;
        };
        let conn = pool.take()?;
        // Read before the read transaction begins: see `ConversationCache::offer`.
        let generation = self.cache.generation();
        let now = self.clock.now_secs();
        let result = in_read_transaction(&conn, |conn| {
            let sql = Sql::reader(conn);
            let tx = SqliteTx {
                tx: &sql,
                now,
                mode: Mode::Read {
                    cache: &self.cache,
                    generation,
                },
            };
            job(&tx)
        });
        // A connection whose transaction could not end is not reused.
        if conn.is_autocommit() {
            pool.give_back(conn);
        }
        result
    }

    /// Runs `query` on a read connection, inside one read transaction (for code that reads
    /// SQL directly rather than through [`Tx`]).
    pub async fn read_conn<T, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.read(move |tx| query(tx.tx)).await
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
}

/// Opens a file store, after making sure it is one this confab may open (`recognise.rs`) and,
/// for a server, taking its lock (`lock.rs`): nothing in the file changes before both.
fn open_file(
    path: &std::path::Path,
    options: &Options,
) -> anyhow::Result<(Connection, Option<lock::StoreLock>)> {
    let found = recognise::recognise(path)?;
    if found == recognise::Found::Nothing && options.existing_only {
        anyhow::bail!(
            "there is no store at {}: check --db, or pass --create to make a new one there",
            path.display()
        );
    }
    let lock = match options.exclusive {
        true => Some(lock::StoreLock::take(path)?),
        false => None,
    };
    create_private(path).map_err(|e| recognise::io_error(path, "create", e))?;
    wal_gather::register().map_err(anyhow::Error::msg)?;
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_gather::NAME)
        .map_err(|e| recognise::describe(path, e))?;
    Ok((conn, lock))
}

/// Owner-only (`0600`): the store holds auth tokens and push credentials.
const OWNER_ONLY: u32 = 0o600;

/// A new store file is created readable and writable by its owner only (SQLite creates the WAL
/// and the shared-memory file with the database file's permissions).
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;

    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(OWNER_ONLY)
        .open(path);
    match created {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// A store that others may read (made by an older confab) is made owner-only, once it is
/// known to be a confab store.
fn make_private(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;

    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    for file in [path.to_path_buf(), beside("-wal"), beside("-shm")] {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(OWNER_ONLY))?;
            tracing::info!(file = %file.display(), "made a store file readable by its owner only");
        }
    }
    Ok(())
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

/// The SQLite engine under a store, for tests of what only SQL can set up or see.
#[cfg(test)]
pub(crate) fn engine_of(store: &super::Store) -> &Engine {
    match &store.engine {
        super::Engine::Sqlite(engine) => engine,
        super::Engine::Postgres(_) => panic!("a SQLite store"),
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
