//! The account's Configuration: `/v1/Configuration` (account level only). Its
//! `default_chat_service_sid` is the service every `/v1/...` shorthand URL acts on.

use crate::wire::json::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::configuration;
use crate::error::{Code, Result};
use crate::sid::Prefix;
use crate::store::configuration::{AccountConfiguration, AccountConfigurationChange};
use crate::wire::TwilioForm;
use crate::wire::params::{self, CLOSED_TIMER, INACTIVE_TIMER};
use crate::wire::urls::Urls;

pub fn render(row: &AccountConfiguration, account_sid: &str, urls: &Urls) -> Value {
    let service_link = row
        .default_chat_service_sid
        .as_ref()
        .map(|sid| urls.v1(&format!("Services/{sid}/Configuration")));
    json!({
        "account_sid": account_sid,
        "default_chat_service_sid": row.default_chat_service_sid,
        "default_messaging_service_sid": row.default_messaging_service_sid,
        "default_inactive_timer": row.default_inactive_timer,
        "default_closed_timer": row.default_closed_timer,
        "url": urls.v1("Configuration"),
        "links": {
            "service": service_link,
            "webhooks": urls.v1("Configuration/Webhooks"),
        },
    })
}

/// The parameters of UpdateConfiguration.
#[derive(Debug, Default, Deserialize)]
pub struct ConfigurationParams {
    #[serde(rename = "DefaultChatServiceSid")]
    pub default_chat_service_sid: Option<String>,
    #[serde(rename = "DefaultMessagingServiceSid")]
    pub default_messaging_service_sid: Option<String>,
    #[serde(rename = "DefaultInactiveTimer")]
    pub default_inactive_timer: Option<String>,
    #[serde(rename = "DefaultClosedTimer")]
    pub default_closed_timer: Option<String>,
}

impl ConfigurationParams {
    fn check(&self) -> Result<AccountConfigurationChange> {
        // The account defaults become new conversations' own timers: the same rules and codes.
        // They are stored and echoed back as the client wrote them.
        INACTIVE_TIMER.check(
            "DefaultInactiveTimer",
            self.default_inactive_timer.as_deref(),
        )?;
        CLOSED_TIMER.check("DefaultClosedTimer", self.default_closed_timer.as_deref())?;
        Ok(AccountConfigurationChange {
            // A malformed SID names no service either: the same `ServiceNotFound` as an unknown one
            // (see domain::configuration::check_own_service).
            default_chat_service_sid: params::sid(
                "DefaultChatServiceSid",
                self.default_chat_service_sid.as_deref(),
                Prefix::Service,
                Code::ServiceNotFound,
            )?,
            // confab has no Messaging Services to look up: any well-formed MG SID is taken, as a
            // conversation's own MessagingServiceSid is (`InvalidMessagingServiceSid` when
            // malformed).
            default_messaging_service_sid: params::sid(
                "DefaultMessagingServiceSid",
                self.default_messaging_service_sid.as_deref(),
                Prefix::MessagingService,
                Code::InvalidMessagingServiceSid,
            )?,
            default_inactive_timer: self.default_inactive_timer.clone(),
            default_closed_timer: self.default_closed_timer.clone(),
        })
    }
}

/// FetchConfiguration: GET /v1/Configuration
pub async fn fetch(scope: Scope, State(app): State<AppState>) -> Result<Json<Value>> {
    let row = configuration::fetch(&app.store, scope.tenant()).await?;
    Ok(Json(render(&row, scope.account_sid(), &scope.urls)))
}

/// UpdateConfiguration: POST /v1/Configuration
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<ConfigurationParams>,
) -> Result<Json<Value>> {
    let row = configuration::update(&app.store, scope.tenant(), p.check()?).await?;
    Ok(Json(render(&row, scope.account_sid(), &scope.urls)))
}
