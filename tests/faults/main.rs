//! Fault injection against the real `confab` binary: the promise that no write answered 2xx is
//! ever lost, proved by killing the server (kill -9) under concurrent writes and by simulating
//! power losses, and the webhook outbox's at-least-once, in-order delivery across crashes.
//!
//! Black-box: the tests start `confab` as a child process and speak HTTP to it; they know its
//! command line and its API, not its code. The store under test is a parameter
//! (`harness::Engine`): a SQLite file with `--durability disk` or `process` today.
//!
//! Each test prints one summary line (rounds, answered writes, lost, present but unanswered,
//! and the seed) to stderr, past the test harness's capture. `CONFAB_FAULT_ROUNDS=300` runs
//! every campaign that many rounds (the soak: `scripts/soak`); `CONFAB_FAULT_SEED` replays a
//! run's random choices (not its timing).
#![cfg(target_os = "linux")]

mod api;
mod campaign;
mod check;
mod harness;
mod outbox;
mod powerloss;
mod receiver;
mod selftest;
mod workload;

use harness::{Durability, Engine, rounds, run_test};

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
