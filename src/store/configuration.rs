//! The account-level configuration: `/v1/Configuration` (the default service, messaging service
//! and timers of the account) and `/v1/Configuration/Webhooks` (the global webhook
//! configuration). One row of each per account, inserted with the account
//! (`AccountStore::insert_account`, `AccountStore::insert_account_configuration`).
//!
//! Both are read where the code that acts on them already reads them:
//! `AccountStore::account_configuration` (the defaults new conversations take) and
//! `WebhookStore::account_webhooks` (where events go). This trait holds their changes.
//!
//! Also the change of a webhook level, which the service level shares
//! (`store::service_configuration`).

use crate::error::Result;

pub use super::accounts::AccountConfiguration;
pub use super::webhooks::WebhookLevel;

/// A change to the account's configuration: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AccountConfigurationChange {
    pub default_chat_service_sid: Option<String>,
    pub default_messaging_service_sid: Option<String>,
    /// ISO-8601 durations, as the client sent them (`PT0S` disables).
    pub default_inactive_timer: Option<String>,
    pub default_closed_timer: Option<String>,
}

/// A change to a webhook level (the account's or a service's). `None` keeps a field; for the
/// URLs and the filters, `Some(None)` clears it (the parameter was sent empty).
#[derive(Debug, Clone, Default)]
pub struct WebhookLevelChange {
    pub pre_url: Option<Option<String>>,
    pub post_url: Option<Option<String>>,
    /// `GET` | `POST`, upper case.
    pub method: Option<String>,
    /// Event names (`webhook_events`).
    pub filters: Option<Option<Vec<String>>>,
    /// `webhook` | `flex`: the account level only.
    pub target: Option<String>,
}

pub trait ConfigurationStore {
    /// Sets the fields of the account's configuration that `change` names and keeps the
    /// others, in one step: a concurrent change of other fields is not lost. An account without
    /// a configuration gets one.
    fn update_account_configuration(
        &mut self,
        account_sid: &str,
        change: &AccountConfigurationChange,
    ) -> Result<()>;

    /// Sets the fields of the account's webhook configuration that `change` names and keeps the
    /// others, in one step: a concurrent change of other fields is not lost. An account without
    /// a webhook configuration gets one.
    fn update_account_webhooks(
        &mut self,
        account_sid: &str,
        change: &WebhookLevelChange,
    ) -> Result<()>;
}
