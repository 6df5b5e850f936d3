//! Services: `/v1/Services`, `/v1/Services/{Sid}`.

use crate::wire::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::services;
use crate::error::{Code, Error, Result};
use crate::store::services::ServiceRow;
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::params::text;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

pub fn render(row: &ServiceRow, urls: &Urls) -> Value {
    let url = urls.v1(&format!("Services/{}", row.sid));
    json!({
        "account_sid": row.account_sid,
        "sid": row.sid,
        "friendly_name": row.friendly_name,
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "url": url,
        "links": {
            "conversations": format!("{url}/Conversations"),
            "users": format!("{url}/Users"),
            "roles": format!("{url}/Roles"),
            "bindings": format!("{url}/Bindings"),
            "configuration": format!("{url}/Configuration"),
            "participant_conversations": format!("{url}/ParticipantConversations"),
            "conversation_with_participants": format!("{url}/ConversationWithParticipants"),
        },
    })
}

#[derive(Deserialize)]
pub struct CreateService {
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
}

/// CreateService: POST /v1/Services
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<CreateService>,
) -> Result<(StatusCode, Json<Value>)> {
    let name = p
        .friendly_name
        .ok_or_else(|| Error::missing("FriendlyName"))?;
    let name =
        text("FriendlyName", Some(&name), 256, Code::FriendlyNameTooLong)?.unwrap_or_default();
    let row = services::create(&app.store, scope.account_sid().to_string(), name).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// ListService: GET /v1/Services
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> Result<Json<ListPage<Value>>> {
    let req = page.validate(LIMITS_100)?;
    let rows = services::list(&app.store, scope.account_sid().to_string(), req.clone()).await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "services",
        page,
        &req,
        &scope.urls.v1("Services"),
        &[],
    )))
}

/// FetchService: GET /v1/Services/{Sid}
pub async fn fetch(scope: Scope, State(app): State<AppState>) -> Result<Json<Value>> {
    let row = services::fetch(&app.store, scope.tenant()).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteService: DELETE /v1/Services/{Sid}
pub async fn delete(scope: Scope, State(app): State<AppState>) -> Result<StatusCode> {
    services::delete(&app.store, scope.tenant()).await?;
    Ok(StatusCode::NO_CONTENT)
}
