//! The PostgreSQL engine: several confab nodes on one database.
//!
//! - **A pool of connections**, a transaction per write job: `BEGIN`, the job, `COMMIT`. The
//!   database makes it durable (its own WAL and group commit) before `COMMIT` returns, so a job
//!   is answered only once every node can read it.
//! - **Jobs run on blocking threads**: the domain code is synchronous, and so is the client
//!   (rust-postgres's `postgres`), one connection held per running job.
//! - **No cache**: another node may change any row at any time, and a cache that another node's
//!   write does not reach could serve a row older than an answered write. Every read asks the
//!   database.
//! - **Rows, not a writer thread, serialize**: a job that changes a conversation or adds to it
//!   locks its row first (`SELECT ... FOR UPDATE`), so that message indexes are taken one at a
//!   time; what must be unique is a UNIQUE constraint; time-driven work is claimed with
//!   `FOR UPDATE SKIP LOCKED`, webhook deliveries with a lease (docs/design.md, "Storage
//!   engines").
//!
//! Every statement a job runs goes through [`PgTx`]'s methods, which keep each connection's
//! prepared statements: the one way SQL runs here.

mod accounts;
mod addresses;
mod bindings;
mod clock;
mod configuration;
mod conversation_webhooks;
mod conversations;
mod credentials;
mod events;
mod inbound;
mod media;
mod messages;
mod migrations;
mod participants;
mod receipts;
mod roles;
mod service_configuration;
mod services;
mod sql;
mod users;
mod webhooks;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use super::{Options, Tx, Wakeups};
use crate::clock::Clock;
use crate::error::{Code, Error, Result};

/// Connections in the pool when `--pool-size` does not say.
const DEFAULT_POOL_SIZE: u32 = 16;
/// How long a job waits for a free connection before it fails.
const POOL_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled connection, with the statements prepared on it.
pub struct PgConn {
    client: Client,
    /// Statements by the address and length of their SQL (`&'static str`), as the SQLite
    /// writer keeps its own (docs/design.md, "Statements kept by address"): preparing is a
    /// round trip to the server.
    kept: HashMap<(usize, usize), Statement>,
    /// Statements whose SQL is built at run time (a list's filters, a page's bounds), by text.
    built: HashMap<String, Statement>,
    /// When the pool last saw this connection answer its check (`Manager::is_valid`).
    checked_at: Instant,
}

/// How long a connection may go without a check before the pool checks it again when it is
/// handed out: a round trip of its own on every job would be one more per request (a read is
/// otherwise one), and a connection that a restarted server closed is found at its next
/// check, or by the job that meets it, which answers an internal error
/// (docs/design.md, "Storage engines").
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens the pool's connections.
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(NoTls)?,
            kept: HashMap::new(),
            built: HashMap::new(),
            checked_at: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        if conn.checked_at.elapsed() < CHECK_AFTER_IDLE {
            return Ok(());
        }
        conn.client.simple_query("")?;
        conn.checked_at = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

pub struct Engine {
    /// Always `Some` but while the engine drops (see `Drop`).
    pool: Option<r2d2::Pool<Manager>>,
    clock: Clock,
    wake: Arc<Wakeups>,
    /// In test mode the clock's offset is read from the database at the start of every job.
    shared_clock: bool,
    /// Tells the wake-up listener and the event poller to stop.
    stop_listening: Arc<AtomicBool>,
    /// Wakes the event poller after a commit that recorded events (`events.rs`).
    recorded_events: SyncSender<()>,
}

impl Drop for Engine {
    /// Closing a connection of the synchronous client blocks on its own runtime, which a
    /// thread that drives async tasks may not do: the pool, and its connections, are let go on
    /// a thread of their own (jobs drop their clones on the blocking threads they ran on).
    fn drop(&mut self) {
        self.stop_listening.store(true, Ordering::Relaxed);
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new()
                .name("confab-pg-close".into())
                .spawn(move || drop(pool));
        }
    }
}

