//! Address Configurations (IG...): one per address of an account, saying what an inbound
//! message to that address autocreates (twilio-behavior.md 19). `{Sid}` in a path is the IG SID or the
//! address itself.

use rusqlite::{Connection, Row, params};

use super::Store;
use super::services::{self, ServiceRef, Tenant};
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{Keyset, is_unique_violation, optional};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::wire::paging::{Page, PageRequest};

/// The `AutoCreation.*` settings as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoCreation {
    pub enabled: bool,
    /// `webhook`, `studio` or `default`.
    pub kind: String,
    pub service_sid: String,
    pub webhook_url: Option<String>,
    /// `GET` or `POST`.
    pub webhook_method: Option<String>,
    pub webhook_filters: Option<Vec<String>>,
    pub studio_flow_sid: Option<String>,
    pub studio_retry_count: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AddressRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub address_type: String,
    pub address: String,
    pub friendly_name: Option<String>,
    pub address_country: Option<String>,
    pub auto: AutoCreation,
    pub date_created: i64,
    pub date_updated: i64,
}

const SELECT: &str = "SELECT id, sid, account_sid, type, address, friendly_name, address_country,
    auto_enabled, auto_type, auto_service_sid, auto_webhook_url, auto_webhook_method, auto_webhook_filters,
    auto_studio_flow_sid, auto_studio_retry_count, date_created, date_updated
    FROM address_configurations";

fn map_row(row: &Row) -> rusqlite::Result<AddressRow> {
    let filters: Option<String> = row.get(12)?;
    Ok(AddressRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        address_type: row.get(3)?,
        address: row.get(4)?,
        friendly_name: row.get(5)?,
        address_country: row.get(6)?,
        auto: AutoCreation {
            enabled: row.get(7)?,
            kind: row.get(8)?,
            service_sid: row.get(9)?,
            webhook_url: row.get(10)?,
            webhook_method: row.get(11)?,
            webhook_filters: filters.and_then(|f| serde_json::from_str(&f).ok()),
            studio_flow_sid: row.get(13)?,
            studio_retry_count: row.get(14)?,
        },
        date_created: row.get(15)?,
        date_updated: row.get(16)?,
    })
}

/// Validated `AutoCreation.*` parameters: `None` leaves (or, on create, defaults) a setting.
#[derive(Debug, Clone, Default)]
pub struct AutoCreationChange {
    pub enabled: Option<bool>,
    pub kind: Option<String>,
    pub service_sid: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_method: Option<String>,
    pub webhook_filters: Option<Vec<String>>,
    pub studio_flow_sid: Option<String>,
    pub studio_retry_count: Option<i64>,
}

/// A validated CreateConfigurationAddress.
#[derive(Debug, Clone)]
pub struct NewAddress {
    pub address_type: String,
    pub address: String,
    pub friendly_name: Option<String>,
    pub address_country: Option<String>,
    pub auto: AutoCreationChange,
}

/// A validated UpdateConfigurationAddress (type, address and country are fixed at creation).
#[derive(Debug, Clone, Default)]
pub struct AddressUpdate {
    pub friendly_name: Option<String>,
    pub auto: AutoCreationChange,
}

/// Finds one of the tenant's configurations by IG SID or, failing the SID pattern, by its
/// address (`+13115552368`, `whatsapp:+1...`), or answers 404 for the request path.
pub fn resolve(conn: &Connection, tenant: &Tenant, sid_or_address: &str) -> Result<AddressRow> {
    let column = if is_sid(Prefix::AddressConfiguration, sid_or_address) {
        "sid"
    } else {
        "address"
    };
    optional(
        conn,
        &format!("{SELECT} WHERE account_sid = ?1 AND {column} = ?2"),
        &[&tenant.account_sid, &sid_or_address],
        map_row,
    )?
    .ok_or_else(Error::not_found)
}

