//! Post-action webhook events: which targets an event goes to, queued in the store's outbox in
//! the job that makes the change, so that a change and its webhooks commit together or not at
//! all. Every event is also recorded for the event stream (`GET /confab/Events`), in the same
//! job, whether or not the request asked for webhooks (docs/design.md, "The event stream").
//!
//! Targets come from the three levels Twilio layers (twilio-behavior.md 17.1): the service's
//! webhook configuration, or the account's when the service has none; plus the conversation's
//! scoped webhooks. REST actions fire webhooks only when the request carried
//! `X-Twilio-Webhook-Enabled: true` (17.3).

use super::webhook_params::{self, Params};
use crate::error::Result;
use crate::states::{Source, WebhookTarget};
use crate::store::events::NewEvent;
use crate::store::webhooks::{NewDelivery, WebhookLevel};
use crate::store::{Tenant, Tx};
use crate::webhook_events::EventType;

/// Where an event happened.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub service_id: i64,
    pub service_sid: &'a str,
    /// The conversation's internal id and SID, for conversation events.
    pub conversation: Option<(i64, &'a str)>,
}

/// One delivery target for an event.
struct Target {
    kind: &'static str,
    url: String,
    method: String,
    webhook_sid: Option<String>,
}

/// Records `event`, with its own parameters `own`, for the event stream, and queues it for
/// every target that subscribes to it. Without `X-Twilio-Webhook-Enabled: true` on the request,
/// it is only recorded for the stream (a developer watching sees every change).
pub fn post_action(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    site: Site,
    event: EventType,
    own: Params,
) -> Result<()> {
    post_action_from(tx, tenant, site, event, own, Source::Api)
}

/// [`post_action`] for an action that did not come from REST: `source` is what the event's
/// `Source` says (an inbound message's channel).
pub fn post_action_from(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    site: Site,
    event: EventType,
    own: Params,
    source: Source,
) -> Result<()> {
    let form =
        webhook_params::post_action(&tenant.account_sid, site.service_sid, event, own, source);
    tx.record_event(&NewEvent {
        account_sid: tenant.account_sid.clone(),
        conversation_sid: site.conversation.map(|(_, sid)| sid.to_string()),
        name: event.as_str(),
        data: webhook_params::stream_data(&form),
    })?;
    if !tenant.webhooks {
        return Ok(());
    }
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // One conversation's events, or one user's, reach each target in order.
    let ordering_key = site
        .conversation
        .map(|(_, sid)| sid)
        .or_else(|| param("UserSid"))
        .map(str::to_string);
    let mut targets = level_target(tx, &tenant.account_sid, site.service_id, event)?;
    if let Some((conversation_id, _)) = site.conversation {
        targets.extend(scoped_targets(tx, conversation_id, event, param("Body"))?);
    }
    for target in targets {
        let mut params = form.clone();
        if let Some(sid) = &target.webhook_sid {
            params.push(("WebhookSid".into(), sid.clone()));
            params.push(("WebhookType".into(), target.kind.into()));
        }
        tx.enqueue_delivery(&NewDelivery {
            account_sid: tenant.account_sid.clone(),
            conversation_sid: site.conversation.map(|(_, sid)| sid.to_string()),
            ordering_key: ordering_key.clone(),
            event,
            target: target.kind,
            url: target.url,
            method: target.method,
            params,
            webhook_sid: target.webhook_sid,
        })?;
    }
    Ok(())
}

/// Whether a level's (or a scoped webhook's) filters list `event`.
pub fn listed(filters: Option<&[String]>, event: EventType) -> bool {
    filters.is_some_and(|f| f.iter().any(|e| e == event.as_str()))
}

/// The method a target is called with: its own, upper-cased, or POST.
pub fn method_or_post(method: Option<&str>) -> String {
    method.unwrap_or("POST").to_uppercase()
}

/// The webhook configuration that applies to a service: its own, or the account's (global)
/// when the service has none (service level overrides global, twilio-behavior.md 17.1). A
/// `flex` account target receives its events inside Twilio: there is nothing to send it here.
pub fn effective_level(tx: &dyn Tx, account_sid: &str, service_id: i64) -> Result<WebhookLevel> {
    let own = tx.service_webhooks(service_id)?;
    if let Some(own) = own.filter(|c| c.pre_url.is_some() || c.post_url.is_some()) {
        return Ok(own);
    }
    let global = tx.account_webhooks(account_sid)?;
    Ok(global
        .filter(|c| c.target.as_deref() != Some("flex"))
        .unwrap_or_default())
}

/// The service's (or account's) post-action target, if it subscribes to this event.
fn level_target(
    tx: &dyn Tx,
    account_sid: &str,
    service_id: i64,
    event: EventType,
) -> Result<Vec<Target>> {
    let level = effective_level(tx, account_sid, service_id)?;
    Ok(match level.post_url {
        Some(url) if listed(level.filters.as_deref(), event) => vec![Target {
            kind: "webhook",
            url,
            method: method_or_post(level.method.as_deref()),
            webhook_sid: None,
        }],
        _ => Vec::new(),
    })
}

/// The conversation's scoped webhooks that want this event: `webhook` targets by their
/// filters, `trigger` targets on a message whose body contains one of their words, `studio`
/// targets on every new message (twilio-behavior.md 17.7).
fn scoped_targets(
    tx: &dyn Tx,
    conversation_id: i64,
    event: EventType,
    body: Option<&str>,
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for webhook in tx.scoped_webhooks(conversation_id)? {
        let added = event == EventType::MessageAdded;
        let to = match webhook.target {
            WebhookTarget::Webhook if listed(webhook.filters.as_deref(), event) => webhook.url,
            WebhookTarget::Trigger if added && triggered(webhook.triggers.as_deref(), body) => {
                webhook.url
            }
            WebhookTarget::Studio if added => webhook.flow_sid,
            _ => None,
        };
        if let Some(url) = to {
            targets.push(Target {
                kind: webhook.target.as_str(),
                url,
                method: method_or_post(webhook.method.as_deref()),
                webhook_sid: Some(webhook.sid),
            });
        }
    }
    Ok(targets)
}

/// Whether a message body contains one of a trigger webhook's words (case-insensitive, as a
/// whole word).
fn triggered(words: Option<&[String]>, body: Option<&str>) -> bool {
    let (Some(words), Some(body)) = (words, body) else {
        return false;
    };
    let body_words: Vec<String> = body
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.iter().any(|w| body_words.contains(&w.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_match_whole_words_case_insensitively() {
        let words: &[String] = &["help".into(), "Agent".into()];
        let words = Some(words);
        assert!(triggered(words, Some("I need HELP now")));
        assert!(triggered(words, Some("agent, please")));
        assert!(!triggered(words, Some("helpful")));
        assert!(!triggered(words, None));
    }
}
