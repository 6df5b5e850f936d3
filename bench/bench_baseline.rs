//! The benchmark's baselines (`bench/run.sh` starts it beside confab): the least a server can do
//! for confab's requests, on the same machine, at the same moment, so that confab's figures can
//! be given as ratios that shared, noisy machines do not move.
//!
//! - `POST /insert/...`: checks Basic auth, parses the form body, and inserts one row into a
//!   SQLite table in its own transaction (WAL, `synchronous=NORMAL`), then answers 201 with a
//!   small JSON object. With `--pg <url>` the row goes instead to a PostgreSQL table, one
//!   INSERT per request on a connection from a pool the size of confab's default, run on a
//!   blocking thread as confab's PostgreSQL engine runs its jobs (the server's defaults:
//!   `synchronous_commit=on`, so the answer waits for the commit's flush, as confab's does).
//! - `GET|POST /parse/...`: checks Basic auth, parses the query string (and the form body, if
//!   any), and answers 200 with a small JSON object. No store.
//! - `GET /select/...` (with `--pg` only): checks Basic auth, parses the query string, reads one
//!   row by its primary key on a pooled connection (a blocking thread, as the insert), and
//!   answers 200 with it: the least a server that reads the database on every request can do,
//!   as confab on PostgreSQL must (no cache may serve a row older than another node's write).
//!
//! - `POST /hook`: a webhook receiver for `bench/backlog.py`: answers 200 at once and counts
//!   what it received; `GET /hook` answers the count.
//!
//! The rest of the path is free, so the load generator sends the very paths it sends confab,
//! prefixed.
//!
//! ```sh
//! cargo run --release --example bench_baseline -- --listen 127.0.0.1:8788 --db /tmp/base.db \
//!   --account-sid AC... --auth-token ...
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use clap::Parser;
use rusqlite::Connection;
use serde_json::json;

#[derive(Parser, Debug)]
struct Opts {
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,
    /// The SQLite file of the single-insert route.
    #[arg(long, required_unless_present = "pg")]
    db: Option<String>,
    /// A PostgreSQL database for the single-insert route instead of the SQLite file.
    #[arg(long)]
    pg: Option<String>,
    /// Connections in the PostgreSQL pool (confab's default).
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    #[arg(long, default_value = "AC0123456789abcdef0123456789abcdef")]
    account_sid: String,
    #[arg(long, default_value = "confab_dev_auth_token")]
    auth_token: String,
}

#[derive(Clone)]
struct Baseline {
    user: Arc<str>,
    secret: Arc<str>,
    db: Store,
    hooks: Arc<AtomicU64>,
    /// `GET /select` requests so far: which row the next one reads.
    reads: Arc<AtomicU64>,
}

/// Where the single-insert route writes.
#[derive(Clone)]
enum Store {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(r2d2::Pool<PgManager>),
}

/// Opens the PostgreSQL pool's connections, each with the INSERT prepared on it.
struct PgManager(postgres::Config);

struct PgConn {
    client: postgres::Client,
    insert: postgres::Statement,
    select: postgres::Statement,
    /// When the pool last checked this connection: as confab's pool, a check (a round trip)
    /// only after a second idle, not on every request.
    checked_at: Instant,
}

const PG_INSERT: &str = "INSERT INTO messages (author, body, attributes, date_created) \
                         VALUES ($1, $2, '{}', $3) RETURNING id";
const PG_SELECT: &str = "SELECT id, author, body, attributes, date_created FROM messages \
                         WHERE id = $1";
/// The rows `GET /select/...` reads, in turn (inserted at start when the table has fewer).
const SELECT_ROWS: i64 = 1000;

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        let mut client = self.0.connect(postgres::NoTls)?;
        let insert = client.prepare(PG_INSERT)?;
        let select = client.prepare(PG_SELECT)?;
        Ok(PgConn {
            client,
            insert,
            select,
            checked_at: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        if conn.checked_at.elapsed() < Duration::from_secs(1) {
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

impl Baseline {
    /// The same check confab makes: decode `Basic <base64(user:secret)>`, compare in constant
    /// time.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, pass)) = decoded.split_once(':') else {
            return false;
        };
        user == &*self.user && constant_time_eq(pass.as_bytes(), self.secret.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"code": 20003, "status": 401})),
    )
        .into_response()
}

fn bad_request(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"code": 20001, "message": e.to_string(), "status": 400})),
    )
        .into_response()
}

fn server_error(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"message": e.to_string(), "status": 500})),
    )
        .into_response()
}

type Pairs = Vec<(String, String)>;

