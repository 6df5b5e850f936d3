//! The tests of the tests: the power-loss shim drops what was not synced and keeps what was,
//! and notices what it cannot see; each check of the campaigns fails on the fault it is for.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::api::Api;
use crate::check::{self, Loss, Verdict};
use crate::harness::{
    OPERATOR_SID, OPERATOR_TOKEN, Server, Store, die_with_parent, sqlite_integrity, summary,
};
use crate::powerloss::{self, Files, Journal};
use crate::workload::{self, Op, Outcome, Record};

/// Runs the self-test program in `scenario` under the shim until it is ready, kills it (-9),
/// and returns the watched directory and the journal.
fn run_program(scenario: &str) -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let watch = dir.path().join("watch");
    std::fs::create_dir(&watch).unwrap();
    let journal = dir.path().join("journal");
    let mut command = Command::new(powerloss::selftest_program().unwrap());
    command
        .arg(&watch)
        .arg(scenario)
        .envs(powerloss::shim_env(&watch, &journal).unwrap())
        .stdout(Stdio::piped());
    die_with_parent(&mut command);
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n", "the self-test program ({scenario}) failed");
    child.kill().unwrap();
    child.wait().unwrap();
    let journal = Journal::read(&journal).unwrap();
    (dir, journal)
}

fn bytes(parts: &[(u8, usize)]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|&(b, n)| std::iter::repeat_n(b, n))
        .collect()
}

/// The shim, on a program whose writes and syncs are known.
pub fn shim() {
    let empty = Files::new();
    let (dir, journal) = run_program("model");
    let watch = dir.path().join("watch");
    journal.supported().unwrap();
    // The whole journal gives back the files the killed process left.
    journal.check_complete(&empty, &watch).unwrap();
    let (_, pending) = journal.split();
    assert_eq!(pending.len(), 3, "B's write, the ftruncate, the writev");

    // Nothing unsynced reached the disk: the synced write is there, the unsynced one is not;
    // another file's fdatasync, and sync_file_range, made nothing of `data` durable; a sync
    // through a second descriptor covered the first one's write; the -shm is not there.
    let lost = journal.rebuild(&empty, 0, None);
    assert_eq!(lost["data"], bytes(&[(b'A', 4096)]));
    assert_eq!(lost["other"], bytes(&[(b'G', 100)]));
    assert_eq!(lost["twofds"], bytes(&[(b'H', 1000)]));
    assert!(!lost.contains_key("data-shm"));
    assert_eq!(std::fs::read(watch.join("data-shm")).unwrap(), b"shm");

    // The first unsynced write reached the disk.
    let one = journal.rebuild(&empty, 1, None);
    assert_eq!(one["data"], bytes(&[(b'A', 4096), (b'B', 4096)]));
    // All of them, the last (1,400 bytes at 12,288) torn after its first sector.
    let torn = journal.rebuild(&empty, 3, Some(512));
    assert_eq!(
        torn["data"],
        bytes(&[(b'A', 4096), (b'B', 4096), (0, 4096), (b'D', 512)])
    );
    let all = journal.rebuild(&empty, 3, None);
    assert_eq!(
        all["data"],
        bytes(&[
            (b'A', 4096),
            (b'B', 4096),
            (0, 4096),
            (b'D', 700),
            (b'E', 700)
        ])
    );
    assert_eq!(all["data"], std::fs::read(watch.join("data")).unwrap());

    // A write the shim cannot see (a raw system call) is caught by the completeness check.
    let (dir, journal) = run_program("bypass");
    let err = journal
        .check_complete(&empty, &dir.path().join("watch"))
        .expect_err("a write the shim did not see went unnoticed");
    assert!(format!("{err}").contains("data"), "{err}");

    // An operation the model does not cover is refused.
    let (_, journal) = run_program("unsupported");
    let err = journal.supported().expect_err("a rename went unnoticed");
    assert!(format!("{err}").contains("rename"), "{err}");

    summary(
        "faults: power-loss shim self-test: unsynced writes dropped, synced kept (also through \
         another descriptor), sync_file_range and another file's sync make nothing durable, \
         torn at a sector, -shm ignored, a write it cannot see and a rename detected",
    );
}

