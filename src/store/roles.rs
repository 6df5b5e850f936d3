//! Roles (RL...): the permission sets given to users (`service` roles) and participants
//! (`conversation` roles). Every service starts with the four roles of
//! `permissions::DEFAULT_ROLES`, seeded by `services::insert`.

use rusqlite::{Connection, Row, params};

use super::Store;
use super::services::{self, Tenant};
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{Keyset, optional};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct RoleRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_id: i64,
    pub service_sid: String,
    pub friendly_name: String,
    /// `service` or `conversation`.
    pub role_type: String,
    pub permissions: Vec<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

const SELECT: &str =
    "SELECT r.id, r.sid, s.account_sid, r.service_id, s.sid, r.friendly_name, r.type,
    r.permissions, r.date_created, r.date_updated
    FROM roles r JOIN services s ON s.id = r.service_id";

fn map_row(row: &Row) -> rusqlite::Result<RoleRow> {
    let permissions: String = row.get(7)?;
    Ok(RoleRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_id: row.get(3)?,
        service_sid: row.get(4)?,
        friendly_name: row.get(5)?,
        role_type: row.get(6)?,
        // Written only by this module, always as a JSON array of strings.
        permissions: serde_json::from_str(&permissions).unwrap_or_default(),
        date_created: row.get(8)?,
        date_updated: row.get(9)?,
    })
}

/// The role with this SID in the service, if there is one.
pub fn find(conn: &Connection, service_id: i64, sid: &str) -> Result<Option<RoleRow>> {
    if !is_sid(Prefix::Role, sid) {
        return Ok(None);
    }
    optional(
        conn,
        &format!("{SELECT} WHERE r.service_id = ?1 AND r.sid = ?2"),
        &[&service_id, &sid],
        map_row,
    )
}

/// Finds a role of the service named by the request path, or answers 404 for that path.
pub fn resolve(conn: &Connection, tenant: &Tenant, service_id: i64, sid: &str) -> Result<RoleRow> {
    find(conn, service_id, sid)?.ok_or_else(Error::not_found)
}

/// Checks a `RoleSid` body parameter: it must name a role of this service of the given type
/// (`service` for users, `conversation` for participants). Otherwise 400 with `code`.
///
/// Twilio documents no separate code for "a role of the other type" (twilio-behavior.md 7.3 and
/// 16.1: uncertain); for the service that is the same as no such role of that type, so one code
/// covers both (users use `RoleNotFound`, twilio-behavior.md 11 and 21).
pub fn require_of_type(
    conn: &Connection,
    service_id: i64,
    sid: &str,
    role_type: &str,
    code: Code,
) -> Result<RoleRow> {
    match find(conn, service_id, sid)? {
        Some(role) if role.role_type == role_type => Ok(role),
        Some(_) => Err(Error::with(
            code,
            format!("{sid} is not a {role_type} role"),
        )),
        None => Err(Error::with(code, sid)),
    }
}

/// A validated CreateRole.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub friendly_name: String,
    pub role_type: String,
    pub permissions: Vec<String>,
}

fn to_json(permissions: &[String]) -> Result<String> {
    serde_json::to_string(permissions).map_err(Error::internal)
}

/// CreateRole.
pub async fn create(store: &Store, tenant: Tenant, new: NewRole) -> Result<RoleRow> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let sid = new_sid(Prefix::Role);
            ctx.tx.execute(
                "INSERT INTO roles (sid, service_id, friendly_name, type, permissions, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![sid, service.id, new.friendly_name, new.role_type, to_json(&new.permissions)?, ctx.now],
            )?;
            resolve(ctx.tx, &tenant, service.id, &sid)
        })
        .await
}

/// FetchRole.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<RoleRow> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            resolve(conn, &tenant, service.id, &sid)
        })
        .await
}

/// ListRole, in creation order (the seeded roles first).
pub async fn list(store: &Store, tenant: Tenant, req: PageRequest) -> Result<Page<RoleRow>> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let keyset = Keyset {
                select: &format!("{SELECT} WHERE r.service_id = ?1"),
                keys: &["r.id"],
                descending: false,
            };
            keyset.page(conn, &[&service.id], &req, map_row, |r| vec![r.id])
        })
        .await
}

/// UpdateRole: the new permission list replaces the old one; the type never changes.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid: String,
    permissions: Vec<String>,
) -> Result<RoleRow> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let role = resolve(ctx.tx, &tenant, service.id, &sid)?;
            check_permissions(&role.role_type, &permissions)?;
            ctx.tx.execute(
                "UPDATE roles SET permissions = ?1, date_updated = ?2 WHERE id = ?3",
                params![to_json(&permissions)?, ctx.now, role.id],
            )?;
            resolve(ctx.tx, &tenant, service.id, &sid)
        })
        .await
}

/// Checks every permission against the catalogue of the role's type (`PermissionNotFound`
/// otherwise). Public so that the handler can check a create before any store call; update checks
/// here, once the role (and so its type) is known.
pub fn check_permissions(role_type: &str, permissions: &[String]) -> Result<()> {
    let allowed = crate::permissions::allowed_for(role_type);
    match permissions.iter().find(|p| !allowed.contains(&p.as_str())) {
        Some(unknown) => Err(Error::with(
            Code::PermissionNotFound,
            format!("'{unknown}' is not a {role_type} permission"),
        )),
        None => Ok(()),
    }
}

/// What still names a role: users, participants and the service configuration's defaults.
fn references(ctx: &WriteCtx, role: &RoleRow) -> Result<Vec<&'static str>> {
    let checks: [(&'static str, &str); 3] = [
        (
            "users",
            "SELECT 1 FROM users WHERE service_id = ?1 AND role_sid = ?2 LIMIT 1",
        ),
        (
            "participants",
            "SELECT 1 FROM participants WHERE service_id = ?1 AND role_sid = ?2 LIMIT 1",
        ),
        (
            "the service configuration",
            "SELECT 1 FROM service_configurations WHERE service_id = ?1
               AND ?2 IN (default_chat_service_role_sid, default_conversation_role_sid,
                          default_conversation_creator_role_sid)",
        ),
    ];
    let mut found = Vec::new();
    for (what, sql) in checks {
        if optional(ctx.tx, sql, &[&role.service_id, &role.sid], |_| Ok(()))?.is_some() {
            found.push(what);
        }
    }
    Ok(found)
}

/// DeleteRole. A role that users, participants or the service configuration still name is not
/// deleted: 409 with `RoleInUse` (Conflict). Twilio documents nothing about this case (the Role
/// resource pages of Conversations and Chat only say "Delete a Role resource"); deleting it
/// anyway would leave `role_sid`s that name nothing, and a default role that every new user or
/// participant would then get. Reassign them first (UpdateUser / UpdateParticipant /
/// UpdateServiceConfiguration), then delete.
pub async fn delete(store: &Store, tenant: Tenant, sid: String) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let role = resolve(ctx.tx, &tenant, service.id, &sid)?;
            let used_by = references(ctx, &role)?;
            if !used_by.is_empty() {
                return Err(Error::with(
                    Code::RoleInUse,
                    format!(
                        "{} is assigned by {}; reassign it before deleting it",
                        role.sid,
                        used_by.join(", ")
                    ),
                ));
            }
            ctx.tx
                .execute("DELETE FROM roles WHERE id = ?1", params![role.id])?;
            Ok(())
        })
        .await
}
