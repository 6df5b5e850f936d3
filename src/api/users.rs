//! Users: `/Users` and `/Users/{Sid}` (SID or identity), under both prefixes.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::users::{self, NewUser, Reachability, UserUpdate};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::store::users::UserRow;
use crate::webhook_events::EventType;
use crate::webhooks::pre_action;
use crate::wire::paging::{self, LIMITS_50, PageParams};
use crate::wire::params;
use crate::wire::time::Date;
use crate::wire::urls::{Link, Urls};
use crate::wire::{TwilioForm, TwilioQuery};

/// User attributes may be up to 16 KB (twilio-behavior.md 6).
const MAX_ATTRIBUTES: usize = 16 * 1024;
/// An identity may be up to 256 characters (twilio-behavior.md 6 and 11).
const MAX_IDENTITY: usize = 256;

/// A user as the wire shows it. It borrows its row and is serialized straight into the body,
/// as the other resources' rows are (a `Value` tree per row was about half of a list page's CPU).
#[derive(Debug, Serialize)]
pub struct UserView<'a> {
    sid: &'a str,
    account_sid: &'a str,
    chat_service_sid: &'a str,
    role_sid: Option<&'a str>,
    identity: &'a str,
    friendly_name: Option<&'a str>,
    attributes: &'a str,
    is_online: Option<bool>,
    is_notifiable: Option<bool>,
    date_created: Date,
    date_updated: Date,
    url: Link<'a, 2>,
    links: UserLinks<'a>,
}

#[derive(Debug, Serialize)]
struct UserLinks<'a> {
    user_conversations: Link<'a, 3>,
}

/// Users carry `chat_service_sid` under both prefixes (the spec's `user` and `service_user`
/// schemas are the same). `reach` is `None` in lists, where the spec always shows `null`.
pub fn render<'a>(row: &'a UserRow, reach: Option<Reachability>, urls: &'a Urls) -> UserView<'a> {
    let reach = reach.unwrap_or_default();
    UserView {
        sid: &row.sid,
        account_sid: &row.account_sid,
        chat_service_sid: &row.service_sid,
        role_sid: row.role_sid.as_deref(),
        identity: &row.identity,
        friendly_name: row.friendly_name.as_deref(),
        attributes: &row.attributes,
        is_online: reach.is_online,
        is_notifiable: reach.is_notifiable,
        date_created: Date(row.date_created),
        date_updated: Date(row.date_updated),
        url: urls.link(["Users", &row.sid]),
        links: UserLinks {
            user_conversations: urls.link(["Users", &row.sid, "Conversations"]),
        },
    }
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

/// An identity: at most 256 characters (`IdentityTooLong`), never shaped like a user SID
/// (`IdentityLooksLikeSid`), so that `{Sid}` in a path can be either.
fn check_identity(identity: &str) -> Result<()> {
    if identity.chars().count() > MAX_IDENTITY {
        return Err(params::refused(
            Code::IdentityTooLong,
            "Identity",
            format!("limit is {MAX_IDENTITY} characters"),
        ));
    }
    if is_sid(Prefix::User, identity) {
        return Err(Error::new(Code::IdentityLooksLikeSid));
    }
    Ok(())
}

impl UserParams {
    fn checked_common(&self) -> Result<UserUpdate> {
        Ok(UserUpdate {
            friendly_name: self.friendly_name.clone(),
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            // A malformed SID names no role: the same `RoleNotFound` as an unknown one.
            role_sid: params::sid(
                "RoleSid",
                self.role_sid.as_deref(),
                Prefix::Role,
                Code::RoleNotFound,
            )?,
        })
    }

    fn for_create(&self) -> Result<NewUser> {
        let identity = self
            .identity
            .as_deref()
            .ok_or_else(|| Error::missing("Identity"))?;
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
) -> Result<Response> {
    let (row, reach) = users::create(&app.store, scope.tenant(), p.for_create()?).await?;
    let body = Json(render(&row, Some(reach), &scope.urls));
    Ok((StatusCode::CREATED, body).into_response())
}

/// ListUser: GET /v1/Users (and ListServiceUser)
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> Result<Response> {
    let req = page.validate(LIMITS_50)?;
    let rows = users::list(&app.store, scope.tenant(), req.clone()).await?;
    let page = rows.as_ref().map(|r| render(r, None, &scope.urls));
    let list_url = scope.urls.scoped("Users");
    Ok(Json(paging::render("users", page, &req, &list_url, &[])).into_response())
}

/// FetchUser: GET /v1/Users/{Sid} (and FetchServiceUser); `{Sid}` is the SID or the identity.
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
) -> Result<Response> {
    let (row, reach) = users::fetch(&app.store, scope.tenant(), p.user).await?;
    Ok(Json(render(&row, Some(reach), &scope.urls)).into_response())
}

/// UpdateUser: POST /v1/Users/{Sid} (and UpdateServiceUser)
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
    TwilioForm(form): TwilioForm<UserParams>,
) -> Result<Response> {
    let change = form.checked_common()?;
    // A user event's target may veto, not modify (twilio-behavior.md 17.2).
    if scope.tenant.webhooks {
        let params =
            users::update_event_params(&app.store, scope.tenant(), p.user.clone(), change.clone());
        pre_action::run(&app, &scope.tenant, EventType::UserUpdate, params).await?;
    }
    let (row, reach) = users::update(&app.store, scope.tenant(), p.user, change).await?;
    Ok(Json(render(&row, Some(reach), &scope.urls)).into_response())
}

/// DeleteUser: DELETE /v1/Users/{Sid} (and DeleteServiceUser); the user's participants go too.
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
) -> Result<StatusCode> {
    users::delete(&app.store, scope.tenant(), p.user).await?;
    Ok(StatusCode::NO_CONTENT)
}
