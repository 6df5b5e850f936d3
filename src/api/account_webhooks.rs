//! The account's (global) webhook configuration: `/v1/Configuration/Webhooks`. It applies to
//! the services that have no webhook configuration of their own (twilio-behavior.md 17.1). Also the
//! parameters shared with the service level (`api::service_webhooks`).

use crate::wire::json::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::configuration;
use crate::error::{Code, Error, Result};
use crate::store::configuration::{WebhookLevel, WebhookLevelChange};
use crate::webhook_events::{self, Accepted};
use crate::wire::TwilioForm;
use crate::wire::form::keep_empty;
use crate::wire::params;
use crate::wire::urls::Urls;

pub fn render(config: &WebhookLevel, account_sid: &str, urls: &Urls) -> Value {
    json!({
        "account_sid": account_sid,
        "method": config.method,
        "filters": config.filters,
        "pre_webhook_url": config.pre_url,
        "post_webhook_url": config.post_url,
        "target": config.target,
        "url": urls.v1("Configuration/Webhooks"),
    })
}

/// The parameters of UpdateConfigurationWebhook and UpdateServiceWebhookConfiguration.
#[derive(Debug, Default, Deserialize)]
pub struct WebhookConfigParams {
    #[serde(rename = "Method")]
    pub method: Option<String>,
    #[serde(rename = "Filters", default)]
    pub filters: Vec<String>,
    #[serde(rename = "PreWebhookUrl", default, deserialize_with = "keep_empty")]
    pub pre_webhook_url: Option<String>,
    #[serde(rename = "PostWebhookUrl", default, deserialize_with = "keep_empty")]
    pub post_webhook_url: Option<String>,
    #[serde(rename = "Target")]
    pub target: Option<String>,
}

/// `GET` or `POST`, in any case, as upper case (how the account and service levels echo it;
/// conversation-scoped webhooks echo it lower case). Anything else is `InvalidWebhookMethod`.
pub fn http_method(value: Option<&str>) -> Result<Option<&'static str>> {
    let Some(value) = value else { return Ok(None) };
    match value.to_ascii_uppercase().as_str() {
        "GET" => Ok(Some("GET")),
        "POST" => Ok(Some("POST")),
        _ => Err(Error::with(
            Code::InvalidWebhookMethod,
            format!("'{value}': expected GET or POST"),
        )),
    }
}

/// A webhook URL: absolute, http or https. Sent empty, it clears the setting (`Some(None)`).
fn webhook_url(name: &str, value: Option<&str>) -> Result<Option<Option<String>>> {
    match value {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(url) if is_absolute_http_url(url) => Ok(Some(Some(url.to_string()))),
        Some(url) => Err(Error::with(
            Code::InvalidWebhook,
            format!("{name} '{url}' is not an absolute http(s) URL"),
        )),
    }
}

pub fn is_absolute_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// `Filters`: event names (all 23, twilio-behavior.md 17.2). Not sent keeps the list; sent once empty
/// (`Filters=`) clears it.
fn filters(values: &[String]) -> Result<Option<Option<Vec<String>>>> {
    match values {
        [] => Ok(None),
        [only] if only.is_empty() => Ok(Some(None)),
        names => {
            if let Some(bad) = webhook_events::first_unknown(names, Accepted::PreAndPost) {
                // `InvalidWebhook` at the account and service levels:
                // `InvalidWebhookFilter` belongs to conversation-scoped webhooks.
                return Err(Error::with(
                    Code::InvalidWebhook,
                    format!("'{bad}' is not a webhook event"),
                ));
            }
            Ok(Some(Some(webhook_events::dedup(names.to_vec()))))
        }
    }
}

impl WebhookConfigParams {
    /// Validates a change; `Target` is read at the account level only (the service level has
    /// no such parameter, so there it is ignored like any unknown one).
    pub fn check(&self, with_target: bool) -> Result<WebhookLevelChange> {
        let target = if with_target {
            // No Conversations code names a bad routing target: the generic `InvalidParameter`.
            params::one_of(
                "Target",
                self.target.as_deref(),
                &["webhook", "flex"],
                Code::InvalidParameter,
            )?
            .map(str::to_string)
        } else {
            None
        };
        Ok(WebhookLevelChange {
            method: http_method(self.method.as_deref())?.map(str::to_string),
            filters: filters(&self.filters)?,
            pre_url: webhook_url("PreWebhookUrl", self.pre_webhook_url.as_deref())?,
            post_url: webhook_url("PostWebhookUrl", self.post_webhook_url.as_deref())?,
            target,
        })
    }
}

/// FetchConfigurationWebhook: GET /v1/Configuration/Webhooks
pub async fn fetch(scope: Scope, State(app): State<AppState>) -> Result<Json<Value>> {
    let config = configuration::fetch_webhooks(&app.store, scope.tenant()).await?;
    Ok(Json(render(&config, scope.account_sid(), &scope.urls)))
}

/// UpdateConfigurationWebhook: POST /v1/Configuration/Webhooks
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<WebhookConfigParams>,
) -> Result<Json<Value>> {
    let config = configuration::update_webhooks(&app.store, scope.tenant(), p.check(true)?).await?;
    Ok(Json(render(&config, scope.account_sid(), &scope.urls)))
}
