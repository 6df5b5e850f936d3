//! Starting the real binary on what a newcomer gives it: a store another server holds, a store
//! from a newer confab, another application's SQLite file, a text file, a damaged store, a
//! missing directory, a taken address, a mistyped `--db`. Each refusal is one line on stderr
//! that names what it is about (never a backtrace, though `RUST_BACKTRACE` asks for one), exit
//! status 1, and the file it was given unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::persistence::{operator, send_sigterm, spawn_binary, wait_for_clean_exit};

/// Runs `confab args...` to its end (at most 20 s), with `RUST_BACKTRACE=1`.
fn run_confab(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .env_remove("CONFAB_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("confab {args:?} did not end within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A server started on `db` that must refuse: its one line of stderr.
fn refusal(args: &[&str]) -> String {
    let output = run_confab(args, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.contains(" INFO ") && !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line, no backtrace: {stderr}");
    assert!(lines[0].starts_with("confab: "), "{stderr}");
    lines[0].to_string()
}

fn serve_refusal(db: &Path) -> String {
    refusal(&["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()])
}

/// A store made by the binary (`create-account --create`), its WAL emptied into the file.
fn made_store(dir: &Path) -> PathBuf {
    let db = dir.join("confab.db");
    let output = run_confab(
        &["create-account", "--create", "--db", db.to_str().unwrap()],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    db
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_second_server_on_the_same_store_refuses_naming_the_store_and_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let (first, base) = spawn_binary(&db, &[]);
    let line = serve_refusal(&db);
    assert!(line.contains(db.to_str().unwrap()), "{line}");
    assert!(line.contains(&format!("pid {}", first.id())), "{line}");
    // The first server still serves, and an offline command may still add an account.
    operator(&base)
        .get("/v1/Conversations")
        .await
        .assert_status(200);
    let added = run_confab(&["create-account", "--db", db.to_str().unwrap()], &[]);
    assert!(added.status.success(), "{added:?}");
    // Once the first has stopped, the store is free.
    send_sigterm(&first);
    wait_for_clean_exit(first).await;
    let (second, base) = spawn_binary(&db, &[]);
    operator(&base)
        .get("/v1/Conversations")
        .await
        .assert_status(200);
    send_sigterm(&second);
    wait_for_clean_exit(second).await;
}

#[test]
fn a_store_from_a_newer_confab_is_refused_with_both_versions_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = made_store(dir.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ours: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let newer = ours + 2;
    conn.pragma_update(None, "user_version", newer).unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let line = serve_refusal(&db);
    assert!(
        line.contains(&format!(
            "schema version {newer}, newer than this confab's {ours}"
        )),
        "{line}"
    );
    assert!(line.contains(db.to_str().unwrap()), "{line}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn another_applications_sqlite_file_is_refused_and_not_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER);
         INSERT INTO invoices (total) VALUES (42);",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let listed = files_in(dir.path());
    for args in [
        vec!["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()],
        vec!["create-account", "--db", db.to_str().unwrap()],
    ] {
        let line = refusal(&args);
        assert!(line.contains("not a confab store"), "{line}");
        assert!(line.contains(db.to_str().unwrap()), "{line}");
        assert_eq!(std::fs::read(&db).unwrap(), before, "its bytes unchanged");
        assert_eq!(files_in(dir.path()), listed, "no WAL, no lock beside it");
    }
}

#[test]
fn a_confab_store_made_before_stores_were_marked_is_still_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = made_store(dir.path());
    // What an older confab left: schema version 10 (what migrations 0011 to 0015 add undone)
    // and no application id.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TABLE inbound_messages; DROP INDEX receipts_by_to;
         DROP TABLE stream_events;
         DROP TABLE account_faults;
         ALTER TABLE webhook_deliveries DROP COLUMN params;
         ALTER TABLE webhook_deliveries DROP COLUMN signature;
         ALTER TABLE webhook_deliveries DROP COLUMN response_body;",
    )
    .unwrap();
    conn.pragma_update(None, "application_id", 0).unwrap();
    conn.pragma_update(None, "user_version", 10).unwrap();
    drop(conn);
    let output = run_confab(&["create-account", "--db", db.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{output:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(id, 0x636f_6e66, "marked as confab's once opened");
}

#[test]
fn a_text_file_and_a_damaged_store_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "shopping list\n").unwrap();
    let line = serve_refusal(&text);
    assert!(line.contains("notes.db is not a SQLite database"), "{line}");
    assert_eq!(std::fs::read(&text).unwrap(), b"shopping list\n");

    let db = made_store(dir.path());
    let mut bytes = std::fs::read(&db).unwrap();
    let tail = bytes.len() - 4096;
    bytes[4096..tail].fill(0xff);
    std::fs::write(&db, &bytes).unwrap();
    let line = serve_refusal(&db);
    assert!(
        line.contains(&format!(
            "the store {} is damaged (database disk image is malformed)",
            db.display()
        )),
        "{line}"
    );
}

#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no-such-dir").join("confab.db");
    let line = serve_refusal(&db);
    assert!(
        line.contains(&format!(
            "cannot open the store {}: its directory {} does not exist",
            db.display(),
            dir.path().join("no-such-dir").display()
        )),
        "{line}"
    );
    let line = refusal(&["create-account", "--create", "--db", db.to_str().unwrap()]);
    assert!(line.contains("does not exist"), "{line}");
}

#[test]
fn a_taken_address_is_named_with_the_flag_that_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = dir.path().join("confab.db");
    let line = refusal(&["--listen", &addr, "--db", db.to_str().unwrap()]);
    assert!(
        line.contains(&format!("cannot listen on {addr}: address already in use")),
        "{line}"
    );
    assert!(line.contains("--listen"), "{line}");
}

#[test]
fn an_offline_command_does_not_make_a_store_from_a_mistyped_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = made_store(dir.path());
    let typo = dir.path().join("confab.bd");
    for command in ["create-account", "create-key"] {
        let mut args = vec![command, "--db", typo.to_str().unwrap()];
        if command == "create-key" {
            args.extend(["--account-sid", "AC0123456789abcdef0123456789abcdef"]);
        }
        let line = refusal(&args);
        assert!(
            line.contains(&format!("there is no store at {}", typo.display())),
            "{line}"
        );
        assert!(line.contains("--create"), "{line}");
        assert!(!typo.exists());
    }
    let made = run_confab(&["create-account", "--db", db.to_str().unwrap()], &[]);
    assert!(made.status.success(), "{made:?}");
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let output = run_confab(&["--version"], &[]);
    assert!(output.status.success());
    let shown = String::from_utf8(output.stdout).unwrap();
    // "confab 0.1.0 (<commit>, built YYYY-MM-DD)"
    let (name, rest) = shown.trim().split_once(" (").unwrap();
    assert_eq!(name, format!("confab {}", env!("CARGO_PKG_VERSION")));
    let (commit, built) = rest.trim_end_matches(')').split_once(", built ").unwrap();
    assert!(
        commit == "unknown commit" || commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{shown}"
    );
    assert!(
        chrono::NaiveDate::parse_from_str(built, "%Y-%m-%d").is_ok(),
        "{shown}"
    );
}

/// `CONFAB_TEST_MODE` takes the spellings people use in environment variables.
#[tokio::test]
async fn test_mode_takes_yes_on_and_1_and_no_off_and_0() {
    for (value, on) in [
        ("yes", true),
        ("on", true),
        ("1", true),
        ("no", false),
        ("off", false),
        ("0", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (child, base) =
            spawn_with_env(&dir.path().join("confab.db"), ("CONFAB_TEST_MODE", value));
        let clock = operator(&base).get("/confab/Clock").await;
        assert_eq!(clock.assert_status(200)["test_mode"], on, "{value}");
        send_sigterm(&child);
        wait_for_clean_exit(child).await;
    }
}

/// [`spawn_binary`] with one environment variable set.
fn spawn_with_env(db: &Path, (key, value): (&str, &str)) -> (std::process::Child, String) {
    crate::persistence::spawn_binary_with(db, &[], &[(key, value)])
}
