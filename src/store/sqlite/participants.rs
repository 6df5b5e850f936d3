//! Participants in SQLite.

use super::SqliteTx;
use crate::error::Result;
use crate::store::participants::{AudienceMember, ParticipantStore};

impl ParticipantStore for SqliteTx<'_, '_> {
    fn participant_sid_by_identity(
        &self,
        conversation_id: i64,
        identity: &str,
    ) -> Result<Option<String>> {
        self.tx.optional(
            "SELECT sid FROM participants WHERE conversation_id = ?1 AND identity = ?2",
            &[&conversation_id, &identity],
            |r| r.get(0),
        )
    }

    /// One statement for the author and the recipients: they were two (each a scan of the
    /// conversation's participants), and both ran for every message posted.
    fn message_audience(&self, conversation_id: i64, author: &str) -> Result<Vec<AudienceMember>> {
        self.tx.all(
            "SELECT sid, identity, binding_type, binding_address, binding_proxy_address,
                 binding_projected_address
             FROM participants
             WHERE conversation_id = ?1 AND (identity = ?2 OR binding_address IS NOT NULL)
             ORDER BY id",
            &[&conversation_id, &author],
            |r| {
                Ok(AudienceMember {
                    sid: r.get(0)?,
                    identity: r.get(1)?,
                    channel: r.get(2)?,
                    address: r.get(3)?,
                    proxy_address: r.get(4)?,
                    projected_address: r.get(5)?,
                })
            },
        )
    }
}
