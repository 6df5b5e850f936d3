//! A service's Configuration: `/v1/Services/{ChatServiceSid}/Configuration` (its default roles
//! and reachability).

use crate::wire::json::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::service_configuration;
use crate::error::{Code, Result};
use crate::sid::Prefix;
use crate::store::service_configuration::{ServiceConfiguration, ServiceConfigurationChange};
use crate::wire::TwilioForm;
use crate::wire::params;
use crate::wire::urls::Urls;

pub fn render(row: &ServiceConfiguration, service_sid: &str, urls: &Urls) -> Value {
    let url = urls.scoped("Configuration");
    json!({
        "chat_service_sid": service_sid,
        "default_conversation_creator_role_sid": row.default_conversation_creator_role_sid,
        "default_conversation_role_sid": row.default_conversation_role_sid,
        "default_chat_service_role_sid": row.default_chat_service_role_sid,
        "reachability_enabled": row.reachability_enabled,
        "url": url,
        "links": {
            "notifications": format!("{url}/Notifications"),
            "webhooks": format!("{url}/Webhooks"),
        },
    })
}

/// The parameters of UpdateServiceConfiguration.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceConfigurationParams {
    #[serde(rename = "DefaultConversationCreatorRoleSid")]
    pub default_conversation_creator_role_sid: Option<String>,
    #[serde(rename = "DefaultConversationRoleSid")]
    pub default_conversation_role_sid: Option<String>,
    #[serde(rename = "DefaultChatServiceRoleSid")]
    pub default_chat_service_role_sid: Option<String>,
    #[serde(rename = "ReachabilityEnabled")]
    pub reachability_enabled: Option<String>,
}

/// A malformed role SID names no role: the same `RoleNotFound` as an unknown one
/// (see domain::service_configuration::check_role for the codes).
fn role_sid(name: &str, value: Option<&str>) -> Result<Option<String>> {
    params::sid(name, value, Prefix::Role, Code::RoleNotFound)
}

impl ServiceConfigurationParams {
    fn check(&self) -> Result<ServiceConfigurationChange> {
        Ok(ServiceConfigurationChange {
            default_conversation_creator_role_sid: role_sid(
                "DefaultConversationCreatorRoleSid",
                self.default_conversation_creator_role_sid.as_deref(),
            )?,
            default_conversation_role_sid: role_sid(
                "DefaultConversationRoleSid",
                self.default_conversation_role_sid.as_deref(),
            )?,
            default_chat_service_role_sid: role_sid(
                "DefaultChatServiceRoleSid",
                self.default_chat_service_role_sid.as_deref(),
            )?,
            reachability_enabled: params::boolean(
                "ReachabilityEnabled",
                self.reachability_enabled.as_deref(),
            )?,
        })
    }
}

/// FetchServiceConfiguration: GET /v1/Services/{ChatServiceSid}/Configuration
pub async fn fetch(scope: Scope, State(app): State<AppState>) -> Result<Json<Value>> {
    let (service_sid, row) = service_configuration::fetch(&app.store, scope.tenant()).await?;
    Ok(Json(render(&row, &service_sid, &scope.urls)))
}

/// UpdateServiceConfiguration: POST /v1/Services/{ChatServiceSid}/Configuration
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<ServiceConfigurationParams>,
) -> Result<Json<Value>> {
    let (service_sid, row) =
        service_configuration::update(&app.store, scope.tenant(), p.check()?).await?;
    Ok(Json(render(&row, &service_sid, &scope.urls)))
}
