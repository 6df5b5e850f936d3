//! Roles (RL...): what creating, changing and deleting one means, and which roles a user or a
//! participant may be given.

use super::services;
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::store::roles::{RoleHolder, RoleRow};
use crate::store::{Store, Tenant, Tx};
use crate::wire::paging::{Page, PageRequest};

/// A validated CreateRole.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub friendly_name: String,
    pub role_type: String,
    pub permissions: Vec<String>,
}

/// The role with this SID in the service, if there is one (a string that is not a role SID
/// names none).
pub fn find(tx: &dyn Tx, service_id: i64, sid: &str) -> Result<Option<RoleRow>> {
    if !is_sid(Prefix::Role, sid) {
        return Ok(None);
    }
    tx.find_role(service_id, sid)
}

/// A role of the service named by the request path, or 404.
fn find_in_path(tx: &dyn Tx, service_id: i64, sid: &str) -> Result<RoleRow> {
    find(tx, service_id, sid)?.ok_or_else(Error::not_found)
}

/// Checks a `RoleSid` body parameter: it must name a role of this service of the given type
/// (`service` for users, `conversation` for participants). Otherwise 400 with `code`.
///
/// Twilio documents no separate code for "a role of the other type" (twilio-behavior.md 7.3 and
/// 16.1: uncertain); for the service that is the same as no such role of that type, so one code
/// covers both (users use `RoleNotFound`, twilio-behavior.md 11 and 21).
pub fn require_of_type(
    tx: &dyn Tx,
    service_id: i64,
    sid: &str,
    role_type: &str,
    code: Code,
) -> Result<RoleRow> {
    match find(tx, service_id, sid)? {
        Some(role) if role.role_type == role_type => Ok(role),
        Some(_) => Err(Error::with(
            code,
            format!("{sid} is not a {role_type} role"),
        )),
        None => Err(Error::with(code, sid)),
    }
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

/// CreateRole.
pub async fn create(store: &Store, tenant: Tenant, new: NewRole) -> Result<RoleRow> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let now = tx.now();
            let mut row = RoleRow {
                id: 0,
                sid: new_sid(Prefix::Role),
                account_sid: tenant.account_sid,
                service_id: service.id,
                service_sid: service.sid,
                friendly_name: new.friendly_name,
                role_type: new.role_type,
                permissions: new.permissions,
                date_created: now,
                date_updated: now,
            };
            row.id = tx.insert_role(&row)?;
            Ok(row)
        })
        .await
}

/// FetchRole.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<RoleRow> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            find_in_path(tx, service.id, &sid)
        })
        .await
}

/// ListRole, in creation order (the seeded roles first).
pub async fn list(store: &Store, tenant: Tenant, req: PageRequest) -> Result<Page<RoleRow>> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            tx.list_roles(service.id, &req)
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
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let current = find_in_path(tx, service.id, &sid)?;
            check_permissions(&current.role_type, &permissions)?;
            let row = RoleRow {
                permissions,
                date_updated: tx.now(),
                ..current
            };
            tx.update_role(&row)?;
            Ok(row)
        })
        .await
}

/// How a holder is named in `RoleInUse`.
fn holder_name(holder: RoleHolder) -> &'static str {
    match holder {
        RoleHolder::Users => "users",
        RoleHolder::Participants => "participants",
        RoleHolder::ServiceConfiguration => "the service configuration",
    }
}

/// DeleteRole. A role that users, participants or the service configuration still name is not
/// deleted: 409 with `RoleInUse` (Conflict). Twilio documents nothing about this case (the Role
/// resource pages of Conversations and Chat only say "Delete a Role resource"); deleting it
/// anyway would leave `role_sid`s that name nothing, and a default role that every new user or
/// participant would then get. Reassign them first (UpdateUser / UpdateParticipant /
/// UpdateServiceConfiguration), then delete.
pub async fn delete(store: &Store, tenant: Tenant, sid: String) -> Result<()> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let role = find_in_path(tx, service.id, &sid)?;
            let holders = tx.role_holders(&role)?;
            if !holders.is_empty() {
                let names: Vec<&str> = holders.into_iter().map(holder_name).collect();
                return Err(Error::with(
                    Code::RoleInUse,
                    format!(
                        "{} is assigned by {}; reassign it before deleting it",
                        role.sid,
                        names.join(", ")
                    ),
                ));
            }
            tx.delete_role(role.id)
        })
        .await
}
