//! The real `confab` binary as a child process: started on a store, waited for, killed with
//! SIGKILL (or stopped with SIGTERM) and started again on the same store. The store under test
//! is a parameter ([`Engine`]); nothing here knows confab's code, only its command line and
//! its HTTP API.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    /// A PostgreSQL database (`--db postgres://...`). Not yet served by confab: the variant is
    /// here so that the tests grow a second engine by implementing [`Store`]'s few methods, not
    /// by forking the harness.
    #[allow(dead_code)]
    Postgres { url: String },
}

impl Engine {
    pub fn name(&self) -> String {
        match self {
            Engine::SqliteFile { durability } => {
                format!("sqlite durability={}", durability.as_arg())
            }
            Engine::Postgres { .. } => "postgres".into(),
        }
    }
}

/// A store and the scratch directory of one test (server logs, the power-loss journal). The
/// directory is kept, and its path printed, when the test fails.
pub struct Store {
    pub engine: Engine,
    dir: tempfile::TempDir,
    starts: usize,
}

impl Store {
    pub fn new(engine: Engine, name: &str) -> anyhow::Result<Store> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("confab-faults-{name}-"))
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("store"))?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        Ok(Store {
            engine,
            dir,
            starts: 0,
        })
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
            Engine::Postgres { url } => vec!["--db".into(), url.clone()],
        }
    }

    /// Checks the store's own consistency while no server runs on it. SQLite: the file opened
    /// read-only, `PRAGMA integrity_check` says "ok" and `PRAGMA foreign_key_check` finds no row.
    pub fn check_integrity(&self) -> anyhow::Result<()> {
        match &self.engine {
            Engine::SqliteFile { .. } => sqlite_integrity(&self.sqlite_path().unwrap()),
            Engine::Postgres { .. } => bail!("the PostgreSQL integrity check is not written yet"),
        }
    }

    /// Keeps the scratch directory (for a failing test) and says where it is.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
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
}

impl Server {
    /// Starts confab on `store` (on a port it picks: `--listen 127.0.0.1:0`, read back from its
    /// banner), with these extra environment variables, and waits until `/healthz` answers.
    pub async fn start(store: &mut Store, env: &[(&str, String)]) -> anyhow::Result<Server> {
        let n = store.starts;
        store.starts += 1;
        let logs = store.dir.path().join("logs");
        let out_path = logs.join(format!("start-{n}.out"));
        let err_path = logs.join(format!("start-{n}.err"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .args(store.server_args())
            .args(["--listen", "127.0.0.1:0"])
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
        let mut server = Server {
            child: Some(child),
            base: String::new(),
        };
        let started = Instant::now();
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
    let mut store = Store::new(engine.clone(), name).expect("scratch directory");
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
                "{name} [{}] failed (seed={seed}): {e:#}\nscratch directory kept: {}\n{tail}",
                engine.name(),
                kept.display()
            );
        }
    }
}
