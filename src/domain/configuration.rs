//! The account-level configuration: `/v1/Configuration` (the default service, messaging service
//! and timers new conversations take) and `/v1/Configuration/Webhooks` (the global webhook
//! configuration, for the services that have none of their own: twilio-behavior.md 17.1).

use super::events::method_or_post;
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

/// The account level's `target` until one is set: its events go to its URLs.
const DEFAULT_TARGET: &str = "webhook";

/// A level as the API answers it, with the method its calls go out with: its own, or POST
/// (twilio-behavior.md 17.1), as deliveries use it (`events::method_or_post`).
pub fn with_method_used(level: WebhookLevel) -> WebhookLevel {
    WebhookLevel {
        method: Some(method_or_post(level.method.as_deref())),
        ..level
    }
}

/// The account's webhook configuration, with the defaults Twilio applies where nothing was set:
/// `POST` and `webhook` (the official schema allows only GET/POST and webhook/flex, never null).
/// The URLs and the filters are null until set.
fn webhooks(tx: &dyn Tx, account_sid: &str) -> Result<WebhookLevel> {
    let mut level = with_method_used(tx.account_webhooks(account_sid)?.unwrap_or_default());
    level.target.get_or_insert_with(|| DEFAULT_TARGET.into());
    Ok(level)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts;

    async fn account() -> (Store, Tenant) {
        let store = crate::store::open_for_test().await;
        let account = accounts::create(&store, "configuration".into())
            .await
            .unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            webhooks: false,
        };
        (store, tenant)
    }

    /// What every engine must do with a webhook level change: set what it names, keep the
    /// rest, clear what was sent empty.
    #[tokio::test]
    async fn a_webhook_change_sets_keeps_and_clears() {
        let (store, tenant) = account().await;
        let set = WebhookLevelChange {
            pre_url: Some(Some("https://example.com/pre".into())),
            post_url: Some(Some("https://example.com/post".into())),
            method: Some("GET".into()),
            filters: Some(Some(vec!["onMessageAdded".into()])),
            target: Some("webhook".into()),
        };
        update_webhooks(&store, tenant.clone(), set).await.unwrap();
        let clear = WebhookLevelChange {
            pre_url: Some(None),
            filters: Some(None),
            ..Default::default()
        };
        let level = update_webhooks(&store, tenant.clone(), clear)
            .await
            .unwrap();
        assert_eq!(level.pre_url, None);
        assert_eq!(level.filters, None);
        assert_eq!(level.post_url.as_deref(), Some("https://example.com/post"));
        assert_eq!(level.method.as_deref(), Some("GET"));
        assert_eq!(level.target.as_deref(), Some("webhook"));
        let fetched = fetch_webhooks(&store, tenant).await.unwrap();
        assert_eq!(fetched.post_url, level.post_url, "stored");
    }

    /// A default service of another account is as unknown as one that never existed.
    #[tokio::test]
    async fn the_default_service_must_be_the_accounts_own() {
        let (store, tenant) = account().await;
        let other = accounts::create(&store, "other".into()).await.unwrap();
        let foreign = store
            .read(move |tx| tx.account_configuration(&other.account_sid))
            .await
            .unwrap()
            .and_then(|c| c.default_chat_service_sid)
            .unwrap();
        let change = AccountConfigurationChange {
            default_chat_service_sid: Some(foreign),
            ..Default::default()
        };
        let refused = update(&store, tenant, change).await.unwrap_err();
        assert_eq!(refused.code, Code::ServiceNotFound);
    }
}
