//! Push bindings: `/v1/Services/{ChatServiceSid}/Bindings` and `.../Bindings/{Sid}` (service
//! level only): list, fetch, delete. They are created by device registration, which confab
//! offers as an extension (`api/push_registrations.rs`).

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::bindings;
use crate::error::{Code, Result};
use crate::store::bindings::{BindingFilter, BindingRow};
use crate::wire::TwilioQuery;
use crate::wire::form::keep_empty;
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;

/// `service_binding_enum_binding_type`.
pub const BINDING_TYPES: &[&str] = &["apn", "gcm", "fcm", "twilsock"];

pub fn render(row: &BindingRow, urls: &Urls) -> Value {
    json!({
        "sid": row.sid,
        "account_sid": row.account_sid,
        "chat_service_sid": row.service_sid,
        "credential_sid": row.credential_sid,
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "endpoint": row.endpoint,
        "identity": row.identity,
        "binding_type": row.binding_type,
        "message_types": row.message_types,
        "url": urls.v1(&format!("Services/{}/Bindings/{}", row.service_sid, row.sid)),
    })
}

/// A binding type, checked against the enum (`InvalidBindingType`).
pub fn binding_type(value: &str) -> Result<&'static str> {
    BINDING_TYPES
        .iter()
        .find(|t| **t == value)
        .copied()
        .ok_or_else(|| {
            params::refused(
                Code::InvalidBindingType,
                "BindingType",
                format!("'{value}', expected one of: {}", BINDING_TYPES.join(", ")),
            )
        })
}

/// The query of ListServiceBinding. Both filters repeat (`BindingType=apn&BindingType=fcm`);
/// the paging parameters are spelled out here because `serde(flatten)` would lose the
/// repeated keys.
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(rename = "BindingType", default)]
    binding_types: Vec<String>,
    #[serde(rename = "Identity", default)]
    identities: Vec<String>,
    #[serde(rename = "PageSize", default, deserialize_with = "keep_empty")]
    page_size: Option<String>,
    #[serde(rename = "Page", default, deserialize_with = "keep_empty")]
    page: Option<String>,
    #[serde(rename = "PageToken", default, deserialize_with = "keep_empty")]
    page_token: Option<String>,
}

#[derive(Deserialize)]
pub struct BindingPath {
    binding: String,
}

/// ListServiceBinding: GET /v1/Services/{ChatServiceSid}/Bindings
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(q): TwilioQuery<ListQuery>,
) -> Result<Json<ListPage<Value>>> {
    let req = PageParams {
        page_size: q.page_size,
        page: q.page,
        page_token: q.page_token,
    }
    .validate(LIMITS_100)?;
    for t in &q.binding_types {
        binding_type(t)?;
    }
    let echoed: Vec<(&str, String)> = q
        .binding_types
        .iter()
        .map(|t| ("BindingType", t.clone()))
        .chain(q.identities.iter().map(|i| ("Identity", i.clone())))
        .collect();
    let filter = BindingFilter {
        binding_types: q.binding_types,
        identities: q.identities,
    };
    let rows = bindings::list(&app.store, scope.tenant(), filter, req.clone()).await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "bindings",
        page,
        &req,
        &scope.urls.scoped("Bindings"),
        &echoed,
    )))
}

/// FetchServiceBinding: GET /v1/Services/{ChatServiceSid}/Bindings/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<BindingPath>,
) -> Result<Json<Value>> {
    let row = bindings::fetch(&app.store, scope.tenant(), p.binding).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteServiceBinding: DELETE /v1/Services/{ChatServiceSid}/Bindings/{Sid}
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<BindingPath>,
) -> Result<StatusCode> {
    bindings::delete(&app.store, scope.tenant(), p.binding).await?;
    Ok(StatusCode::NO_CONTENT)
}
