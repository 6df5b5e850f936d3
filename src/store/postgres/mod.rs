//! The PostgreSQL engine: several confab nodes on one database.
//!
//! - **A pool of connections**, a transaction per write job: `BEGIN`, the job, `COMMIT`. The
//!   database makes it durable (its own WAL and group commit) before `COMMIT` returns, so a job
//!   is answered only once every node can read it.
//! - **Jobs run on threads of the engine's own**, as many as the pool has connections: the
//!   domain code is synchronous; each pooled connection is rust-postgres's asynchronous client
//!   driven by a runtime of its own on the job's thread (as its synchronous client does), one
//!   connection held per running job.
//! - **Writes no one reads wait for the next round trip**: `BEGIN`, and the statements a job
//!   sends with [`PgTx::execute_later`], go out with the job's next statement that needs an
//!   answer, or with `COMMIT`, in order, in one round trip (docs/design.md, "Storage engines").
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
//! prepared statements and send what waits: the one way SQL runs here.

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
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::fallible_iterator::FallibleIterator;
use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Row, Statement};

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
    /// Drives the connection, on the thread of the job that holds it: a runtime of the
    /// connection's own, as rust-postgres's synchronous client keeps.
    runtime: Runtime,
    statements: Statements,
    /// Message ids taken from the table's sequence and not yet used, the next one last.
    message_ids: Vec<i64>,
    /// When the pool last saw this connection answer its check (`Manager::is_valid`).
    checked_at: Instant,
}

/// The statements prepared on one connection: preparing is a round trip to the server.
#[derive(Default)]
struct Statements {
    /// By the address and length of their SQL (`&'static str`), as the SQLite writer keeps its
    /// own (docs/design.md, "Statements kept by address").
    kept: HashMap<(usize, usize), Statement>,
    /// Statements whose SQL is built at run time (a list's filters, a page's bounds), by text.
    built: HashMap<String, Statement>,
}

/// How many message ids a connection takes from the sequence at once (`new_message_id`).
const MESSAGE_IDS_TAKEN: i64 = 64;

/// How long a connection may go without a check before the pool checks it again when it is
/// handed out: a round trip of its own on every job would be one more per request (a read is
/// otherwise one), and a connection that a restarted server closed is found at its next
/// check, or by the job that meets it, which answers an internal error
/// (docs/design.md, "Storage engines").
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens the pool's connections.
struct Manager {
    config: tokio_postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = std::io::Error;

