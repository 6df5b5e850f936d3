//! Moving the server's clock (test mode): forward only, kept in the store so that a restart
//! and every node on the same database see it moved.
//!
//! A move is walked, not jumped: the clock stops at every instant within the move at which
//! something falls due (a conversation timer, a receipt's next status, a webhook retry), in
//! order, and what is due there runs before the clock goes on, as if that time had passed. So
//! one `+1h` takes a receipt from `queued` to `delivered`, closes a conversation whose inactive
//! and closed timers both fall inside it, and makes every retry of a failing webhook, each at
//! its own time (docs/design.md, "The test clock").

use std::time::{Duration, Instant};

use super::{deliveries, lifecycle};
use crate::error::{Error, Result};
use crate::store::Store;

/// How long an instant waits for what is due there to be done by others (a webhook attempt, a
/// timer or receipt another job claimed first): longer than one webhook attempt can take
/// (Twilio's 5-second timeout, `webhooks::TIMEOUT`), so that only a claim held by a node that
/// died outlasts it; the walk then goes on and leaves that work to whoever takes it over.
const SETTLE: Duration = Duration::from_secs(6);
/// How often an instant looks again whether what is due there was done.
const SETTLE_POLL: Duration = Duration::from_millis(5);

/// What the clock reads now, as a job sees it (on PostgreSQL in test mode, with the offset every
/// node shares).
pub async fn now(store: &Store) -> Result<i64> {
    store.read(|tx| Ok(tx.now())).await
}

/// Moves the clock forward by `secs`.
pub async fn advance(store: &Store, secs: i64) -> Result<()> {
    if secs < 0 {
        return Err(Error::invalid("Advance", "the clock only moves forward"));
    }
    walk_to(
        store,
        store
            .clock
            .offset_ms()
            .saturating_add(secs.saturating_mul(1000)),
    )
    .await
}

/// Moves the clock forward to `at` (seconds since the epoch).
pub async fn set(store: &Store, at: i64) -> Result<()> {
    if at < store.clock.now_secs() {
        return Err(Error::invalid("Set", "the clock only moves forward"));
    }
    walk_to(store, offset_for(at).max(store.clock.offset_ms())).await
}

/// The offset at which the clock reads `at` (seconds since the epoch) now.
fn offset_for(at: i64) -> i64 {
    at.saturating_mul(1000)
        .saturating_sub(chrono::Utc::now().timestamp_millis())
}

/// What the clock will read once its offset is `offset_ms`.
fn reading_at(offset_ms: i64) -> i64 {
    chrono::Utc::now()
        .timestamp_millis()
        .saturating_add(offset_ms)
        .div_euclid(1000)
}

/// Walks the clock to `target_offset_ms`: first what is due already, then, instant by instant,
/// whatever falls due before the target, each run at its own time.
async fn walk_to(store: &Store, target_offset_ms: i64) -> Result<()> {
    run_what_is_due(store).await?;
    loop {
        let here = now(store).await?;
        match next_due_after(store, here).await? {
            Some(at) if at <= reading_at(target_offset_ms) => {
                raise(store, offset_for(at)).await?;
                run_what_is_due(store).await?;
            }
            _ => break,
        }
    }
    raise(store, target_offset_ms).await
}

/// The first instant after `after` at which a timer, a receipt or a webhook falls due.
async fn next_due_after(store: &Store, after: i64) -> Result<Option<i64>> {
    let lifecycle = lifecycle::next_due(store, after).await?;
    let webhooks = deliveries::next_due(store, after).await?;
    Ok(lifecycle.into_iter().chain(webhooks).min())
}

/// Runs what is due at the clock's current instant, and waits until all of it is done: every
/// timer and receipt (run here, in the move's own jobs, which claim them as the scheduler does,
/// so that nothing moves twice; one that the scheduler or another node claimed first is waited
/// for), and every webhook due by now, which the delivery worker attempts (a failed one is
/// rescheduled by the clock it was attempted at, so the walk finds its retry).
async fn run_what_is_due(store: &Store) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        while lifecycle::run_due(store).await? > 0 {}
        store.wake.clock_moved();
        if !anything_due(store).await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            tracing::warn!("work due at the moved clock is still in other hands; moving on");
            return Ok(());
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Whether a timer, a receipt or a webhook delivery is due by the clock's reading and not yet
/// done (claimed by a job that has not committed, or a webhook attempt not yet recorded).
async fn anything_due(store: &Store) -> Result<bool> {
    let here = now(store).await?;
    let lifecycle = lifecycle::next_due(store, i64::MIN).await?;
    let webhooks = deliveries::next_due(store, i64::MIN).await?;
    Ok(lifecycle.into_iter().chain(webhooks).any(|at| at <= here))
}

/// Stores the new offset (never lower than it is), then moves this process's clock, and wakes
/// what may have fallen due.
async fn raise(store: &Store, offset_ms: i64) -> Result<()> {
    let offset = store
        .write(move |tx| tx.raise_clock_offset(offset_ms))
        .await?;
    store.clock.raise_to(offset);
    store.wake.clock_moved();
    Ok(())
}
