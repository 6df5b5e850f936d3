//! Post-action webhook events, written to the durable outbox in the same transaction as the
//! change they report (so a change and its webhooks commit together, or neither does).
//!
//! A store write that changes something calls [`enqueue`] with the event's name and its own
//! form parameters (BEHAVIOR.md 17.4). Which targets receive it is decided here, from the three
//! levels Twilio layers (17.1): the service's webhook configuration, or the account's when the
//! service has none; plus the conversation's scoped webhooks. The delivery worker sends the rows.

use rusqlite::params;

use super::WriteCtx;
use super::services::Tenant;
use super::sql::optional;
use crate::error::{ApiError, ApiResult};

/// An event's own form parameters, in Twilio's names; `None` values are not sent.
pub type Params = Vec<(&'static str, Option<String>)>;

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

/// Queues `event` for every target that subscribes to it. REST actions fire webhooks only when
/// the request carried `X-Twilio-Webhook-Enabled: true` (BEHAVIOR.md 17.3); without it this
/// does nothing.
pub fn enqueue(
    ctx: &WriteCtx,
    tenant: &Tenant,
    site: Site,
    event: &'static str,
    own: Params,
) -> ApiResult<()> {
    if !tenant.webhooks {
        return Ok(());
    }
    let mut form: Vec<(String, String)> = vec![
        ("AccountSid".into(), tenant.account_sid.clone()),
        ("EventType".into(), event.into()),
        ("Source".into(), "API".into()),
    ];
    if !own.iter().any(|(k, _)| *k == "ChatServiceSid") {
        form.push(("ChatServiceSid".into(), site.service_sid.into()));
    }
    form.extend(
        own.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
    );
    let body = form
        .iter()
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v.as_str());
    let mut targets = service_or_account_targets(ctx, tenant, site.service_id, event)?;
    if let Some((conversation_id, _)) = site.conversation {
        targets.extend(scoped_targets(ctx, conversation_id, event, body)?);
    }
    for target in targets {
        let mut params = form.clone();
        if let Some(sid) = &target.webhook_sid {
            params.push(("WebhookSid".into(), sid.clone()));
            params.push(("WebhookType".into(), target.kind.into()));
        }
        let params = serde_json::to_string(&params).map_err(ApiError::internal)?;
        ctx.tx.execute(
            "INSERT INTO webhook_outbox (account_sid, conversation_sid, event_type, target, url, method, params,
                 webhook_sid, next_attempt_at, date_created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            params![
                tenant.account_sid,
                site.conversation.map(|(_, sid)| sid),
                event,
                target.kind,
                target.url,
                target.method,
                params,
                target.webhook_sid,
                ctx.now,
            ],
        )?;
    }
    Ok(())
}

fn listed(filters: Option<&str>, event: &str) -> bool {
    filters
        .and_then(|f| serde_json::from_str::<Vec<String>>(f).ok())
        .is_some_and(|f| f.iter().any(|e| e == event))
}

/// The service's post-action target, or the account's when the service has no webhook
/// configuration of its own (service-level overrides global).
fn service_or_account_targets(
    ctx: &WriteCtx,
    tenant: &Tenant,
    service_id: i64,
    event: &str,
) -> ApiResult<Vec<Target>> {
    type Config = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let service: Option<Config> = optional(
        ctx.tx,
        "SELECT pre_webhook_url, post_webhook_url, method, filters FROM service_webhooks WHERE service_id = ?1",
        &[&service_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let configured = service
        .as_ref()
        .is_some_and(|(pre, post, _, _)| pre.is_some() || post.is_some());
    let (post_url, method, filters) = if configured {
        let (_, post, method, filters) = service.unwrap_or_default();
        (post, method, filters)
    } else {
        let account: Option<Config> = optional(
            ctx.tx,
            "SELECT post_webhook_url, method, filters, target FROM account_webhooks WHERE account_sid = ?1",
            &[&tenant.account_sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        match account {
            // Flex receives its events inside Twilio; there is nothing to send it here.
            Some((_, _, _, Some(target))) if target == "flex" => (None, None, None),
            Some((post, method, filters, _)) => (post, method, filters),
            None => (None, None, None),
        }
    };
    Ok(match post_url {
        Some(url) if listed(filters.as_deref(), event) => vec![Target {
            kind: "webhook",
            url,
            method: method.unwrap_or_else(|| "POST".into()).to_uppercase(),
            webhook_sid: None,
        }],
        _ => Vec::new(),
    })
}

/// The conversation's scoped webhooks that want this event: `webhook` targets by their
/// filters, `trigger` targets on a message whose body contains one of their words, `studio`
/// targets on every new message.
fn scoped_targets(
    ctx: &WriteCtx,
    conversation_id: i64,
    event: &str,
    body: Option<&str>,
) -> ApiResult<Vec<Target>> {
    let mut stmt = ctx.tx.prepare_cached(
        "SELECT sid, target, url, method, filters, triggers, flow_sid FROM conversation_webhooks
         WHERE conversation_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([conversation_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut targets = Vec::new();
    for row in rows {
        let (sid, kind, url, method, filters, triggers, flow_sid) = row?;
        let method = method.unwrap_or_else(|| "POST".into()).to_uppercase();
        let target = match kind.as_str() {
            "webhook" if listed(filters.as_deref(), event) => url.map(|url| ("webhook", url)),
            "trigger" if event == "onMessageAdded" && triggered(triggers.as_deref(), body) => {
                url.map(|url| ("trigger", url))
            }
            "studio" if event == "onMessageAdded" => flow_sid.map(|flow| ("studio", flow)),
            _ => None,
        };
        if let Some((kind, url)) = target {
            targets.push(Target {
                kind,
                url,
                method,
                webhook_sid: Some(sid),
            });
        }
    }
    Ok(targets)
}

/// Whether a message body contains one of a trigger webhook's words (case-insensitive, as a
/// whole word).
fn triggered(triggers: Option<&str>, body: Option<&str>) -> bool {
    let (Some(triggers), Some(body)) = (triggers, body) else {
        return false;
    };
    let Ok(words) = serde_json::from_str::<Vec<String>>(triggers) else {
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
        let words = Some(r#"["help","Agent"]"#);
        assert!(triggered(words, Some("I need HELP now")));
        assert!(triggered(words, Some("agent, please")));
        assert!(!triggered(words, Some("helpful")));
        assert!(!triggered(words, None));
    }
}
