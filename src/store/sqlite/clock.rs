//! The test clock's offset in SQLite.

use super::SqliteTx;
use crate::error::Result;
use crate::store::clock::ClockStore;

impl ClockStore for SqliteTx<'_, '_> {
    fn clock_offset(&self) -> Result<i64> {
        Ok(self
            .tx
            .optional("SELECT offset_ms FROM clock WHERE id = 1", &[], |r| {
                r.get(0)
            })?
            .unwrap_or(0))
    }

    fn raise_clock_offset(&mut self, offset_ms: i64) -> Result<i64> {
        Ok(self
            .tx
            .optional(
                "UPDATE clock SET offset_ms = max(offset_ms, ?1) WHERE id = 1 RETURNING offset_ms",
                &[&offset_ms],
                |r| r.get(0),
            )?
            .unwrap_or(offset_ms))
    }
}
