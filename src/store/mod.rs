//! The storage boundary: one interface, two engines behind it.
//!
//! Domain code (`crate::domain`) runs its rules inside a job, `store.write(|tx| ...)` or
//! `store.read(|tx| ...)`. A job sees a [`Tx`]: the data operations of every resource, one
//! trait per resource. Reads take `&self` and writes `&mut self`, so that a read job, which
//! is given `&dyn Tx`, cannot write. A write job is one transaction: what it does commits
//! together, or not at all.
//!
//! Each engine implements [`Tx`] once, in its own folder: `sqlite/` (one file, one writer
//! thread with group commit, readers beside it, a conversation cache).
//!
//! A store call fails with a domain error (`crate::error::Error`, named by its Twilio code);
//! the HTTP status it travels with is decided at the API edge. Where a unique key refuses a
//! row, an engine answers `Code::Conflict`, and the domain names the conflict.

pub mod postgres;
pub mod sqlite;

pub mod accounts;
pub mod addresses;
pub mod bindings;
pub mod clock;
pub mod configuration;
pub mod conversation_webhooks;
pub mod conversations;
pub mod credentials;
pub mod events;
pub mod inbound;
pub mod media;
pub mod messages;
pub mod participants;
pub mod receipts;
pub mod roles;
pub mod service_configuration;
pub mod services;
pub mod users;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::Result;

/// Everything a job can do, whatever the engine: the union of the per-resource traits.
pub trait Tx:
    accounts::AccountStore
    + addresses::AddressConfigurationStore
    + clock::ClockStore
    + configuration::ConfigurationStore
    + service_configuration::ServiceConfigurationStore
    + services::ServiceStore
    + conversations::ConversationStore
    + conversation_webhooks::ConversationWebhookStore
    + messages::MessageStore
    + media::MediaStore
    + participants::ParticipantStore
    + receipts::ReceiptStore
    + webhooks::WebhookStore
    + roles::RoleStore
    + users::UserStore
    + credentials::CredentialStore
    + bindings::BindingStore
    + inbound::InboundStore
    + events::EventStore
{
    /// Seconds since the epoch, read once for the job from the one clock (for SQLite, once
    /// for its batch): every date a job writes is this.
    fn now(&self) -> i64;
}

/// Which service a request names: the account's default (`/v1/...`) or an explicit one
/// (`/v1/Services/{sid}/...`).
#[derive(Debug, Clone)]
pub enum ServiceRef {
    Default,
    Sid(String),
}

/// Who is asking and about which service: every store call takes one.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account_sid: String,
    pub service: ServiceRef,
    /// The request carried `X-Twilio-Webhook-Enabled: true`: its changes fire webhooks.
    pub webhooks: bool,
}

/// Where the data lives, from `--db`: a SQLite file, or `:memory:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    SqliteFile(PathBuf),
    SqliteMemory,
    Postgres(String),
}

impl Location {
    pub fn parse(db: &str) -> Self {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Location::Postgres(db.to_string())
        } else if db == ":memory:" {
            Location::SqliteMemory
        } else {
            Location::SqliteFile(PathBuf::from(db))
        }
    }
}

/// How the store is opened; each engine reads what concerns it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The clock may move (`--test-mode`): PostgreSQL reads its offset from the database at
    /// the start of every job, so that a move through one node is seen by all at once.
    pub test_mode: bool,
    /// SQLite: when a write is answered.
    pub durability: sqlite::Durability,
    /// PostgreSQL: connections in the pool, and so write jobs running at once.
    pub pool_size: Option<u32>,
    /// SQLite: the store's server opens it: it holds the store's lock while it runs, and a
    /// second server on the same file refuses to start (`sqlite/lock.rs`).
    pub exclusive: bool,
    /// SQLite: open only a store that exists; a path with nothing there is refused rather than
    /// made a new store (an offline command given a mistyped `--db`).
    pub existing_only: bool,
}

/// The store: a handle to the engine, cheap to clone.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    pub clock: Clock,
    /// Wakes the background workers when there is work for them.
    pub wake: Arc<Wakeups>,
}

#[derive(Clone)]
enum Engine {
    Sqlite(Arc<sqlite::Engine>),
    Postgres(Arc<postgres::Engine>),
}

/// How the store and the test clock wake the background workers without polling.
#[derive(Default)]
pub struct Wakeups {
    /// A commit queued webhook deliveries, or the clock moved (retries may be due).
    pub webhooks: Notify,
    /// The clock moved, or a timer or receipt transition may have become due sooner.
    pub scheduler: Notify,
    /// Durable events, to the event streams open on this node.
    pub events: events::EventFeed,
    /// An account was deleted through another node (PostgreSQL): the credentials this node
    /// keeps in memory may open it still.
    pub accounts_deleted: Notify,
}

impl Wakeups {
    /// The clock moved: whatever fell due is looked at now, not at the next tick.
    pub fn clock_moved(&self) {
        self.webhooks.notify_one();
        self.scheduler.notify_one();
    }
}

impl Store {
    /// Opens the store at `location`, creating and migrating it if needed.
    pub async fn open(
        location: &Location,
        options: &Options,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let wake = Arc::new(Wakeups::default());
        let engine = match location {
            Location::Postgres(url) => Engine::Postgres(Arc::new(
                postgres::Engine::open(url, options, clock.clone(), wake.clone()).await?,
            )),
            sqlite => Engine::Sqlite(Arc::new(sqlite::Engine::open(
                sqlite,
                options,
                clock.clone(),
                wake.clone(),
            )?)),
        };
        let store = Store {
            engine,
            clock,
            wake,
        };
        let offset = store.read(|tx| tx.clock_offset()).await?;
        store.clock.raise_to(offset);
        Ok(store)
    }

    /// Runs `job` as one transaction and answers once it has committed (and, as the engine's
    /// durability says, is on disk). A job that fails changes nothing.
    pub async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        match &self.engine {
            Engine::Sqlite(engine) => engine.write(move |tx| job(tx)).await,
            Engine::Postgres(engine) => engine.write(move |tx| job(tx)).await,
        }
    }

    /// Runs `job` on a read connection; it sees every write that has been answered.
    pub async fn read<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T> + Send + 'static,
    {
        match &self.engine {
            Engine::Sqlite(engine) => engine.read(move |tx| job(tx)).await,
            Engine::Postgres(engine) => engine.read(move |tx| job(tx)).await,
        }
    }

    /// The node's feed of durable events, to which each event stream subscribes.
    pub fn events(&self) -> &events::EventFeed {
        &self.wake.events
    }

    /// Leaves the store tidy once the server has stopped taking requests (SQLite: empties the
    /// WAL into the database file).
    pub fn close(&self) -> anyhow::Result<()> {
        match &self.engine {
            Engine::Sqlite(engine) => engine.truncate_wal(),
            Engine::Postgres(_) => Ok(()),
        }
    }
}

/// A store for a unit test of the rules (`domain/`), on the engine under test: SQLite in
/// memory, or, when `CONFAB_TEST_PG` names a PostgreSQL server's maintenance database, a new
/// database there (tagged with `CONFAB_TEST_PG_RUN`, so that the script that ran the suite drops
/// it). The same tests so run on both engines.
#[cfg(test)]
pub async fn open_for_test() -> Store {
    let location = match std::env::var("CONFAB_TEST_PG") {
        Ok(admin) if !admin.is_empty() => Location::Postgres(postgres::create_test_database(admin)),
        _ => Location::SqliteMemory,
    };
    let options = Options {
        test_mode: true,
        ..Options::default()
    };
    Store::open(&location, &options, Clock::default())
        .await
        .expect("the test store opens")
}
