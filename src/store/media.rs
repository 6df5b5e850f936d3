//! Media (ME...), as Twilio's Media Content Service keeps it: the row, and what each engine
//! does with it.

use crate::error::Result;

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

pub trait MediaStore {
    /// Media of the service by SID, with the message it is attached to, if any.
    fn find_media(&self, service_id: i64, sid: &str) -> Result<Option<MediaRow>>;

    /// The media's bytes.
    fn media_content(&self, id: i64) -> Result<Vec<u8>>;

    /// Inserts an upload (its `id` is ignored) with its bytes; returns its id.
    fn insert_media(&mut self, service_id: i64, row: &MediaRow, content: &[u8]) -> Result<i64>;

    /// Deletes every upload no message took that was made before `before`.
    fn delete_unattached_media(&mut self, before: i64) -> Result<()>;

    /// Attaches media to a message, if no message has it yet; whether it did. The database
    /// decides, so that two messages never take the same media.
    fn attach_media(&mut self, media_id: i64, message_id: i64) -> Result<bool>;
}