/// What a job runs against: one connection, inside the job's transaction (writes) or in
/// autocommit (reads).
pub struct PgTx<'a> {
    conn: RefCell<&'a mut PgConn>,
    now: i64,
    /// Set when the job queued webhook deliveries: the delivery workers are woken after commit.
    queued_webhooks: Cell<bool>,
    /// Set when the job recorded events: this node's event poller is woken after commit.
    recorded_events: Cell<bool>,
}

impl Tx for PgTx<'_> {
    fn now(&self) -> i64 {
        self.now
    }
}

impl From<postgres::Error> for Error {
    /// A unique key that refused a row is the domain's to name (`Code::Conflict`); anything
    /// else is internal.
    fn from(e: postgres::Error) -> Self {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            Error::new(Code::Conflict)
        } else {
            Error::internal(e)
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        Error::internal(format!("no PostgreSQL connection: {e}"))
    }
}

impl Engine {
    /// Connects, and brings the schema up to date (once, whichever node gets there first).
    pub async fn open(
        url: &str,
        options: &Options,
        clock: Clock,
        wake: Arc<Wakeups>,
    ) -> anyhow::Result<Self> {
        let config: postgres::Config = url.parse()?;
        let size = options.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        let stop_listening = Arc::new(AtomicBool::new(false));
        spawn_listener(config.clone(), wake.clone(), stop_listening.clone())?;
        let poller_config = config.clone();

        let pool = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let pool = r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(POOL_TIMEOUT)
                .build(Manager { config })?;
            let mut conn = pool.get()?;
            migrations::run(&mut conn.client)?;
            // Where this node's streams start: every event settled by now is in the past.
            let newest = events::last_settled(&mut conn.client)?;
            drop(conn);
            Ok((pool, newest))
        })
        .await??;
        let (pool, newest) = pool;
        wake.events.start_at(newest);
        // Capacity 1: commits made while the poller looks leave one wake-up, not one each.
        let (recorded_events, commits) = sync_channel(1);
        events::spawn_poller(
            poller_config,
            newest,
            wake.clone(),
            stop_listening.clone(),
            commits,
        )?;
        Ok(Engine {
            pool: Some(pool),
            clock,
            wake,
            shared_clock: options.test_mode,
            stop_listening,
            recorded_events,
        })
    }

    fn pool(&self) -> r2d2::Pool<Manager> {
        self.pool
            .clone()
            .expect("the pool lives as long as the engine")
    }

    /// Runs `job` in a transaction of its own and answers once it has committed.
    pub async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgTx) -> Result<T> + Send + 'static,
    {
        let (pool, clock, shared) = (self.pool(), self.clock.clone(), self.shared_clock);
        let (result, done) = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            let now = now(&mut conn, &clock, shared)?;
            in_transaction(&mut conn, now, job)
        })
        .await
        .map_err(|e| Error::internal(format!("a write job failed: {e}")))??;
        if done.queued_webhooks {
            self.wake.webhooks.notify_one();
        }
        if done.recorded_events {
            // Full means the poller has a wake-up pending already.
            let _ = self.recorded_events.try_send(());
        }
        Ok(result)
    }

    /// Runs `job` on a pooled connection, each statement on its own (autocommit): it sees
    /// every write that has been answered, on any node.
    pub async fn read<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&PgTx) -> Result<T> + Send + 'static,
    {
        let (pool, clock, shared) = (self.pool(), self.clock.clone(), self.shared_clock);
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            let now = now(&mut conn, &clock, shared)?;
            let tx = PgTx::new(&mut conn, now);
            job(&tx)
        })
        .await
        .map_err(|e| Error::internal(format!("a read job failed: {e}")))?
    }
}

