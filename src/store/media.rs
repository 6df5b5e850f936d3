//! Media (ME...), as Twilio's Media Content Service keeps it (twilio-behavior.md 14.2): uploaded to a
//! service outside the Conversations API, then attached to one message with `MediaSid`, and
//! deleted with that message. Uploads no message claims within five minutes are dropped.

use rusqlite::{Row, params};
use serde_json::json;

use super::services::{self, Tenant};
use super::sql::optional;
use super::{Store, WriteCtx};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};

/// How long an upload waits for a message before it is garbage: "media not attached to a
/// message within 5 minutes of upload is garbage-collected" (twilio-behavior.md 14.2, MEDIA docs).
pub const UNATTACHED_LIFETIME_SECS: i64 = 5 * 60;

#[derive(Debug, Clone)]
pub struct MediaRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    /// The conversation and message that the media was attached to, and that message's author.
    pub channel_sid: Option<String>,
    pub message_sid: Option<String>,
    pub author: Option<String>,
    pub content_type: String,
    pub filename: Option<String>,
    pub size: i64,
    pub date_created: i64,
    pub date_updated: i64,
}

impl MediaRow {
    /// This media as one item of a message's `media` array: `[{sid, size, content_type,
    /// filename}]` (the spec's description of the field), as JSON text.
    pub fn message_media_json(&self) -> String {
        json!([{
            "sid": self.sid,
            "size": self.size,
            "content_type": self.content_type,
            "filename": self.filename,
        }])
        .to_string()
    }
}

