//! The account-level configuration: `/v1/Configuration` (the default service, messaging service
//! and timers new conversations take) and `/v1/Configuration/Webhooks` (the global webhook
//! configuration, for the services that have none of their own: twilio-behavior.md 17.1).

use crate::error::{Code, Error, Result};
use crate::store::configuration::{
    AccountConfiguration, AccountConfigurationChange, WebhookLevel, WebhookLevelChange,
};
use crate::store::services::ServiceKey;
use crate::store::{ServiceRef, Store, Tenant, Tx};

/// One of the account's services, named by SID in a body parameter: `None` if the account has
/// no such service (another account's is as unknown as one that never existed).
pub fn own_service(tx: &dyn Tx, tenant: &Tenant, service_sid: &str) -> Result<Option<ServiceKey>> {
    let named = Tenant {
        service: ServiceRef::Sid(service_sid.to_string()),
        ..tenant.clone()
    };
    tx.find_service(&named)
}

/// The default Conversation Service must be a service of this account. A SID that names no such
/// service answers 400 with `ServiceNotFound`: twilio-behavior.md 5 recommends 400
/// plus the resource's own not-found code for an unknown SID sent in a body parameter (404 is
/// kept for path misses).
fn check_own_service(tx: &dyn Tx, tenant: &Tenant, service_sid: &str) -> Result<()> {
    own_service(tx, tenant, service_sid)?
        .map(|_| ())
        .ok_or_else(|| Error::with(Code::ServiceNotFound, service_sid))
}

/// The account's configuration; an account without one reads as all-null.
fn configuration(tx: &dyn Tx, account_sid: &str) -> Result<AccountConfiguration> {
    Ok(tx.account_configuration(account_sid)?.unwrap_or_default())
}

/// FetchConfiguration.
pub async fn fetch(store: &Store, tenant: Tenant) -> Result<AccountConfiguration> {
    store
        .read(move |tx| configuration(tx, &tenant.account_sid))
        .await
}

/// UpdateConfiguration. Changing `default_chat_service_sid` re-targets every `/v1/...`
/// shorthand URL (they resolve through this row: `ServiceStore::find_service`); no data moves.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    change: AccountConfigurationChange,
) -> Result<AccountConfiguration> {
    store
        .write(move |tx| {
            if let Some(sid) = &change.default_chat_service_sid {
                check_own_service(tx, &tenant, sid)?;
            }
            tx.update_account_configuration(&tenant.account_sid, &change)?;
            configuration(tx, &tenant.account_sid)
        })
        .await
}

/// The account's webhook configuration; every field is null until set.
fn webhooks(tx: &dyn Tx, account_sid: &str) -> Result<WebhookLevel> {
    Ok(tx.account_webhooks(account_sid)?.unwrap_or_default())
}

/// FetchConfigurationWebhook.
pub async fn fetch_webhooks(store: &Store, tenant: Tenant) -> Result<WebhookLevel> {
    store
        .read(move |tx| webhooks(tx, &tenant.account_sid))
        .await
}

/// UpdateConfigurationWebhook.
pub async fn update_webhooks(
    store: &Store,
    tenant: Tenant,
    change: WebhookLevelChange,
) -> Result<WebhookLevel> {
    store
        .write(move |tx| {
            tx.update_account_webhooks(&tenant.account_sid, &change)?;
            webhooks(tx, &tenant.account_sid)
        })
        .await
}
