//! Conversation Services (IS...): the container of every other per-service resource, the
//! service a request acts on, and what a new service is created with.

use rusqlite::{Connection, Row, params};

use super::sql::{Keyset, optional};
use super::{Store, WriteCtx};
use crate::error::{Code, Error, Result};
use crate::permissions::{DEFAULT_ROLES, DefaultFor};
use crate::sid::{Prefix, new_sid};
use crate::wire::paging::{Page, PageRequest};

/// Which service a request names: the account's default (`/v1/...`) or an explicit one
/// (`/v1/Services/{sid}/...`).
#[derive(Debug, Clone)]
pub enum ServiceRef {
    Default,
    Sid(String),
}

/// Who is asking and about which service: every store call takes one.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account_sid: String,
    pub service: ServiceRef,
    /// The request path, for Twilio's "The requested resource /v1/... was not found".
    pub path: String,
    /// The request carried `X-Twilio-Webhook-Enabled: true`: its changes fire webhooks.
    pub webhooks: bool,
}

impl Tenant {
    pub fn not_found(&self) -> Error {
        Error::with(Code::NotFound, &self.path)
    }
}

/// A resolved service: its internal id and public SID.
#[derive(Debug, Clone)]
pub struct ServiceKey {
    pub id: i64,
    pub sid: String,
}

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub date_created: i64,
    pub date_updated: i64,
}

const SELECT: &str =
    "SELECT id, sid, account_sid, friendly_name, date_created, date_updated FROM services";

fn map_row(row: &Row) -> rusqlite::Result<ServiceRow> {
    Ok(ServiceRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        friendly_name: row.get(3)?,
        date_created: row.get(4)?,
        date_updated: row.get(5)?,
    })
}

/// Resolves the tenant's service, or answers 404 for the request path: another account's
/// service is as unknown as one that never existed.
pub fn resolve(conn: &Connection, tenant: &Tenant) -> Result<ServiceKey> {
    let found = match &tenant.service {
        ServiceRef::Sid(sid) => optional(
            conn,
            "SELECT id, sid FROM services WHERE sid = ?1 AND account_sid = ?2",
            &[sid, &tenant.account_sid],
            |r| Ok(ServiceKey { id: r.get(0)?, sid: r.get(1)? }),
        )?,
        ServiceRef::Default => optional(
            conn,
            "SELECT s.id, s.sid FROM account_configurations c JOIN services s ON s.sid = c.default_chat_service_sid
             WHERE c.account_sid = ?1",
            &[&tenant.account_sid],
            |r| Ok(ServiceKey { id: r.get(0)?, sid: r.get(1)? }),
        )?,
    };
    found.ok_or_else(|| tenant.not_found())
}

/// Inserts a service with its default roles, configuration, notifications and webhook
/// configuration, inside the caller's transaction.
pub fn insert(ctx: &WriteCtx, account_sid: &str, friendly_name: &str) -> Result<ServiceRow> {
    let sid = new_sid(Prefix::Service);
    ctx.tx.execute(
        "INSERT INTO services (sid, account_sid, friendly_name, date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![sid, account_sid, friendly_name, ctx.now],
    )?;
    let id = ctx.tx.last_insert_rowid();
    let mut defaults = [None, None, None];
    for role in DEFAULT_ROLES {
        let role_sid = new_sid(Prefix::Role);
        let permissions = serde_json::to_string(role.permissions).map_err(Error::internal)?;
        ctx.tx.execute(
            "INSERT INTO roles (sid, service_id, friendly_name, type, permissions, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![role_sid, id, role.friendly_name, role.role_type, permissions, ctx.now],
        )?;
        match role.default_for {
            DefaultFor::ConversationCreatorRole => defaults[0] = Some(role_sid),
            DefaultFor::ConversationRole => defaults[1] = Some(role_sid),
            DefaultFor::ChatServiceRole => defaults[2] = Some(role_sid),
            DefaultFor::Nothing => {}
        }
    }
    let [creator, conversation, chat_service] = defaults;
    ctx.tx.execute(
        "INSERT INTO service_configurations (service_id, default_conversation_creator_role_sid,
             default_conversation_role_sid, default_chat_service_role_sid) VALUES (?1, ?2, ?3, ?4)",
        params![id, creator, conversation, chat_service],
    )?;
    ctx.tx.execute(
        "INSERT INTO service_webhooks (service_id) VALUES (?1)",
        params![id],
    )?;
    Ok(ServiceRow {
        id,
        sid,
        account_sid: account_sid.to_string(),
        friendly_name: friendly_name.to_string(),
        date_created: ctx.now,
        date_updated: ctx.now,
    })
}

/// CreateService.
pub async fn create(
    store: &Store,
    account_sid: String,
    friendly_name: String,
) -> Result<ServiceRow> {
    store
        .write(move |ctx| insert(ctx, &account_sid, &friendly_name))
        .await
}

/// FetchService: `tenant.service` names it.
pub async fn fetch(store: &Store, tenant: Tenant) -> Result<ServiceRow> {
    store
        .read(move |conn| {
            let key = resolve(conn, &tenant)?;
            optional(
                conn,
                &format!("{SELECT} WHERE id = ?1"),
                &[&key.id],
                map_row,
            )?
            .ok_or_else(|| tenant.not_found())
        })
        .await
}

/// ListService, in creation order.
pub async fn list(
    store: &Store,
    account_sid: String,
    req: PageRequest,
) -> Result<Page<ServiceRow>> {
    store
        .read(move |conn| {
            let keyset = Keyset {
                select: &format!("{SELECT} WHERE account_sid = ?1"),
                keys: &["id"],
                descending: false,
            };
            keyset.page(conn, &[&account_sid], &req, map_row, |r| vec![r.id])
        })
        .await
}

/// DeleteService: everything inside goes with it (cascades). If it was the account's default,
/// the default moves to the account's oldest remaining service; an account always has one, so
/// when none remains a new default service is created (as on first use).
pub async fn delete(store: &Store, tenant: Tenant) -> Result<()> {
    store
        .write(move |ctx| {
            let key = resolve(ctx.tx, &tenant)?;
            ctx.tx
                .execute("DELETE FROM services WHERE id = ?1", params![key.id])?;
            let oldest: Option<String> = optional(
                ctx.tx,
                "SELECT sid FROM services WHERE account_sid = ?1 ORDER BY id LIMIT 1",
                &[&tenant.account_sid],
                |r| r.get(0),
            )?;
            let fallback = match oldest {
                Some(sid) => sid,
                None => insert(ctx, &tenant.account_sid, DEFAULT_SERVICE_NAME)?.sid,
            };
            ctx.tx.execute(
                "UPDATE account_configurations SET default_chat_service_sid = ?1
                 WHERE account_sid = ?2 AND default_chat_service_sid = ?3",
                params![fallback, tenant.account_sid, key.sid],
            )?;
            Ok(())
        })
        .await
}

/// The friendly name of the service an account gets on first use.
pub const DEFAULT_SERVICE_NAME: &str = "Default Conversations Service";
