//! A service's push notification configuration:
//! `/v1/Services/{ChatServiceSid}/Configuration/Notifications` (twilio-behavior.md 20). Pushes are
//! disabled on a new service; the settings are kept and returned in Twilio's nested shape.

use crate::wire::json::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::service_configuration::{self, NotificationChange};
use crate::error::Result;
use crate::store::service_configuration::NotificationSettings;
use crate::wire::TwilioForm;
use crate::wire::params;
use crate::wire::urls::Urls;

pub fn render(
    settings: &NotificationSettings,
    account_sid: &str,
    service_sid: &str,
    urls: &Urls,
) -> Value {
    let new_message = &settings.new_message;
    let added = &settings.added_to_conversation;
    let removed = &settings.removed_from_conversation;
    json!({
        "account_sid": account_sid,
        "chat_service_sid": service_sid,
        "log_enabled": settings.log_enabled,
        "new_message": {
            "enabled": new_message.enabled,
            "template": new_message.template,
            "sound": new_message.sound,
            "badge_count_enabled": new_message.badge_count_enabled,
            "with_media": {
                "enabled": new_message.with_media.enabled,
                "template": new_message.with_media.template,
            },
        },
        "added_to_conversation": {
            "enabled": added.enabled,
            "template": added.template,
            "sound": added.sound,
        },
        "removed_from_conversation": {
            "enabled": removed.enabled,
            "template": removed.template,
            "sound": removed.sound,
        },
        "url": urls.scoped("Configuration/Notifications"),
    })
}

/// The parameters of UpdateServiceNotification: every one of the spec.
#[derive(Debug, Default, Deserialize)]
pub struct NotificationParams {
    #[serde(rename = "LogEnabled")]
    log_enabled: Option<String>,
    #[serde(rename = "NewMessage.Enabled")]
    new_message_enabled: Option<String>,
    #[serde(rename = "NewMessage.Template")]
    new_message_template: Option<String>,
    #[serde(rename = "NewMessage.Sound")]
    new_message_sound: Option<String>,
    #[serde(rename = "NewMessage.BadgeCountEnabled")]
    new_message_badge_count_enabled: Option<String>,
    #[serde(rename = "NewMessage.WithMedia.Enabled")]
    new_message_with_media_enabled: Option<String>,
    #[serde(rename = "NewMessage.WithMedia.Template")]
    new_message_with_media_template: Option<String>,
    #[serde(rename = "AddedToConversation.Enabled")]
    added_to_conversation_enabled: Option<String>,
    #[serde(rename = "AddedToConversation.Template")]
    added_to_conversation_template: Option<String>,
    #[serde(rename = "AddedToConversation.Sound")]
    added_to_conversation_sound: Option<String>,
    #[serde(rename = "RemovedFromConversation.Enabled")]
    removed_from_conversation_enabled: Option<String>,
    #[serde(rename = "RemovedFromConversation.Template")]
    removed_from_conversation_template: Option<String>,
    #[serde(rename = "RemovedFromConversation.Sound")]
    removed_from_conversation_sound: Option<String>,
}

impl NotificationParams {
    /// Booleans must be `true`/`false` (`InvalidParameter`). Templates and sounds are free text:
    /// Twilio has codes for too long ones (50058, 50059) but documents no limit, so none is
    /// invented here.
    fn check(self) -> Result<NotificationChange> {
        let flag = |name: &str, value: &Option<String>| params::boolean(name, value.as_deref());
        Ok(NotificationChange {
            log_enabled: flag("LogEnabled", &self.log_enabled)?,
            new_message_enabled: flag("NewMessage.Enabled", &self.new_message_enabled)?,
            new_message_badge_count_enabled: flag(
                "NewMessage.BadgeCountEnabled",
                &self.new_message_badge_count_enabled,
            )?,
            new_message_with_media_enabled: flag(
                "NewMessage.WithMedia.Enabled",
                &self.new_message_with_media_enabled,
            )?,
            added_to_conversation_enabled: flag(
                "AddedToConversation.Enabled",
                &self.added_to_conversation_enabled,
            )?,
            removed_from_conversation_enabled: flag(
                "RemovedFromConversation.Enabled",
                &self.removed_from_conversation_enabled,
            )?,
            new_message_template: self.new_message_template,
            new_message_sound: self.new_message_sound,
            new_message_with_media_template: self.new_message_with_media_template,
            added_to_conversation_template: self.added_to_conversation_template,
            added_to_conversation_sound: self.added_to_conversation_sound,
            removed_from_conversation_template: self.removed_from_conversation_template,
            removed_from_conversation_sound: self.removed_from_conversation_sound,
        })
    }
}

/// FetchServiceNotification: GET /v1/Services/{ChatServiceSid}/Configuration/Notifications
pub async fn fetch(scope: Scope, State(app): State<AppState>) -> Result<Json<Value>> {
    let (service_sid, settings) =
        service_configuration::fetch_notifications(&app.store, scope.tenant()).await?;
    Ok(Json(render(
        &settings,
        scope.account_sid(),
        &service_sid,
        &scope.urls,
    )))
}

/// UpdateServiceNotification: POST /v1/Services/{ChatServiceSid}/Configuration/Notifications
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<NotificationParams>,
) -> Result<Json<Value>> {
    let (service_sid, settings) =
        service_configuration::update_notifications(&app.store, scope.tenant(), p.check()?).await?;
    Ok(Json(render(
        &settings,
        scope.account_sid(),
        &service_sid,
        &scope.urls,
    )))
}