/// The channel on which nodes wake each other's workers, and what they say on it.
const WAKE_CHANNEL: &str = "confab_wake";
const WAKE_WEBHOOKS_AND_COMMIT: &str = "NOTIFY confab_wake, 'webhooks'; COMMIT";
pub(super) const WAKE_CLOCK: &str = "NOTIFY confab_wake, 'clock'";
pub(super) const WAKE_ACCOUNTS: &str = "NOTIFY confab_wake, 'accounts'";

/// Starts the thread that listens for other nodes' wake-ups (`LISTEN confab_wake`): a commit
/// that queued webhook deliveries, a moved clock, or a deleted account. Without it another
/// node's work would wait for this node's next look at the database, up to a second later. It
/// reconnects if the connection drops, and ends once `stop` is set (the engine dropped).
fn spawn_listener(
    config: postgres::Config,
    wake: Arc<Wakeups>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("confab-pg-listen".into())
        .spawn(move || {
            let mut reconnecting = false;
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = listen(&config, &wake, &stop, reconnecting) {
                    tracing::warn!(error = %e, "lost the PostgreSQL wake-up channel; reconnecting");
                    std::thread::sleep(Duration::from_secs(1));
                }
                reconnecting = true;
            }
        })?;
    Ok(())
}

/// Listens until `stop`. Once `reconnecting`, what was said while no one listened is lost, so
/// everything it could have been is assumed: every worker looks, and every credential kept is
/// forgotten (an account may have been deleted).
fn listen(
    config: &postgres::Config,
    wake: &Wakeups,
    stop: &AtomicBool,
    reconnecting: bool,
) -> std::result::Result<(), postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {WAKE_CHANNEL}"))?;
    if reconnecting {
        wake.clock_moved();
        wake.accounts_deleted.notify_one();
    }
    while !stop.load(Ordering::Relaxed) {
        let mut notifications = client.notifications();
        // Wakes at least once a second to see whether it should stop.
        let mut heard = notifications.timeout_iter(Duration::from_secs(1));
        while let Some(notification) = heard.next()? {
            match notification.payload() {
                "clock" => wake.clock_moved(),
                "accounts" => wake.accounts_deleted.notify_one(),
                _ => wake.webhooks.notify_one(),
            }
        }
    }
    Ok(())
}

/// The clock's reading for a job. With a `shared` clock (test mode) its offset is read first:
/// another node may have moved it a moment ago, and a client that moved it through that node
/// must see it moved here too.
fn now(conn: &mut PgConn, clock: &Clock, shared: bool) -> Result<i64> {
    if shared {
        let statement = PgTx::statement(conn, "SELECT offset_ms FROM clock WHERE id = 1")?;
        let offset: i64 = conn.client.query_one(&statement, &[])?.get(0);
        clock.raise_to(offset);
    }
    Ok(clock.now_secs())
}

/// What a committed job leaves for the workers of this node.
struct Done {
    queued_webhooks: bool,
    recorded_events: bool,
}

/// `BEGIN`, the job, then `COMMIT` if it succeeded, `ROLLBACK` if it failed or panicked: the
/// connection goes back to the pool outside any transaction. Also says whether the job queued
/// webhook deliveries or recorded events.
fn in_transaction<T>(
    conn: &mut PgConn,
    now: i64,
    job: impl FnOnce(&mut PgTx) -> Result<T>,
) -> Result<(T, Done)> {
    conn.client.batch_execute("BEGIN")?;
    let (outcome, done) = {
        let mut tx = PgTx::new(conn, now);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tx)));
        let done = Done {
            queued_webhooks: tx.queued_webhooks.get(),
            recorded_events: tx.recorded_events.get(),
        };
        (outcome, done)
    };
    match outcome {
        Ok(Ok(value)) => {
            // A wake-up is delivered with the commit: every node's delivery worker looks at once.
            // One round trip either way.
            let commit = if done.queued_webhooks {
                WAKE_WEBHOOKS_AND_COMMIT
            } else {
                "COMMIT"
            };
            if let Err(e) = conn.client.batch_execute(commit) {
                // A failed NOTIFY leaves the transaction open: the connection goes back to the
                // pool outside it.
                let _ = conn.client.batch_execute("ROLLBACK");
                return Err(e.into());
            }
            Ok((value, done))
        }
        Ok(Err(e)) => {
            conn.client.batch_execute("ROLLBACK")?;
            Err(e)
        }
        Err(_) => {
            conn.client.batch_execute("ROLLBACK")?;
            Err(Error::internal("a write job panicked"))
        }
    }
}

