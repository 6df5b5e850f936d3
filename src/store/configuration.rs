//! The account-level configuration: `/v1/Configuration` (the default service, messaging service
//! and timers of the account) and `/v1/Configuration/Webhooks` (the global webhook
//! configuration). One row of each per account, seeded with the account (`store::accounts`).
//!
//! Also the webhook configuration shape shared with the service level
//! (`store::service_configuration`).

use rusqlite::{Connection, params};

use super::Store;
use super::services::Tenant;
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::optional;
use crate::error::{Code, Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ConfigurationRow {
    pub account_sid: String,
    pub default_chat_service_sid: Option<String>,
    pub default_messaging_service_sid: Option<String>,
    /// ISO-8601 durations, as the client sent them (`PT0S` disables).
    pub default_inactive_timer: Option<String>,
    pub default_closed_timer: Option<String>,
}

/// A validated UpdateConfiguration: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConfigurationChange {
    pub default_chat_service_sid: Option<String>,
    pub default_messaging_service_sid: Option<String>,
    pub default_inactive_timer: Option<String>,
    pub default_closed_timer: Option<String>,
}

/// The account's configuration; an account without a row reads as all-null.
fn read_configuration(conn: &Connection, account_sid: &str) -> Result<ConfigurationRow> {
    let row = optional(
        conn,
        "SELECT default_chat_service_sid, default_messaging_service_sid, default_inactive_timer,
             default_closed_timer
         FROM account_configurations WHERE account_sid = ?1",
        &[&account_sid],
        |r| {
            Ok(ConfigurationRow {
                account_sid: account_sid.to_string(),
                default_chat_service_sid: r.get(0)?,
                default_messaging_service_sid: r.get(1)?,
                default_inactive_timer: r.get(2)?,
                default_closed_timer: r.get(3)?,
            })
        },
    )?;
    Ok(row.unwrap_or_else(|| ConfigurationRow {
        account_sid: account_sid.to_string(),
        ..Default::default()
    }))
}

/// The default Conversation Service must be a service of this account. A SID that names no such
/// service answers 400 with `ServiceNotFound`: twilio-behavior.md 5 recommends 400
/// plus the resource's own not-found code for an unknown SID sent in a body parameter (404 is
/// kept for path misses).
fn check_own_service(ctx: &WriteCtx, account_sid: &str, service_sid: &str) -> Result<()> {
    let found = optional(
        ctx.tx,
        "SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2",
        &[&service_sid, &account_sid],
        |_| Ok(()),
    )?;
    found.ok_or_else(|| Error::with(Code::ServiceNotFound, service_sid))
}

/// FetchConfiguration.
pub async fn fetch(store: &Store, tenant: Tenant) -> Result<ConfigurationRow> {
    store
        .sqlite_read(move |conn| read_configuration(conn, &tenant.account_sid))
        .await
}

/// UpdateConfiguration. Changing `default_chat_service_sid` re-targets every `/v1/...`
/// shorthand URL (they resolve through this row: `services::resolve`); no data moves.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    change: ConfigurationChange,
) -> Result<ConfigurationRow> {
    store
        .sqlite_write(move |ctx| {
            let account = tenant.account_sid.as_str();
            if let Some(sid) = &change.default_chat_service_sid {
                check_own_service(ctx, account, sid)?;
            }
            ctx.tx.execute(
                "INSERT OR IGNORE INTO account_configurations (account_sid) VALUES (?1)",
                params![account],
            )?;
            ctx.tx.execute(
                "UPDATE account_configurations SET
                     default_chat_service_sid = COALESCE(?1, default_chat_service_sid),
                     default_messaging_service_sid = COALESCE(?2, default_messaging_service_sid),
                     default_inactive_timer = COALESCE(?3, default_inactive_timer),
                     default_closed_timer = COALESCE(?4, default_closed_timer)
                 WHERE account_sid = ?5",
                params![
                    change.default_chat_service_sid,
                    change.default_messaging_service_sid,
                    change.default_inactive_timer,
                    change.default_closed_timer,
                    account,
                ],
            )?;
            read_configuration(ctx.tx, account)
        })
        .await
}

