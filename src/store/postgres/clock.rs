//! The test clock's offset in PostgreSQL, shared by every node.

use super::PgTx;
use crate::error::Result;
use crate::store::clock::ClockStore;

impl ClockStore for PgTx<'_> {
    fn clock_offset(&self) -> Result<i64> {
        Ok(self
            .query_opt("SELECT offset_ms FROM clock WHERE id = 1", &[])?
            .map_or(0, |r| r.get(0)))
    }

    /// Other nodes hear of it when the job commits (their timers and retries may be due).
    fn raise_clock_offset(&mut self, offset_ms: i64) -> Result<i64> {
        let offset = self
            .query_one(
                "UPDATE clock SET offset_ms = greatest(offset_ms, $1) WHERE id = 1 RETURNING offset_ms",
                &[&offset_ms],
            )?
            .get(0);
        self.notify_on_commit(super::WAKE_CLOCK)?;
        Ok(offset)
    }
}