impl<'a> PgTx<'a> {
    fn new(conn: &'a mut PgConn, now: i64) -> Self {
        PgTx {
            conn: RefCell::new(conn),
            now,
            queued_webhooks: Cell::new(false),
            recorded_events: Cell::new(false),
        }
    }

    /// The statement for `sql`, prepared on first use on this connection.
    fn statement(conn: &mut PgConn, sql: &'static str) -> Result<Statement> {
        let key = (sql.as_ptr() as usize, sql.len());
        if let Some(statement) = conn.kept.get(&key) {
            return Ok(statement.clone());
        }
        let statement = conn.client.prepare(sql)?;
        conn.kept.insert(key, statement.clone());
        Ok(statement)
    }

    /// The statement for a `sql` built at run time, prepared on first use on this connection.
    fn built_statement(conn: &mut PgConn, sql: &str) -> Result<Statement> {
        if let Some(statement) = conn.built.get(sql) {
            return Ok(statement.clone());
        }
        let statement = conn.client.prepare(sql)?;
        conn.built.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Wakes every node's listener (`notify`, one of the `WAKE_*` statements) when the job
    /// commits; a job that rolls back sends nothing.
    fn notify_on_commit(&self, notify: &'static str) -> Result<()> {
        Ok(self.conn.borrow_mut().client.batch_execute(notify)?)
    }

    /// Every row `sql` finds.
    fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut conn = self.conn.borrow_mut();
        let statement = Self::statement(&mut conn, sql)?;
        Ok(conn.client.query(&statement, params)?)
    }

    /// The one row `sql` finds, or `None`.
    fn query_opt(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let mut conn = self.conn.borrow_mut();
        let statement = Self::statement(&mut conn, sql)?;
        Ok(conn.client.query_opt(&statement, params)?)
    }

    /// The one row `sql` must find.
    fn query_one(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let mut conn = self.conn.borrow_mut();
        let statement = Self::statement(&mut conn, sql)?;
        Ok(conn.client.query_one(&statement, params)?)
    }

    /// Every row a built `sql` finds.
    fn query_built(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut conn = self.conn.borrow_mut();
        let statement = Self::built_statement(&mut conn, sql)?;
        Ok(conn.client.query(&statement, params)?)
    }

    /// Runs `sql`; how many rows it changed.
    fn execute(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let mut conn = self.conn.borrow_mut();
        let statement = Self::statement(&mut conn, sql)?;
        Ok(conn.client.execute(&statement, params)?)
    }
}

/// Creates a database on the server `admin` names, and answers its URL.
#[cfg(test)]
pub(crate) fn create_test_database(admin: String) -> String {
    let run = std::env::var("CONFAB_TEST_PG_RUN").unwrap_or_else(|_| "run".into());
    let name = format!("confab_unit_{run}_{}", crate::sid::new_secret());
    let (server, _) = admin
        .rsplit_once('/')
        .expect("CONFAB_TEST_PG is a URL with a database");
    let url = format!("{server}/{name}");
    // On a thread of its own: the synchronous client runs a runtime of its own, which a test's
    // async context may not start.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, NoTls).unwrap_or_else(|e| {
            panic!("CONFAB_TEST_PG={admin}: PostgreSQL cannot be reached: {e}")
        });
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("a test database");
    })
    .join()
    .expect("the test database was created");
    url
}