/// A webhook configuration at the account or the service level (twilio-behavior.md 17.1). Every field
/// is null until set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `GET` | `POST`, upper case.
    pub method: Option<String>,
    /// Event names (`webhook_events`).
    pub filters: Option<Vec<String>>,
    pub pre_webhook_url: Option<String>,
    pub post_webhook_url: Option<String>,
    /// `webhook` | `flex`: the account level only; always `None` for a service.
    pub target: Option<String>,
}

/// A validated change to a webhook configuration. `None` keeps a field; for the URLs and the
/// filters, `Some(None)` clears it (the parameter was sent empty).
#[derive(Debug, Clone, Default)]
pub struct WebhookConfigChange {
    pub method: Option<String>,
    pub filters: Option<Option<Vec<String>>>,
    pub pre_webhook_url: Option<Option<String>>,
    pub post_webhook_url: Option<Option<String>>,
    pub target: Option<String>,
}

impl WebhookConfig {
    pub fn apply(self, change: WebhookConfigChange) -> Self {
        WebhookConfig {
            method: change.method.or(self.method),
            filters: change.filters.unwrap_or(self.filters),
            pre_webhook_url: change.pre_webhook_url.unwrap_or(self.pre_webhook_url),
            post_webhook_url: change.post_webhook_url.unwrap_or(self.post_webhook_url),
            target: change.target.or(self.target),
        }
    }
}

/// Filters are stored as a JSON array of names (what `store::outbox` reads), NULL when unset.
pub(super) fn encode_names(names: Option<&Vec<String>>) -> Result<Option<String>> {
    names
        .map(|n| serde_json::to_string(n).map_err(Error::internal))
        .transpose()
}

pub(super) fn decode_names(stored: Option<String>) -> Option<Vec<String>> {
    stored.and_then(|s| serde_json::from_str(&s).ok())
}

fn read_account_webhooks(conn: &Connection, account_sid: &str) -> Result<WebhookConfig> {
    let config = optional(
        conn,
        "SELECT method, filters, pre_webhook_url, post_webhook_url, target
         FROM account_webhooks WHERE account_sid = ?1",
        &[&account_sid],
        |r| {
            Ok(WebhookConfig {
                method: r.get(0)?,
                filters: decode_names(r.get(1)?),
                pre_webhook_url: r.get(2)?,
                post_webhook_url: r.get(3)?,
                target: r.get(4)?,
            })
        },
    )?;
    Ok(config.unwrap_or_default())
}

/// FetchConfigurationWebhook.
pub async fn fetch_webhooks(store: &Store, tenant: Tenant) -> Result<WebhookConfig> {
    store
        .sqlite_read(move |conn| read_account_webhooks(conn, &tenant.account_sid))
        .await
}

/// UpdateConfigurationWebhook.
pub async fn update_webhooks(
    store: &Store,
    tenant: Tenant,
    change: WebhookConfigChange,
) -> Result<WebhookConfig> {
    store
        .sqlite_write(move |ctx| {
            let account = tenant.account_sid.as_str();
            let config = read_account_webhooks(ctx.tx, account)?.apply(change);
            ctx.tx.execute(
                "INSERT OR IGNORE INTO account_webhooks (account_sid) VALUES (?1)",
                params![account],
            )?;
            ctx.tx.execute(
                "UPDATE account_webhooks SET method = ?1, filters = ?2, pre_webhook_url = ?3,
                     post_webhook_url = ?4, target = ?5
                 WHERE account_sid = ?6",
                params![
                    config.method,
                    encode_names(config.filters.as_ref())?,
                    config.pre_webhook_url,
                    config.post_webhook_url,
                    config.target,
                    account,
                ],
            )?;
            Ok(config)
        })
        .await
}
