//! Roles: `/Roles` and `/Roles/{Sid}`, under both prefixes.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::roles::{self, NewRole};
use crate::error::{Code, Error, Result};
use crate::store::roles::RoleRow;
use crate::wire::paging::{self, LIMITS_50, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

/// A role's friendly name may be up to 64 characters (twilio-behavior.md 6, the spec's CreateRole).
const MAX_FRIENDLY_NAME: usize = 64;
const TYPES: &[&str] = &["conversation", "service"];

/// Roles carry `chat_service_sid` under both prefixes (the spec's `role` and `service_role`
/// schemas are the same), and no `links`.
pub fn render(row: &RoleRow, urls: &Urls) -> Value {
    json!({
        "sid": row.sid,
        "account_sid": row.account_sid,
        "chat_service_sid": row.service_sid,
        "friendly_name": row.friendly_name,
        "type": row.role_type,
        "permissions": row.permissions,
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "url": urls.scoped(&format!("Roles/{}", row.sid)),
    })
}

/// The parameters of CreateRole; UpdateRole takes only `Permission`.
#[derive(Debug, Default, Deserialize)]
pub struct RoleParams {
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
    #[serde(rename = "Type")]
    role_type: Option<String>,
    /// Repeated: `Permission=sendMessage&Permission=leaveConversation`.
    #[serde(rename = "Permission", default)]
    permission: Vec<String>,
}

/// At least one permission, each once, in the order given.
fn permission_list(sent: &[String]) -> Result<Vec<String>> {
    if sent.is_empty() {
        return Err(Error::missing("Permission"));
    }
    let mut list: Vec<String> = Vec::with_capacity(sent.len());
    for p in sent {
        if !list.contains(p) {
            list.push(p.clone());
        }
    }
    Ok(list)
}

impl RoleParams {
    fn for_create(&self) -> Result<NewRole> {
        let friendly_name = self
            .friendly_name
            .as_deref()
            .ok_or_else(|| Error::missing("FriendlyName"))?;
        let friendly_name = params::text(
            "FriendlyName",
            Some(friendly_name),
            MAX_FRIENDLY_NAME,
            Code::FriendlyNameTooLong,
        )?
        .unwrap_or_default();
        let role_type = self
            .role_type
            .as_deref()
            .ok_or_else(|| Error::missing("Type"))?;
        let role_type = params::one_of("Type", Some(role_type), TYPES, Code::InvalidRoleType)?
            .unwrap_or_default();
        let permissions = permission_list(&self.permission)?;
        roles::check_permissions(role_type, &permissions)?;
        Ok(NewRole {
            friendly_name,
            role_type: role_type.to_string(),
            permissions,
        })
    }
}

#[derive(Deserialize)]
pub struct RolePath {
    role: String,
}

/// CreateRole: POST /v1/Roles (and CreateServiceRole: POST /v1/Services/{ChatServiceSid}/Roles)
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<RoleParams>,
) -> Result<(StatusCode, Json<Value>)> {
    let row = roles::create(&app.store, scope.tenant(), p.for_create()?).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// ListRole: GET /v1/Roles (and ListServiceRole)
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> Result<Json<ListPage<Value>>> {
    let req = page.validate(LIMITS_50)?;
    let rows = roles::list(&app.store, scope.tenant(), req.clone()).await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "roles",
        page,
        &req,
        &scope.urls.scoped("Roles"),
        &[],
    )))
}

/// FetchRole: GET /v1/Roles/{Sid} (and FetchServiceRole)
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<RolePath>,
) -> Result<Json<Value>> {
    let row = roles::fetch(&app.store, scope.tenant(), p.role).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// UpdateRole: POST /v1/Roles/{Sid} (and UpdateServiceRole). `Permission` is required and
/// replaces the whole list; the permissions are checked against the role's own type.
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<RolePath>,
    TwilioForm(form): TwilioForm<RoleParams>,
) -> Result<Json<Value>> {
    let permissions = permission_list(&form.permission)?;
    let row = roles::update(&app.store, scope.tenant(), p.role, permissions).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteRole: DELETE /v1/Roles/{Sid} (and DeleteServiceRole)
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<RolePath>,
) -> Result<StatusCode> {
    roles::delete(&app.store, scope.tenant(), p.role).await?;
    Ok(StatusCode::NO_CONTENT)
}
