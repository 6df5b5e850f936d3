//! Accounts (AC...) and API keys (SK...): the tenants, and the credentials that reach them.

use rusqlite::{Connection, params};

use super::services::{self, DEFAULT_SERVICE_NAME};
use super::sql::optional;
use super::{Store, WriteCtx};
use crate::error::{Error, Result};
use crate::sid::{Prefix, new_secret, new_sid};

/// A Basic-auth username and password, and the account they open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: String,
    pub account_sid: String,
}

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

/// Creates the account with its configuration and default service, or, if it exists, sets its
/// auth token (so that `--auth-token` always wins at start).
fn upsert_account(ctx: &WriteCtx, sid: &str, auth_token: &str, friendly_name: &str) -> Result<()> {
    let exists = optional(
        ctx.tx,
        "SELECT 1 FROM accounts WHERE sid = ?1",
        &[&sid],
        |_| Ok(()),
    )?
    .is_some();
    if exists {
        ctx.tx.execute(
            "UPDATE accounts SET auth_token = ?1 WHERE sid = ?2",
            params![auth_token, sid],
        )?;
        return Ok(());
    }
    ctx.tx.execute(
        "INSERT INTO accounts (sid, auth_token, friendly_name, date_created) VALUES (?1, ?2, ?3, ?4)",
        params![sid, auth_token, friendly_name, ctx.now],
    )?;
    let service = services::insert(ctx, sid, DEFAULT_SERVICE_NAME)?;
    ctx.tx.execute(
        "INSERT INTO account_configurations (account_sid, default_chat_service_sid, default_messaging_service_sid)
         VALUES (?1, ?2, ?3)",
        params![sid, service.sid, default_messaging_service_sid(sid)],
    )?;
    ctx.tx.execute(
        "INSERT INTO account_webhooks (account_sid) VALUES (?1)",
        params![sid],
    )?;
    Ok(())
}

/// The account's default Messaging Service (MG...). confab sends no SMS, so this is a stable
/// name derived from the account, not a resource: new conversations carry it as on Twilio.
pub fn default_messaging_service_sid(account_sid: &str) -> String {
    format!("MG{}", &account_sid[2..])
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
        .write(move |ctx| upsert_account(ctx, &sid, &auth_token, "confab development account"))
        .await
}

/// Creates a new account with a fresh SID and auth token.
pub async fn create(store: &Store, friendly_name: String) -> Result<NewAccount> {
    store
        .write(move |ctx| {
            let account = NewAccount {
                account_sid: new_sid(Prefix::Account),
                auth_token: new_secret(),
                friendly_name,
            };
            upsert_account(
                ctx,
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
        .write(move |ctx| {
            let key = NewApiKey { sid: new_sid(Prefix::ApiKey), secret: new_secret(), account_sid, friendly_name };
            ctx.tx.execute(
                "INSERT INTO api_keys (sid, account_sid, secret, friendly_name, date_created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.sid, key.account_sid, key.secret, key.friendly_name, ctx.now],
            )?;
            Ok(key)
        })
        .await
}

/// Every credential that opens an account: account tokens and API key secrets.
pub fn all_credentials(conn: &Connection) -> Result<Vec<Credential>> {
    let mut stmt = conn.prepare(
        "SELECT sid, auth_token, sid FROM accounts UNION ALL SELECT sid, secret, account_sid FROM api_keys",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Credential {
            username: r.get(0)?,
            secret: r.get(1)?,
            account_sid: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub async fn load_credentials(store: &Store) -> Result<Vec<Credential>> {
    store.read(all_credentials).await
}

/// The credential with this username (an account SID or an API key SID), if the store has it.
pub async fn find_credential(store: &Store, username: String) -> Result<Option<Credential>> {
    store
        .read(move |conn| {
            optional(
                conn,
                "SELECT sid, auth_token, sid FROM accounts WHERE sid = ?1
                 UNION ALL SELECT sid, secret, account_sid FROM api_keys WHERE sid = ?1",
                &[&username],
                |r| {
                    Ok(Credential {
                        username: r.get(0)?,
                        secret: r.get(1)?,
                        account_sid: r.get(2)?,
                    })
                },
            )
        })
        .await
}
