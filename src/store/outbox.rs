//! Post-action webhook events, written to the durable outbox in the same transaction as the
//! change they report (so a change and its webhooks commit together, or neither does).
//!
//! A store write that changes something calls [`enqueue`] with the event's name and its own
//! form parameters (twilio-behavior.md 17.4). Which targets receive it is decided here, from the three
//! levels Twilio layers (17.1): the service's webhook configuration, or the account's when the
//! service has none; plus the conversation's scoped webhooks. The delivery worker sends the rows.

use rusqlite::params;

use super::services::Tenant;
use super::sql::{Keyset, optional};
use super::{Store, WriteCtx};
use crate::error::{Error, Result};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

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
/// the request carried `X-Twilio-Webhook-Enabled: true` (twilio-behavior.md 17.3); without it this
/// does nothing.
pub fn enqueue(
    ctx: &WriteCtx,
    tenant: &Tenant,
    site: Site,
    event: EventType,
    own: Params,
) -> Result<()> {
    if !tenant.webhooks {
        return Ok(());
    }
    let mut form: Vec<(String, String)> = vec![
        ("AccountSid".into(), tenant.account_sid.clone()),
        ("EventType".into(), event.as_str().into()),
        ("Source".into(), "API".into()),
    ];
    if !own.iter().any(|(k, _)| *k == "ChatServiceSid") {
        form.push(("ChatServiceSid".into(), site.service_sid.into()));
    }
    form.extend(
        own.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
    );
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = param("Body");
    // One conversation's events, or one user's, reach each target in order (see `due`).
    let ordering_key = site
        .conversation
        .map(|(_, sid)| sid)
        .or_else(|| param("UserSid"));
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
        let params = serde_json::to_string(&params).map_err(Error::internal)?;
        ctx.tx.execute(
            "INSERT INTO webhook_outbox (account_sid, conversation_sid, ordering_key, event_type, target, url,
                 method, params, webhook_sid, next_attempt_at, date_created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![
                tenant.account_sid,
                site.conversation.map(|(_, sid)| sid),
                ordering_key,
                event.as_str(),
                target.kind,
                target.url,
                target.method,
                params,
                target.webhook_sid,
                ctx.now,
            ],
        )?;
        ctx.queued_webhooks.set(true);
    }
    Ok(())
}

fn listed(filters: Option<&str>, event: EventType) -> bool {
    filters
        .and_then(|f| serde_json::from_str::<Vec<String>>(f).ok())
        .is_some_and(|f| f.iter().any(|e| e == event.as_str()))
}

/// The webhook configuration that applies to a service: its own, or the account's (global)
/// when the service has none (service-level overrides global, twilio-behavior.md 17.1).
#[derive(Debug, Default)]
struct LevelConfig {
    pre_url: Option<String>,
    post_url: Option<String>,
    method: Option<String>,
    filters: Option<String>,
}

fn effective_config(
    conn: &rusqlite::Connection,
    account_sid: &str,
    service_id: i64,
) -> Result<LevelConfig> {
    let map = |r: &rusqlite::Row| {
        Ok(LevelConfig {
            pre_url: r.get(0)?,
            post_url: r.get(1)?,
            method: r.get(2)?,
            filters: r.get(3)?,
        })
    };
    let own = optional(
        conn,
        "SELECT pre_webhook_url, post_webhook_url, method, filters FROM service_webhooks WHERE service_id = ?1",
        &[&service_id],
        map,
    )?;
    if let Some(own) = own.filter(|c| c.pre_url.is_some() || c.post_url.is_some()) {
        return Ok(own);
    }
    // A `flex` target receives its events inside Twilio: there is nothing to send it here.
    let global = optional(
        conn,
        "SELECT pre_webhook_url, post_webhook_url, method, filters FROM account_webhooks
         WHERE account_sid = ?1 AND coalesce(target, 'webhook') <> 'flex'",
        &[&account_sid],
        map,
    )?;
    Ok(global.unwrap_or_default())
}