/// The service autocreated conversations go to: the one named, which must be the account's
/// (`ServiceNotFound` otherwise, as for any unknown SID referenced in a body parameter,
/// twilio-behavior.md 5), or the account's default service.
fn conversation_service(conn: &Connection, tenant: &Tenant, named: Option<&str>) -> Result<String> {
    let Some(sid) = named else {
        let default = Tenant {
            service: ServiceRef::Default,
            ..tenant.clone()
        };
        return Ok(services::resolve(conn, &default)?.sid);
    };
    let scoped = Tenant {
        service: ServiceRef::Sid(sid.to_string()),
        ..tenant.clone()
    };
    services::resolve(conn, &scoped)
        .map(|s| s.sid)
        .map_err(|_| {
            Error::with(
                Code::ServiceNotFound,
                format!("AutoCreation.ConversationServiceSid {sid}"),
            )
        })
}

/// The settings after a change: sent values win, the rest is kept. A webhook without a method
/// posts, as Twilio's webhooks do by default.
fn merge(
    current: Option<&AutoCreation>,
    change: AutoCreationChange,
    service_sid: String,
) -> AutoCreation {
    let kind = change
        .kind
        .or_else(|| current.map(|c| c.kind.clone()))
        .unwrap_or_else(|| "default".into());
    let webhook_method = change
        .webhook_method
        .or_else(|| current.and_then(|c| c.webhook_method.clone()))
        .or_else(|| (kind == "webhook").then(|| "POST".into()));
    AutoCreation {
        enabled: change
            .enabled
            .or(current.map(|c| c.enabled))
            .unwrap_or(false),
        service_sid,
        webhook_url: change
            .webhook_url
            .or_else(|| current.and_then(|c| c.webhook_url.clone())),
        webhook_method,
        webhook_filters: change
            .webhook_filters
            .or_else(|| current.and_then(|c| c.webhook_filters.clone())),
        studio_flow_sid: change
            .studio_flow_sid
            .or_else(|| current.and_then(|c| c.studio_flow_sid.clone())),
        studio_retry_count: change
            .studio_retry_count
            .or(current.and_then(|c| c.studio_retry_count)),
        kind,
    }
}

/// A `webhook` autocreation attaches a conversation-scoped webhook, so it needs a URL
/// (`WebhookUrlMissing`); a `studio` one attaches a Studio webhook, so it needs a flow
/// (`InvalidWebhookFlowSid`). Checked on the merged settings, so that an update may change the type
/// and its target together.
fn check_complete(auto: &AutoCreation) -> Result<()> {
    match auto.kind.as_str() {
        "webhook" if auto.webhook_url.is_none() => Err(Error::with(
            Code::WebhookUrlMissing,
            "AutoCreation.WebhookUrl is required when AutoCreation.Type is webhook",
        )),
        "studio" if auto.studio_flow_sid.is_none() => Err(Error::with(
            Code::InvalidWebhookFlowSid,
            "AutoCreation.StudioFlowSid is required when AutoCreation.Type is studio",
        )),
        _ => Ok(()),
    }
}

fn filters_json(auto: &AutoCreation) -> Result<Option<String>> {
    auto.webhook_filters
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(Error::internal)
}

/// One configuration per address per account. The error dictionary has no code of its own for a
/// duplicate address configuration, so this is the platform's generic 409 Conflict
/// (`AddressConfigurationExists`).
fn duplicate_address(address: &str) -> Error {
    Error::with(Code::AddressConfigurationExists, address)
}

