//! Users (US...): the chat identities of a service.

use rusqlite::params;

use super::WriteCtx;
use super::sql::optional;
use crate::error::ApiResult;
use crate::sid::{Prefix, new_sid};

/// The user with this identity in the service, created with the service's default role
/// (`default_chat_service_role_sid`) if there is none: a chat participant always has a User
/// (BEHAVIOR.md 10.1). Returns the user's SID.
pub fn find_or_create_for_identity(
    ctx: &WriteCtx,
    service_id: i64,
    identity: &str,
) -> ApiResult<String> {
    let existing: Option<String> = optional(
        ctx.tx,
        "SELECT sid FROM users WHERE service_id = ?1 AND identity = ?2",
        &[&service_id, &identity],
        |r| r.get(0),
    )?;
    if let Some(sid) = existing {
        return Ok(sid);
    }
    let role_sid: Option<String> = optional(
        ctx.tx,
        "SELECT default_chat_service_role_sid FROM service_configurations WHERE service_id = ?1",
        &[&service_id],
        |r| r.get(0),
    )?
    .flatten();
    let sid = new_sid(Prefix::User);
    ctx.tx.execute(
        "INSERT INTO users (sid, service_id, identity, attributes, role_sid, date_created, date_updated)
         VALUES (?1, ?2, ?3, '{}', ?4, ?5, ?5)",
        params![sid, service_id, identity, role_sid, ctx.now],
    )?;
    Ok(sid)
}
