//! Media in PostgreSQL: the metadata and the bytes (BYTEA) in one row.

use postgres::Row;

use super::PgTx;
use crate::error::Result;
use crate::store::media::{MediaRow, MediaStore};

fn map_row(row: &Row) -> MediaRow {
    MediaRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        service_sid: row.get(3),
        channel_sid: row.get(4),
        message_sid: row.get(5),
        author: row.get(6),
        content_type: row.get(7),
        filename: row.get(8),
        size: row.get(9),
        date_created: row.get(10),
        date_updated: row.get(11),
    }
}

impl MediaStore for PgTx<'_> {
    fn find_media(&self, service_id: i64, sid: &str) -> Result<Option<MediaRow>> {
        let row = self.query_opt(
            "SELECT md.id, md.sid, s.account_sid, s.sid, c.sid, m.sid, m.author,
                 md.content_type, md.filename, md.size, md.date_created, md.date_updated
             FROM media md JOIN services s ON s.id = md.service_id
             LEFT JOIN messages m ON m.id = md.message_id
             LEFT JOIN conversations c ON c.id = m.conversation_id
             WHERE md.service_id = $1 AND md.sid = $2",
            &[&service_id, &sid],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn media_content(&self, id: i64) -> Result<Vec<u8>> {
        Ok(self
            .query_one("SELECT content FROM media WHERE id = $1", &[&id])?
            .get(0))
    }

    fn insert_media(&mut self, service_id: i64, row: &MediaRow, content: &[u8]) -> Result<i64> {
        Ok(self
            .query_one(
                "INSERT INTO media (sid, service_id, content_type, filename, size, date_created,
                     date_updated, content)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &row.sid,
                    &service_id,
                    &row.content_type,
                    &row.filename,
                    &row.size,
                    &row.date_created,
                    &row.date_updated,
                    &content,
                ],
            )?
            .get(0))
    }

    fn delete_unattached_media(&mut self, before: i64) -> Result<()> {
        self.execute(
            "DELETE FROM media WHERE message_id IS NULL AND date_created < $1",
            &[&before],
        )?;
        Ok(())
    }

    /// `message_id IS NULL` in the UPDATE itself: of two jobs that claim the same media, the
    /// second waits for the first's row lock and then finds it taken.
    fn attach_media(&mut self, media_id: i64, message_id: i64) -> Result<bool> {
        let attached = self.execute(
            "UPDATE media SET message_id = $1, date_updated = $2 WHERE id = $3 AND message_id IS NULL",
            &[&message_id, &self.now, &media_id],
        )?;
        Ok(attached == 1)
    }
}