fn upper_method(method: Option<String>) -> String {
    method.unwrap_or_else(|| "POST".into()).to_uppercase()
}

/// The service's (or account's) post-action target, if it subscribes to this event.
fn service_or_account_targets(
    ctx: &WriteCtx,
    tenant: &Tenant,
    service_id: i64,
    event: EventType,
) -> Result<Vec<Target>> {
    let config = effective_config(ctx.tx, &tenant.account_sid, service_id)?;
    Ok(match config.post_url {
        Some(url) if listed(config.filters.as_deref(), event) => {
            vec![Target {
                kind: "webhook",
                url,
                method: upper_method(config.method),
                webhook_sid: None,
            }]
        }
        _ => Vec::new(),
    })
}

/// The conversation's scoped webhooks that want this event: `webhook` targets by their
/// filters, `trigger` targets on a message whose body contains one of their words, `studio`
/// targets on every new message.
fn scoped_targets(
    ctx: &WriteCtx,
    conversation_id: i64,
    event: EventType,
    body: Option<&str>,
) -> Result<Vec<Target>> {
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
        let method = upper_method(method);
        let target = match kind.as_str() {
            "webhook" if listed(filters.as_deref(), event) => url.map(|url| ("webhook", url)),
            "trigger"
                if event == EventType::MessageAdded && triggered(triggers.as_deref(), body) =>
            {
                url.map(|url| ("trigger", url))
            }
            "studio" if event == EventType::MessageAdded => flow_sid.map(|flow| ("studio", flow)),
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

/// A queued delivery, with what the worker needs to send and sign it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
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

/// Deliveries that are due, oldest first, and only the head of each queue: a conversation's
/// (or a user's) events go to each target URL in order, the next one only once the previous
/// one is delivered or given up. Queues are per target, so that a failing target holds up only
/// its own deliveries (Twilio documents no ordering between targets, twilio-behavior.md 17.6).
pub async fn due(store: &Store, now: i64, limit: usize) -> Result<Vec<Pending>> {
    store
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT o.id, o.account_sid, a.auth_token, o.conversation_sid, o.event_type, o.target, o.url,
                        o.method, o.params, o.webhook_sid, o.attempts, o.date_created, o.ordering_key
                 FROM webhook_outbox o JOIN accounts a ON a.sid = o.account_sid
                 WHERE o.next_attempt_at <= ?1
                   AND (o.ordering_key IS NULL OR o.id =
                        (SELECT min(h.id) FROM webhook_outbox h
                         WHERE h.ordering_key = o.ordering_key AND h.url = o.url))
                 ORDER BY o.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit as i64], |r| {
                let params: String = r.get(8)?;
                Ok(Pending {
                    id: r.get(0)?,
                    account_sid: r.get(1)?,
                    auth_token: r.get(2)?,
                    conversation_sid: r.get(3)?,
                    event_type: r.get(4)?,
                    target: r.get(5)?,
                    url: r.get(6)?,
                    method: r.get(7)?,
                    params: serde_json::from_str(&params).unwrap_or_default(),
                    webhook_sid: r.get(9)?,
                    attempts: r.get(10)?,
                    date_created: r.get(11)?,
                    ordering_key: r.get(12)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
}

/// When the earliest head of a queue falls due, if any delivery is queued. Deliveries waiting
/// behind their queue's head are not counted: they cannot go before it, however overdue.
pub async fn next_due(store: &Store) -> Result<Option<i64>> {
    store
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT min(o.next_attempt_at) FROM webhook_outbox o
                 WHERE o.ordering_key IS NULL OR o.id =
                       (SELECT min(h.id) FROM webhook_outbox h
                        WHERE h.ordering_key = o.ordering_key AND h.url = o.url)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
}

/// One attempt's result, for the delivery log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    pub outcome: &'static str,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// Records an attempt at a queued delivery: logged, then either removed from the outbox (done or
/// given up) or rescheduled for `retry_at`.
pub async fn record(
    store: &Store,
    pending: Pending,
    attempt: Attempt,
    retry_at: Option<i64>,
) -> Result<()> {
    store
        .write(move |ctx| {
            log_attempt(ctx, &pending, "post", &attempt)?;
            match retry_at {
                Some(at) => ctx.tx.execute(
                    "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?1 WHERE id = ?2",
                    params![at, pending.id],
                )?,
                None => ctx.tx.execute("DELETE FROM webhook_outbox WHERE id = ?1", params![pending.id])?,
            };
            Ok(())
        })
        .await
}

/// Logs one attempt (post-action from the outbox, or pre-action inline).
pub fn log_attempt(ctx: &WriteCtx, pending: &Pending, kind: &str, attempt: &Attempt) -> Result<()> {
    ctx.tx.execute(
        "INSERT INTO webhook_deliveries (account_sid, event_type, kind, target, url, method, webhook_sid,
             conversation_sid, attempt, status, outcome, error, latency_ms, date_created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            pending.account_sid,
            pending.event_type,
            kind,
            pending.target,
            pending.url,
            pending.method,
            pending.webhook_sid,
            pending.conversation_sid,
            pending.attempts,
            attempt.status,
            attempt.outcome,
            attempt.error,
            attempt.latency_ms,
            ctx.now,
        ],
    )?;
    Ok(())
}

/// Logs a pre-action attempt in its own write (the action itself may not be written at all).
pub async fn log_pre_action(store: &Store, pending: Pending, attempt: Attempt) -> Result<()> {
    store
        .write(move |ctx| log_attempt(ctx, &pending, "pre", &attempt))
        .await
}

/// One row of the delivery log, as the extension route shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
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
    #[serde(serialize_with = "serialize_date")]
    pub date_created: i64,
}

fn serialize_date<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::wire::time::format_date(*secs))
}

