//! The real `confab` binary as a child process: started on a store, waited for, killed with
//! SIGKILL (or stopped with SIGTERM) and started again on the same store; several of them on
//! one PostgreSQL database, behind HAProxy run with `deploy/haproxy.cfg` ([`Balancer`]). The
//! store under test is a parameter ([`Engine`]); nothing here knows confab's code, only its
//! command line and its HTTP API (and, for PostgreSQL, how to create and drop a database).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The operator account every confab starts with (its development credentials).
pub const OPERATOR_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const OPERATOR_TOKEN: &str = "confab_dev_auth_token";

/// How long a start may take (a debug build, a shim, and two cores shared with other builds).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a graceful stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// When an answered write must have reached the disk (`--durability`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Synced before it is answered: survives a power loss.
    Disk,
    /// In the operating system's hands when answered: survives kill -9, not a power loss.
    Process,
}

impl Durability {
    pub fn as_arg(self) -> &'static str {
        match self {
            Durability::Disk => "disk",
            Durability::Process => "process",
        }
    }
}

/// The store under test: the one place that knows which engine it is.
#[derive(Clone, Debug)]
pub enum Engine {
    /// A SQLite file (`--db <dir>/store/confab.db`), with this durability.
    SqliteFile { durability: Durability },
    /// A PostgreSQL server: `url` names its maintenance database (`CONFAB_TEST_PG`, e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`). Each [`Store`] creates a database of its
    /// own there (`confab_test_<CONFAB_TEST_PG_RUN>_<random>`, as tests/api's `TestStore` does),
    /// which confab gets as `--db postgres://.../<database>`, and drops it after.
    Postgres { url: String },
}

/// The variable that names the PostgreSQL server the PostgreSQL tests run on.
pub const PG_VARIABLE: &str = "CONFAB_TEST_PG";

impl Engine {
    pub fn name(&self) -> String {
        match self {
            Engine::SqliteFile { durability } => {
                format!("sqlite durability={}", durability.as_arg())
            }
            Engine::Postgres { .. } => "postgres".into(),
        }
    }

    /// The PostgreSQL server `CONFAB_TEST_PG` names, if it is set (and not empty).
    pub fn postgres() -> Option<Engine> {
        std::env::var(PG_VARIABLE)
            .ok()
            .filter(|url| !url.is_empty())
            .map(|url| Engine::Postgres { url })
    }
}

/// A PostgreSQL database of one test, on the server `CONFAB_TEST_PG` names: created empty,
/// dropped when the test is done with it (kept, and named, when it failed).
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
    keep: bool,
}

impl PgDatabase {
    fn create(admin: &str) -> anyhow::Result<PgDatabase> {
        let run = std::env::var("CONFAB_TEST_PG_RUN").unwrap_or_else(|_| "run".into());
        anyhow::ensure!(
            run.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "CONFAB_TEST_PG_RUN={run:?}: letters, digits and _ only (it is part of a database name)"
        );
        let name = format!("confab_test_{run}_{:016x}", rand::random::<u64>());
        let Some((server, _)) = admin.rsplit_once('/') else {
            bail!("{PG_VARIABLE}={admin} is not a URL with a database");
        };
        let url = format!("{server}/{name}");
        pg_execute(admin, &format!("CREATE DATABASE {name}")).with_context(|| {
            format!("{PG_VARIABLE}={admin}: creating the test's database {name}")
        })?;
        Ok(PgDatabase {
            admin: admin.to_string(),
            name,
            url,
            keep: false,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = pg_execute(&self.admin, &drop) {
            summary(&format!("faults: could not drop {}: {e:#}", self.name));
        }
    }
}

/// Runs `sql` (one or more statements) on the PostgreSQL database at `url`.
pub fn pg_execute(url: &str, sql: &str) -> anyhow::Result<()> {
    pg_rows(url, sql).map(|_| ())
}

/// The rows `sql` returns on the PostgreSQL database at `url`, each value as its text (`None`
/// for NULL). On a thread of its own: the synchronous client runs a runtime of its own, which
/// a thread of the test's runtime may not.
pub fn pg_rows(url: &str, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || -> anyhow::Result<_> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .with_context(|| format!("PostgreSQL at {url} cannot be reached"))?;
        let mut rows = Vec::new();
        for message in client.simple_query(&sql).with_context(|| sql.clone())? {
            if let postgres::SimpleQueryMessage::Row(row) = message {
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
        }
        Ok(rows)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the PostgreSQL client thread panicked"))?
}

/// A store and the scratch directory of one test (server logs, the power-loss journal). The
/// directory is kept, and its path printed, when the test fails.
pub struct Store {
    pub engine: Engine,
    dir: tempfile::TempDir,
    starts: usize,
    /// The test's own database, for [`Engine::Postgres`].
    database: Option<PgDatabase>,
}

impl Store {
    /// A scratch directory, and for PostgreSQL an empty database of the test's own (a server
    /// that cannot be reached fails the test: it is not skipped).
    pub fn new(engine: Engine, name: &str) -> anyhow::Result<Store> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("confab-faults-{name}-"))
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("store"))?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let database = match &engine {
            Engine::Postgres { url } => Some(PgDatabase::create(url)?),
            Engine::SqliteFile { .. } => None,
        };
        Ok(Store {
            engine,
            dir,
            starts: 0,
            database,
        })
    }