/// A message's `media` array (JSON text) as webhooks send it: the same items with PascalCase
/// keys (`Sid`, `Size`, `ContentType`, `Filename`; twilio-behavior.md 14.2 / 17.4).
pub fn webhook_media(media_json: &str) -> String {
    let items: Vec<serde_json::Value> = serde_json::from_str(media_json).unwrap_or_default();
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|m| {
            json!({
                "Sid": m["sid"],
                "Size": m["size"],
                "ContentType": m["content_type"],
                "Filename": m["filename"],
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

const SELECT: &str = "SELECT md.id, md.sid, s.account_sid, s.sid, c.sid, m.sid, m.author,
        md.content_type, md.filename, md.size, md.date_created, md.date_updated
    FROM media md JOIN services s ON s.id = md.service_id
    LEFT JOIN messages m ON m.id = md.message_id
    LEFT JOIN conversations c ON c.id = m.conversation_id";

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

/// A validated upload.
#[derive(Debug, Clone)]
pub struct NewMedia {
    pub content_type: String,
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

/// Uploads media to the tenant's service. Expired unclaimed uploads of every service go first,
/// so that garbage never outlives the next upload.
pub async fn create(store: &Store, tenant: Tenant, new: NewMedia) -> Result<MediaRow> {
    store
        .write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            ctx.tx
                .prepare_cached("DELETE FROM media WHERE message_id IS NULL AND date_created < ?1")?
                .execute(params![ctx.now - UNATTACHED_LIFETIME_SECS])?;
            let sid = new_sid(Prefix::Media);
            let size = new.content.len() as i64;
            ctx.tx
                .prepare_cached(
                    "INSERT INTO media (sid, service_id, content_type, filename, size, date_created,
                         date_updated, content)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                )?
                .execute(params![
                    sid,
                    service.id,
                    new.content_type,
                    new.filename,
                    size,
                    ctx.now,
                    new.content,
                ])?;
            Ok(MediaRow {
                id: ctx.tx.last_insert_rowid(),
                sid,
                account_sid: tenant.account_sid.clone(),
                service_sid: service.sid,
                channel_sid: None,
                message_sid: None,
                author: None,
                content_type: new.content_type,
                filename: new.filename,
                size,
                date_created: ctx.now,
                date_updated: ctx.now,
            })
        })
        .await
}

/// Whether unclaimed media has outlived its wait for a message: it is then as gone as if the
/// collector had already run.
fn expired(media: &MediaRow, now: i64) -> bool {
    media.message_sid.is_none() && media.date_created < now - UNATTACHED_LIFETIME_SECS
}

/// The live media of the tenant's service, or 404.
fn resolve(conn: &rusqlite::Connection, tenant: &Tenant, sid: &str, now: i64) -> Result<MediaRow> {
    let service = services::resolve(conn, tenant)?;
    optional(
        conn,
        &format!("{SELECT} WHERE md.service_id = ?1 AND md.sid = ?2"),
        &[&service.id, &sid],
        map_row,
    )?
    .filter(|media| !expired(media, now))
    .ok_or_else(|| tenant.not_found())
}

/// Fetches the media's metadata.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<MediaRow> {
    let now = store.clock.now_secs();
    store
        .read(move |conn| resolve(conn, &tenant, &sid, now))
        .await
}

/// The media's metadata and its bytes.
pub async fn content(store: &Store, tenant: Tenant, sid: String) -> Result<(MediaRow, Vec<u8>)> {
    let now = store.clock.now_secs();
    store
        .read(move |conn| {
            let row = resolve(conn, &tenant, &sid, now)?;
            let bytes = conn
                .prepare_cached("SELECT content FROM media WHERE id = ?1")?
                .query_row(params![row.id], |r| r.get(0))?;
            Ok((row, bytes))
        })
        .await
}

/// Takes media of the service for a new message, inside its write job: unknown (or expired) media
/// is `MediaNotFound`, media another message holds is `MediaTaken`. Twilio's statuses for both are
/// uncertain (twilio-behavior.md 21); as validation failures of a body parameter they answer 400.
pub fn claim(ctx: &WriteCtx, service_id: i64, sid: &str) -> Result<MediaRow> {
    claimable(ctx.tx, service_id, sid, ctx.now)
}

/// The media a new message could take now, or why not (the checks of [`claim`]), without
/// taking it: what a pre-action webhook describes before the message is written.
pub fn claimable(
    conn: &rusqlite::Connection,
    service_id: i64,
    sid: &str,
    now: i64,
) -> Result<MediaRow> {
    let found = optional(
        conn,
        &format!("{SELECT} WHERE md.service_id = ?1 AND md.sid = ?2"),
        &[&service_id, &sid],
        map_row,
    )?;
    let not_found = || Error::with(Code::MediaNotFound, sid);
    let media = found.ok_or_else(not_found)?;
    if media.message_sid.is_some() {
        return Err(Error::with(Code::MediaTaken, sid));
    }
    if expired(&media, now) {
        return Err(not_found());
    }
    Ok(media)
}

/// Attaches claimed media to its message.
pub fn attach(ctx: &WriteCtx, media_id: i64, message_id: i64) -> Result<()> {
    ctx.tx
        .prepare_cached("UPDATE media SET message_id = ?1, date_updated = ?2 WHERE id = ?3")?
        .execute(params![message_id, ctx.now, media_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::store::services::ServiceRef;
    use crate::store::{Location, accounts};

    #[tokio::test]
    async fn unclaimed_media_expires_after_five_minutes() {
        let store = Store::open(&Location::Memory, Default::default(), Clock::default()).unwrap();
        let account = accounts::create(&store, "media".into()).await.unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            path: "/test".into(),
            webhooks: false,
        };
        let upload = |name: &str| NewMedia {
            content_type: "text/plain".into(),
            filename: Some(name.into()),
            content: b"bytes".to_vec(),
        };
        let old = create(&store, tenant.clone(), upload("old")).await.unwrap();
        store
            .clock
            .advance(chrono::Duration::seconds(UNATTACHED_LIFETIME_SECS))
            .unwrap();
        // Exactly at the limit it is still there.
        fetch(&store, tenant.clone(), old.sid.clone())
            .await
            .unwrap();
        store.clock.advance(chrono::Duration::seconds(1)).unwrap();
        let gone = fetch(&store, tenant.clone(), old.sid.clone())
            .await
            .unwrap_err();
        assert_eq!(gone.code, Code::NotFound);
        let service_id = old_service_id(&store, &old.sid).await;
        let sid = old.sid.clone();
        let claimed = store
            .write(move |ctx| claim(ctx, service_id, &sid))
            .await
            .unwrap_err();
        assert_eq!(claimed.code, Code::MediaNotFound);
        // The next upload collects it.
        create(&store, tenant.clone(), upload("new")).await.unwrap();
        let sid = old.sid.clone();
        let rows: i64 = store
            .read(move |conn| {
                Ok(
                    conn.query_row("SELECT count(*) FROM media WHERE sid = ?1", [sid], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }

    async fn old_service_id(store: &Store, sid: &str) -> i64 {
        let sid = sid.to_string();
        store
            .read(move |conn| {
                Ok(
                    conn.query_row("SELECT service_id FROM media WHERE sid = ?1", [sid], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap()
    }
}