/// Whether some error of the verdict contains `phrase`.
fn caught(verdict: &Verdict, phrase: &str) -> bool {
    verdict.errors.iter().any(|e| e.contains(phrase))
}

/// Each check fails on its fault: a run like a crash round's, then the model or the store
/// changed behind the check's back.
pub async fn checks(store: &mut Store, seed: u64) -> anyhow::Result<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = Server::start(store, &[]).await?;
    let operator = Api::new(&server.base, OPERATOR_SID, OPERATOR_TOKEN);
    let mut model = workload::setup_round(&operator, 0).await?;
    workload::run_and_kill(
        &mut model,
        &mut server,
        16,
        Duration::from_millis(500),
        &mut rng,
    )
    .await?;
    let server = Server::start(store, &[]).await?;
    model.api = model.api.on(&server.base);
    let verdict = check::check(&model, Loss::Forbidden).await?;
    check::verdict_result(&verdict, "the unchanged run")?;
    check::resolve(&mut model, &verdict);
    let mut found = Vec::new();

    // An answered message that is not there.
    let shared = model.shared()[0].clone();
    let mut lost = model.clone();
    lost.records.push(Record {
        writer: 0,
        op: Op::PostMessage {
            conversation: shared.clone(),
            body: "r0.w0.never".into(),
        },
        outcome: Outcome::Acked {
            sid: format!("IM{}", "0".repeat(32)),
            index: Some(0),
        },
    });
    ensure!(
        caught(
            &check::check(&lost, Loss::Forbidden).await?,
            "lost: message"
        ),
        "a lost message went unnoticed"
    );
    found.push("lost message");

    // An answered message at another index than it was answered with.
    let acked = |r: &Record| {
        matches!(
            (&r.op, &r.outcome),
            (Op::PostMessage { .. }, Outcome::Acked { .. })
        )
    };
    let i = model
        .records
        .iter()
        .position(acked)
        .context("no answered message")?;
    let mut moved = model.clone();
    if let Outcome::Acked { index, .. } = &mut moved.records[i].outcome {
        *index = index.map(|n| n + 1);
    }
    ensure!(
        caught(
            &check::check(&moved, Loss::Forbidden).await?,
            "answered index"
        ),
        "a wrong index went unnoticed"
    );
    found.push("wrong index");

    // A message nobody posted (its post left out of the model).
    let mut phantom = model.clone();
    phantom.records.remove(i);
    ensure!(
        caught(
            &check::check(&phantom, Loss::Forbidden).await?,
            "nobody posted"
        ),
        "a phantom message went unnoticed"
    );
    found.push("phantom message");

    // A conversation created by nobody, and a participant added by nobody.
    let mut unknown = model.clone();
    let c = unknown
        .records
        .iter()
        .position(|r| matches!(r.op, Op::CreateConversation { .. }) && r.writer != workload::SETUP)
        .context("no conversation created by a writer")?;
    unknown.records.remove(c);
    let p = unknown.records.iter().position(|r| {
        matches!(
            (&r.op, &r.outcome),
            (Op::AddParticipant { .. }, Outcome::Acked { .. })
        )
    });
    if let Some(p) = p {
        unknown.records.remove(p);
    }
    let v = check::check(&unknown, Loss::Forbidden).await?;
    ensure!(
        caught(&v, "nobody created it"),
        "a phantom conversation went unnoticed"
    );
    found.push("phantom conversation");
    if p.is_some() {
        ensure!(
            caught(&v, "nobody added it"),
            "a phantom participant went unnoticed"
        );
        found.push("phantom participant");
    }

    // A conversation changed behind the model's back.
    let sid = shared.clone();
    model
        .api
        .post(
            &format!("/v1/Conversations/{sid}"),
            &[("FriendlyName", "changed")],
        )
        .await?;
    ensure!(
        caught(
            &check::check(&model, Loss::Forbidden).await?,
            "friendly_name/attributes"
        ),
        "an unrecorded update went unnoticed"
    );
    found.push("unanswered value");

    // The next index: a count one too high is caught.
    let mut wrong = check::check(&model, Loss::Counted).await?;
    if let Some(count) = wrong.messages.get_mut(&shared) {
        *count += 1;
    }
    ensure!(
        check::next_index(&mut model.clone(), &wrong).await.is_err(),
        "a wrong next index went unnoticed"
    );
    found.push("wrong next index");

    // A message deleted: lost, and a gap in the indexes.
    let messages = model
        .api
        .collect(&format!("/v1/Conversations/{shared}/Messages"), "messages")
        .await?;
    ensure!(
        messages.len() >= 3,
        "too few messages in {shared} to make a gap"
    );
    let middle = messages[messages.len() / 2]["sid"]
        .as_str()
        .context("sid")?;
    let deleted = model
        .api
        .delete(&format!("/v1/Conversations/{shared}/Messages/{middle}"))
        .await?;
    ensure!(
        deleted.status == 204,
        "delete: {} {}",
        deleted.status,
        deleted.body
    );
    let v = check::check(&model, Loss::Forbidden).await?;
    ensure!(
        caught(&v, "are not 0.."),
        "a gap in the indexes went unnoticed"
    );
    ensure!(
        caught(&v, "lost: message"),
        "a deleted message went unnoticed"
    );
    found.push("gap");

    // The store's integrity: an orphaned row, then a corrupt page.
    let mut server = server;
    server.stop().await?;
    let db = store.sqlite_path().context("a SQLite store")?;
    sqlite_integrity(&db).context("the store before it was broken")?;
    orphan_a_row(&db)?;
    let err = sqlite_integrity(&db).expect_err("an orphaned row went unnoticed");
    ensure!(format!("{err}").contains("foreign_key_check"), "{err}");
    found.push("orphaned rows");
    // The root page of the messages table, its cells overwritten.
    let (page, root): (usize, usize) = {
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        (
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))?,
            conn.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'messages'",
                [],
                |r| r.get(0),
            )?,
        )
    };
    let mut file = std::fs::read(&db)?;
    ensure!(
        root >= 2 && file.len() >= root * page,
        "no messages page to corrupt"
    );
    for b in &mut file[(root - 1) * page + 12..root * page] {
        *b = 0x5a;
    }
    std::fs::write(&db, &file)?;
    match sqlite_integrity(&db) {
        Err(e)
            if format!("{e:#}").contains("integrity_check")
                || format!("{e:#}").contains("malformed") => {}
        other => bail!("a corrupt page went unnoticed: {other:?}"),
    }
    found.push("corrupt page");
    Ok(format!("caught: {}", found.join(", ")))
}

/// Deletes, with foreign keys off, a row that another row refers to: the first referring row
/// found through the schema's own foreign keys (no table named here).
fn orphan_a_row(db: &std::path::Path) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for table in tables {
        let keys: Vec<(String, String, Option<String>)> = conn
            .prepare("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1)")?
            .query_map([&table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (parent, from, to) in keys {
            let Some(to) = to else { continue }; // the parent's primary key, unnamed
            let value: Option<rusqlite::types::Value> = conn
                .query_row(
                    &format!(
                        "SELECT \"{from}\" FROM \"{table}\" WHERE \"{from}\" IS NOT NULL LIMIT 1"
                    ),
                    [],
                    |r| r.get(0),
                )
                .ok();
            if let Some(value) = value {
                let deleted = conn.execute(
                    &format!("DELETE FROM \"{parent}\" WHERE \"{to}\" = ?1"),
                    [&value],
                )?;
                if deleted > 0 {
                    return Ok(());
                }
            }
        }
    }
    bail!("no row refers to another")
}