    /// The URL of the test's PostgreSQL database, for the engines that have one.
    pub fn pg_url(&self) -> Option<&str> {
        self.database.as_ref().map(|d| d.url.as_str())
    }

    /// The test's scratch directory.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The directory that holds the store's files (SQLite: the database and its -wal, -shm).
    pub fn files_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The SQLite database file, for the engines that have one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self.engine {
            Engine::SqliteFile { .. } => Some(self.files_dir().join("confab.db")),
            Engine::Postgres { .. } => None,
        }
    }

    /// The server's command-line arguments that name the store.
    fn server_args(&self) -> Vec<String> {
        match &self.engine {
            Engine::SqliteFile { durability } => vec![
                "--db".into(),
                self.sqlite_path().unwrap().display().to_string(),
                "--durability".into(),
                durability.as_arg().into(),
            ],
            Engine::Postgres { .. } => vec!["--db".into(), self.pg_url().unwrap().to_string()],
        }
    }

    /// Checks the store's own consistency while no server runs on it. SQLite: the file opened
    /// read-only, `PRAGMA integrity_check` says "ok" and `PRAGMA foreign_key_check` finds no row.
    /// PostgreSQL: the database's own job (its WAL, its constraints); that it still answers.
    pub fn check_integrity(&self) -> anyhow::Result<()> {
        match &self.engine {
            Engine::SqliteFile { .. } => sqlite_integrity(&self.sqlite_path().unwrap()),
            Engine::Postgres { .. } => pg_execute(self.pg_url().unwrap(), "SELECT 1"),
        }
    }

    /// Keeps the scratch directory, and the PostgreSQL database (for a failing test), and says
    /// where they are.
    pub fn keep(mut self) -> String {
        let database = self.database.as_mut().map(|d| {
            d.keep = true;
            format!(
                "; database kept: {} (DROP DATABASE {} WITH (FORCE) when done)",
                d.url, d.name
            )
        });
        let dir = self.dir.keep();
        format!("{}{}", dir.display(), database.unwrap_or_default())
    }

    /// What the server of start `n` wrote to stderr.
    pub fn server_stderr(&self, n: usize) -> String {
        let path = self.dir.path().join("logs").join(format!("start-{n}.err"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The end of the server logs of the last starts, for a failure message.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for n in self.starts.saturating_sub(3)..self.starts {
            let path = self.dir.path().join("logs").join(format!("start-{n}.err"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            out.push_str(&format!(
                "--- {} (last {} lines)\n",
                path.display(),
                lines.len() - from
            ));
            for line in &lines[from..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// Runs the SQLite checks on the database at `db` (no server running on it).
pub fn sqlite_integrity(db: &Path) -> anyhow::Result<()> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", db.display()))?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if rows != ["ok"] {
        bail!("PRAGMA integrity_check: {rows:?}");
    }
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}:{:?}->{}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?
            ))
        })?
        .collect::<Result<_, _>>()?;
    if !rows.is_empty() {
        bail!("PRAGMA foreign_key_check: {} rows: {rows:?}", rows.len());
    }
    Ok(())
}

/// A running confab.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`, as its banner says.
    pub base: String,
    /// Which start of its store it is (its logs are `logs/start-<n>.{out,err}`).
    pub start: usize,
}

