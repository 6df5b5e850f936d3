//! Moving the server's clock (test mode): forward only, kept in the store so that a restart
//! and every node on the same database see it moved.

use crate::error::{Error, Result};
use crate::store::Store;

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
    raise(
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
    let target = at
        .saturating_mul(1000)
        .saturating_sub(chrono::Utc::now().timestamp_millis());
    if at < store.clock.now_secs() {
        return Err(Error::invalid("Set", "the clock only moves forward"));
    }
    raise(store, target.max(store.clock.offset_ms())).await
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
