//! Starting confab: the command line (each flag also an environment variable), opening the
//! store, seeding the operator account, and serving. `main` and the tests both start it here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::{self, AppState, Shared};
use crate::auth::Credentials;
use crate::clock::Clock;
use crate::edge::Limits;
use crate::store::events::Retention;
use crate::store::sqlite::Durability;
use crate::store::{Location, Options, Store};

/// The development account printed at start. Fixed, so that snippets and tests can name it.
pub const DEV_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const DEV_AUTH_TOKEN: &str = "confab_dev_auth_token";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

#[derive(Parser, Debug)]
#[command(
    name = "confab",
    // The crate's version, the commit it was built from and the build's date (build.rs).
    version = env!("CONFAB_VERSION"),
    about = "A self-hosted server that speaks the Twilio Conversations REST API v1"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeOpts,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<ServeOpts>),
    /// Add an account (with its own default service) to the store and print its credentials.
    CreateAccount(CreateAccountOpts),
    /// Add an API key (SK...) to an account in the store and print its secret.
    CreateKey(CreateKeyOpts),
}

#[derive(Args, Debug, Clone)]
pub struct ServeOpts {
    /// Address to listen on.
    #[arg(long, env = "CONFAB_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The store: a SQLite file, `:memory:` to keep everything in memory, or a PostgreSQL
    /// database (`postgres://user:password@host:port/dbname`, also `postgresql://`).
    #[arg(long, env = "CONFAB_DB", default_value = "confab.db")]
    pub db: String,
    /// The operator account: it exists at start, and may create more accounts.
    #[arg(long, env = "CONFAB_ACCOUNT_SID", default_value = DEV_ACCOUNT_SID)]
    pub account_sid: String,
    /// The operator account's auth token.
    #[arg(long, env = "CONFAB_AUTH_TOKEN", default_value = DEV_AUTH_TOKEN)]
    pub auth_token: String,
    /// How the server names itself in absolute URLs (`url`, `links`, `meta`); by default, from
    /// the request's `Host` header.
    #[arg(long, env = "CONFAB_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Allow the test-only extension routes (moving the clock). Off by default. In the
    /// environment: 1, yes, on, true (or 0, no, off, false).
    #[arg(long, env = "CONFAB_TEST_MODE", value_parser = BoolishValueParser::new())]
    pub test_mode: bool,
    /// PostgreSQL: connections in the pool (the write jobs that run at once).
    #[arg(long, env = "CONFAB_POOL_SIZE")]
    pub pool_size: Option<u32>,
    /// When a write is answered: `disk` once it is synced to disk (survives a power loss),
    /// `process` once the operating system has it (survives kill -9, not a power loss; faster).
    #[arg(long, env = "CONFAB_DURABILITY", value_enum, default_value_t = Durability::Disk)]
    pub durability: Durability,
    /// Timeouts, the connection cap and the budget of request bodies (`edge`).
    #[command(flatten)]
    pub limits: Limits,
    /// How long a node's claim on a webhook delivery holds (an ISO-8601 duration, at least a
    /// second): if the node dies, another sends the delivery once the claim lapses. Keep it
    /// longer than an attempt may take (Twilio's 5 s timeout).
    #[arg(long, env = "CONFAB_WEBHOOK_LEASE", default_value = "PT60S", value_parser = lease_duration)]
    pub webhook_lease: Duration,
    /// How often an idle event stream (`GET /confab/Events`) sends a heartbeat comment, so that
    /// proxies keep it open: `15s`, `500ms`, `1m`.
    #[arg(long, env = "CONFAB_EVENTS_HEARTBEAT", default_value = "15s", value_parser = crate::edge::parse_span)]
    pub events_heartbeat: Duration,
    /// How long recorded events are kept for streams that reconnect with `Last-Event-ID` (an
    /// ISO-8601 duration, on the system's clock).
    #[arg(long, env = "CONFAB_EVENTS_KEEP", default_value = "PT1H", value_parser = lease_duration)]
    pub events_keep: Duration,
    /// The most recorded events kept (the newest), however young.
    #[arg(long, env = "CONFAB_EVENTS_KEEP_COUNT", default_value_t = DEFAULT_EVENTS_KEEP_COUNT)]
    pub events_keep_count: u32,
    /// A fixtures document (JSON, the format in README.md) loaded into the operator account at
    /// start, replacing what it held; a bad one stops the start.
    #[arg(long, env = "CONFAB_FIXTURES")]
    pub fixtures: Option<std::path::PathBuf>,
}

/// Events kept for reconnecting streams, at most, when `--events-keep-count` does not say.
pub const DEFAULT_EVENTS_KEEP_COUNT: u32 = 100_000;

