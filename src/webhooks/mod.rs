//! Webhooks that really go out: signed HTTP requests to the targets configured at the three
//! levels (account, service, conversation).
//!
//! - Post-action events are queued in the store's outbox by the write that caused them
//!   (`domain::events::post_action`) and sent by the [`delivery`] worker after commit: at least once,
//!   in order per conversation (or user) and target, retried with backoff, surviving restarts.
//! - Pre-action events are sent inline by handlers before they write ([`pre_action`]).
//! - Every request is signed ([`signature`]) and logged (`GET /confab/Webhooks/Deliveries`).

pub mod delivery;
pub mod pre_action;
pub mod signature;

use std::time::{Duration, Instant};

use crate::states::DeliveryOutcome;
use crate::store::webhooks::Attempt;

/// Twilio waits 5 seconds for a webhook's answer (twilio-behavior.md 17.5, 17.6).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// confab reads at most this much of a webhook's answer; the rest is dropped.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The delivery log keeps the start of each answer's body: enough to see what an endpoint
/// said (an error page, a pre-action's JSON), without a log row per attempt of 64 KiB.
pub const LOGGED_BODY_BYTES: usize = 4 * 1024;

/// A transport error with its causes ("error sending request ...: client error (Connect):
/// tcp connect error: Connection refused (os error 111)"): reqwest's own message names none.
fn with_causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The outbound HTTP client: rustls, no redirects, Twilio's timeout.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("TwilioProxy/1.1")
        .build()
        .expect("the HTTP client builds")
}

/// One signed webhook request.
pub struct Request<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub params: &'a [(String, String)],
    pub auth_token: &'a str,
    /// Stable across retries of the same event, as Twilio's `I-Twilio-Idempotency-Token`.
    pub idempotency_token: String,
}

/// What came back: the attempt for the log, and the body (for pre-action modifications).
pub struct Response {
    pub attempt: Attempt,
    pub body: Vec<u8>,
}

/// Sends one webhook: a form body for POST, query parameters for GET, signed over exactly
/// the URL and parameters that travel. Never fails: a transport error is an attempt without
/// status.
pub async fn send(http: &reqwest::Client, req: Request<'_>) -> Response {
    let started = Instant::now();
    let (url, signed_params, body) = if req.method.eq_ignore_ascii_case("GET") {
        let query = serde_html_form::to_string(req.params).unwrap_or_default();
        let separator = if req.url.contains('?') { '&' } else { '?' };
        (format!("{}{separator}{query}", req.url), &[][..], None)
    } else {
        let body = serde_html_form::to_string(req.params).unwrap_or_default();
        (req.url.to_string(), req.params, Some(body))
    };
    let signature = signature::sign(req.auth_token, &url, signed_params);
    let sent = (req.params.to_vec(), Some(signature.clone()));
    let mut builder = match body {
        Some(body) => http
            .post(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body),
        None => http.get(&url),
    };
    builder = builder
        .header("x-twilio-signature", signature)
        .header("i-twilio-idempotency-token", req.idempotency_token)
        .header("x-home-region", "us1");
    let result = async {
        let mut res = builder.send().await?;
        let status = res.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await? {
            let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_RESPONSE_BYTES {
                break;
            }
        }
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    let latency_ms = started.elapsed().as_millis() as i64;
    match result {
        Ok((status, body)) => Response {
            attempt: Attempt {
                status: Some(status),
                outcome: if (200..300).contains(&status) {
                    DeliveryOutcome::Delivered
                } else {
                    DeliveryOutcome::Failed
                },
                error: None,
                latency_ms,
                params: sent.0,
                signature: sent.1,
                response_body: Some(logged_body(&body)),
            },
            body,
        },
        Err(e) => Response {
            attempt: Attempt {
                status: None,
                outcome: DeliveryOutcome::Failed,
                error: Some(if e.is_timeout() {
                    "timed out after 5 s".into()
                } else {
                    with_causes(&e)
                }),
                latency_ms,
                params: sent.0,
                signature: sent.1,
                response_body: None,
            },
            body: Vec::new(),
        },
    }
}

/// The start of an answer's body as the log keeps it: at most `LOGGED_BODY_BYTES`, cut on a
/// character boundary, bytes that are not UTF-8 replaced.
fn logged_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(LOGGED_BODY_BYTES)]);
    let mut end = text.len().min(LOGGED_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