/// A confab that was started and has not said yet whether it serves: [`Starting::ready`] waits
/// until it does, [`Starting::exit`] until it stops (one that must refuse to start).
pub struct Starting {
    server: Server,
    out_path: PathBuf,
    err_path: PathBuf,
    started: Instant,
}

impl Server {
    /// Starts confab on `store` (on a port it picks: `--listen 127.0.0.1:0`, read back from its
    /// banner), with these extra environment variables, and waits until `/healthz` answers.
    pub async fn start(store: &mut Store, env: &[(&str, String)]) -> anyhow::Result<Server> {
        Server::launch(store, &[], env)?.ready().await
    }

    /// Starts confab on `store` with these extra arguments and environment variables, and
    /// returns at once (several nodes start together this way).
    pub fn launch(
        store: &mut Store,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Starting> {
        Server::launch_on(store, "127.0.0.1:0", args, env)
    }

    /// As [`Server::launch`], listening on `listen` (a node restarted where it was).
    pub fn launch_on(
        store: &mut Store,
        listen: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Starting> {
        let n = store.starts;
        store.starts += 1;
        let logs = store.dir.path().join("logs");
        let out_path = logs.join(format!("start-{n}.out"));
        let err_path = logs.join(format!("start-{n}.err"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .args(store.server_args())
            .args(["--listen", listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out_path)?)
            .stderr(File::create(&err_path)?);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        for (k, v) in env {
            command.env(k, v);
        }
        die_with_parent(&mut command);
        let child = command.spawn().context("spawning confab")?;
        Ok(Starting {
            server: Server {
                child: Some(child),
                base: String::new(),
                start: n,
            },
            out_path,
            err_path,
            started: Instant::now(),
        })
    }

    /// `127.0.0.1:<port>`, where it listens.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

impl Starting {
    /// Waits until the server printed its banner and `/healthz` answers.
    pub async fn ready(self) -> anyhow::Result<Server> {
        let Starting {
            mut server,
            out_path,
            err_path,
            started,
        } = self;
        loop {
            let out = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(rest) = out.split("confab listening on ").nth(1)
                && let Some(base) = rest.split_whitespace().next()
            {
                server.base = base.to_string();
                break;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait()? {
                bail!(
                    "confab exited at start ({status}):\n{}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("confab printed no banner within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let http = reqwest::Client::new();
        loop {
            let health = http.get(format!("{}/healthz", server.base)).send().await;
            if matches!(&health, Ok(r) if r.status().is_success()) {
                return Ok(server);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("/healthz did not answer within {START_TIMEOUT:?}: {health:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the process exits (it must, within the start timeout, and without serving):
    /// its status and what it wrote to stderr.
    pub async fn exit(mut self) -> anyhow::Result<(ExitStatus, String)> {
        let child = self.server.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait()? {
                let err = std::fs::read_to_string(&self.err_path).unwrap_or_default();
                return Ok((status, err));
            }
            let out = std::fs::read_to_string(&self.out_path).unwrap_or_default();
            if out.contains("confab listening on ") {
                bail!("confab started, and serves:\n{out}");
            }
            if self.started.elapsed() > START_TIMEOUT {
                bail!("confab still runs {START_TIMEOUT:?} after it was started");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Server {
    /// SIGKILL, and waits until the process is gone (so its files are as it left them).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (finish the requests in flight, empty the WAL, stop), and waits for the exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: a signal to our own child, which has not been waited for (its pid is ours).
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("confab stopped with {status}");
                }
                return Ok(());
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                bail!("confab did not stop within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Has the child killed (SIGKILL) if the thread that started it goes away, so that a test
/// process killed by a CI timeout leaves no server behind. (The threads that start servers are
/// the test runtime's workers, which live as long as the test.)
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe, and the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Writes a line to the test's stderr past libtest's capture, so that CI logs show what each
/// test proved even when it passes.
pub fn summary(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Rounds to run: `CONFAB_FAULT_ROUNDS` if set (the soak), else the test's CI default.
pub fn rounds(default: usize) -> usize {
    std::env::var("CONFAB_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The random seed: `CONFAB_FAULT_SEED` if set (to replay a run's choices; timing still
/// varies), else a fresh one. Printed in every summary.
pub fn seed() -> u64 {
    std::env::var("CONFAB_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Runs a test body on its own runtime; on failure prints the seed, the server logs' tails and
/// keeps the scratch directory.
pub fn run_test<F>(name: &str, engine: Engine, body: F)
where
    F: AsyncFnOnce(&mut Store, u64) -> anyhow::Result<String>,
{
    let seed = seed();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut store = Store::new(engine.clone(), name)
        .unwrap_or_else(|e| panic!("{name} [{}]: the store: {e:#}", engine.name()));
    let started = Instant::now();
    let outcome = runtime.block_on(body(&mut store, seed));
    match outcome {
        Ok(line) => summary(&format!(
            "faults: {name} [{}] {line} seed={seed} ({:.1} s)",
            engine.name(),
            started.elapsed().as_secs_f64()
        )),
        Err(e) => {
            let tail = store.log_tail();
            let kept = store.keep();
            panic!(
                "{name} [{}] failed (seed={seed}): {e:#}\nscratch directory kept: {kept}\n{tail}",
                engine.name(),
            );
        }
    }
}

/// Runs a test body on the PostgreSQL server `CONFAB_TEST_PG` names, on a database of its own;
/// without `CONFAB_TEST_PG` the test says (past the capture) that it did not run, and passes.
/// CI always sets it: then a server that cannot be reached fails the test.
pub fn run_pg_test<F>(name: &str, body: F)
where
    F: AsyncFnOnce(&mut Store, u64) -> anyhow::Result<String>,
{
    match Engine::postgres() {
        Some(engine) => run_test(name, engine, body),
        None => summary(&format!(
            "faults: {name} [postgres] NOT RUN: {PG_VARIABLE} is not set (it names a PostgreSQL \
             server's maintenance database, e.g. \
             {PG_VARIABLE}=postgres://postgres@127.0.0.1:5432/postgres; CI sets it)"
        )),
    }
}

/// HAProxy in front of two confab nodes, run with the documented configuration itself
/// (`deploy/haproxy.cfg`, the addresses from the environment as docs/deploy.md shows): round
/// robin, `GET /readyz` as the health check every second.
pub struct Balancer {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Balancer {
    /// Starts HAProxy (`CONFAB_HAPROXY`, else `/usr/sbin/haproxy`, else `haproxy` on the
    /// PATH) on a free port of 127.0.0.1 in front of `nodes`, and waits until it passes a
    /// request to each of them.
    pub async fn start(store: &Store, nodes: [&Server; 2]) -> anyhow::Result<Balancer> {
        let binary = std::env::var("CONFAB_HAPROXY").unwrap_or_else(|_| {
            if Path::new("/usr/sbin/haproxy").exists() {
                "/usr/sbin/haproxy".into()
            } else {
                "haproxy".into()
            }
        });
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy.cfg");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let logs = store.dir.path().join("logs");
        let mut command = Command::new(&binary);
        command
            .arg("-f")
            .arg(&config)
            .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
            .env("CONFAB_NODE1", nodes[0].addr())
            .env("CONFAB_NODE2", nodes[1].addr())
            .stdin(Stdio::null())
            .stdout(File::create(logs.join("haproxy.out"))?)
            .stderr(File::create(logs.join("haproxy.err"))?);
        die_with_parent(&mut command);
        let child = command.spawn().with_context(|| {
            format!(
                "starting HAProxy ({binary}; apt-get install -y haproxy, or set CONFAB_HAPROXY)"
            )
        })?;
        let mut balancer = Balancer {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        // Ready when two requests in a row were answered 200 (round robin: one by each node).
        let http = reqwest::Client::new();
        let started = Instant::now();
        let mut in_a_row = 0;
        while in_a_row < 2 {
            if let Some(status) = balancer.child.as_mut().unwrap().try_wait()? {
                bail!(
                    "HAProxy exited at start ({status}):\n{}",
                    std::fs::read_to_string(logs.join("haproxy.err")).unwrap_or_default()
                );
            }
            let ready = http.get(format!("{}/readyz", balancer.base)).send().await;
            if matches!(&ready, Ok(r) if r.status().is_success()) {
                in_a_row += 1;
            } else {
                in_a_row = 0;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("HAProxy did not pass /readyz within {START_TIMEOUT:?}: {ready:?}");
            }
        }
        Ok(balancer)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
