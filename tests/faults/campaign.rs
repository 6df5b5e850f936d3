//! The crash campaign: rounds of concurrent writes, each ended by a kill -9, then the restarted
//! server checked against every answered write.

use std::time::Duration;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::api::Api;
use crate::check::{self, Loss};
use crate::harness::{OPERATOR_SID, OPERATOR_TOKEN, Server, Store};
use crate::workload::{self, RoundModel};

/// What a campaign proved, summed over its rounds.
#[derive(Default)]
struct Totals {
    rounds: usize,
    acked: usize,
    unknown: usize,
    present_unacked: usize,
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
