//! confab's own routes, outside Twilio's `/v1` namespace: health, and declaring more tenants
//! (accounts and API keys) at run time, so that a CI suite can give every test its own account.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::store::accounts::{self, Credential};
use crate::wire::TwilioForm;

/// GET /healthz, without auth: answers once the store is open.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Deserialize)]
pub struct CreateAccount {
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
}

/// POST /confab/Accounts: a new isolated account (with its own default service). Only the
/// operator account (the one given by `--account-sid`) may create accounts.
pub async fn create_account(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioForm(p): TwilioForm<CreateAccount>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = app.authenticate(&headers).await?;
    if caller != *app.operator_account {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            20403,
            "Only the operator account may create accounts",
        ));
    }
    let name = p.friendly_name.unwrap_or_else(|| "confab account".into());
    let account = accounts::create(&app.store, name).await?;
    app.credentials.add(Credential {
        username: account.account_sid.clone(),
        secret: account.auth_token.clone(),
        account_sid: account.account_sid.clone(),
    });
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(account).map_err(ApiError::internal)?),
    ))
}

#[derive(Deserialize)]
pub struct AccountPath {
    account: String,
}

/// POST /confab/Accounts/{AccountSid}/Keys: a new API key (SK...) whose secret opens the
/// account in Basic auth, as Twilio's API keys do. The account itself or the operator may ask.
pub async fn create_api_key(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
    TwilioForm(form): TwilioForm<CreateAccount>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = app.authenticate(&headers).await?;
    if caller != p.account && caller != *app.operator_account {
        return Err(ApiError::not_found(&format!(
            "/confab/Accounts/{}/Keys",
            p.account
        )));
    }
    let name = form.friendly_name.unwrap_or_else(|| "confab key".into());
    let key = accounts::create_api_key(&app.store, p.account, name).await?;
    app.credentials.add(Credential {
        username: key.sid.clone(),
        secret: key.secret.clone(),
        account_sid: key.account_sid.clone(),
    });
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(key).map_err(ApiError::internal)?),
    ))
}
