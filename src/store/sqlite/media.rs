//! Media in SQLite: the metadata and the bytes in one row, the bytes last.

use std::sync::LazyLock;

use rusqlite::{Row, params};

use super::SqliteTx;
use crate::error::Result;
use crate::store::media::{MediaRow, MediaStore};

const SELECT: &str = "SELECT md.id, md.sid, s.account_sid, s.sid, c.sid, m.sid, m.author,
        md.content_type, md.filename, md.size, md.date_created, md.date_updated
    FROM media md JOIN services s ON s.id = md.service_id
    LEFT JOIN messages m ON m.id = md.message_id
    LEFT JOIN conversations c ON c.id = m.conversation_id";
static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE md.service_id = ?1 AND md.sid = ?2"));

fn map_row(row: &Row) -> rusqlite::Result<MediaRow> {
    Ok(MediaRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_sid: row.get(3)?,
        channel_sid: row.get(4)?,
        message_sid: row.get(5)?,
        author: row.get(6)?,
        content_type: row.get(7)?,
        filename: row.get(8)?,
        size: row.get(9)?,
        date_created: row.get(10)?,
        date_updated: row.get(11)?,
    })
}

impl MediaStore for SqliteTx<'_, '_> {
    fn find_media(&self, service_id: i64, sid: &str) -> Result<Option<MediaRow>> {
        self.tx.optional(&BY_SID, &[&service_id, &sid], map_row)
    }

    fn media_content(&self, id: i64) -> Result<Vec<u8>> {
        Ok(self
            .tx
            .prepare_cached("SELECT content FROM media WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))?)
    }

    fn insert_media(&mut self, service_id: i64, row: &MediaRow, content: &[u8]) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO media (sid, service_id, content_type, filename, size, date_created,
                     date_updated, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                row.sid,
                service_id,
                row.content_type,
                row.filename,
                row.size,
                row.date_created,
                row.date_updated,
                content,
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    fn delete_unattached_media(&mut self, before: i64) -> Result<()> {
        self.tx.run(
            "DELETE FROM media WHERE message_id IS NULL AND date_created < ?1",
            &[&before],
        )?;
        Ok(())
    }

    fn attach_media(&mut self, media_id: i64, message_id: i64) -> Result<bool> {
        let attached = self.tx.run(
            "UPDATE media SET message_id = ?1, date_updated = ?2 WHERE id = ?3 AND message_id IS NULL",
            &[&message_id, &self.now, &media_id],
        )?;
        Ok(attached == 1)
    }
}
