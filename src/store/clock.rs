//! The test clock's offset, kept in the store: it survives a restart (dates already written in
//! the moved future stay consistent with the clock), and every node on one database reads the
//! same one.

use crate::error::Result;

pub trait ClockStore {
    /// Milliseconds added to the system time (0 until the clock is first moved).
    fn clock_offset(&self) -> Result<i64>;

    /// Raises the offset to `offset_ms`, never lowering it (time never runs backwards), and
    /// returns the offset as it now is.
    fn raise_clock_offset(&mut self, offset_ms: i64) -> Result<i64>;
}
