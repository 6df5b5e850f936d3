//! The one clock behind every timestamp the server writes.
//!
//! In test mode the operator may move it forward (`POST /confab/Clock`), so that timers that
//! are minutes or days long can be tested in milliseconds. Nothing else reads the system time
//! but [`system_secs`]: webhook leases, which must not lapse when the test clock moves, and the
//! event stream's retention, which moving it must not empty. The offset is kept in the store
//! (`store::clock`): it survives a restart, and nodes sharing a database share it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// Whole seconds since the epoch on the system's clock, which the test clock does not move.
pub fn system_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system time; only ever grows.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Whole seconds since the epoch: the precision of every date on the wire.
    pub fn now_secs(&self) -> i64 {
        self.now().timestamp()
    }

    /// Milliseconds added to the system time.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Raises the offset to `offset_ms` (the store's), never lowering it.
    pub fn raise_to(&self, offset_ms: i64) {
        self.offset_ms.fetch_max(offset_ms, Ordering::Relaxed);
    }

    /// Moves the clock forward; a negative step is refused (time never runs backwards).
    pub fn advance(&self, by: chrono::Duration) -> Result<(), &'static str> {
        if by < chrono::Duration::zero() {
            return Err("the clock only moves forward");
        }
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
        Ok(())
    }
}
