//! Address Configurations (IG...): one per address of an account, saying what an inbound
//! message to that address autocreates (twilio-behavior.md 19). `{Sid}` in a path is the IG SID
//! or the address itself.

use super::configuration::own_service;
use super::services;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::states::{AddressType, AutoCreationType};
use crate::store::addresses::{AddressRow, AutoCreation};
use crate::store::{ServiceRef, Store, Tenant, Tx};
use crate::wire::paging::{Page, PageRequest};

/// Validated `AutoCreation.*` parameters: `None` leaves (or, on create, defaults) a setting.
#[derive(Debug, Clone, Default)]
pub struct AutoCreationChange {
    pub enabled: Option<bool>,
    pub kind: Option<AutoCreationType>,
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
    pub address_type: AddressType,
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

/// The service autocreated conversations go to: the one named, which must be the account's
/// (`ServiceNotFound` otherwise, as for any unknown SID referenced in a body parameter,
/// twilio-behavior.md 5), or the account's default service.
fn conversation_service(tx: &dyn Tx, tenant: &Tenant, named: Option<&str>) -> Result<String> {
    let Some(sid) = named else {
        let default = Tenant {
            service: ServiceRef::Default,
            ..tenant.clone()
        };
        return Ok(services::find(tx, &default)?.sid);
    };
    own_service(tx, tenant, sid)?
        .map(|service| service.sid)
        .ok_or_else(|| {
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
        .or(current.map(|c| c.kind))
        .unwrap_or(AutoCreationType::Default);
    let webhook_method = change
        .webhook_method
        .or_else(|| current.and_then(|c| c.webhook_method.clone()))
        .or_else(|| (kind == AutoCreationType::Webhook).then(|| "POST".into()));
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
    match auto.kind {
        AutoCreationType::Webhook if auto.webhook_url.is_none() => Err(Error::with(
            Code::WebhookUrlMissing,
            "AutoCreation.WebhookUrl is required when AutoCreation.Type is webhook",
        )),
        AutoCreationType::Studio if auto.studio_flow_sid.is_none() => Err(Error::with(
            Code::InvalidWebhookFlowSid,
            "AutoCreation.StudioFlowSid is required when AutoCreation.Type is studio",
        )),
        _ => Ok(()),
    }
}

/// One configuration per address per account. The error dictionary has no code of its own for a
/// duplicate address configuration, so this is the platform's generic 409 Conflict
/// (`AddressConfigurationExists`).
fn duplicate_address(e: Error, address: &str) -> Error {
    e.on_conflict(|| Error::with(Code::AddressConfigurationExists, address))
}

/// One of the tenant's configurations by IG SID or address, or 404.
fn find(tx: &dyn Tx, tenant: &Tenant, sid_or_address: &str) -> Result<AddressRow> {
    tx.find_address_configuration(&tenant.account_sid, sid_or_address)?
        .ok_or_else(Error::not_found)
}

/// The same, for a write that changes or deletes it, or 404.
fn lock(tx: &mut dyn Tx, tenant: &Tenant, sid_or_address: &str) -> Result<AddressRow> {
    tx.lock_address_configuration(&tenant.account_sid, sid_or_address)?
        .ok_or_else(Error::not_found)
}

/// CreateConfigurationAddress.
pub async fn create(store: &Store, tenant: Tenant, new: NewAddress) -> Result<AddressRow> {
    store
        .write(move |tx| {
            let service_sid = conversation_service(tx, &tenant, new.auto.service_sid.as_deref())?;
            let auto = merge(None, new.auto, service_sid);
            check_complete(&auto)?;
            let now = tx.now();
            let mut row = AddressRow {
                id: 0,
                sid: new_sid(Prefix::AddressConfiguration),
                account_sid: tenant.account_sid.clone(),
                address_type: new.address_type,
                address: new.address,
                friendly_name: new.friendly_name,
                address_country: new.address_country,
                auto,
                date_created: now,
                date_updated: now,
            };
            row.id = tx
                .insert_address_configuration(&row)
                .map_err(|e| duplicate_address(e, &row.address))?;
            Ok(row)
        })
        .await
}

/// FetchConfigurationAddress.
pub async fn fetch(store: &Store, tenant: Tenant, sid_or_address: String) -> Result<AddressRow> {
    store
        .read(move |tx| find(tx, &tenant, &sid_or_address))
        .await
}

/// ListConfigurationAddress, in creation order, optionally of one address type.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    address_type: Option<AddressType>,
    req: PageRequest,
) -> Result<Page<AddressRow>> {
    store
        .read(move |tx| tx.list_address_configurations(&tenant.account_sid, address_type, &req))
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
        .write(move |tx| {
            let current = lock(tx, &tenant, &sid_or_address)?;
            let service_sid = match change.auto.service_sid.as_deref() {
                Some(named) => conversation_service(tx, &tenant, Some(named))?,
                None => current.auto.service_sid.clone(),
            };
            let auto = merge(Some(&current.auto), change.auto, service_sid);
            check_complete(&auto)?;
            let row = AddressRow {
                friendly_name: change.friendly_name.or(current.friendly_name),
                auto,
                date_updated: tx.now(),
                ..current
            };
            tx.update_address_configuration(&row)?;
            Ok(row)
        })
        .await
}

/// DeleteConfigurationAddress: inbound messages to the address no longer autocreate
/// conversations (Twilio logs 50610 "Address configuration deleted"; confab has no debugger
/// log to write it to).
pub async fn delete(store: &Store, tenant: Tenant, sid_or_address: String) -> Result<()> {
    store
        .write(move |tx| {
            let current = lock(tx, &tenant, &sid_or_address)?;
            tx.delete_address_configuration(current.id)
        })
        .await
}
