//! Users: `/Users` and `/Users/{Sid}` (SID or identity), under both prefixes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::sid::{Prefix, is_sid};
use crate::store::users::{self, NewUser, Reachability, UserRow, UserUpdate};
use crate::webhooks::pre_action;
use crate::wire::paging::{self, LIMITS_50, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

/// User attributes may be up to 16 KB (BEHAVIOR.md 6).
const MAX_ATTRIBUTES: usize = 16 * 1024;
/// An identity may be up to 256 characters (BEHAVIOR.md 6 and 11).
const MAX_IDENTITY: usize = 256;

/// Users carry `chat_service_sid` under both prefixes (the spec's `user` and `service_user`
/// schemas are the same). `reach` is `None` in lists, where the spec always shows `null`.
pub fn render(row: &UserRow, reach: Option<Reachability>, urls: &Urls) -> Value {
    let url = urls.scoped(&format!("Users/{}", row.sid));
    let reach = reach.unwrap_or_default();
    json!({
        "sid": row.sid,
        "account_sid": row.account_sid,
        "chat_service_sid": row.service_sid,
        "role_sid": row.role_sid,
        "identity": row.identity,
        "friendly_name": row.friendly_name,
        "attributes": row.attributes,
        "is_online": reach.is_online,
        "is_notifiable": reach.is_notifiable,
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "url": url,
        "links": {
            "user_conversations": format!("{url}/Conversations"),
        },
    })
}

/// The parameters of CreateUser and UpdateUser (`Identity` only on create).
#[derive(Debug, Default, Deserialize)]
pub struct UserParams {
    #[serde(rename = "Identity")]
    identity: Option<String>,
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
    #[serde(rename = "Attributes")]
    attributes: Option<String>,
    #[serde(rename = "RoleSid")]
    role_sid: Option<String>,
}

/// An identity: at most 256 characters (50207), never shaped like a user SID (50206), so that
/// `{Sid}` in a path can be either.
fn check_identity(identity: &str) -> ApiResult<()> {
    if identity.chars().count() > MAX_IDENTITY {
        return Err(ApiError::bad_request(
            50207,
            format!("Identity is too long: limit is {MAX_IDENTITY} characters"),
        ));
    }
    if is_sid(Prefix::User, identity) {
        return Err(ApiError::bad_request(
            50206,
            "Identity should not match user SID pattern",
        ));
    }
    Ok(())
}

impl UserParams {
    fn checked_common(&self) -> ApiResult<UserUpdate> {
        Ok(UserUpdate {
            friendly_name: self.friendly_name.clone(),
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            // A malformed SID names no role: the same 50100 as an unknown one.
            role_sid: params::sid("RoleSid", self.role_sid.as_deref(), Prefix::Role, 50100)?,
        })
    }

    fn for_create(&self) -> ApiResult<NewUser> {
        let identity = self
            .identity
            .as_deref()
            .ok_or_else(|| ApiError::missing("Identity"))?;
        check_identity(identity)?;
        let common = self.checked_common()?;
        Ok(NewUser {
            identity: identity.to_string(),
            friendly_name: common.friendly_name,
            attributes: common.attributes,
            role_sid: common.role_sid,
        })
    }
}

#[derive(Deserialize)]
pub struct UserPath {
    user: String,
}

/// CreateUser: POST /v1/Users (and CreateServiceUser: POST /v1/Services/{ChatServiceSid}/Users)
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<UserParams>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (row, reach) = users::create(&app.store, scope.tenant(), p.for_create()?).await?;
    Ok((
        StatusCode::CREATED,
        Json(render(&row, Some(reach), &scope.urls)),
    ))
}

/// ListUser: GET /v1/Users (and ListServiceUser)
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> ApiResult<Json<ListPage<Value>>> {
    let req = page.validate(LIMITS_50)?;
    let rows = users::list(&app.store, scope.tenant(), req.clone()).await?;
    let page = rows.map(|r| render(&r, None, &scope.urls));
    Ok(Json(paging::render(
        "users",
        page,
        &req,
        &scope.urls.scoped("Users"),
        &[],
    )))
}

/// FetchUser: GET /v1/Users/{Sid} (and FetchServiceUser); `{Sid}` is the SID or the identity.
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
) -> ApiResult<Json<Value>> {
    let (row, reach) = users::fetch(&app.store, scope.tenant(), p.user).await?;
    Ok(Json(render(&row, Some(reach), &scope.urls)))
}

/// UpdateUser: POST /v1/Users/{Sid} (and UpdateServiceUser)
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
    TwilioForm(form): TwilioForm<UserParams>,
) -> ApiResult<Json<Value>> {
    let change = form.checked_common()?;
    // A user event's target may veto, not modify (BEHAVIOR.md 17.2).
    if scope.tenant.webhooks {
        let params =
            users::update_event_params(&app.store, scope.tenant(), p.user.clone(), change.clone());
        pre_action::run(&app, &scope.tenant, "onUserUpdate", params).await?;
    }
    let (row, reach) = users::update(&app.store, scope.tenant(), p.user, change).await?;
    Ok(Json(render(&row, Some(reach), &scope.urls)))
}

/// DeleteUser: DELETE /v1/Users/{Sid} (and DeleteServiceUser); the user's participants go too.
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
) -> ApiResult<StatusCode> {
    users::delete(&app.store, scope.tenant(), p.user).await?;
    Ok(StatusCode::NO_CONTENT)
}