fn insert(ctx: &WriteCtx, tenant: &Tenant, new: NewAddress) -> Result<AddressRow> {
    let service_sid = conversation_service(ctx.tx, tenant, new.auto.service_sid.as_deref())?;
    let auto = merge(None, new.auto, service_sid);
    check_complete(&auto)?;
    let sid = new_sid(Prefix::AddressConfiguration);
    let inserted = ctx.tx.execute(
        "INSERT INTO address_configurations (sid, account_sid, type, address, friendly_name, address_country,
             auto_enabled, auto_type, auto_service_sid, auto_webhook_url, auto_webhook_method, auto_webhook_filters,
             auto_studio_flow_sid, auto_studio_retry_count, date_created, date_updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
        params![
            sid,
            tenant.account_sid,
            new.address_type,
            new.address,
            new.friendly_name,
            new.address_country,
            auto.enabled,
            auto.kind,
            auto.service_sid,
            auto.webhook_url,
            auto.webhook_method,
            filters_json(&auto)?,
            auto.studio_flow_sid,
            auto.studio_retry_count,
            ctx.now,
        ],
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(duplicate_address(&new.address)),
        other => other.map_err(Error::from),
    }?;
    resolve(ctx.tx, tenant, &sid)
}

/// CreateConfigurationAddress.
pub async fn create(store: &Store, tenant: Tenant, new: NewAddress) -> Result<AddressRow> {
    store
        .sqlite_write(move |ctx| insert(ctx, &tenant, new))
        .await
}

/// FetchConfigurationAddress.
pub async fn fetch(store: &Store, tenant: Tenant, sid_or_address: String) -> Result<AddressRow> {
    store
        .sqlite_read(move |conn| resolve(conn, &tenant, &sid_or_address))
        .await
}

/// ListConfigurationAddress, in creation order, optionally of one address type.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    address_type: Option<String>,
    req: PageRequest,
) -> Result<Page<AddressRow>> {
    store
        .sqlite_read(move |conn| {
            let mut select = format!("{SELECT} WHERE account_sid = ?1");
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&tenant.account_sid];
            if let Some(t) = &address_type {
                params.push(t);
                select.push_str(" AND type = ?2");
            }
            let keyset = Keyset {
                select: &select,
                keys: &["id"],
                descending: false,
            };
            keyset.page(conn, &params, &req, map_row, |r| vec![r.id])
        })
        .await
}

/// UpdateConfigurationAddress.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid_or_address: String,
    change: AddressUpdate,
) -> Result<AddressRow> {
    store
        .sqlite_write(move |ctx| {
            let current = resolve(ctx.tx, &tenant, &sid_or_address)?;
            let service_sid = match change.auto.service_sid.as_deref() {
                Some(named) => conversation_service(ctx.tx, &tenant, Some(named))?,
                None => current.auto.service_sid.clone(),
            };
            let auto = merge(Some(&current.auto), change.auto, service_sid);
            check_complete(&auto)?;
            ctx.tx.execute(
                "UPDATE address_configurations SET friendly_name = ?1, auto_enabled = ?2, auto_type = ?3,
                     auto_service_sid = ?4, auto_webhook_url = ?5, auto_webhook_method = ?6,
                     auto_webhook_filters = ?7, auto_studio_flow_sid = ?8, auto_studio_retry_count = ?9,
                     date_updated = ?10
                 WHERE id = ?11",
                params![
                    change.friendly_name.or(current.friendly_name),
                    auto.enabled,
                    auto.kind,
                    auto.service_sid,
                    auto.webhook_url,
                    auto.webhook_method,
                    filters_json(&auto)?,
                    auto.studio_flow_sid,
                    auto.studio_retry_count,
                    ctx.now,
                    current.id,
                ],
            )?;
            resolve(ctx.tx, &tenant, &current.sid)
        })
        .await
}

/// DeleteConfigurationAddress: inbound messages to the address no longer autocreate
/// conversations (Twilio logs 50610 "Address configuration deleted"; confab has no debugger
/// log to write it to).
pub async fn delete(store: &Store, tenant: Tenant, sid_or_address: String) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let current = resolve(ctx.tx, &tenant, &sid_or_address)?;
            ctx.tx.execute(
                "DELETE FROM address_configurations WHERE id = ?1",
                params![current.id],
            )?;
            Ok(())
        })
        .await
}
