//! Push bindings (BS...): one per service, user identity, device (endpoint) and push channel
//! (twilio-behavior.md 20). On Twilio a client SDK creates them when it registers a device for push;
//! confab's registration extension ([`register`]) stands in for that. The REST API lists,
//! fetches and deletes them. They go with their service (ON DELETE CASCADE).

use rusqlite::{Connection, Row, params};

use super::Store;
use super::services::{self, Tenant};
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{Keyset, optional};
use crate::domain::credentials;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct BindingRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub credential_sid: Option<String>,
    pub endpoint: String,
    pub identity: String,
    pub binding_type: String,
    pub message_types: Vec<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

const SELECT: &str =
    "SELECT b.id, b.sid, s.account_sid, s.sid, b.credential_sid, b.endpoint, b.identity,
    b.binding_type, b.message_types, b.date_created, b.date_updated
    FROM bindings b JOIN services s ON s.id = b.service_id";

fn map_row(row: &Row) -> rusqlite::Result<BindingRow> {
    let message_types: String = row.get(8)?;
    Ok(BindingRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_sid: row.get(3)?,
        credential_sid: row.get(4)?,
        endpoint: row.get(5)?,
        identity: row.get(6)?,
        binding_type: row.get(7)?,
        message_types: serde_json::from_str(&message_types).unwrap_or_default(),
        date_created: row.get(9)?,
        date_updated: row.get(10)?,
    })
}

/// One of the service's bindings by SID, or 404 for the request path.
fn resolve(conn: &Connection, tenant: &Tenant, service_id: i64, sid: &str) -> Result<BindingRow> {
    if !is_sid(Prefix::Binding, sid) {
        return Err(Error::not_found());
    }
    optional(
        conn,
        &format!("{SELECT} WHERE b.service_id = ?1 AND b.sid = ?2"),
        &[&service_id, &sid],
        map_row,
    )?
    .ok_or_else(Error::not_found)
}

/// The filters of ListServiceBinding: a binding matches when its type is one of
/// `binding_types` and its identity one of `identities` (an empty list does not filter).
#[derive(Debug, Clone, Default)]
pub struct BindingFilter {
    pub binding_types: Vec<String>,
    pub identities: Vec<String>,
}

/// ListServiceBinding, in creation order.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    filter: BindingFilter,
    req: PageRequest,
) -> Result<Page<BindingRow>> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let mut select = format!("{SELECT} WHERE b.service_id = ?1");
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&service.id];
            for (column, values) in [
                ("b.binding_type", &filter.binding_types),
                ("b.identity", &filter.identities),
            ] {
                if values.is_empty() {
                    continue;
                }
                let first = params.len() + 1;
                let marks: Vec<String> = (first..first + values.len())
                    .map(|n| format!("?{n}"))
                    .collect();
                select.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
                params.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
            }
            let keyset = Keyset {
                select: &select,
                keys: &["b.id"],
                descending: false,
            };
            keyset.page(conn, &params, &req, map_row, |r| vec![r.id])
        })
        .await
}

/// FetchServiceBinding.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<BindingRow> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            resolve(conn, &tenant, service.id, &sid)
        })
        .await
}

/// DeleteServiceBinding.
pub async fn delete(store: &Store, tenant: Tenant, sid: String) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let current = resolve(ctx.tx, &tenant, service.id, &sid)?;
            ctx.tx
                .execute("DELETE FROM bindings WHERE id = ?1", params![current.id])?;
            Ok(())
        })
        .await
}

/// A validated device registration (confab's stand-in for a client SDK's).
#[derive(Debug, Clone)]
pub struct Registration {
    pub identity: String,
    pub binding_type: String,
    pub endpoint: String,
    /// The device's push token (APNs device token, FCM/GCM registration token).
    pub address: Option<String>,
    pub credential_sid: Option<String>,
    pub message_types: Vec<String>,
}

/// The credential a push binding sends with: one of the account's, of the binding's own push
/// type. A missing one is `CredentialSidMissing` and a wrong one `InvalidCredentialSid`, the
/// codes Twilio gives when a registration carries no usable credential
/// (https://www.twilio.com/docs/api/errors/52004, .../52002). A `twilsock` binding uses none.
fn check_credential(
    tx: &dyn super::Tx,
    tenant: &Tenant,
    binding_type: &str,
    credential_sid: Option<&str>,
) -> Result<()> {
    match (binding_type, credential_sid) {
        ("twilsock", None) => Ok(()),
        ("twilsock", Some(sid)) => Err(Error::with(
            Code::InvalidCredentialSid,
            format!("{sid}: twilsock bindings use no push credential"),
        )),
        (_, None) => Err(Error::with(
            Code::CredentialSidMissing,
            format!("a {binding_type} binding needs CredentialSid"),
        )),
        (_, Some(sid)) => match credentials::find(tx, &tenant.account_sid, sid)? {
            Some(c) if c.credential_type == binding_type => Ok(()),
            Some(c) => Err(Error::with(
                Code::InvalidCredentialSid,
                format!(
                    "{sid}: a {} credential cannot send to a {binding_type} binding",
                    c.credential_type
                ),
            )),
            None => Err(Error::with(
                Code::InvalidCredentialSid,
                format!("{sid}: no such credential on this account"),
            )),
        },
    }
}

/// Registers a device: creates its binding, or, when the service already has one for the same
/// identity, endpoint and binding type, updates that one in place (same SID) with the new
/// credential, token and message types. Twilio's Binding resource is "unique per Service
/// instance, User identity, device, and notification channel"
/// (https://www.twilio.com/docs/conversations/api/service-binding-resource), and a client
/// registering again refreshes its subscription rather than adding a second one. Answers the
/// binding and whether it is new.
pub async fn register(
    store: &Store,
    tenant: Tenant,
    reg: Registration,
) -> Result<(BindingRow, bool)> {
    store
        .sqlite_write(move |ctx| upsert(ctx, &tenant, reg))
        .await
}

fn upsert(ctx: &WriteCtx, tenant: &Tenant, reg: Registration) -> Result<(BindingRow, bool)> {
    let service = services::resolve(ctx.tx, tenant)?;
    check_credential(
        ctx,
        tenant,
        &reg.binding_type,
        reg.credential_sid.as_deref(),
    )?;
    let message_types = serde_json::to_string(&reg.message_types).map_err(Error::internal)?;
    let existing: Option<String> = optional(
        ctx.tx,
        "SELECT sid FROM bindings WHERE service_id = ?1 AND identity = ?2 AND endpoint = ?3 AND binding_type = ?4",
        &[&service.id, &reg.identity, &reg.endpoint, &reg.binding_type],
        |r| r.get(0),
    )?;
    let (sid, created) = match existing {
        Some(sid) => {
            ctx.tx.execute(
                "UPDATE bindings SET credential_sid = ?1, address = ?2, message_types = ?3, date_updated = ?4
                 WHERE sid = ?5",
                params![reg.credential_sid, reg.address, message_types, ctx.now, sid],
            )?;
            (sid, false)
        }
        None => {
            let sid = new_sid(Prefix::Binding);
            ctx.tx.execute(
                "INSERT INTO bindings (sid, service_id, credential_sid, endpoint, address, identity, binding_type,
                     message_types, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    sid,
                    service.id,
                    reg.credential_sid,
                    reg.endpoint,
                    reg.address,
                    reg.identity,
                    reg.binding_type,
                    message_types,
                    ctx.now,
                ],
            )?;
            (sid, true)
        }
    };
    Ok((resolve(ctx.tx, tenant, service.id, &sid)?, created))
}
