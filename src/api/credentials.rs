//! Push credentials: `/v1/Credentials` and `/v1/Credentials/{Sid}` (account level only).
//!
//! The secrets (`Certificate`, `PrivateKey`, `ApiKey`, `Secret`) are write-only: accepted and
//! stored, never rendered (the store does not even read them back).

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::credentials::{self, CredentialUpdate, NewCredential};
use crate::error::{Code, Error, Result};
use crate::store::credentials::{CredentialRow, Secrets};
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

/// `credential_enum_push_type`.
pub const TYPES: &[&str] = &["apn", "gcm", "fcm"];
/// A credential's friendly name is limited to 64 characters (twilio-behavior.md 6).
const MAX_FRIENDLY_NAME: usize = 64;

pub fn render(row: &CredentialRow, urls: &Urls) -> Value {
    json!({
        "sid": row.sid,
        "account_sid": row.account_sid,
        "friendly_name": row.friendly_name,
        "type": row.credential_type,
        // A string, capitalised as the spec's examples show it ("False"), for every type.
        "sandbox": if row.sandbox { "True" } else { "False" },
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "url": urls.v1(&format!("Credentials/{}", row.sid)),
    })
}

/// The push type, matched without regard to case (the spec's examples send `GcM` and `FcM`) and
/// kept in the enum's lower case.
pub fn push_type(value: Option<&str>) -> Result<Option<&'static str>> {
    let Some(value) = value else { return Ok(None) };
    TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(value))
        .copied()
        .map(Some)
        .ok_or_else(|| {
            Error::invalid(
                "Type",
                format!("'{value}' is not one of {}", TYPES.join(", ")),
            )
        })
}

/// The parameters of CreateCredential and UpdateCredential.
#[derive(Debug, Default, Deserialize)]
pub struct CredentialParams {
    #[serde(rename = "Type")]
    credential_type: Option<String>,
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
    #[serde(rename = "Certificate")]
    certificate: Option<String>,
    #[serde(rename = "PrivateKey")]
    private_key: Option<String>,
    #[serde(rename = "Sandbox")]
    sandbox: Option<String>,
    #[serde(rename = "ApiKey")]
    api_key: Option<String>,
    #[serde(rename = "Secret")]
    secret: Option<String>,
}

impl CredentialParams {
    fn secrets(&self) -> Secrets {
        Secrets {
            certificate: self.certificate.clone(),
            private_key: self.private_key.clone(),
            api_key: self.api_key.clone(),
            secret: self.secret.clone(),
        }
    }

    fn friendly_name(&self) -> Result<Option<String>> {
        params::text(
            "FriendlyName",
            self.friendly_name.as_deref(),
            MAX_FRIENDLY_NAME,
            Code::FriendlyNameTooLong,
        )
    }

    fn for_create(&self) -> Result<NewCredential> {
        let credential_type =
            push_type(self.credential_type.as_deref())?.ok_or_else(|| Error::missing("Type"))?;
        Ok(NewCredential {
            credential_type: credential_type.to_string(),
            friendly_name: self.friendly_name()?,
            sandbox: params::boolean("Sandbox", self.sandbox.as_deref())?,
            secrets: self.secrets(),
        })
    }

    /// Checks an update. `Type` may be sent (the spec lists it), but the store accepts only
    /// the credential's own type: its secrets are that vendor's, so the type never changes.
    fn for_update(&self) -> Result<CredentialUpdate> {
        Ok(CredentialUpdate {
            credential_type: push_type(self.credential_type.as_deref())?.map(str::to_string),
            friendly_name: self.friendly_name()?,
            sandbox: params::boolean("Sandbox", self.sandbox.as_deref())?,
            secrets: self.secrets(),
        })
    }
}

#[derive(Deserialize)]
pub struct CredentialPath {
    credential: String,
}

/// CreateCredential: POST /v1/Credentials
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<CredentialParams>,
) -> Result<(StatusCode, Json<Value>)> {
    let row = credentials::create(&app.store, scope.tenant(), p.for_create()?).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// ListCredential: GET /v1/Credentials
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> Result<Json<ListPage<Value>>> {
    let req = page.validate(LIMITS_100)?;
    let rows = credentials::list(&app.store, scope.tenant(), req.clone()).await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "credentials",
        page,
        &req,
        &scope.urls.v1("Credentials"),
        &[],
    )))
}

/// FetchCredential: GET /v1/Credentials/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<CredentialPath>,
) -> Result<Json<Value>> {
    let row = credentials::fetch(&app.store, scope.tenant(), p.credential).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// UpdateCredential: POST /v1/Credentials/{Sid}
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<CredentialPath>,
    TwilioForm(form): TwilioForm<CredentialParams>,
) -> Result<Json<Value>> {
    let row =
        credentials::update(&app.store, scope.tenant(), p.credential, form.for_update()?).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteCredential: DELETE /v1/Credentials/{Sid}
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<CredentialPath>,
) -> Result<StatusCode> {
    credentials::delete(&app.store, scope.tenant(), p.credential).await?;
    Ok(StatusCode::NO_CONTENT)
}
