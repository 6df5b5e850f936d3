//! Media (ME...), as Twilio's Media Content Service keeps it (twilio-behavior.md 14.2):
//! uploaded to a service outside the Conversations API, then attached to one message with
//! `MediaSid`, and deleted with that message. Uploads no message claims within five minutes
//! are dropped.

use serde_json::json;

use super::services;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::store::media::MediaRow;
use crate::store::{Store, Tenant, Tx};

/// How long an upload waits for a message before it is garbage: "media not attached to a
/// message within 5 minutes of upload is garbage-collected" (twilio-behavior.md 14.2).
pub const UNATTACHED_LIFETIME_SECS: i64 = 5 * 60;

/// A validated upload.
#[derive(Debug, Clone)]
pub struct NewMedia {
    pub content_type: String,
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

/// A message's `media` array: `[{sid, size, content_type, filename}]` (the spec's description
/// of the field), as JSON text; an inbound MMS may carry up to ten items.
pub fn media_json(media: &[MediaRow]) -> String {
    let items: Vec<serde_json::Value> = media
        .iter()
        .map(|m| {
            json!({
                "sid": m.sid,
                "size": m.size,
                "content_type": m.content_type,
                "filename": m.filename,
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// Whether unclaimed media has outlived its wait for a message: it is then as gone as if the
/// collector had already run.
fn expired(media: &MediaRow, now: i64) -> bool {
    media.message_sid.is_none() && media.date_created < now - UNATTACHED_LIFETIME_SECS
}

/// Uploads media to the tenant's service. Expired unclaimed uploads of every service go first,
/// so that garbage never outlives the next upload.
pub async fn create(store: &Store, tenant: Tenant, new: NewMedia) -> Result<MediaRow> {
    store
        .write(move |tx| {
            let now = tx.now();
            let service = services::find(tx, &tenant)?;
            tx.delete_unattached_media(now - UNATTACHED_LIFETIME_SECS)?;
            let mut row = MediaRow {
                id: 0,
                sid: new_sid(Prefix::Media),
                account_sid: tenant.account_sid.clone(),
                service_sid: service.sid,
                channel_sid: None,
                message_sid: None,
                author: None,
                content_type: new.content_type,
                filename: new.filename,
                size: new.content.len() as i64,
                date_created: now,
                date_updated: now,
            };
            row.id = tx.insert_media(service.id, &row, &new.content)?;
            Ok(row)
        })
        .await
}

/// The live media of the tenant's service, or 404.
fn find(tx: &dyn Tx, tenant: &Tenant, sid: &str) -> Result<MediaRow> {
    let service = services::find(tx, tenant)?;
    tx.find_media(service.id, sid)?
        .filter(|media| !expired(media, tx.now()))
        .ok_or_else(Error::not_found)
}

/// Fetches the media's metadata.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<MediaRow> {
    store.read(move |tx| find(tx, &tenant, &sid)).await
}

/// The media's metadata and its bytes.
pub async fn content(store: &Store, tenant: Tenant, sid: String) -> Result<(MediaRow, Vec<u8>)> {
    store
        .read(move |tx| {
            let row = find(tx, &tenant, &sid)?;
            let bytes = tx.media_content(row.id)?;
            Ok((row, bytes))
        })
        .await
}

/// The media a new message can take, or why not: unknown (or expired) media is
/// `MediaNotFound`, media another message holds is `MediaTaken`. Twilio's statuses for both
/// are uncertain (twilio-behavior.md 21); as failures of a body parameter they answer 400.
pub fn claimable(tx: &dyn Tx, service_id: i64, sid: &str) -> Result<MediaRow> {
    let not_found = || Error::with(Code::MediaNotFound, sid);
    let media = tx.find_media(service_id, sid)?.ok_or_else(not_found)?;
    if media.message_sid.is_some() {
        return Err(Error::with(Code::MediaTaken, sid));
    }
    if expired(&media, tx.now()) {
        return Err(not_found());
    }
    Ok(media)
}

/// Attaches claimed media to its new message; another message that took it first wins.
pub fn attach(tx: &mut dyn Tx, media: &MediaRow, message_id: i64) -> Result<()> {
    if !tx.attach_media(media.id, message_id)? {
        return Err(Error::with(Code::MediaTaken, &media.sid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts;
    use crate::store::ServiceRef;

    #[tokio::test]
    async fn unclaimed_media_expires_after_five_minutes() {
        let store = crate::store::open_for_test().await;
        let account = accounts::create(&store, "media".into()).await.unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
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
        let (t, sid) = (tenant.clone(), old.sid.clone());
        let claimed = store
            .read(move |tx| {
                let service = services::find(tx, &t)?;
                claimable(tx, service.id, &sid)
            })
            .await
            .unwrap_err();
        assert_eq!(claimed.code, Code::MediaNotFound);
        // The next upload collects it: even the row is gone.
        create(&store, tenant.clone(), upload("new")).await.unwrap();
        let (t, sid) = (tenant.clone(), old.sid.clone());
        let row = store
            .read(move |tx| {
                let service = services::find(tx, &t)?;
                tx.find_media(service.id, &sid)
            })
            .await
            .unwrap();
        assert!(row.is_none());
    }
}
