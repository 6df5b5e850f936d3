//! The crash and power-loss campaigns: rounds of concurrent writes, each ended by a kill -9
//! (and, for a power loss, the store rebuilt as the disk would have it), then the restarted
//! server checked against every answered write.

use std::time::Duration;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::api::Api;
use crate::check::{self, Loss};
use crate::harness::{Durability, Engine, OPERATOR_SID, OPERATOR_TOKEN, Server, Store};
use crate::powerloss::PowerLoss;
use crate::workload::{self, RoundModel};

/// What a campaign proved, summed over its rounds.
#[derive(Default)]
struct Totals {
    rounds: usize,
    acked: usize,
    unknown: usize,
    present_unacked: usize,
    lost: usize,
    /// Lost when nothing unsynced reached the disk.
    lost_strict: usize,
    /// Rounds that lost answered writes (`--durability process` power losses).
    lossy_rounds: usize,
    records: usize,
    pending: usize,
    applied: usize,
    torn: usize,
    torn_wal: usize,
}

/// Writers and the moment of the kill, for one round.
fn round_plan(rng: &mut StdRng) -> (usize, Duration) {
    (
        rng.random_range(16..=32),
        Duration::from_millis(rng.random_range(150..1200)),
    )
}

fn operator(server: &Server) -> Api {
    Api::new(&server.base, OPERATOR_SID, OPERATOR_TOKEN)
}

/// Checks a restarted server against a round's model; resolves the unanswered writes; posts
/// the next message into each conversation. Returns the verdict's counts.
async fn check_round(
    model: &mut RoundModel,
    server: &Server,
    loss: Loss,
    what: &str,
) -> anyhow::Result<(usize, usize)> {
    model.api = model.api.on(&server.base);
    let verdict = check::check(model, loss).await?;
    check::verdict_result(&verdict, what)?;
    check::resolve(model, &verdict);
    check::next_index(model, &verdict)
        .await
        .with_context(|| format!("{what}: the next index"))?;
    Ok((verdict.present_unacked, verdict.lost.len()))
}

/// After the last round: one more kill -9 and restart, every round's account checked again
/// (every write of every round is resolved by now: nothing may differ), then a graceful stop
/// and the store's integrity once more.
async fn final_check(
    store: &mut Store,
    mut server: Server,
    models: &mut [RoundModel],
) -> anyhow::Result<()> {
    server.kill9();
    store
        .check_integrity()
        .context("integrity after the final kill -9")?;
    let mut server = Server::start(store, &[]).await?;
    for model in models.iter_mut() {
        model.api = model.api.on(&server.base);
        let verdict = check::check(model, Loss::Forbidden).await?;
        check::verdict_result(&verdict, &format!("final check of round {}", model.round))?;
        anyhow::ensure!(
            verdict.present_unacked == 0,
            "final check of round {}: unresolved writes",
            model.round
        );
    }
    server.stop().await.context("graceful stop")?;
    store
        .check_integrity()
        .context("integrity after a graceful stop")
}

/// Rounds of: concurrent writers, kill -9 at a random moment, the store's integrity, restart,
/// every answered write there as answered, indexes dense, the next index next.
pub async fn crash(store: &mut Store, seed: u64, rounds: usize) -> anyhow::Result<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut totals = Totals::default();
    let mut models = Vec::new();
    let mut server = Server::start(store, &[]).await?;
    for round in 0..rounds {
        let what = format!("round {round}");
        let mut model = workload::setup_round(&operator(&server), round).await?;
        let (writers, kill_after) = round_plan(&mut rng);
        let stats = workload::run_and_kill(&mut model, &mut server, writers, kill_after, &mut rng)
            .await
            .with_context(|| format!("{what}: the writes"))?;
        store
            .check_integrity()
            .with_context(|| format!("{what}: integrity after kill -9"))?;
        server = Server::start(store, &[]).await?;
        let (present_unacked, _) = check_round(&mut model, &server, Loss::Forbidden, &what).await?;
        totals.rounds += 1;
        totals.acked += stats.acked;
        totals.unknown += stats.unknown;
        totals.present_unacked += present_unacked;
        models.push(model);
    }
    final_check(store, server, &mut models).await?;
    Ok(format!(
        "rounds={} acked={} lost=0 present_unacked={} unanswered={}",
        totals.rounds, totals.acked, totals.present_unacked, totals.unknown
    ))
}

