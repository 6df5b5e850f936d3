//! The delivery worker: sends queued post-action webhooks from the outbox.
//!
//! It keeps at most [`MAX_IN_FLIGHT`] requests going ([`MAX_IN_FLIGHT_PER_ACCOUNT`] of one
//! account's), one per queue at a time (a queue is one conversation's, or one user's, events to
//! one target URL, so they arrive in order): it claims the heads of due queues from the store
//! with a lease, so that several nodes on one database never send the same one together and a
//! dead node's claims lapse. It wakes when a commit queued something or a retry falls due, and
//! records each attempt: delivered rows leave the outbox, failed ones are retried with
//! exponential backoff (`RetryCount` rises) until [`MAX_ATTEMPTS`].

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Request, http_client, send};
use crate::domain::deliveries;
use crate::states::DeliveryOutcome;
use crate::store::Store;
use crate::store::webhooks::{Attempt, Lease, Pending};

/// Requests in flight at once, over all targets.
pub const MAX_IN_FLIGHT: usize = 32;
/// Attempts before a delivery is given up (logged as `gave_up`).
pub const MAX_ATTEMPTS: i64 = 10;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 300;

/// Seconds to wait after the `attempt`-th failed attempt (1, 2, 4, ... capped at 5 minutes).
pub fn backoff_secs(attempt: i64) -> i64 {
    1i64.checked_shl(attempt.clamp(0, 30) as u32)
        .unwrap_or(MAX_BACKOFF_SECS)
        .min(MAX_BACKOFF_SECS)
}

/// Starts the worker on the current runtime; its claims on deliveries hold for `lease`.
pub fn spawn(store: Store, lease: Duration) {
    tokio::spawn(run(store, lease.as_secs().max(1) as i64));
}

/// At most this many of one account's deliveries are in flight at once, so that one account's
/// slow or dead endpoints never take every slot from the others.
pub const MAX_IN_FLIGHT_PER_ACCOUNT: usize = 8;
/// How long a claim on a delivery holds (system clock) unless `--webhook-lease` says: far
/// longer than an attempt takes (Twilio's 5 s timeout), and short enough that another node
/// takes over a dead node's claims soon.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// What is being sent, by account.
#[derive(Default)]
struct InFlight {
    total: usize,
    by_account: HashMap<String, usize>,
}

impl InFlight {
    fn add(&mut self, p: &Pending) {
        self.total += 1;
        *self.by_account.entry(p.account_sid.clone()).or_default() += 1;
    }

    fn remove(&mut self, p: &Pending) {
        self.total -= 1;
        if let Some(count) = self.by_account.get_mut(&p.account_sid) {
            *count -= 1;
            if *count == 0 {
                self.by_account.remove(&p.account_sid);
            }
        }
    }

    /// How many one claim may take: no more than are free, nor than would put the busiest
    /// account that may still claim over its share (a claim takes the earliest heads, whatever
    /// their account, so each account's share is bounded by bounding the whole claim).
    fn claimable(&self) -> usize {
        let busiest = self
            .by_account
            .values()
            .copied()
            .filter(|count| *count < MAX_IN_FLIGHT_PER_ACCOUNT)
            .max()
            .unwrap_or(0);
        (MAX_IN_FLIGHT - self.total).min(MAX_IN_FLIGHT_PER_ACCOUNT - busiest)
    }

    /// Whether every one of `accounts` has its share in flight.
    fn all_full(&self, accounts: &[String]) -> bool {
        accounts.iter().all(|a| {
            self.by_account
                .get(a)
                .is_some_and(|count| *count >= MAX_IN_FLIGHT_PER_ACCOUNT)
        })
    }

    /// The accounts that may not have one more in flight.
    fn full_accounts(&self) -> Vec<String> {
        self.by_account
            .iter()
            .filter(|(_, count)| **count >= MAX_IN_FLIGHT_PER_ACCOUNT)
            .map(|(account, _)| account.clone())
            .collect()
    }
}

/// A claim for this process, from the system clock, for `lease_secs`.
fn lease(holder: &str, lease_secs: i64) -> Lease {
    let now = crate::clock::system_secs();
    Lease {
        holder: holder.to_string(),
        now,
        until: now + lease_secs,
    }
}

