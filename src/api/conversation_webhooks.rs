//! Conversation-scoped webhooks: `/Conversations/{ConversationSid}/Webhooks` and
//! `/Conversations/{ConversationSid}/Webhooks/{Sid}`, under both prefixes (twilio-behavior.md 17.7).

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::account_webhooks::http_method;
use super::scope::Scope;
use crate::app::AppState;
use crate::domain::conversation_webhooks::{self, ConversationWebhook, NewWebhook, WebhookUpdate};
use crate::error::{Code, Error, Result};
use crate::sid::Prefix;
use crate::states::WebhookTarget;
use crate::store::conversation_webhooks::ScopedWebhook;
use crate::webhook_events::{self, Accepted};
use crate::wire::paging::{self, LIMITS_5, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::{Urls, encode};
use crate::wire::{TwilioForm, TwilioQuery};

/// `Configuration.Url` is at most 512 characters (`WebhookUrlTooLong`).
const MAX_URL: usize = 512;
/// At most 5 trigger keywords (`TooManyWebhookTriggers`), each non-empty and at most 248 characters
/// (`InvalidWebhookTrigger`).
const MAX_TRIGGERS: usize = 5;
const MAX_TRIGGER: usize = 248;

/// `configuration`: the settings this webhook has, and only those. The spec's examples show
/// `{url, method, filters}` for a webhook and `{flow_sid}` for a studio target, without null
/// keys for the rest; `triggers` and `replay_after` appear when set, under their parameter
/// names.
fn render_configuration(row: &ScopedWebhook) -> Value {
    let mut config = Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            config.insert(key.to_string(), value);
        }
    };
    put("url", json!(row.url));
    put("method", json!(row.method));
    put("filters", json!(row.filters));
    put("triggers", json!(row.triggers));
    put("flow_sid", json!(row.flow_sid));
    put("replay_after", json!(row.replay_after));
    Value::Object(config)
}

pub fn render(attached: &ConversationWebhook, urls: &Urls) -> Value {
    let row = &attached.webhook;
    let conversation_sid = &attached.conversation_sid;
    let mut body = json!({
        "account_sid": attached.account_sid,
        "conversation_sid": conversation_sid,
        "sid": row.sid,
        "target": row.target.as_str(),
        "configuration": render_configuration(row),
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "url": urls.scoped(&format!("Conversations/{conversation_sid}/Webhooks/{}", row.sid)),
    });
    // The default-service family has no chat_service_sid; the /v1/Services/{sid} family has it.
    if urls.is_service_scoped() {
        body["chat_service_sid"] = json!(attached.service_sid);
    }
    body
}

/// The parameters of CreateConversationScopedWebhook and UpdateConversationScopedWebhook.
#[derive(Debug, Default, Deserialize)]
pub struct WebhookParams {
    #[serde(rename = "Target")]
    target: Option<String>,
    #[serde(rename = "Configuration.Url")]
    url: Option<String>,
    #[serde(rename = "Configuration.Method")]
    method: Option<String>,
    #[serde(rename = "Configuration.Filters", default)]
    filters: Vec<String>,
    #[serde(rename = "Configuration.Triggers", default)]
    triggers: Vec<String>,
    #[serde(rename = "Configuration.FlowSid")]
    flow_sid: Option<String>,
    #[serde(rename = "Configuration.ReplayAfter")]
    replay_after: Option<String>,
}

/// The settings of either operation, each checked on its own.
struct Checked {
    target: Option<WebhookTarget>,
    url: Option<String>,
    method: Option<String>,
    filters: Option<Vec<String>>,
    triggers: Option<Vec<String>>,
    flow_sid: Option<String>,
}

/// `Target`: one of the spec's names (`InvalidWebhookTarget` otherwise).
fn check_target(target: Option<&str>) -> Result<Option<WebhookTarget>> {
    let names = WebhookTarget::ALL.map(WebhookTarget::as_str);
    let name = params::one_of("Target", target, &names, Code::InvalidWebhookTarget)?;
    Ok(name.and_then(WebhookTarget::parse))
}

fn check_url(url: Option<&str>) -> Result<Option<String>> {
    params::text("Configuration.Url", url, MAX_URL, Code::WebhookUrlTooLong)
}

/// Post-event names only (see `webhook_events::Accepted::PostOnly`); `InvalidWebhookFilter`
/// otherwise.
fn check_filters(filters: &[String]) -> Result<Option<Vec<String>>> {
    if filters.is_empty() {
        return Ok(None);
    }
    if let Some(bad) = webhook_events::first_unknown(filters, Accepted::PostOnly) {
        return Err(Error::with(
            Code::InvalidWebhookFilter,
            format!("'{bad}' is not a post-event"),
        ));
    }
    Ok(Some(webhook_events::dedup(filters.to_vec())))
}

fn check_triggers(triggers: &[String]) -> Result<Option<Vec<String>>> {
    if triggers.is_empty() {
        return Ok(None);
    }
    if triggers.len() > MAX_TRIGGERS {
        return Err(Error::with(
            Code::TooManyWebhookTriggers,
            format!("at most {MAX_TRIGGERS}"),
        ));
    }
    if let Some(bad) = triggers
        .iter()
        .find(|t| t.is_empty() || t.chars().count() > MAX_TRIGGER)
    {
        return Err(Error::with(
            Code::InvalidWebhookTrigger,
            format!("'{bad}': a trigger is 1 to {MAX_TRIGGER} characters"),
        ));
    }
    Ok(Some(triggers.to_vec()))
}

