//! Time-driven changes: conversation timers (active → inactive → closed,
//! twilio-behavior.md 8.2) and the progress of delivery receipts for non-chat recipients
//! (section 15), with the outbound log they report on. Due work is found through indexes on
//! the due times, so an idle conversation costs nothing.

use super::conversations::{self, site};
use super::events;
use super::outbound::RECEIPT_STEP_SECS;
use super::participants;
use super::webhook_params;
use crate::error::{Error, Result};
use crate::states::{ConversationState, ReceiptStatus};
use crate::store::conversations::ConversationRow;
use crate::store::receipts::Outbound;
use crate::store::{ServiceRef, Store, Tenant, Tx};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

/// At most this many conversations or receipts move in one write.
const BATCH: usize = 500;

/// The tenant on whose behalf time acts: not a REST request, so its webhooks always fire
/// (the `X-Twilio-Webhook-Enabled` gate is for REST actions only).
fn system_tenant(account_sid: &str, service_sid: &str) -> Tenant {
    Tenant {
        account_sid: account_sid.to_string(),
        service: ServiceRef::Sid(service_sid.to_string()),
        webhooks: true,
    }
}

/// The earliest time after `after` that any timer or receipt transition falls due, if any is
/// scheduled (`i64::MIN`: the earliest of all).
pub async fn next_due(store: &Store, after: i64) -> Result<Option<i64>> {
    store
        .read(move |tx| {
            let timers = tx.next_timer_due(after)?;
            let receipts = tx.next_receipt_due(after)?;
            Ok(timers.into_iter().chain(receipts).min())
        })
        .await
}

/// What is waiting in the store: for the metrics.
pub struct Backlog {
    /// Post-action webhooks queued, not yet delivered or given up.
    pub outbox_depth: i64,
    /// Conversation timers due and not yet fired.
    pub timers_due: i64,
    /// Receipts whose next status is due and not yet taken.
    pub receipts_due: i64,
}

/// What is waiting now, by the clock.
pub async fn backlog(store: &Store) -> Result<Backlog> {
    store
        .read(|tx| {
            let now = tx.now();
            Ok(Backlog {
                outbox_depth: tx.queued_deliveries()?,
                timers_due: tx.count_due_timers(now)?,
                receipts_due: tx.count_due_receipts(now)?,
            })
        })
        .await
}

/// Moves every conversation whose timer is due and every receipt whose next status is due.
/// Returns how many things changed.
pub async fn run_due(store: &Store) -> Result<usize> {
    store
        .write(|tx| {
            let timers = fire_timers(tx)?;
            let receipts = advance_receipts(tx)?;
            Ok(timers + receipts)
        })
        .await
}

/// What a due timer does: closing clears both timers; going inactive clears the inactive one.
fn fired(row: &ConversationRow, now: i64) -> ConversationRow {
    let closes = row.date_closed.is_some_and(|at| at <= now);
    ConversationRow {
        state: if closes {
            ConversationState::Closed
        } else {
            ConversationState::Inactive
        },
        date_inactive: None,
        date_closed: if closes { None } else { row.date_closed },
        date_updated: now,
        ..row.clone()
    }
}

/// Moves conversations whose timer is due, with `onConversationStateUpdated` (Reason=TIMER).
fn fire_timers(tx: &mut dyn Tx) -> Result<usize> {
    let now = tx.now();
    let due = tx.claim_due_timers(now, BATCH)?;
    for before in &due {
        let after = fired(before, now);
        tx.update_conversation(&after)?;
        participants::release_if_closed(tx, &after)?;
        let tenant = system_tenant(&after.account_sid, &after.service_sid);
        conversations::state_updated(tx, &tenant, &after, before.state, "TIMER")?;
    }
    Ok(due.len())
}

/// Moves due receipts one status forward (queued → sent → delivered), each with
/// `onDeliveryUpdated`.
fn advance_receipts(tx: &mut dyn Tx) -> Result<usize> {
    let now = tx.now();
    let due = tx.claim_due_receipts(now, BATCH)?;
    for receipt in &due {
        match ReceiptStatus::next_on_its_own(receipt.status) {
            Some((status, last)) => {
                let next_at = (!last).then_some(now + RECEIPT_STEP_SECS);
                set_receipt_status(tx, receipt, status, None, next_at)?;
            }
            None => tx.set_receipt_status(receipt.id, receipt.status, receipt.error_code, None)?,
        }
    }
    Ok(due.len())
}

/// Sets a receipt's status (and error code), schedules its next move, and queues
/// `onDeliveryUpdated` (twilio-behavior.md 17.4).
fn set_receipt_status(
    tx: &mut dyn Tx,
    receipt: &Outbound,
    status: ReceiptStatus,
    error_code: Option<i64>,
    next_status_at: Option<i64>,
) -> Result<()> {
    tx.set_receipt_status(receipt.id, Some(status), error_code, next_status_at)?;
    let Some(conversation) = tx.conversation_by_id(receipt.conversation_id)? else {
        return Ok(());
    };
    let params =
        webhook_params::delivery_updated(&conversation, receipt, status, error_code, tx.now());
    let tenant = system_tenant(&conversation.account_sid, &conversation.service_sid);
    events::post_action(
        tx,
        &tenant,
        site(&conversation),
        EventType::DeliveryUpdated,
        params,
    )
}

/// What the account's messages would have sent by SMS/WhatsApp, newest first, optionally for
/// one conversation (by SID).
pub async fn list_outbound(
    store: &Store,
    account_sid: String,
    conversation_sid: Option<String>,
    req: PageRequest,
) -> Result<Page<Outbound>> {
    store
        .read(move |tx| tx.list_outbound(&account_sid, conversation_sid.as_deref(), &req))
        .await
}

/// Sets a receipt's status by hand (a test asking for `failed` or `undelivered`, or `read` on
/// WhatsApp): it stops moving on its own, and `onDeliveryUpdated` fires.
pub async fn force_receipt_status(
    store: &Store,
    account_sid: String,
    receipt_sid: String,
    status: ReceiptStatus,
    error_code: Option<i64>,
) -> Result<Outbound> {
    store
        .write(move |tx| {
            let found = tx
                .find_outbound(&account_sid, &receipt_sid)?
                .ok_or_else(Error::not_found)?;
            set_receipt_status(tx, &found, status, error_code, None)?;
            Ok(Outbound {
                status: Some(status),
                error_code,
                ..found
            })
        })
        .await
}
