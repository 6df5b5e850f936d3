//! Fault injection against the real `confab` binary: the promise that no write answered 2xx is
//! ever lost, proved by killing the server (kill -9) under concurrent writes and by simulating
//! power losses, and the webhook outbox's at-least-once, in-order delivery across crashes.
//!
//! Black-box: the tests start `confab` as a child process and speak HTTP to it; they know its
//! command line and its API, not its code. The store under test is a parameter
//! (`harness::Engine`): a SQLite file with `--durability disk` or `process`, or a PostgreSQL
//! database of the test's own on the server `CONFAB_TEST_PG` names.
//!
//! On PostgreSQL (the `postgres_` tests; without `CONFAB_TEST_PG` each says it did not run):
//! the crash campaign with one node killed and restarted, and several nodes on one database
//! behind HAProxy run with `deploy/haproxy.cfg` (`multinode.rs`): what one node answers the
//! other reads, indexes and unique keys hold across nodes, webhooks go out one request per
//! queue at a time, timers and receipts fire once, a node killed under load is carried by the
//! other and its webhook claims are taken over when their lease runs out, and migrations run
//! once.
//!
//! Each test prints one summary line (rounds, answered writes, lost, present but unanswered,
//! and the seed) to stderr, past the test harness's capture. `CONFAB_FAULT_ROUNDS=300` runs
//! every campaign that many rounds (the soak: `scripts/soak`); `CONFAB_FAULT_SEED` replays a
//! run's random choices (not its timing).
#![cfg(target_os = "linux")]

mod api;
mod campaign;
mod check;
mod deliveries;
mod harness;
mod multinode;
mod outbox;
mod powerloss;
mod receiver;
mod selftest;
mod workload;

use harness::{Durability, Engine, rounds, run_pg_test, run_test};

const SQLITE_DISK: Engine = Engine::SqliteFile {
    durability: Durability::Disk,
};
const SQLITE_PROCESS: Engine = Engine::SqliteFile {
    durability: Durability::Process,
};

#[test]
fn crash_disk() {
    run_test("crash", SQLITE_DISK, async |store, seed| {
        campaign::crash(store, seed, rounds(3)).await
    });
}

#[test]
fn crash_process() {
    run_test("crash", SQLITE_PROCESS, async |store, seed| {
        campaign::crash(store, seed, rounds(3)).await
    });
}

#[test]
fn power_loss_disk() {
    run_test("power-loss", SQLITE_DISK, async |store, seed| {
        campaign::power_loss(store, seed, rounds(3)).await
    });
}

#[test]
fn power_loss_process() {
    run_test("power-loss", SQLITE_PROCESS, async |store, seed| {
        campaign::power_loss(store, seed, rounds(3)).await
    });
}

#[test]
fn webhook_outbox_across_crashes() {
    run_test("outbox", SQLITE_DISK, async |store, seed| {
        outbox::outbox(store, seed, rounds(2)).await
    });
}

#[test]
fn the_power_loss_shim_keeps_only_what_was_synced() {
    selftest::shim();
}

#[test]
fn the_checks_catch_lost_wrong_and_phantom_writes() {
    run_test("checks", SQLITE_DISK, async |store, seed| {
        selftest::checks(store, seed).await
    });
}

#[test]
fn postgres_crash() {
    run_pg_test("crash", async |store, seed| {
        campaign::crash(store, seed, rounds(3)).await
    });
}

#[test]
fn postgres_nodes_agree() {
    run_pg_test("nodes-agree", async |store, seed| {
        multinode::agree(store, seed, rounds(2)).await
    });
}

#[test]
fn postgres_the_clock_moves_on_every_node() {
    run_pg_test("nodes-clock", async |store, seed| {
        multinode::clock(store, seed, rounds(1)).await
    });
}

#[test]
fn postgres_webhooks_timers_and_receipts_across_nodes() {
    run_pg_test("nodes-events", async |store, seed| {
        multinode::events(store, seed, rounds(2)).await
    });
}

#[test]
fn postgres_a_node_dies() {
    run_pg_test("node-dies", async |store, seed| {
        multinode::node_dies(store, seed, rounds(2)).await
    });
}

#[test]
fn postgres_migrations_run_once() {
    run_pg_test("migrations", async |store, seed| {
        multinode::migrations(store, seed).await
    });
}

#[test]
fn postgres_a_lapsed_webhook_claim() {
    run_pg_test("lapsed-claim", async |store, seed| {
        multinode::lapsed_claim(store, seed, rounds(1)).await
    });
}

#[test]
fn postgres_the_event_stream_across_nodes() {
    run_pg_test("nodes-stream", async |store, seed| {
        multinode::stream(store, seed, rounds(2)).await
    });
}
