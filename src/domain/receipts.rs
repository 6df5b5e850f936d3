//! Delivery Receipts (DY...) of a message, as the API reads them.

use super::{conversations, messages};
use crate::error::{Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::store::receipts::ReceiptRow;
use crate::store::{Store, Tenant};
use crate::wire::paging::{Page, PageRequest};

/// ListConversationMessageReceipt: in creation order.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    message: String,
    req: PageRequest,
) -> Result<Page<ReceiptRow>> {
    conversations::read_within(store, tenant, conversation, move |tx, conv| {
        let message = messages::find(tx, conv, &message)?;
        tx.list_receipts(conv, message.id, &message.sid, &req)
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
    conversations::read_within(store, tenant, conversation, move |tx, conv| {
        let message = messages::find(tx, conv, &message)?;
        if !is_sid(Prefix::Receipt, &receipt) {
            return Err(Error::not_found());
        }
        tx.find_receipt(conv, message.id, &message.sid, &receipt)?
            .ok_or_else(Error::not_found)
    })
    .await
}