/// Rounds of: the store's files taken as the disk, confab started under the power-loss shim,
/// concurrent writers, kill -9, the store rebuilt as a power loss would leave it, its
/// integrity, confab started on it (without the shim) and checked; twice: with only the synced
/// changes, then with a random prefix of the unsynced ones too, the last possibly torn. With `--durability disk`
/// nothing answered may be missing; with `process`, losses are counted and the rest must hold.
pub async fn power_loss(store: &mut Store, seed: u64, rounds: usize) -> anyhow::Result<String> {
    let Engine::SqliteFile { durability } = store.engine.clone() else {
        anyhow::bail!("a power loss is simulated on a SQLite file only");
    };
    let loss = match durability {
        Durability::Disk => Loss::Forbidden,
        Durability::Process => Loss::Counted,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut totals = Totals::default();
    let mut models = Vec::new();
    let mut server = Server::start(store, &[]).await?;
    for round in 0..rounds {
        let what = format!("round {round}");
        // The account and its shared conversations are made before the power-loss run, so
        // they are on the disk the run starts from.
        let mut model = workload::setup_round(&operator(&server), round).await?;
        // The run starts from a store stopped cleanly (WAL emptied) or killed (WAL full).
        if rng.random_bool(0.5) {
            server.stop().await.context("graceful stop")?;
        } else {
            server.kill9();
        }
        let power = PowerLoss::prepare(store, round)?;
        let env = power.env(store)?;
        server = Server::start(store, &env)
            .await
            .context("start under the shim")?;
        model.api = model.api.on(&server.base);
        let (writers, kill_after) = round_plan(&mut rng);
        let stats = workload::run_and_kill(&mut model, &mut server, writers, kill_after, &mut rng)
            .await
            .with_context(|| format!("{what}: the writes"))?;
        let crashed = power
            .after_kill(store)
            .with_context(|| format!("{what}: the shim's journal"))?;
        // First the strictest power loss: nothing unsynced reached the disk. Checked, not
        // kept: the unanswered writes are resolved by the second.
        let strict = crashed.lose_all_unsynced(store)?;
        store
            .check_integrity()
            .with_context(|| format!("{what}: integrity after the power loss {strict:?}"))?;
        server = Server::start(store, &[])
            .await
            .with_context(|| format!("{what}: start after the power loss {strict:?}"))?;
        model.api = model.api.on(&server.base);
        let verdict = check::check(&model, loss).await?;
        check::verdict_result(&verdict, &format!("{what}, nothing unsynced on disk"))?;
        totals.lost_strict += verdict.lost.len();
        server.kill9();
        // Then a random one: a prefix of the unsynced changes on disk, the last maybe torn.
        let rebuilt = crashed
            .lose_power(store, &mut rng)
            .with_context(|| format!("{what}: the power loss"))?;
        store
            .check_integrity()
            .with_context(|| format!("{what}: integrity after the power loss {rebuilt:?}"))?;
        server = Server::start(store, &[])
            .await
            .with_context(|| format!("{what}: start after the power loss {rebuilt:?}"))?;
        let (present_unacked, lost) = check_round(&mut model, &server, loss, &what)
            .await
            .with_context(|| format!("after the power loss {rebuilt:?}"))?;
        PowerLoss::discard(store, round)?;
        totals.rounds += 1;
        totals.acked += stats.acked;
        totals.unknown += stats.unknown;
        totals.present_unacked += present_unacked;
        totals.lost += lost;
        totals.lossy_rounds += usize::from(lost > 0);
        totals.records += rebuilt.records;
        totals.pending += rebuilt.pending;
        totals.applied += rebuilt.applied;
        totals.torn += usize::from(rebuilt.torn);
        totals.torn_wal += usize::from(rebuilt.torn_wal);
        models.push(model);
    }
    final_check(store, server, &mut models).await?;
    Ok(format!(
        "rounds={} acked={} lost={} (in {} rounds; {} with nothing unsynced on disk) present_unacked={} unanswered={} journaled={} unsynced={} reached_disk={} torn={} (wal {})",
        totals.rounds,
        totals.acked,
        totals.lost,
        totals.lossy_rounds,
        totals.lost_strict,
        totals.present_unacked,
        totals.unknown,
        totals.records,
        totals.pending,
        totals.applied,
        totals.torn,
        totals.torn_wal
    ))
}
