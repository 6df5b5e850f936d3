//! A service's webhook configuration: `/v1/Services/{ChatServiceSid}/Configuration/Webhooks`.
//! Once it has a URL, the service's events go there instead of to the account's configuration
//! (twilio-behavior.md 17.1). All fields are null on a new service (the spec's `fetchEmpty`).

use crate::wire::json::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::account_webhooks::WebhookConfigParams;
use super::scope::Scope;
use crate::app::AppState;
use crate::domain::service_configuration;
use crate::error::Result;
use crate::store::configuration::WebhookLevel;
use crate::wire::TwilioForm;
use crate::wire::urls::Urls;

pub fn render(config: &WebhookLevel, account_sid: &str, service_sid: &str, urls: &Urls) -> Value {
    json!({
        "account_sid": account_sid,
        "chat_service_sid": service_sid,
        "pre_webhook_url": config.pre_url,
        "post_webhook_url": config.post_url,
        "filters": config.filters,
        "method": config.method,
        "url": urls.scoped("Configuration/Webhooks"),
    })
}

/// FetchServiceWebhookConfiguration: GET /v1/Services/{ChatServiceSid}/Configuration/Webhooks
pub async fn fetch(scope: Scope, State(app): State<AppState>) -> Result<Json<Value>> {
    let (service_sid, config) =
        service_configuration::fetch_webhooks(&app.store, scope.tenant()).await?;
    Ok(Json(render(
        &config,
        scope.account_sid(),
        &service_sid,
        &scope.urls,
    )))
}

/// UpdateServiceWebhookConfiguration: POST /v1/Services/{ChatServiceSid}/Configuration/Webhooks
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<WebhookConfigParams>,
) -> Result<Json<Value>> {
    let (service_sid, config) =
        service_configuration::update_webhooks(&app.store, scope.tenant(), p.check(false)?).await?;
    Ok(Json(render(
        &config,
        scope.account_sid(),
        &service_sid,
        &scope.urls,
    )))
}
