//! Delivery Receipts (DY...) of a message: one per outbound channel message to a non-chat
//! participant, holding only the latest status (twilio-behavior.md 15). Read here; written by the
//! outbound-delivery side.

use rusqlite::Row;

use super::Store;
use super::conversations::{self, ConversationRow};
use super::messages;
use super::services::Tenant;
use super::sql::{Keyset, optional};
use crate::error::Result;
use crate::sid::{Prefix, is_sid};
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct ReceiptRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub message_sid: String,
    pub participant_sid: Option<String>,
    pub channel_message_sid: Option<String>,
    /// `None` while the channel message is still queued inside Twilio.
    pub status: Option<String>,
    pub error_code: Option<i64>,
    pub date_created: i64,
    /// `None` until the receipt is first updated.
    pub date_updated: Option<i64>,
}

const SELECT: &str = "SELECT id, sid, participant_sid, channel_message_sid, status, error_code,
    date_created, date_updated FROM receipts";

/// Reads rows of [`SELECT`]; the conversation and message supply the SIDs a receipt row does not
/// hold.
fn reader<'a>(
    conv: &'a ConversationRow,
    message_sid: &'a str,
) -> impl Fn(&Row) -> rusqlite::Result<ReceiptRow> + 'a {
    move |row| {
        Ok(ReceiptRow {
            id: row.get(0)?,
            sid: row.get(1)?,
            account_sid: conv.account_sid.clone(),
            service_sid: conv.service_sid.clone(),
            conversation_sid: conv.sid.clone(),
            message_sid: message_sid.to_string(),
            participant_sid: row.get(2)?,
            channel_message_sid: row.get(3)?,
            status: row.get(4)?,
            error_code: row.get(5)?,
            date_created: row.get(6)?,
            date_updated: row.get(7)?,
        })
    }
}

/// ListConversationMessageReceipt: in creation order.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
    req: PageRequest,
) -> Result<Page<ReceiptRow>> {
    conversations::read_within(store, tenant.clone(), conversation, move |conn, conv| {
        let message_id = messages::resolve_id(conn, &tenant, conv, &message)?;
        let select = format!("{SELECT} WHERE message_id = ?1");
        let keyset = Keyset {
            select: &select,
            keys: &["id"],
            descending: false,
        };
        keyset.page(conn, &[&message_id], &req, reader(conv, &message), |r| {
            vec![r.id]
        })
    })
    .await
}

/// FetchConversationMessageReceipt: the receipt must belong to that message, in that
/// conversation, in the tenant's service; anything else is a 404.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
    receipt: String,
) -> Result<ReceiptRow> {
    conversations::read_within(store, tenant.clone(), conversation, move |conn, conv| {
        let message_id = messages::resolve_id(conn, &tenant, conv, &message)?;
        if !is_sid(Prefix::Receipt, &receipt) {
            return Err(tenant.not_found());
        }
        optional(
            conn,
            &format!("{SELECT} WHERE message_id = ?1 AND sid = ?2"),
            &[&message_id, &receipt],
            reader(conv, &message),
        )?
        .ok_or_else(|| tenant.not_found())
    })
    .await
}
