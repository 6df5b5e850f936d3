//! State survives a restart: the store is a real SQLite file, and every 2xx write was committed
//! before it was answered.

use std::path::Path;
use std::process::Child;

use crate::common::{Client, TestServer, TestStore};

/// Starts the real binary on `db` (and `args`); answers the process and its base URL.
pub(crate) fn spawn_binary(db: &Path, args: &[&str]) -> (Child, String) {
    spawn_binary_with(db, args, &[])
}

/// [`spawn_binary`], with these environment variables set for the child.
pub(crate) fn spawn_binary_with(db: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
        ])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The banner's first line names the address; the rest of stdout is drained, so that the
    // server never writes into a closed pipe.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = stdout.lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = first_tx.send(line);
        }
        lines.for_each(drop);
    });
    let first_line = first_rx.recv().unwrap();
    let base = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    (child, base)
}

/// The development operator account of a binary started by [`spawn_binary`].
pub(crate) fn operator(base: &str) -> Client {
    Client::new(
        base,
        confab::server::DEV_ACCOUNT_SID,
        confab::server::DEV_AUTH_TOKEN,
    )
}

pub(crate) fn send_sigterm(child: &Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

pub(crate) async fn wait_for_clean_exit(mut child: Child) {
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Restarts on `db` (in-process) and checks that the operator finds `path` there.
async fn assert_found_after_restart(db: &Path, path: &str) {
    let server = TestServer::start(db.to_str().unwrap());
    server.operator().get(path).await.assert_status(200);
    server.stop();
}

/// The real binary, killed with SIGKILL while messages are being posted on many connections at
/// once: after a restart, every message it answered 201 is in the store, with the index it was
/// answered with, and the next message takes a new index. Run for both durabilities (a killed
/// process keeps what the OS has).
async fn kill_9_loses_no_answered_message(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let (mut child, base) = spawn_binary(&db, &["--durability", durability]);
    let operator = operator(&base);
    let conversation = operator
        .post("/v1/Conversations", &[("UniqueName", "busy")])
        .await
        .assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string();

    // 16 writers post until the process dies; each keeps what was answered 201.
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let operator = operator.clone();
            let path = format!("/v1/Conversations/{conversation}/Messages");
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for i in 0.. {
                    let body = format!("writer {w} message {i}");
                    match operator
                        .try_post(&path, &[("Author", "w"), ("Body", &body)])
                        .await
                    {
                        Some(r) if r.status == 201 => answered.push((
                            r.body["sid"].as_str().unwrap().to_string(),
                            r.body["index"].as_i64().unwrap(),
                        )),
                        Some(r) => panic!("answered {} before the kill: {}", r.status, r.body),
                        None => break, // the connection died with the process
                    }
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut answered = Vec::new();
    for writer in writers {
        answered.extend(writer.await.unwrap());
    }
    assert!(answered.len() > 50, "only {} answered", answered.len());

    let server = TestServer::start(db.to_str().unwrap());
    let operator = server.operator();
    for (sid, index) in &answered {
        let kept = operator
            .get(&format!("/v1/Conversations/{conversation}/Messages/{sid}"))
            .await;
        assert_eq!(kept.assert_status(200)["index"], *index, "{sid}");
    }
    // The stored counter lags the messages within a second (`messages::allocate_index`): the
    // restarted server counts past every message, answered or only committed.
    let next = operator
        .post(
            &format!("/v1/Conversations/{conversation}/Messages"),
            &[("Author", "w"), ("Body", "after the restart")],
        )
        .await;
    let last_answered = answered.iter().map(|(_, index)| *index).max().unwrap();
    assert!(next.assert_status(201)["index"].as_i64().unwrap() > last_answered);
    server.stop();
}

#[tokio::test]
async fn kill_9_loses_no_answered_message_synced_to_disk() {
    kill_9_loses_no_answered_message("disk").await;
}

#[tokio::test]
async fn kill_9_loses_no_answered_message_handed_to_the_os() {
    kill_9_loses_no_answered_message("process").await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let store = TestStore::fresh();
    let db = &store.url();

    let server = TestServer::start(db);
    let client = server.new_account().await;
    let created = client
        .post(
            "/v1/Conversations",
            &[("UniqueName", "kept"), ("FriendlyName", "before")],
        )
        .await;
    created.assert_status(201);
    let service = client.new_service("kept service").await;
    server.stop();

    let server = TestServer::start(db);
    let client = client.on(&server.base);
    let fetched = client.get("/v1/Conversations/kept").await;
    assert_eq!(fetched.assert_status(200)["sid"], created.body["sid"]);
    client
        .get(&format!("/v1/Services/{service}"))
        .await
        .assert_status(200);
    server.stop();
}

/// The real binary, stopped with SIGTERM while a request is in flight (held up by a slow
/// pre-action webhook): the request still completes with its 201, the process exits cleanly,
/// and what it acknowledged is in the store.
#[tokio::test]
async fn sigterm_finishes_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let (child, base) = spawn_binary(&db, &[]);

    let operator = operator(&base);
    let receiver = crate::receiver::Receiver::start();
    receiver.slow(std::time::Duration::from_millis(800));
    crate::common::service_webhooks(&operator, &receiver, &["onConversationAdd"]).await;
    let in_flight = tokio::spawn({
        let operator = operator.clone();
        async move {
            operator
                .post_with_headers(
                    "/v1/Conversations",
                    &[("UniqueName", "in-flight")],
                    &[("X-Twilio-Webhook-Enabled", "true")],
                )
                .await
        }
    });
    receiver.wait_for_event(1, "onConversationAdd").await;
    send_sigterm(&child);
    let answered = in_flight.await.unwrap();
    answered.assert_status(201);
    wait_for_clean_exit(child).await;

    assert_found_after_restart(&db, "/v1/Conversations/in-flight").await;
}

/// The real binary, stopped with SIGTERM after some writes: it leaves its data in the database
/// file and an empty WAL, not a WAL that can grow to 200 MB under load; the data is all there.
#[tokio::test]
async fn sigterm_leaves_no_wal_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let (child, base) = spawn_binary(&db, &[]);
    let operator = operator(&base);
    for i in 0..20 {
        operator
            .post("/v1/Conversations", &[("UniqueName", &format!("kept-{i}"))])
            .await
            .assert_status(201);
    }
    let wal = dir.path().join("confab.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the writes are in the WAL"
    );

    send_sigterm(&child);
    wait_for_clean_exit(child).await;
    let left = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(left, 0, "the WAL was emptied into the database file");
    assert_found_after_restart(&db, "/v1/Conversations/kept-19").await;
}

/// The store holds auth tokens and push credentials: a new store file, its WAL and its
/// shared-memory file are readable by their owner only, and an older store that others could
/// read is made so when it opens.
#[tokio::test]
async fn the_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let server = TestServer::start(db.to_str().unwrap());
    server
        .new_account()
        .await
        .post("/v1/Conversations", &[])
        .await
        .assert_status(201);
    for file in ["confab.db", "confab.db-wal", "confab.db-shm"] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }
    server.stop();

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = TestServer::start(db.to_str().unwrap());
    // Answered once the store is open.
    server
        .operator()
        .get("/confab/Clock")
        .await
        .assert_status(200);
    assert_eq!(mode(&db), 0o600);
    server.stop();
}