impl WebhookParams {
    fn check(&self) -> Result<Checked> {
        Ok(Checked {
            target: check_target(self.target.as_deref())?,
            url: check_url(self.url.as_deref())?,
            // Echoed lower case, as the spec's enum (`get`/`post`) and examples have it.
            method: http_method(self.method.as_deref())?.map(str::to_ascii_lowercase),
            filters: check_filters(&self.filters)?,
            triggers: check_triggers(&self.triggers)?,
            flow_sid: params::sid(
                "Configuration.FlowSid",
                self.flow_sid.as_deref(),
                Prefix::Flow,
                Code::InvalidWebhookFlowSid,
            )?,
        })
    }

    /// A create: `Target` is required (`WebhookTargetMissing`), and each target needs its own
    /// settings: a URL for `webhook` and `trigger` (`WebhookUrlMissing`), filters for `webhook`
    /// (`WebhookFiltersMissing`), keywords for `trigger` (`WebhookTriggersMissing`), a Flow SID for
    /// `studio` (`InvalidWebhookFlowSid`). The method defaults to `post` (twilio-behavior.md 17.1)
    /// where there is a URL to call.
    fn for_create(&self) -> Result<NewWebhook> {
        let c = self.check()?;
        let target = c
            .target
            .ok_or_else(|| Error::with(Code::WebhookTargetMissing, "Target"))?;
        let replay_after = params::integer(
            "Configuration.ReplayAfter",
            self.replay_after.as_deref(),
            Code::InvalidParameter,
        )?;
        if replay_after.is_some_and(|i| i < 0) {
            return Err(Error::invalid(
                "Configuration.ReplayAfter",
                "must be a message index (0 or more)",
            ));
        }
        let calls_url = target != WebhookTarget::Studio;
        if calls_url && c.url.is_none() {
            return Err(Error::with(Code::WebhookUrlMissing, "Configuration.Url"));
        }
        if target == WebhookTarget::Webhook && c.filters.is_none() {
            return Err(Error::with(
                Code::WebhookFiltersMissing,
                "Configuration.Filters",
            ));
        }
        if target == WebhookTarget::Trigger && c.triggers.is_none() {
            return Err(Error::with(
                Code::WebhookTriggersMissing,
                "Configuration.Triggers",
            ));
        }
        if target == WebhookTarget::Studio && c.flow_sid.is_none() {
            return Err(Error::with(
                Code::InvalidWebhookFlowSid,
                "Configuration.FlowSid is required for a studio target",
            ));
        }
        let method = c.method.or_else(|| calls_url.then(|| "post".to_string()));
        Ok(NewWebhook {
            target,
            url: c.url,
            method,
            filters: c.filters,
            triggers: c.triggers,
            flow_sid: c.flow_sid,
            replay_after,
        })
    }

    /// An update: each setting sent is checked; `Target` may only repeat the current one (the
    /// domain checks it) and `Configuration.ReplayAfter` is create-only (ignored here).
    fn for_update(&self) -> Result<WebhookUpdate> {
        let c = self.check()?;
        Ok(WebhookUpdate {
            target: c.target,
            url: c.url,
            method: c.method,
            filters: c.filters,
            triggers: c.triggers,
            flow_sid: c.flow_sid,
        })
    }
}

#[derive(Deserialize)]
pub struct WebhooksPath {
    conversation: String,
}

#[derive(Deserialize)]
pub struct WebhookPath {
    conversation: String,
    webhook: String,
}

/// CreateConversationScopedWebhook (CreateServiceConversationScopedWebhook under
/// `/v1/Services/{ChatServiceSid}`): POST /v1/Conversations/{ConversationSid}/Webhooks
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<WebhooksPath>,
    TwilioForm(form): TwilioForm<WebhookParams>,
) -> Result<(StatusCode, Json<Value>)> {
    let new = form.for_create()?;
    let row =
        conversation_webhooks::create(&app.store, scope.tenant(), p.conversation, new).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// ListConversationScopedWebhook (ListServiceConversationScopedWebhook under
/// `/v1/Services/{ChatServiceSid}`): GET /v1/Conversations/{ConversationSid}/Webhooks
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<WebhooksPath>,
    TwilioQuery(q): TwilioQuery<PageParams>,
) -> Result<Json<ListPage<Value>>> {
    let req = q.validate(LIMITS_5)?;
    let list_url = scope.urls.scoped(&format!(
        "Conversations/{}/Webhooks",
        encode(&p.conversation)
    ));
    let rows = conversation_webhooks::list(&app.store, scope.tenant(), p.conversation, req.clone())
        .await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render("webhooks", page, &req, &list_url, &[])))
}

/// FetchConversationScopedWebhook (FetchServiceConversationScopedWebhook under
/// `/v1/Services/{ChatServiceSid}`): GET /v1/Conversations/{ConversationSid}/Webhooks/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<WebhookPath>,
) -> Result<Json<Value>> {
    let row =
        conversation_webhooks::fetch(&app.store, scope.tenant(), p.conversation, p.webhook).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// UpdateConversationScopedWebhook (UpdateServiceConversationScopedWebhook under
/// `/v1/Services/{ChatServiceSid}`): POST /v1/Conversations/{ConversationSid}/Webhooks/{Sid}
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<WebhookPath>,
    TwilioForm(form): TwilioForm<WebhookParams>,
) -> Result<Json<Value>> {
    let change = form.for_update()?;
    let row = conversation_webhooks::update(
        &app.store,
        scope.tenant(),
        p.conversation,
        p.webhook,
        change,
    )
    .await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteConversationScopedWebhook (DeleteServiceConversationScopedWebhook under
/// `/v1/Services/{ChatServiceSid}`): DELETE /v1/Conversations/{ConversationSid}/Webhooks/{Sid}
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<WebhookPath>,
) -> Result<StatusCode> {
    conversation_webhooks::delete(&app.store, scope.tenant(), p.conversation, p.webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}
