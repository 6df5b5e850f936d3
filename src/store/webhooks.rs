//! Webhooks as the store keeps them: the configuration of the three levels that decides where
//! an event goes, the outbox of post-action deliveries, and the delivery log.

use crate::error::Result;
use crate::states::DeliveryOutcome;
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

pub use super::conversation_webhooks::ScopedWebhook;

/// One level's webhook configuration (the account's or a service's).
#[derive(Debug, Clone, Default)]
pub struct WebhookLevel {
    pub pre_url: Option<String>,
    pub post_url: Option<String>,
    pub method: Option<String>,
    /// The event names it sends; `None` until set.
    pub filters: Option<Vec<String>>,
    /// The account level's `target`: `webhook` or `flex` (`None` for a service).
    pub target: Option<String>,
}

/// A post-action delivery to queue: one event for one target.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub account_sid: String,
    pub conversation_sid: Option<String>,
    /// Deliveries with the same key and URL go out one at a time, oldest first.
    pub ordering_key: Option<String>,
    pub event: EventType,
    /// `webhook`, `trigger` or `studio`.
    pub target: &'static str,
    /// The URL, or the Studio Flow SID for a `studio` target.
    pub url: String,
    pub method: String,
    pub params: Vec<(String, String)>,
    pub webhook_sid: Option<String>,
}

/// A queued delivery, with what the worker needs to send and sign it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    /// Its queue: one conversation's (or one user's) deliveries to one URL, sent in order, or
    /// a queue of its own when nothing orders it.
    pub queue_id: i64,
    pub account_sid: String,
    pub auth_token: String,
    pub conversation_sid: Option<String>,
    /// Deliveries with the same key and URL go out one at a time, oldest first.
    pub ordering_key: Option<String>,
    pub event_type: String,
    pub target: String,
    pub url: String,
    pub method: String,
    pub params: Vec<(String, String)>,
    pub webhook_sid: Option<String>,
    pub attempts: i64,
    pub date_created: i64,
}

/// A claim on queued deliveries: who holds it, and until when. Leases run on the system's
/// clock, not the server's movable one: moving the test clock must not make a delivery in
/// flight look abandoned.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The claiming process (a random token per process).
    pub holder: String,
    /// Seconds since the epoch, now and when the claim lapses.
    pub now: i64,
    pub until: i64,
}

/// One attempt to deliver a webhook, for the delivery log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    pub outcome: DeliveryOutcome,
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The parameters sent (in the body for POST, the query for GET), in the order sent.
    pub params: Vec<(String, String)>,
    /// The `X-Twilio-Signature` sent; none when nothing was sent (a Studio target).
    pub signature: Option<String>,
    /// The start of the answer's body as text (`LOGGED_BODY_BYTES`), when an answer came.
    pub response_body: Option<String>,
}

/// One row of the delivery log, as the extension route shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryLogRow {
    #[serde(skip)]
    pub id: i64,
    pub event_type: String,
    pub kind: String,
    pub target: String,
    pub url: String,
    pub method: String,
    pub webhook_sid: Option<String>,
    pub conversation_sid: Option<String>,
    pub retry_count: i64,
    pub status: Option<i64>,
    /// `delivered`, `retrying`, `gave_up` (post-action); `not_delivered` (a Studio target);
    /// `delivered`, `rejected` (a veto) or `fail_open` (no answer: the action went ahead) for
    /// pre-action.
    pub outcome: String,
    pub error: Option<String>,
    pub latency_ms: Option<i64>,
    /// The parameters sent, as `[name, value]` pairs in the order sent (null for attempts
    /// logged before confab kept them).
    pub params: Option<Vec<(String, String)>>,
    pub signature: Option<String>,
    pub response_body: Option<String>,
    #[serde(serialize_with = "crate::wire::time::serialize_date")]
    pub date_created: i64,
}

/// Which attempts of the delivery log to list: all, or those of one event, or one outcome.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub event: Option<EventType>,
    pub outcome: Option<DeliveryOutcome>,
}

/// The parameters of a logged attempt, as the log keeps them (a JSON array of pairs).
pub fn params_to_text(params: &[(String, String)]) -> Result<String> {
    serde_json::to_string(params).map_err(crate::error::Error::internal)
}

/// The parameters of a logged attempt, read back; none for a row logged without them.
pub fn params_from_text(text: Option<String>) -> Option<Vec<(String, String)>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

pub trait WebhookStore {
    /// The account's webhook configuration (`/v1/Configuration/Webhooks`).
    fn account_webhooks(&self, account_sid: &str) -> Result<Option<WebhookLevel>>;

    /// A service's webhook configuration (`/v1/Services/{IS}/Configuration/Webhooks`).
    fn service_webhooks(&self, service_id: i64) -> Result<Option<WebhookLevel>>;

    /// The conversation's scoped webhooks, in the order they were created.
    fn scoped_webhooks(&self, conversation_id: i64) -> Result<Vec<ScopedWebhook>>;

    /// Queues a delivery; the delivery worker is woken once the job's write is answered.
    fn enqueue_delivery(&mut self, delivery: &NewDelivery) -> Result<()>;

    /// Claims the heads of at most `limit` queues whose head is due at `now`, and which no
    /// live claim holds, skipping the accounts in `skip`: each is leased to this process until
    /// `lease.until`, so that no other sends it meanwhile, and a claim whose holder died lapses.
    /// Oldest due first.
    fn claim_deliveries(
        &mut self,
        now: i64,
        lease: &Lease,
        limit: usize,
        skip: &[String],
    ) -> Result<Vec<Pending>>;

    /// How many post-action deliveries are queued (in flight included).
    fn queued_deliveries(&self) -> Result<i64>;

    /// When the earliest head of a queue due after `after` falls due, if any delivery is queued
    /// (`i64::MIN`: any; a head in flight keeps its due time until its attempt is recorded).
    fn next_delivery_due(&self, after: i64) -> Result<Option<i64>>;

    /// A claimed delivery is done with (delivered or given up): it leaves the outbox, and the
    /// next delivery of its queue, if any, is due at once.
    fn remove_delivery(&mut self, pending: &Pending) -> Result<()>;

    /// A claimed delivery failed: its queue waits for `retry_at`, and the delivery has one
    /// attempt more.
    fn retry_delivery(&mut self, pending: &Pending, retry_at: i64) -> Result<()>;

    /// Logs one attempt: `kind` is `post` (from the outbox) or `pre` (inline).
    fn log_attempt(&mut self, pending: &Pending, kind: &str, attempt: &Attempt) -> Result<()>;

    /// The account's delivery log, newest first.
    fn delivery_log(
        &self,
        account_sid: &str,
        filter: &DeliveryFilter,
        req: &PageRequest,
    ) -> Result<Page<DeliveryLogRow>>;
}