async fn run(store: Store, lease_secs: i64) {
    let http = http_client();
    let holder = crate::sid::new_secret();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Pending, Attempt)>();
    let mut in_flight = InFlight::default();
    loop {
        let now = store.clock.now_secs();
        let free = in_flight.claimable();
        let next_due = deliveries::next_due(&store, i64::MIN)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not read the webhook outbox");
                None
            });
        // A claim is a write: made only when something is due.
        if free > 0 && next_due.is_some_and(|at| at <= now) {
            let skip = in_flight.full_accounts();
            match deliveries::claim(&store, now, lease(&holder, lease_secs), free, skip).await {
                Ok(claimed) => {
                    let full_claim = claimed.len() == free;
                    let mut accounts: Vec<String> = Vec::new();
                    for pending in claimed {
                        accounts.push(pending.account_sid.clone());
                        in_flight.add(&pending);
                        let (http, done) = (http.clone(), done_tx.clone());
                        tokio::spawn(async move {
                            let attempt = attempt(&http, &pending).await;
                            let _ = done.send((pending, attempt));
                        });
                    }
                    // A full claim may have left due heads behind: claim again at once, unless
                    // every account it served is now at its share (the next claim would skip
                    // them, and a completion wakes this loop anyway).
                    if full_claim
                        && in_flight.total < MAX_IN_FLIGHT
                        && !in_flight.all_full(&accounts)
                    {
                        continue;
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not claim webhook deliveries"),
            }
        }
        let sleep = time_to_next_due(next_due, now);
        tokio::select! {
            Some((pending, attempt)) = done_rx.recv() => {
                in_flight.remove(&pending);
                finish(&store, pending, attempt).await;
            }
            _ = store.wake.webhooks.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// How long to sleep before the next retry falls due (at most a second). A head that is due
/// already is in flight (every due head was just admitted, up to the limit): its answer, a
/// commit or a moved clock wakes the worker sooner, so there is no need to poll for it.
fn time_to_next_due(next_due: Option<i64>, now: i64) -> Duration {
    match next_due {
        Some(at) if at > now => Duration::from_secs((at - now) as u64).min(Duration::from_secs(1)),
        _ => Duration::from_secs(1),
    }
}

/// Sends one queued delivery, or records why it cannot be sent.
async fn attempt(http: &reqwest::Client, pending: &Pending) -> Attempt {
    if pending.target == "studio" {
        return Attempt {
            status: None,
            outcome: DeliveryOutcome::NotDelivered,
            error: Some(format!(
                "Studio Flow {} cannot run in confab: event recorded only",
                pending.url
            )),
            latency_ms: 0,
            // What it would have been given; nothing was sent, so nothing was signed.
            params: pending.params.clone(),
            signature: None,
            response_body: None,
        };
    }
    let mut params = pending.params.clone();
    params.push(("RetryCount".into(), pending.attempts.to_string()));
    let request = Request {
        url: &pending.url,
        method: &pending.method,
        params: &params,
        auth_token: &pending.auth_token,
        idempotency_token: format!("confab-{}-{}", pending.id, pending.date_created),
    };
    send(http, request).await.attempt
}

/// Records the attempt: done, retried later, or given up.
async fn finish(store: &Store, pending: Pending, mut attempt: Attempt) {
    let retry_at = if attempt.outcome == DeliveryOutcome::Failed {
        if pending.attempts + 1 >= MAX_ATTEMPTS {
            attempt.outcome = DeliveryOutcome::GaveUp;
            None
        } else {
            attempt.outcome = DeliveryOutcome::Retrying;
            Some(store.clock.now_secs() + backoff_secs(pending.attempts))
        }
    } else {
        None
    };
    metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "outcome" => attempt.outcome.as_str())
        .increment(1);
    tracing::info!(
        event = %pending.event_type,
        url = %pending.url,
        status = ?attempt.status,
        outcome = attempt.outcome.as_str(),
        retry_count = pending.attempts,
        latency_ms = attempt.latency_ms,
        "webhook"
    );
    if let Err(e) = deliveries::record(store, pending, attempt, retry_at).await {
        tracing::error!(error = %e, "could not record a webhook attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let waits: Vec<i64> = (0..12).map(backoff_secs).collect();
        assert_eq!(&waits[..6], &[1, 2, 4, 8, 16, 32]);
        assert_eq!(waits[9], 300);
        assert_eq!(backoff_secs(100), 300);
    }

    fn in_flight(counts: &[(&str, usize)]) -> InFlight {
        let mut flight = InFlight::default();
        for (account, count) in counts {
            flight.total += count;
            flight.by_account.insert(account.to_string(), *count);
        }
        flight
    }

    /// A claim may take the earliest heads of any account, so it is bounded by the share the
    /// busiest account that may still claim has left: no account can go over its share.
    #[test]
    fn a_claim_never_takes_an_account_past_its_share() {
        assert_eq!(in_flight(&[]).claimable(), MAX_IN_FLIGHT_PER_ACCOUNT);
        assert_eq!(in_flight(&[("AC1", 5)]).claimable(), 3);
        // A full account is skipped by the claim, so it does not bound the others.
        assert_eq!(
            in_flight(&[("AC1", MAX_IN_FLIGHT_PER_ACCOUNT), ("AC2", 2)]).claimable(),
            6
        );
        let busy = [("AC1", 8), ("AC2", 8), ("AC3", 8), ("AC4", 6)];
        assert_eq!(in_flight(&busy).claimable(), 2);
        assert_eq!(
            in_flight(&[("AC1", 8), ("AC2", 8), ("AC3", 8), ("AC4", 8)]).claimable(),
            0
        );
    }
}