/// The account's delivery log, newest first.
pub async fn deliveries(
    store: &Store,
    account_sid: String,
    req: PageRequest,
) -> Result<Page<Delivery>> {
    store
        .read(move |conn| {
            let keyset = Keyset {
                select: "SELECT id, event_type, kind, target, url, method, webhook_sid, conversation_sid, attempt, status,
                         outcome, error, latency_ms, date_created FROM webhook_deliveries WHERE account_sid = ?1",
                keys: &["id"],
                descending: true,
            };
            let map = |r: &rusqlite::Row| {
                Ok(Delivery {
                    id: r.get(0)?,
                    event_type: r.get(1)?,
                    kind: r.get(2)?,
                    target: r.get(3)?,
                    url: r.get(4)?,
                    method: r.get(5)?,
                    webhook_sid: r.get(6)?,
                    conversation_sid: r.get(7)?,
                    retry_count: r.get(8)?,
                    status: r.get(9)?,
                    outcome: r.get(10)?,
                    error: r.get(11)?,
                    latency_ms: r.get(12)?,
                    date_created: r.get(13)?,
                })
            };
            keyset.page(conn, &[&account_sid], &req, map, |d| vec![d.id])
        })
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
/// configuration, or the account's when the service has none (flex targets receive nothing here).
pub async fn pre_action_target(
    store: &Store,
    tenant: Tenant,
    event: EventType,
) -> Result<Option<PreActionTarget>> {
    store
        .read(move |conn| {
            let service = super::services::resolve(conn, &tenant)?;
            let config = effective_config(conn, &tenant.account_sid, service.id)?;
            let (url, method, filters) = (config.pre_url, config.method, config.filters);
            let Some(url) = url.filter(|_| listed(filters.as_deref(), event)) else {
                return Ok(None);
            };
            let auth_token: String = conn.query_row(
                "SELECT auth_token FROM accounts WHERE sid = ?1",
                [&tenant.account_sid],
                |r| r.get(0),
            )?;
            Ok(Some(PreActionTarget {
                url,
                method: upper_method(method),
                service_sid: service.sid,
                auth_token,
            }))
        })
        .await
}