    fn connect(&self) -> std::io::Result<PgConn> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (client, connection) = runtime
            .block_on(self.config.connect(NoTls))
            .map_err(std::io::Error::other)?;
        // Runs whenever a job blocks on the runtime for an answer.
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL connection ended");
            }
        });
        Ok(PgConn {
            client,
            runtime,
            statements: Statements::default(),
            message_ids: Vec::new(),
            checked_at: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::io::Result<()> {
        if conn.checked_at.elapsed() < CHECK_AFTER_IDLE {
            return Ok(());
        }
        conn.runtime
            .block_on(conn.client.simple_query(""))
            .map_err(std::io::Error::other)?;
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
    /// The threads jobs run on, as many as the pool has connections: a job beyond them waits
    /// in the queue as a task, not on a thread of its own. On the server's blocking threads,
    /// 64 concurrent requests on a pool of 16 kept some 90 threads, each with its stack and
    /// its allocator's pages (150 to 180 MiB of resident memory, against about 100).
    /// Always `Some` but while the engine drops.
    jobs: Option<Runtime>,
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
    /// Closing a connection drops its runtime, which a thread that drives async tasks may not
    /// do: the pool, and its connections, are let go on a thread of their own (jobs drop their
    /// clones on the threads they ran on), and the job threads are left to end on their own.
    fn drop(&mut self) {
        self.stop_listening.store(true, Ordering::Relaxed);
        if let Some(jobs) = self.jobs.take() {
            jobs.shutdown_background();
        }
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
    client: &'a Client,
    runtime: &'a Runtime,
    statements: RefCell<&'a mut Statements>,
    message_ids: RefCell<&'a mut Vec<i64>>,
    /// Statements sent and not yet answered (`execute_later`): their answers are read with the
    /// next round trip's, in the order they were sent.
    sent: RefCell<Vec<Sent<'a>>>,
    /// The next message index of each conversation this job locked, read with the lock
    /// (`conversations.rs`), so that taking one needs no answer from the server.
    next_message_index: RefCell<HashMap<i64, i64>>,
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

/// A statement on its way: its answer says only whether it succeeded.
type Sent<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + 'a>>;

impl From<tokio_postgres::Error> for Error {
    /// A unique key that refused a row is the domain's to name (`Code::Conflict`); anything
    /// else is internal.
    fn from(e: tokio_postgres::Error) -> Self {
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
        let pool_config: tokio_postgres::Config = url.parse()?;

        let pool = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut client = config.connect(NoTls)?;
            migrations::run(&mut client)?;
            // Where this node's streams start: every event settled by now is in the past.
            let newest = events::last_settled(&mut client)?;
            drop(client);
            let pool = r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(POOL_TIMEOUT)
                .build(Manager {
                    config: pool_config,
                })?;
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
            jobs: Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .max_blocking_threads(size as usize)
                    .thread_name("confab-pg-job")
                    .build()?,
            ),
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

    /// Runs `job` on one of the engine's job threads.
    async fn on_a_job_thread<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.jobs
            .as_ref()
            .expect("the job threads live as long as the engine")
            .spawn_blocking(job)
            .await
            .map_err(|e| Error::internal(format!("a job failed: {e}")))?
    }

    /// Runs `job` in a transaction of its own and answers once it has committed.
    pub async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgTx) -> Result<T> + Send + 'static,
    {
        let (pool, clock, shared) = (self.pool(), self.clock.clone(), self.shared_clock);
        let (result, done) = self
            .on_a_job_thread(move || {
                let mut conn = pool.get()?;
                let now = now(&mut conn, &clock, shared)?;
                in_transaction(&mut conn, now, job)
            })
            .await?;
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
        self.on_a_job_thread(move || {
            let mut conn = pool.get()?;
            let now = now(&mut conn, &clock, shared)?;
            let tx = PgTx::new(&mut conn, now);
            job(&tx)
        })
        .await
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
        let tx = PgTx::new(conn, 0);
        let offset: i64 = tx
            .query_one("SELECT offset_ms FROM clock WHERE id = 1", &[])?
            .get(0);
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
/// connection goes back to the pool outside any transaction. `BEGIN` goes out with the job's
/// first statement. Also says whether the job queued webhook deliveries or recorded events.
fn in_transaction<T>(
    conn: &mut PgConn,
    now: i64,
    job: impl FnOnce(&mut PgTx) -> Result<T>,
) -> Result<(T, Done)> {
    let mut tx = PgTx::new(conn, now);
    tx.send_later(Box::pin(tx.client.batch_execute("BEGIN")));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tx)));
    let done = Done {
        queued_webhooks: tx.queued_webhooks.get(),
        recorded_events: tx.recorded_events.get(),
    };
    match outcome {
        Ok(Ok(value)) => {
            // A wake-up is delivered with the commit: every node's delivery worker looks at once.
            let commit = if done.queued_webhooks {
                WAKE_WEBHOOKS_AND_COMMIT
            } else {
                "COMMIT"
            };
            // What waited goes out with it, and is answered before it: a statement that failed
            // fails the job, whatever the COMMIT answered (it ends a failed transaction with a
            // rollback, not an error).
            if let Err(e) = tx.round_trip(tx.client.batch_execute(commit)) {
                // A failed NOTIFY leaves the transaction open: the connection goes back to the
                // pool outside it. The job's error is what the caller needs to hear.
                let _ = tx.roll_back();
                return Err(e);
            }
            Ok((value, done))
        }
        Ok(Err(e)) => {
            tx.roll_back()?;
            Err(e)
        }
        Err(_) => {
            tx.roll_back()?;
            Err(Error::internal("a write job panicked"))
        }
    }
}

/// A parameter already in PostgreSQL's binary format, for a statement sent later
/// ([`PgTx::execute_later`]): the job's own values may be gone by then.
#[derive(Debug)]
struct Encoded(Option<BytesMut>);

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    /// Checked when it was encoded, against the statement's own types.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `params` in the binary format of `statement`'s parameter types.
fn encode(statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Encoded>> {
    if params.len() != statement.params().len() {
        return Err(Error::internal(format!(
            "a statement takes {} parameters, given {}",
            statement.params().len(),
            params.len()
        )));
    }
    params
        .iter()
        .zip(statement.params())
        .map(|(param, ty)| {
            let mut bytes = BytesMut::new();
            match param.to_sql_checked(ty, &mut bytes) {
                Ok(IsNull::No) => Ok(Encoded(Some(bytes))),
                Ok(IsNull::Yes) => Ok(Encoded(None)),
                Err(e) => Err(Error::internal(format!("a parameter of type {ty}: {e}"))),
            }
        })
        .collect()
}

impl<'a> PgTx<'a> {
    fn new(conn: &'a mut PgConn, now: i64) -> Self {
        PgTx {
            client: &conn.client,
            runtime: &conn.runtime,
            statements: RefCell::new(&mut conn.statements),
            message_ids: RefCell::new(&mut conn.message_ids),
            sent: RefCell::new(Vec::new()),
            next_message_index: RefCell::new(HashMap::new()),
            now,
            queued_webhooks: Cell::new(false),
            recorded_events: Cell::new(false),
        }
    }

    /// Sends `statement` now, and reads its answer with the next round trip's. Polled once
    /// here, it is on its way to the server, after everything sent before it.
    fn send_later(&self, mut statement: Sent<'a>) {
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(answered) = statement.as_mut().poll(&mut cx) {
            statement = Box::pin(std::future::ready(answered));
        }
        self.sent.borrow_mut().push(statement);
    }

    /// Sends `request` after everything sent before it, and waits for all their answers: one
    /// round trip. The first statement that failed fails it (those after it in the same
    /// transaction fail only because it did).
    fn round_trip<T>(
        &self,
        request: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        let mut sent = std::mem::take(&mut *self.sent.borrow_mut());
        let mut request = std::pin::pin!(request);
        let mut failed = None;
        let mut answer = None;
        // All driven together: the connection hands each statement its answer in order, and an
        // answer no one reads would hold up the ones behind it.
        self.runtime.block_on(poll_fn(|cx| {
            sent.retain_mut(|statement| match statement.as_mut().poll(cx) {
                Poll::Ready(answered) => {
                    if let Err(e) = answered {
                        failed.get_or_insert(e);
                    }
                    false
                }
                Poll::Pending => true,
            });
            if answer.is_none()
                && let Poll::Ready(answered) = request.as_mut().poll(cx)
            {
                answer = Some(answered);
            }
            if sent.is_empty() && answer.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        match (failed, answer) {
            (Some(e), _) => Err(e.into()),
            (None, Some(answer)) => Ok(answer?),
            (None, None) => unreachable!("the round trip ends once the request is answered"),
        }
    }

    /// `ROLLBACK`, after whatever was sent: their answers no longer matter.
    fn roll_back(&self) -> Result<()> {
        let _ = self.round_trip(std::future::ready(Ok::<_, tokio_postgres::Error>(())));
        self.round_trip(self.client.batch_execute("ROLLBACK"))
    }

    /// The statement for `sql`, prepared on first use on this connection.
    fn statement(&self, sql: &'static str) -> Result<Statement> {
        let key = (sql.as_ptr() as usize, sql.len());
        if let Some(statement) = self.statements.borrow().kept.get(&key) {
            return Ok(statement.clone());
        }
        let statement = self.round_trip(self.client.prepare(sql))?;
        self.statements
            .borrow_mut()
            .kept
            .insert(key, statement.clone());
        Ok(statement)
    }

    /// The statement for a `sql` built at run time, prepared on first use on this connection.
    fn built_statement(&self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.borrow().built.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.round_trip(self.client.prepare(sql))?;
        self.statements
            .borrow_mut()
            .built
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Wakes every node's listener (`notify`, one of the `WAKE_*` statements) when the job
    /// commits; a job that rolls back sends nothing.
    fn notify_on_commit(&self, notify: &'static str) -> Result<()> {
        self.send_later(Box::pin(self.client.batch_execute(notify)));
        Ok(())
    }

    /// Every row `sql` finds.
    fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.round_trip(self.client.query(&statement, params))
    }

    /// The one row `sql` finds, or `None`.
    fn query_opt(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let statement = self.statement(sql)?;
        self.round_trip(self.client.query_opt(&statement, params))
    }

    /// The one row `sql` must find.
    fn query_one(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let statement = self.statement(sql)?;
        self.round_trip(self.client.query_one(&statement, params))
    }

    /// Every row a built `sql` finds.
    fn query_built(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let statement = self.built_statement(sql)?;
        self.round_trip(self.client.query(&statement, params))
    }

    /// Runs `sql`; how many rows it changed.
    fn execute(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let statement = self.statement(sql)?;
        self.round_trip(self.client.execute(&statement, params))
    }

    /// Keeps the next message index of a conversation this job has just locked.
    fn locked_next_message_index(&self, conversation_id: i64, next: i64) {
        self.next_message_index
            .borrow_mut()
            .insert(conversation_id, next);
    }

    /// Takes the next message index of a conversation this job locked: the lock's reading,
    /// counted past the indexes this job already took.
    fn next_message_index(&self, conversation_id: i64) -> Result<i64> {
        let mut next = self.next_message_index.borrow_mut();
        let Some(index) = next.get_mut(&conversation_id) else {
            return Err(Error::internal(
                "a message index taken without the conversation's lock",
            ));
        };
        let taken = *index;
        *index += 1;
        Ok(taken)
    }

    /// A new message's id, from the messages' own sequence, which the connection takes
    /// [`MESSAGE_IDS_TAKEN`] at a time: with its id known, a message's insert needs no answer.
    /// Ids a connection took and did not use are skipped, as a rolled-back insert skips its
    /// own; nothing orders messages by id (their order is the index).
    fn new_message_id(&self) -> Result<i64> {
        if let Some(id) = self.message_ids.borrow_mut().pop() {
            return Ok(id);
        }
        let rows = self.query(
            "SELECT nextval(pg_get_serial_sequence('messages', 'id'))
             FROM generate_series(1, $1::bigint) ORDER BY 1 DESC",
            &[&MESSAGE_IDS_TAKEN],
        )?;
        let mut ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        let id = ids
            .pop()
            .ok_or_else(|| Error::internal("the messages' sequence gave no id"))?;
        **self.message_ids.borrow_mut() = ids;
        Ok(id)
    }

    /// Sends `sql` without waiting for its answer, which comes with the job's next statement
    /// that needs one, or with `COMMIT`; if it failed, that statement fails, and so does the
    /// job. Only for a write whose failure nothing in the job would name otherwise (a unique
    /// key that refuses a row would surface as another statement's `Conflict`).
    fn execute_later(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<()> {
        let statement = self.statement(sql)?;
        let params = encode(&statement, params)?;
        let client = self.client;
        self.send_later(Box::pin(async move {
            client
                .execute_raw(&statement, params.iter())
                .await
                .map(drop)
        }));
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine on a new database, or `None` (said on stderr) without `CONFAB_TEST_PG`.
    async fn engine() -> Option<Engine> {
        let Ok(admin) = std::env::var("CONFAB_TEST_PG") else {
            eprintln!("NOT RUN: CONFAB_TEST_PG is not set (a PostgreSQL engine test)");
            return None;
        };
        let url = create_test_database(admin);
        let engine = Engine::open(
            &url,
            &Options::default(),
            Clock::default(),
            Arc::new(Wakeups::default()),
        )
        .await
        .expect("the engine opens");
        Some(engine)
    }

    const INSERT_EVENT: &str =
        "INSERT INTO stream_events (account_sid, name, data) VALUES ($1, 'later', '{}')";

    fn count_events(tx: &PgTx, account: &str) -> Result<i64> {
        Ok(tx
            .query_one(
                "SELECT count(*) FROM stream_events WHERE account_sid = $1",
                &[&account],
            )?
            .get(0))
    }

    async fn events_of(engine: &Engine, account: &'static str) -> i64 {
        engine
            .read(move |tx| count_events(tx, account))
            .await
            .unwrap()
    }

    /// A statement sent later that fails fails its job when the job commits, though the job
    /// itself succeeded: nothing of the job is kept, and the caller is not told it was.
    #[tokio::test]
    async fn a_statement_sent_later_that_fails_fails_its_job() {
        let Some(engine) = engine().await else { return };
        let written = engine
            .write(|tx| {
                tx.execute_later(INSERT_EVENT, &[&"ACfailed"])?;
                // NOT NULL refuses it; the job reads nothing after it.
                tx.execute_later(
                    "INSERT INTO stream_events (account_sid, name, data) VALUES ($1, NULL, '{}')",
                    &[&"ACfailed"],
                )?;
                Ok(())
            })
            .await;
        assert!(
            written.is_err(),
            "a job whose statement failed was answered"
        );
        assert_eq!(events_of(&engine, "ACfailed").await, 0);
        // The connection went back to the pool usable, outside any transaction.
        engine
            .write(|tx| tx.execute_later(INSERT_EVENT, &[&"ACafter"]))
            .await
            .unwrap();
        assert_eq!(events_of(&engine, "ACafter").await, 1);
    }

    /// A statement sent later reaches the server before the job's next statement: the job
    /// reads what it wrote.
    #[tokio::test]
    async fn a_job_reads_what_it_sent_later() {
        let Some(engine) = engine().await else { return };
        let seen = engine
            .write(|tx| {
                tx.execute_later(INSERT_EVENT, &[&"ACown"])?;
                tx.execute_later(INSERT_EVENT, &[&"ACown"])?;
                count_events(tx, "ACown")
            })
            .await
            .unwrap();
        assert_eq!(seen, 2);
        assert_eq!(events_of(&engine, "ACown").await, 2);
    }

    /// A job that fails after sending statements later keeps none of them.
    #[tokio::test]
    async fn a_failed_job_keeps_nothing_it_sent_later() {
        let Some(engine) = engine().await else { return };
        let written = engine
            .write(|tx| {
                tx.execute_later(INSERT_EVENT, &[&"ACrefused"])?;
                Err::<(), _>(Error::new(Code::Conflict))
            })
            .await;
        assert!(written.is_err());
        assert_eq!(events_of(&engine, "ACrefused").await, 0);
    }
}
