//! Accounts (AC...) and API keys (SK...): the tenants, and the credentials that reach them.

use super::services::{self, DEFAULT_SERVICE_NAME};
use crate::error::{Code, Error, Result};
use crate::secrets::Secret;
use crate::sid::{Prefix, new_secret, new_sid};
use crate::store::accounts::{AccountConfiguration, AccountRow, Credential};
use crate::store::{Store, Tx};
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone, serde::Serialize)]
pub struct NewAccount {
    pub account_sid: String,
    pub auth_token: String,
    pub friendly_name: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NewApiKey {
    pub sid: String,
    pub secret: String,
    pub account_sid: String,
    pub friendly_name: String,
}

/// The account's default Messaging Service (MG...). confab sends no SMS, so this is a stable
/// name derived from the account, not a resource: new conversations carry it as on Twilio.
pub fn default_messaging_service_sid(account_sid: &str) -> String {
    format!("MG{}", &account_sid[2..])
}

/// Creates the account with its configuration and default service, or, if it exists, sets its
/// auth token (so that `--auth-token` always wins at start).
fn upsert(tx: &mut dyn Tx, sid: &str, auth_token: &str, friendly_name: &str) -> Result<()> {
    if tx.account_exists(sid)? {
        return tx.set_auth_token(sid, auth_token);
    }
    tx.insert_account(sid, auth_token, friendly_name)?;
    provision(tx, sid)
}

/// What a new account starts with: a fresh default service (with its default roles) and the
/// configuration that names it.
fn provision(tx: &mut dyn Tx, sid: &str) -> Result<()> {
    let service = services::add(tx, sid, DEFAULT_SERVICE_NAME)?;
    let configuration = AccountConfiguration {
        default_chat_service_sid: Some(service.sid),
        default_messaging_service_sid: Some(default_messaging_service_sid(sid)),
        ..Default::default()
    };
    tx.insert_account_configuration(sid, &configuration)
}

/// Puts the account back as it was made, in one write: everything it holds is dropped
/// (conversations, users, services, address configurations, push credentials, webhook
/// configuration, queued webhooks, the delivery log, the outbound log, faults) and it gets a
/// fresh default service. Its SID, auth token and API keys stay, so a test suite can reset
/// the account it already holds before every test.
pub async fn reset(store: &Store, sid: String) -> Result<()> {
    store
        .write(move |tx| {
            if !tx.account_exists(&sid)? {
                return Err(Error::with(
                    Code::NotFound,
                    format!("/confab/Accounts/{sid}/Reset"),
                ));
            }
            tx.clear_account(&sid)?;
            provision(tx, &sid)
        })
        .await
}

/// The account's auth token (404 for no such account).
pub async fn auth_token(store: &Store, sid: String) -> Result<String> {
    store
        .read(move |tx| {
            tx.auth_token(&sid)?
                .ok_or_else(|| Error::with(Code::NotFound, format!("/confab/Accounts/{sid}")))
        })
        .await
}

/// Every account, in creation order.
pub async fn list(store: &Store, req: PageRequest) -> Result<Page<AccountRow>> {
    store.read(move |tx| tx.list_accounts(&req)).await
}

/// Deletes the account with everything it holds (its API keys too).
pub async fn delete(store: &Store, sid: String) -> Result<()> {
    store
        .write(move |tx| {
            if tx.delete_account(&sid)? {
                Ok(())
            } else {
                Err(Error::with(
                    Code::NotFound,
                    format!("/confab/Accounts/{sid}"),
                ))
            }
        })
        .await
}

/// Makes sure the account exists with this token (the account given on the command line).
pub async fn ensure(store: &Store, sid: String, auth_token: String) -> Result<()> {
    if !crate::sid::is_sid(Prefix::Account, &sid) {
        return Err(Error::invalid(
            "AccountSid",
            "must be AC followed by 32 hex digits",
        ));
    }
    store
        .write(move |tx| upsert(tx, &sid, &auth_token, "confab development account"))
        .await
}

/// Creates a new account with a fresh SID and auth token.
pub async fn create(store: &Store, friendly_name: String) -> Result<NewAccount> {
    store
        .write(move |tx| {
            let account = NewAccount {
                account_sid: new_sid(Prefix::Account),
                auth_token: new_secret(),
                friendly_name,
            };
            upsert(
                tx,
                &account.account_sid,
                &account.auth_token,
                &account.friendly_name,
            )?;
            Ok(account)
        })
        .await
}

/// Creates an API key (SK...) for an account; its secret is shown once, here.
pub async fn create_api_key(
    store: &Store,
    account_sid: String,
    friendly_name: String,
) -> Result<NewApiKey> {
    store
        .write(move |tx| {
            let key = NewApiKey {
                sid: new_sid(Prefix::ApiKey),
                secret: new_secret(),
                account_sid,
                friendly_name,
            };
            let secret = Secret::hashed(&key.secret);
            tx.insert_api_key(&key.sid, &key.account_sid, &secret, &key.friendly_name)?;
            Ok(key)
        })
        .await
}

/// Keeps every API key made before secrets were hashed as a hash from now on (SQLite cannot
/// hash in a migration). Run at start.
pub async fn hash_plain_api_keys(store: &Store) -> Result<usize> {
    store
        .write(|tx| {
            let plain = tx.plain_api_keys()?;
            for (sid, secret) in &plain {
                tx.hash_api_key(sid, &Secret::hashed(secret))?;
            }
            Ok(plain.len())
        })
        .await
}

/// Every credential that opens an account.
pub async fn load_credentials(store: &Store) -> Result<Vec<Credential>> {
    store.read(|tx| tx.credentials()).await
}

/// The credential with this username (an account SID or an API key SID), if the store has it.
pub async fn find_credential(store: &Store, username: String) -> Result<Option<Credential>> {
    store.read(move |tx| tx.credential(&username)).await
}

/// Whether the store answers a read now (a readiness check).
pub async fn ready(store: &Store) -> Result<()> {
    store.read(|tx| tx.clock_offset().map(drop)).await
}
