//! Webhook deliveries once queued: what the delivery worker sends and how its attempts are
//! recorded, where a pre-action event goes, and the delivery log.

use super::events::{effective_level, listed, method_or_post};
use super::{services, webhook_params};
use crate::error::{Error, Result};
use crate::states::DeliveryOutcome;
use crate::store::events::NewEvent;
use crate::store::webhooks::{Attempt, DeliveryFilter, DeliveryLogRow, Lease, Pending};
use crate::store::{Store, Tenant, Tx};
use crate::webhook_events::{ConfabEvent, EventType};
use crate::wire::paging::{Page, PageRequest};

/// Claims deliveries that are due at `now` for this process, oldest first, and only the head of
/// each queue: a conversation's (or a user's) events go to each target URL in order, the next
/// one only once the previous one is delivered or given up. Queues are per target, so that a
/// failing target holds up only its own deliveries (Twilio documents no ordering between
/// targets, twilio-behavior.md 17.6). The accounts in `skip` have enough in flight already.
pub async fn claim(
    store: &Store,
    now: i64,
    lease: Lease,
    limit: usize,
    skip: Vec<String>,
) -> Result<Vec<Pending>> {
    store
        .write(move |tx| tx.claim_deliveries(now, &lease, limit, &skip))
        .await
}

/// When the earliest head of a queue due after `after` falls due, if any delivery is queued
/// (`i64::MIN`: the earliest of all; a head in flight counts until its attempt is recorded).
pub async fn next_due(store: &Store, after: i64) -> Result<Option<i64>> {
    store.read(move |tx| tx.next_delivery_due(after)).await
}

/// Records an attempt at a queued delivery: logged, then either removed from the outbox (done
/// or given up) or rescheduled for `retry_at`.
pub async fn record(
    store: &Store,
    pending: Pending,
    attempt: Attempt,
    retry_at: Option<i64>,
) -> Result<()> {
    store
        .write(move |tx| {
            tx.log_attempt(&pending, "post", &attempt)?;
            record_if_failed(tx, &pending, "post", &attempt)?;
            match retry_at {
                Some(at) => tx.retry_delivery(&pending, at),
                None => tx.remove_delivery(&pending),
            }
        })
        .await
}

/// Logs a pre-action attempt in its own write (the action itself may not be written at all).
pub async fn log_pre_action(store: &Store, pending: Pending, attempt: Attempt) -> Result<()> {
    store
        .write(move |tx| {
            tx.log_attempt(&pending, "pre", &attempt)?;
            record_if_failed(tx, &pending, "pre", &attempt)
        })
        .await
}

/// A failed attempt (retried, given up, or a pre-action call that got no answer) is confab's
/// own `confabWebhookFailed` on the event stream, recorded with its log entry.
fn record_if_failed(
    tx: &mut dyn Tx,
    pending: &Pending,
    kind: &str,
    attempt: &Attempt,
) -> Result<()> {
    use DeliveryOutcome::{FailOpen, Failed, GaveUp, Retrying};
    if !matches!(attempt.outcome, Failed | Retrying | GaveUp | FailOpen) {
        return Ok(());
    }
    let form = webhook_params::webhook_failed(pending, kind, attempt);
    tx.record_event(&NewEvent {
        account_sid: pending.account_sid.clone(),
        conversation_sid: pending.conversation_sid.clone(),
        name: ConfabEvent::WebhookFailed.as_str(),
        data: webhook_params::stream_data(&form),
    })
}

/// The account's delivery log, newest first.
pub async fn log(
    store: &Store,
    account_sid: String,
    filter: DeliveryFilter,
    req: PageRequest,
) -> Result<Page<DeliveryLogRow>> {
    store
        .read(move |tx| tx.delivery_log(&account_sid, &filter, &req))
        .await
}

/// Where a pre-action event goes, if anywhere.
#[derive(Debug, Clone)]
pub struct PreActionTarget {
    pub url: String,
    pub method: String,
    pub service_sid: String,
    pub auth_token: String,
}

/// The pre-action target of the tenant's service that subscribes to `event`: the service's own
/// configuration, or the account's when the service has none (flex targets receive nothing
/// here).
pub async fn pre_action_target(
    store: &Store,
    tenant: Tenant,
    event: EventType,
) -> Result<Option<PreActionTarget>> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            let level = effective_level(tx, &tenant.account_sid, service.id)?;
            let Some(url) = level
                .pre_url
                .filter(|_| listed(level.filters.as_deref(), event))
            else {
                return Ok(None);
            };
            let auth_token = tx
                .auth_token(&tenant.account_sid)?
                .ok_or_else(|| Error::internal("an account without an auth token"))?;
            Ok(Some(PreActionTarget {
                url,
                method: method_or_post(level.method.as_deref()),
                service_sid: service.sid,
                auth_token,
            }))
        })
        .await
}