/// Checks auth, parses the form, inserts one row in its own transaction.
async fn insert(State(app): State<Baseline>, headers: HeaderMap, body: Bytes) -> Response {
    if !app.authorized(&headers) {
        return unauthorized();
    }
    let form: Pairs = match serde_html_form::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (author, text) = (field("Author"), field("Body"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let inserted = match &app.db {
        Store::Sqlite(db) => insert_sqlite(db, &author, &text, now).map_err(|e| e.to_string()),
        Store::Postgres(pool) => {
            let pool = pool.clone();
            let (a, t) = (author.clone(), text.clone());
            tokio::task::spawn_blocking(move || insert_postgres(&pool, &a, &t, now))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
        }
    };
    match inserted {
        Ok(id) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": id, "author": author, "body": text, "date_created": now})),
        )
            .into_response(),
        Err(e) => server_error(e),
    }
}

fn insert_sqlite(
    db: &Mutex<Connection>,
    author: &Option<String>,
    text: &Option<String>,
    now: i64,
) -> rusqlite::Result<i64> {
    let mut conn = db.lock().expect("baseline db poisoned");
    let tx = conn.transaction()?;
    tx.prepare_cached(
        "INSERT INTO messages (author, body, attributes, date_created) VALUES (?1, ?2, '{}', ?3)",
    )?
    .execute(rusqlite::params![author, text, now])?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(id)
}

/// One INSERT, its own transaction, on a pooled connection with the statement prepared once.
fn insert_postgres(
    pool: &r2d2::Pool<PgManager>,
    author: &Option<String>,
    text: &Option<String>,
    now: i64,
) -> Result<i64, String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let PgConn { client, insert, .. } = &mut *conn;
    client
        .query_one(&*insert, &[author, text, &now])
        .map(|row| row.get(0))
        .map_err(|e| e.to_string())
}

/// Checks auth, parses the query, reads one row by primary key, answers it.
async fn select(
    State(app): State<Baseline>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !app.authorized(&headers) {
        return unauthorized();
    }
    if let Err(e) = serde_html_form::from_str::<Pairs>(query.as_deref().unwrap_or("")) {
        return bad_request(e);
    }
    let Store::Postgres(pool) = &app.db else {
        return bad_request("GET /select is for --pg");
    };
    let (pool, id) = (
        pool.clone(),
        app.reads.fetch_add(1, Ordering::Relaxed) as i64,
    );
    let read = tokio::task::spawn_blocking(move || select_postgres(&pool, id % SELECT_ROWS + 1))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    match read {
        Ok(row) => axum::Json(row).into_response(),
        Err(e) => server_error(e),
    }
}

/// One SELECT by primary key, on a pooled connection with the statement prepared once.
fn select_postgres(pool: &r2d2::Pool<PgManager>, id: i64) -> Result<serde_json::Value, String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let PgConn { client, select, .. } = &mut *conn;
    let row = client
        .query_one(&*select, &[&id])
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "id": row.get::<_, i64>(0),
        "author": row.get::<_, Option<String>>(1),
        "body": row.get::<_, Option<String>>(2),
        "attributes": row.get::<_, String>(3),
        "date_created": row.get::<_, i64>(4),
    }))
}

/// A webhook delivered: counted, answered 200 with an empty body.
async fn hook(State(app): State<Baseline>) -> StatusCode {
    app.hooks.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

async fn hook_count(State(app): State<Baseline>) -> Response {
    axum::Json(json!({"count": app.hooks.load(Ordering::Relaxed)})).into_response()
}

/// Checks auth, parses the query and the form body, answers.
async fn parse(
    State(app): State<Baseline>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if !app.authorized(&headers) {
        return unauthorized();
    }
    let query: Pairs = match serde_html_form::from_str(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let form: Pairs = match serde_html_form::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    axum::Json(json!({"query": query.len(), "form": form.len()})).into_response()
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS messages (
            id           INTEGER PRIMARY KEY,
            author       TEXT,
            body         TEXT,
            attributes   TEXT NOT NULL,
            date_created INTEGER NOT NULL
        )",
    )?;
    Ok(conn)
}

async fn open_postgres(url: &str, size: u32) -> anyhow::Result<r2d2::Pool<PgManager>> {
    let config: postgres::Config = url.parse()?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut client = config.connect(postgres::NoTls)?;
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS messages (
                id           BIGSERIAL PRIMARY KEY,
                author       TEXT,
                body         TEXT,
                attributes   TEXT NOT NULL,
                date_created BIGINT NOT NULL
            )",
        )?;
        // The rows `GET /select` reads, before any insert.
        client.execute(
            "INSERT INTO messages (author, body, attributes, date_created)
             SELECT 'bench', 'hello world', '{}', 0 FROM generate_series(1, $1::bigint)
             WHERE NOT EXISTS (SELECT 1 FROM messages)",
            &[&SELECT_ROWS],
        )?;
        Ok(r2d2::Pool::builder()
            .max_size(size)
            .build(PgManager(config))?)
    })
    .await?
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    // Bound first: a port in use fails here, before the PostgreSQL pool exists (its
    // connections may not be dropped on this async thread).
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let db = match (&opts.pg, &opts.db) {
        (Some(url), _) => Store::Postgres(open_postgres(url, opts.pool_size).await?),
        (None, Some(path)) => Store::Sqlite(Arc::new(Mutex::new(open(path)?))),
        (None, None) => unreachable!("clap requires --db without --pg"),
    };
    let state = Baseline {
        user: opts.account_sid.into(),
        secret: opts.auth_token.into(),
        db,
        hooks: Arc::new(AtomicU64::new(0)),
        reads: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/insert/{*rest}", post(insert))
        .route("/parse/{*rest}", any(parse))
        .route("/select/{*rest}", get(select))
        .route("/hook", get(hook_count).post(hook))
        .with_state(state);
    println!(
        "bench_baseline listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
