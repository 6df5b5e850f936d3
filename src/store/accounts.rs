//! Accounts (AC...) and API keys (SK...): the tenants, and the credentials that reach them.

use crate::error::Result;
use crate::secrets::Secret;
use crate::wire::paging::{Page, PageRequest};

/// An account as the operator lists it (`GET /confab/Accounts`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountRow {
    /// The list's key (creation order).
    #[serde(skip)]
    pub key: i64,
    pub account_sid: String,
    pub friendly_name: String,
    #[serde(serialize_with = "crate::wire::time::serialize_date")]
    pub date_created: i64,
}

/// A Basic-auth username, what its password is checked against, and the account they open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: Secret,
    pub account_sid: String,
}

/// An account's settings that new conversations take (`/v1/Configuration`).
#[derive(Debug, Clone, Default)]
pub struct AccountConfiguration {
    pub default_chat_service_sid: Option<String>,
    pub default_messaging_service_sid: Option<String>,
    /// ISO-8601 durations, as the client sent them (`PT0S` disables).
    pub default_inactive_timer: Option<String>,
    pub default_closed_timer: Option<String>,
}

/// Faults a test injects into one account's requests (`POST /confab/Accounts/{AC}/Faults`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Faults {
    /// The share of requests answered 429 (0 to 1).
    pub rate_429: f64,
    /// The share of requests answered 500 (0 to 1; with `rate_429`, at most 1).
    pub rate_5xx: f64,
    /// Added to every request before it is answered.
    pub latency_ms: i64,
}

pub trait AccountStore {
    fn account_exists(&self, sid: &str) -> Result<bool>;

    /// Inserts an account, with its empty webhook configuration.
    fn insert_account(&mut self, sid: &str, auth_token: &str, friendly_name: &str) -> Result<()>;

    /// Inserts the account's configuration (its default service and messaging service).
    fn insert_account_configuration(
        &mut self,
        account_sid: &str,
        configuration: &AccountConfiguration,
    ) -> Result<()>;

    fn set_auth_token(&mut self, sid: &str, auth_token: &str) -> Result<()>;

    /// Inserts an API key, its secret kept only as `Secret::Hashed`.
    fn insert_api_key(
        &mut self,
        sid: &str,
        account_sid: &str,
        secret: &Secret,
        friendly_name: &str,
    ) -> Result<()>;

    /// API keys still kept with their secret in plain (made before secrets were hashed): SID and
    /// secret.
    fn plain_api_keys(&self) -> Result<Vec<(String, String)>>;

    /// Keeps an API key's secret as `secret` (hashed) and forgets the plain one.
    fn hash_api_key(&mut self, sid: &str, secret: &Secret) -> Result<()>;

    /// Every credential that opens an account: account tokens and API key secrets.
    fn credentials(&self) -> Result<Vec<Credential>>;

    /// The credential with this username (an account SID or an API key SID).
    fn credential(&self, username: &str) -> Result<Option<Credential>>;

    /// The account's auth token, which signs its webhooks.
    fn auth_token(&self, account_sid: &str) -> Result<Option<String>>;

    /// The account's configuration (`None` for an account without one).
    fn account_configuration(&self, account_sid: &str) -> Result<Option<AccountConfiguration>>;

    /// Every account, in creation order.
    fn list_accounts(&self, req: &PageRequest) -> Result<Page<AccountRow>>;

    /// Removes everything the account holds but itself, its auth token and its API keys: its
    /// services (and with them conversations, messages, participants, receipts, users, roles,
    /// bindings, media), address configurations, push credentials, its configuration, its
    /// webhook configuration (emptied), queued webhooks and the delivery log.
    fn clear_account(&mut self, account_sid: &str) -> Result<()>;

    /// The faults injected into the account's requests, if any.
    fn account_faults(&self, account_sid: &str) -> Result<Option<Faults>>;

    /// Sets the account's faults (`None`: none).
    fn set_account_faults(&mut self, account_sid: &str, faults: Option<&Faults>) -> Result<()>;

    /// Removes the account with everything it holds; false if there was none.
    fn delete_account(&mut self, account_sid: &str) -> Result<bool>;
}