/// `--webhook-lease`: an ISO-8601 duration such as `PT60S`, of at least a second.
fn lease_duration(text: &str) -> Result<Duration, String> {
    match crate::wire::time::parse_duration(text) {
        Some(secs) if secs >= 1 => Ok(Duration::from_secs(secs as u64)),
        _ => Err("an ISO-8601 duration of at least a second, such as PT60S".into()),
    }
}

impl ServeOpts {
    /// The defaults, on the store `db`, listening on an ephemeral port of 127.0.0.1: what a
    /// program that starts confab in-process (a test suite, say) starts from.
    pub fn new(db: &str) -> Self {
        ServeOpts {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: db.to_string(),
            account_sid: DEV_ACCOUNT_SID.into(),
            auth_token: DEV_AUTH_TOKEN.into(),
            public_url: None,
            test_mode: false,
            pool_size: None,
            durability: Durability::Disk,
            limits: Limits::default(),
            webhook_lease: crate::webhooks::delivery::DEFAULT_LEASE,
            events_heartbeat: Duration::from_secs(15),
            events_keep: Duration::from_secs(3600),
            events_keep_count: DEFAULT_EVENTS_KEEP_COUNT,
            fixtures: None,
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateAccountOpts {
    #[arg(long, env = "CONFAB_DB", default_value = "confab.db")]
    pub db: String,
    /// Make a new SQLite store at `--db` if there is none (without it, a path with no store
    /// there is refused: a mistyped path would otherwise make a store nobody serves).
    #[arg(long)]
    pub create: bool,
    #[arg(long, default_value = "confab account")]
    pub friendly_name: String,
}

#[derive(Args, Debug)]
pub struct CreateKeyOpts {
    /// The store, which must exist (the key's account is in it).
    #[arg(long, env = "CONFAB_DB", default_value = "confab.db")]
    pub db: String,
    #[arg(long)]
    pub account_sid: String,
    #[arg(long, default_value = "confab key")]
    pub friendly_name: String,
}

/// Opens the store, makes sure the operator account exists, and builds the shared state.
pub async fn prepare(opts: &ServeOpts) -> anyhow::Result<AppState> {
    let clock = Clock::default();
    crate::metrics::handle();
    let options = Options {
        test_mode: opts.test_mode,
        durability: opts.durability,
        pool_size: opts.pool_size,
        exclusive: true,
        existing_only: false,
    };
    let store = open_named(&opts.db, &options, clock).await?;
    crate::domain::accounts::ensure(&store, opts.account_sid.clone(), opts.auth_token.clone())
        .await?;
    let hashed = crate::domain::accounts::hash_plain_api_keys(&store).await?;
    if hashed > 0 {
        tracing::info!(
            keys = hashed,
            "API key secrets are now kept as salted hashes"
        );
    }
    let credentials = Arc::new(Credentials::new(
        crate::domain::accounts::load_credentials(&store).await?,
    ));
    credentials.clone().follow_deletions(store.wake.clone());
    crate::webhooks::delivery::spawn(store.clone(), opts.webhook_lease);
    crate::scheduler::spawn(store.clone());
    crate::domain::stream::spawn_pruner(
        store.clone(),
        Retention {
            keep_secs: opts.events_keep.as_secs() as i64,
            keep_count: i64::from(opts.events_keep_count),
        },
    );
    let state = AppState::new(Shared {
        store,
        credentials,
        public_url: opts.public_url.as_deref().map(Arc::from),
        operator_account: Arc::from(opts.account_sid.as_str()),
        test_mode: opts.test_mode,
        http: crate::webhooks::http_client(),
        limits: opts.limits,
        events_heartbeat: opts.events_heartbeat,
    });
    if let Some(path) = &opts.fixtures {
        load_fixtures(&state, path).await?;
    }
    Ok(state)
}

/// `--fixtures`: the document loaded into the operator account, or a start that stops saying
/// why (the file, and the Twilio error of the item refused).
async fn load_fixtures(state: &AppState, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the fixtures {}: {e}", path.display()))?;
    let fixtures: crate::api::fixtures::Fixtures = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "the fixtures {} are not a fixtures document: {e}",
            path.display()
        )
    })?;
    if let Err(answer) = crate::api::fixtures::load(state, &state.operator_account, &fixtures).await
    {
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        anyhow::bail!(
            "the fixtures {} were refused ({status}): {}",
            path.display(),
            String::from_utf8_lossy(&body)
        );
    }
    tracing::info!(fixtures = %path.display(), "fixtures loaded into the operator account");
    Ok(())
}

