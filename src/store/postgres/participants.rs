//! Participants in PostgreSQL.

use super::PgTx;
use crate::error::Result;
use crate::store::participants::{AudienceMember, ParticipantStore};

impl ParticipantStore for PgTx<'_> {
    fn participant_sid_by_identity(
        &self,
        conversation_id: i64,
        identity: &str,
    ) -> Result<Option<String>> {
        let row = self.query_opt(
            "SELECT sid FROM participants WHERE conversation_id = $1 AND identity = $2",
            &[&conversation_id, &identity],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn message_audience(&self, conversation_id: i64, author: &str) -> Result<Vec<AudienceMember>> {
        let rows = self.query(
            "SELECT sid, identity, binding_type, binding_address, binding_proxy_address,
                 binding_projected_address
             FROM participants
             WHERE conversation_id = $1 AND (identity = $2 OR binding_address IS NOT NULL)
             ORDER BY id",
            &[&conversation_id, &author],
        )?;
        Ok(rows
            .iter()
            .map(|r| AudienceMember {
                sid: r.get(0),
                identity: r.get(1),
                channel: r.get(2),
                address: r.get(3),
                proxy_address: r.get(4),
                projected_address: r.get(5),
            })
            .collect())
    }
}
