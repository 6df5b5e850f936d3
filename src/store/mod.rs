//! The store: the only module that knows SQL. Handlers call its per-resource functions
//! (`store::conversations::create(...)`), which run either as a read on a pooled connection or
//! as a write job on the single writer thread.
//!
//! The write path, designed once for what every issue needs:
//! - **One writer thread** owns the write connection. Write jobs queue on a channel.
//! - **Group commit**: the writer takes every job that is waiting (up to [`MAX_BATCH`]), runs
//!   each inside its own SAVEPOINT within one transaction, commits once, and only then answers
//!   each job. A job that fails is rolled back to its savepoint alone; the others commit.
//!   So every 2xx write is committed (and, with `synchronous=FULL`, on disk) before it answers.
//! - **Everything in the same transaction**: a job gets a [`WriteCtx`] with the transaction and
//!   the time of the batch (from the one injectable [`Clock`]), so the outbox row that reports a
//!   change and any timer it schedules commit with the change itself, or not at all.
//! - **Single writer, no races**: invariants that span rows (unique addresses among open
//!   conversations, per-conversation message indexes) are checked and written by one thread.

pub mod accounts;
pub mod addresses;
pub mod bindings;
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
pub mod users;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::Clock;
use crate::error::{ApiError, ApiResult};

/// At most this many write jobs share one commit.
const MAX_BATCH: usize = 512;
/// At most this many read connections are kept open.
const MAX_READERS: usize = 8;

/// What a write job sees: the open transaction and the batch's clock reading.
pub struct WriteCtx<'a> {
    pub tx: &'a Transaction<'a>,
    /// Seconds since the epoch, the same for every job in the batch.
    pub now: i64,
    /// Set when the job queued webhook deliveries: the delivery worker is woken after commit.
    pub queued_webhooks: Cell<bool>,
}

type Reply = Box<dyn FnOnce(ApiResult<()>) + Send>;
type Job = Box<dyn FnOnce(&mut WriteCtx) -> (bool, Reply) + Send>;

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
    /// At most `MAX_READERS` reads at once, so that every read finds an open connection
    /// instead of opening (and parsing the schema for) one more and closing it again.
    permits: Arc<tokio::sync::Semaphore>,
}

impl Store {
    /// Opens (creating and migrating if needed) the store and starts its writer thread.
    pub fn open(location: &Location, clock: Clock) -> anyhow::Result<Self> {
        let mut conn = match location {
            Location::File(path) => Connection::open(path)?,
            Location::Memory => Connection::open_in_memory()?,
        };
        configure_writer(&conn)?;
        migrations::run(&mut conn)?;
        let (writer, jobs) = mpsc::unbounded_channel();
        let wake = Arc::new(Wakeups::default());
        let thread = Writer {
            conn,
            clock: clock.clone(),
            wake: wake.clone(),
        };
        std::thread::Builder::new()
            .name("confab-writer".into())
            .spawn(move || thread.run(jobs))?;
        let readers = match location {
            Location::File(path) => Some(Arc::new(ReaderPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            })),
            // An in-memory database is private to its connection: reads go through the writer.
            Location::Memory => None,
        };
        Ok(Store {
            writer,
            readers,
            clock,
            wake,
        })
    }

    /// Runs `job` in the next write batch and answers once that batch has committed.
    pub async fn write<T, F>(&self, job: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> ApiResult<T> + Send + 'static,
    {
        let (reply_to, reply) = oneshot::channel::<ApiResult<T>>();
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
            .map_err(|_| ApiError::internal("the writer has stopped"))?;
        reply
            .await
            .map_err(|_| ApiError::internal("the writer dropped a job"))?
    }

    /// Runs `query` on a read connection: it sees every write that has answered.
    pub async fn read<T, F>(&self, query: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let Some(pool) = self.readers.clone() else {
            return self.write(move |ctx| query(ctx.tx)).await;
        };
        let permit = pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = query(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(ApiError::internal)?
    }
}

impl ReaderPool {
    fn take(&self) -> ApiResult<Connection> {
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

fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so a 2xx is on
    // disk, and group commit keeps that to one sync per batch.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// The writer thread's own state.
struct Writer {
    conn: Connection,
    clock: Clock,
    wake: Arc<Wakeups>,
}

impl Writer {
    fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = jobs.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.run_batch(batch);
        }
    }

    /// One transaction for the whole batch, one savepoint per job, one commit, then the answers.
    fn run_batch(&mut self, batch: Vec<Job>) {
        let now = self.clock.now_secs();
        let tx = match self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => return fail_all(batch, e),
        };
        let mut replies = Vec::with_capacity(batch.len());
        let mut queued_webhooks = false;
        for job in batch {
            if let Err(e) = tx.execute_batch("SAVEPOINT job") {
                // Dropping the job answers its caller with an internal error.
                tracing::error!(error = %e, "could not open a job's savepoint");
                continue;
            }
            let mut ctx = WriteCtx {
                tx: &tx,
                now,
                queued_webhooks: Cell::new(false),
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut ctx)));
            let (ok, reply) = match outcome {
                Ok((ok, reply)) => (ok, Some(reply)),
                Err(_) => (false, None),
            };
            let end = if ok {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            if let Err(e) = tx.execute_batch(end) {
                tracing::error!(error = %e, "could not end a job's savepoint");
            }
            queued_webhooks |= ok && ctx.queued_webhooks.get();
            replies.extend(reply);
        }
        let committed = tx.commit().map_err(ApiError::from);
        if committed.is_ok() && queued_webhooks {
            self.wake.webhooks.notify_one();
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

/// Answers every job of a batch whose transaction could not start: dropping a job answers its
/// caller with an internal error.
fn fail_all(batch: Vec<Job>, cause: rusqlite::Error) {
    tracing::error!(error = %cause, jobs = batch.len(), "could not begin a write batch");
    drop(batch);
}
