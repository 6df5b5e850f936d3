//! Push credentials (CR...): account-level, write-only secrets for APNs, GCM and FCM.
//!
//! The secret material (`certificate`, `private_key`, `api_key`, `secret`) is stored so that a
//! push sender can use it, but [`CredentialRow`] does not even carry it: nothing read through
//! this module can leak it into a response.

use rusqlite::{Connection, Row, params};

use super::Store;
use super::services::Tenant;
use super::sqlite::sql::{Keyset, optional};
use crate::error::{Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::wire::paging::{Page, PageRequest};

/// A credential as the API shows it: everything but the secrets.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: Option<String>,
    pub credential_type: String,
    pub sandbox: bool,
    pub date_created: i64,
    pub date_updated: i64,
}

const SELECT: &str =
    "SELECT id, sid, account_sid, friendly_name, type, sandbox, date_created, date_updated
    FROM credentials";

fn map_row(row: &Row) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        friendly_name: row.get(3)?,
        credential_type: row.get(4)?,
        sandbox: row.get(5)?,
        date_created: row.get(6)?,
        date_updated: row.get(7)?,
    })
}

/// The secret material of a credential. `None` leaves a stored value as it is on update.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub certificate: Option<String>,
    pub private_key: Option<String>,
    pub api_key: Option<String>,
    pub secret: Option<String>,
}

/// A validated CreateCredential.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential_type: String,
    pub friendly_name: Option<String>,
    pub sandbox: Option<bool>,
    pub secrets: Secrets,
}

/// A validated UpdateCredential: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CredentialUpdate {
    /// The type, when sent: it must be the credential's own (its secrets are that vendor's).
    pub credential_type: Option<String>,
    pub friendly_name: Option<String>,
    pub sandbox: Option<bool>,
    pub secrets: Secrets,
}

/// Finds one of the account's credentials by SID; another account's is as absent as a
/// credential that never existed.
pub fn find(conn: &Connection, account_sid: &str, sid: &str) -> Result<Option<CredentialRow>> {
    if !is_sid(Prefix::Credential, sid) {
        return Ok(None);
    }
    optional(
        conn,
        &format!("{SELECT} WHERE sid = ?1 AND account_sid = ?2"),
        &[&sid, &account_sid],
        map_row,
    )
}

/// One of the tenant's credentials, or 404 for the request path.
pub fn resolve(conn: &Connection, tenant: &Tenant, sid: &str) -> Result<CredentialRow> {
    find(conn, &tenant.account_sid, sid)?.ok_or_else(Error::not_found)
}

/// CreateCredential.
pub async fn create(store: &Store, tenant: Tenant, new: NewCredential) -> Result<CredentialRow> {
    store
        .sqlite_write(move |ctx| {
            let account_sid = &tenant.account_sid;
            let sid = new_sid(Prefix::Credential);
            ctx.tx.execute(
                "INSERT INTO credentials (sid, account_sid, friendly_name, type, sandbox, certificate, private_key,
                     api_key, secret, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                params![
                    sid,
                    account_sid,
                    new.friendly_name,
                    new.credential_type,
                    new.sandbox.unwrap_or(false),
                    new.secrets.certificate,
                    new.secrets.private_key,
                    new.secrets.api_key,
                    new.secrets.secret,
                    ctx.now,
                ],
            )?;
            resolve(ctx.tx, &tenant, &sid)
        })
        .await
}

/// FetchCredential.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<CredentialRow> {
    store
        .sqlite_read(move |conn| resolve(conn, &tenant, &sid))
        .await
}

/// ListCredential, in creation order.
pub async fn list(store: &Store, tenant: Tenant, req: PageRequest) -> Result<Page<CredentialRow>> {
    store
        .sqlite_read(move |conn| {
            let account_sid = &tenant.account_sid;
            let keyset = Keyset {
                select: &format!("{SELECT} WHERE account_sid = ?1"),
                keys: &["id"],
                descending: false,
            };
            keyset.page(conn, &[account_sid], &req, map_row, |r| vec![r.id])
        })
        .await
}

/// UpdateCredential.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid: String,
    change: CredentialUpdate,
) -> Result<CredentialRow> {
    store
        .sqlite_write(move |ctx| {
            let current = resolve(ctx.tx, &tenant, &sid)?;
            if let Some(t) = change.credential_type.filter(|t| *t != current.credential_type) {
                return Err(Error::invalid(
                    "Type",
                    format!("a {} credential cannot become {t}", current.credential_type),
                ));
            }
            let s = change.secrets;
            ctx.tx.execute(
                "UPDATE credentials SET friendly_name = ?1, sandbox = ?2,
                     certificate = COALESCE(?3, certificate), private_key = COALESCE(?4, private_key),
                     api_key = COALESCE(?5, api_key), secret = COALESCE(?6, secret), date_updated = ?7
                 WHERE id = ?8",
                params![
                    change.friendly_name.or(current.friendly_name),
                    change.sandbox.unwrap_or(current.sandbox),
                    s.certificate,
                    s.private_key,
                    s.api_key,
                    s.secret,
                    ctx.now,
                    current.id,
                ],
            )?;
            resolve(ctx.tx, &tenant, &sid)
        })
        .await
}

/// DeleteCredential.
///
/// Bindings that name the credential are left as they are. Twilio documents DeleteCredential
/// with a plain 204 and no in-use conflict, and reports a binding whose credential is gone only
/// when a push is sent to it (error 52002 "Invalid Credential Sid", a debugger-log error:
/// https://www.twilio.com/docs/api/errors/52002); so the delete succeeds and the bindings keep
/// their `credential_sid`, as a client SDK's registration would until it registers again.
pub async fn delete(store: &Store, tenant: Tenant, sid: String) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let current = resolve(ctx.tx, &tenant, &sid)?;
            ctx.tx
                .execute("DELETE FROM credentials WHERE id = ?1", params![current.id])?;
            Ok(())
        })
        .await
}