/// API key secrets are kept as salted hashes: a new key's secret is nowhere in the store, and a
/// key an older confab kept in plain is hashed when the store next opens, and still works.
#[tokio::test]
async fn api_key_secrets_are_kept_as_salted_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let server = TestServer::start(db.to_str().unwrap());
    let client = server.new_account().await;
    let key = server
        .operator()
        .post(&format!("/confab/Accounts/{}/Keys", client.sid), &[])
        .await;
    let (sid, secret) = (
        key.assert_status(201)["sid"].as_str().unwrap().to_string(),
        key.body["secret"].as_str().unwrap().to_string(),
    );
    let by_key = Client::new(&server.base, &sid, &secret);
    by_key.get("/v1/Conversations").await.assert_status(200);
    server.stop();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: (Option<String>, Option<String>, Option<String>) = conn
        .query_row(
            "SELECT secret, salt, secret_hash FROM api_keys WHERE sid = ?1",
            [&sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(stored.0, None, "no plain secret");
    assert!(stored.1.is_some() && stored.2.is_some());
    let dump: Vec<u8> = std::fs::read(&db).unwrap();
    assert!(
        !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is nowhere in the file"
    );
    // A key as an older confab kept it: its secret in plain.
    conn.execute(
        "UPDATE api_keys SET secret = 'plain-old-secret', salt = NULL, secret_hash = NULL WHERE sid = ?1",
        [&sid],
    )
    .unwrap();
    drop(conn);

    let server = TestServer::start(db.to_str().unwrap());
    Client::new(&server.base, &sid, "plain-old-secret")
        .get("/v1/Conversations")
        .await
        .assert_status(200);
    server.stop();
    let hashed: Option<String> = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT secret FROM api_keys WHERE sid = ?1", [&sid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(hashed, None, "hashed when the store opened");
}