/// Serves on an already-bound listener until `shutdown` resolves (tests bind `127.0.0.1:0`).
pub async fn run_with_listener(
    opts: &ServeOpts,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = prepare(opts).await?;
    app::serve(listener, state, shutdown).await?;
    Ok(())
}

/// Opens a store that a subcommand writes to directly, beside a server that may be running on
/// it. It must exist unless `create` says to make it.
pub async fn open_store(db: &str, create: bool) -> anyhow::Result<Store> {
    let options = Options {
        existing_only: !create,
        ..Options::default()
    };
    open_named(db, &options, Clock::default()).await
}

/// Opens the store at `db`; an error names it (a SQLite engine's errors name the file
/// themselves; a PostgreSQL URL is named without its password).
async fn open_named(db: &str, options: &Options, clock: Clock) -> anyhow::Result<Store> {
    let location = Location::parse(db);
    let opened = Store::open(&location, options, clock).await;
    match location {
        Location::Postgres(_) => {
            opened.map_err(|e| anyhow::anyhow!("the PostgreSQL store {}: {e:#}", store_label(db)))
        }
        _ => opened,
    }
}

/// Binds the server's address, or says in one line which address could not be had and how to
/// choose another.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => "address already in use (another process listens there)".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied (ports below 1024 need privileges)".to_string(),
            std::io::ErrorKind::AddrNotAvailable => "no interface of this machine has that address".to_string(),
            _ => e.to_string(),
        };
        anyhow::anyhow!("cannot listen on {listen}: {why}: choose another address with --listen or CONFAB_LISTEN")
    })
}

/// The banner printed at start: where it listens, the store, the credentials, and how to point
/// each official SDK here. It shows the operator's auth token only when it is the built-in
/// development one, which the README prints anyway; a real one stays out of terminals and logs.
pub fn banner(opts: &ServeOpts, addr: SocketAddr) -> String {
    let base = opts
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let sid = &opts.account_sid;
    let token = if opts.auth_token == DEV_AUTH_TOKEN {
        DEV_AUTH_TOKEN
    } else {
        "$CONFAB_AUTH_TOKEN"
    };
    format!(
        "confab listening on {base}  (store: {db})
  account sid: {sid}
  auth token:  {token}

Python:  client = Client(\"{sid}\", \"{token}\"); client.conversations.base_url = \"{base}\"
Node:    const client = twilio(\"{sid}\", \"{token}\"); client.conversations.baseUrl = \"{base}\";
curl:    curl -u {sid}:{token} {base}/v1/Conversations -d FriendlyName=support
",
        db = store_label(&opts.db)
    )
}

/// The store as the banner names it: a PostgreSQL URL without its password.
fn store_label(db: &str) -> String {
    match Location::parse(db) {
        Location::Postgres(url) => match url.split_once("://").and_then(|(scheme, rest)| {
            let (credentials, place) = rest.rsplit_once('@')?;
            let user = credentials.split(':').next()?;
            Some(format!("{scheme}://{user}@{place}"))
        }) {
            Some(label) => label,
            None => url,
        },
        _ => db.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_shows_only_the_development_token_and_no_password() {
        let dev = ServeOpts::new("postgres://confab:hunter2@db.internal:5432/confab");
        let shown = banner(&dev, SocketAddr::from(([127, 0, 0, 1], 8787)));
        assert!(shown.contains(DEV_AUTH_TOKEN));
        assert!(shown.contains("postgres://confab@db.internal:5432/confab"));
        assert!(!shown.contains("hunter2"));
        let real = ServeOpts {
            auth_token: "a-real-token-0123".into(),
            ..ServeOpts::new("confab.db")
        };
        let shown = banner(&real, SocketAddr::from(([127, 0, 0, 1], 8787)));
        assert!(!shown.contains("a-real-token-0123"), "{shown}");
        assert!(shown.contains("(store: confab.db)"));
    }

    #[test]
    fn the_webhook_lease_is_an_iso_duration_of_a_second_or_more() {
        assert_eq!(lease_duration("PT60S"), Ok(Duration::from_secs(60)));
        assert_eq!(lease_duration("PT1M30S"), Ok(Duration::from_secs(90)));
        assert_eq!(lease_duration("PT1S"), Ok(Duration::from_secs(1)));
        assert!(lease_duration("PT0S").is_err());
        assert!(lease_duration("60").is_err());
        let cli = Cli::parse_from(["confab"]);
        assert_eq!(cli.serve.webhook_lease, Duration::from_secs(60));
        let cli = Cli::parse_from(["confab", "--webhook-lease", "PT3S"]);
        assert_eq!(cli.serve.webhook_lease, Duration::from_secs(3));
    }
}
