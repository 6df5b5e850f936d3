//! Pre-action webhooks (twilio-behavior.md 17.5): sent before an action is written, with Twilio's 5
//! s timeout. The target may veto (any non-2xx answer: nothing is written, the caller gets
//! `WebhookRejected`) or modify (a 2xx JSON body whose fields replace the action's). A timeout or
//! unreachable target lets the action proceed unmodified (fail-open), as Twilio documents.
//!
//! Handlers call [`run`] only when the request carried `X-Twilio-Webhook-Enabled: true`, after
//! validating it, and validate again after applying the modifications.

use std::future::Future;

use serde_json::{Map, Value};

use super::{Request, send};
use crate::app::AppState;
use crate::domain::deliveries;
use crate::domain::webhook_params::{self, Params};
use crate::error::{Code, Error, Result};
use crate::states::{DeliveryOutcome, Source};
use crate::store::Tenant;
use crate::store::webhooks::Pending;
use crate::webhook_events::EventType;

/// The fields a pre-action target asked to change (snake_case keys, as the resource's own),
/// empty when it changed nothing.
pub type Modifications = Map<String, Value>;

/// Sends `event` (e.g. `onMessageAdd`) to the pre-action target of the tenant's service (or of
/// the account, when the service has no webhook configuration), if that target subscribes to
/// it. `own` builds the event's own parameters; it is awaited only when there is a target, so
/// an event nobody listens to costs one read and nothing more.
pub async fn run(
    app: &AppState,
    tenant: &Tenant,
    event: EventType,
    own: impl Future<Output = Result<Params>>,
) -> Result<Modifications> {
    run_from(app, tenant, event, own, Source::Api).await
}

/// [`run`] for an action that did not come from REST: `source` is what the event's `Source`
/// says (an inbound message's channel).
pub async fn run_from(
    app: &AppState,
    tenant: &Tenant,
    event: EventType,
    own: impl Future<Output = Result<Params>>,
    source: Source,
) -> Result<Modifications> {
    if !tenant.webhooks {
        return Ok(Modifications::new());
    }
    let Some(target) = deliveries::pre_action_target(&app.store, tenant.clone(), event).await?
    else {
        return Ok(Modifications::new());
    };
    let own = own.await?;
    let params =
        webhook_params::pre_action(&tenant.account_sid, &target.service_sid, event, own, source);
    let pending = Pending {
        id: 0,
        queue_id: 0,
        account_sid: tenant.account_sid.clone(),
        auth_token: target.auth_token.clone(),
        conversation_sid: params
            .iter()
            .find(|(k, _)| k == "ConversationSid")
            .map(|(_, v)| v.clone()),
        ordering_key: None,
        event_type: event.as_str().into(),
        target: "webhook".into(),
        url: target.url.clone(),
        method: target.method.clone(),
        params,
        webhook_sid: None,
        attempts: 0,
        date_created: app.store.clock.now_secs(),
    };
    let request = Request {
        url: &pending.url,
        method: &pending.method,
        params: &pending.params,
        auth_token: &pending.auth_token,
        idempotency_token: format!("confab-pre-{}", crate::sid::new_secret()),
    };
    let response = send(&app.http, request).await;
    let mut attempt = response.attempt;
    let verdict = match attempt.status {
        Some(status) if (200..300).contains(&status) => Ok(modifications(&response.body)),
        Some(status) => {
            attempt.outcome = DeliveryOutcome::Rejected;
            // Twilio answers the caller `WebhookRejected`; the HTTP status is not documented, and
            // 400 is what its other refusals of a command use (twilio-behavior.md 21, [uncertain]).
            Err(Error::with(
                Code::WebhookRejected,
                format!("{event} target answered {status}"),
            ))
        }
        // No answer within 5 s, or no connection: the action proceeds (fail-open), and the log
        // says so.
        None => {
            attempt.outcome = DeliveryOutcome::FailOpen;
            Ok(Modifications::new())
        }
    };
    tracing::info!(event = event.as_str(), url = %pending.url, status = ?attempt.status, outcome = attempt.outcome.as_str(), "pre-action webhook");
    deliveries::log_pre_action(&app.store, pending, attempt).await?;
    verdict
}

/// A 2xx body: a JSON object's fields are modifications; anything else (empty, `{}`, not JSON)
/// changes nothing.
fn modifications(body: &[u8]) -> Modifications {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => Modifications::new(),
    }
}

/// A key without case or underscores: `friendly_name`, `FriendlyName` and `friendlyName` are
/// one key.
fn folded(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The value the target gave for `key`. Twilio documents snake_case keys (`body`,
/// `friendly_name`); whether other casings count is not documented (twilio-behavior.md 17.5,
/// [uncertain]), and accepting them costs nothing, so `FriendlyName` counts too. An exact
/// match wins over a folded one.
fn lookup<'a>(m: &'a Modifications, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| {
        let wanted = folded(key);
        m.iter().find(|(k, _)| folded(k) == wanted).map(|(_, v)| v)
    })
}

/// A string field of the modifications, if the target set one.
pub fn modified_text(m: &Modifications, key: &str) -> Option<String> {
    lookup(m, key).and_then(Value::as_str).map(str::to_string)
}

/// An attributes field: the JSON text Twilio's resources carry, given either as that text or as
/// the JSON object itself (`{"attributes": {"vip": true}}`), which a target is likelier to send.
pub fn modified_json(m: &Modifications, key: &str) -> Option<String> {
    match lookup(m, key)? {
        Value::String(text) => Some(text.clone()),
        value @ (Value::Object(_) | Value::Array(_)) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_object_modifies() {
        assert_eq!(
            modified_text(&modifications(br#"{"body":"edited"}"#), "body").as_deref(),
            Some("edited")
        );
        assert!(modifications(b"").is_empty());
        assert!(modifications(b"OK").is_empty());
        assert!(modifications(b"[1]").is_empty());
    }

    #[test]
    fn keys_match_in_any_casing_and_exact_wins() {
        let m = modifications(br#"{"FriendlyName":"pascal","friendlyName":"camel"}"#);
        assert_eq!(
            modified_text(&m, "friendly_name").as_deref(),
            Some("pascal")
        );
        let m = modifications(br#"{"friendly_name":"snake","FriendlyName":"pascal"}"#);
        assert_eq!(modified_text(&m, "friendly_name").as_deref(), Some("snake"));
        assert_eq!(modified_text(&m, "body"), None);
    }

    #[test]
    fn attributes_come_as_text_or_as_an_object() {
        let m = modifications(br#"{"attributes":{"vip":true}}"#);
        assert_eq!(
            modified_json(&m, "attributes").as_deref(),
            Some(r#"{"vip":true}"#)
        );
        let m = modifications(br#"{"attributes":"{\"a\":1}"}"#);
        assert_eq!(
            modified_json(&m, "attributes").as_deref(),
            Some(r#"{"a":1}"#)
        );
        let m = modifications(br#"{"attributes":7,"body":{"x":1}}"#);
        assert_eq!(modified_json(&m, "attributes"), None);
        assert_eq!(modified_text(&m, "body"), None, "a body is text");
    }
}
