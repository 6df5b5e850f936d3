//! A service's configuration: `/v1/Services/{IS}/Configuration` (default roles, reachability),
//! `.../Configuration/Notifications` (push settings) and `.../Configuration/Webhooks` (the
//! service-level webhook configuration, which overrides the account's). The configuration and
//! webhook rows are inserted with the service (`ServiceStore::insert_service`); the
//! notification settings have a row once first set.
//!
//! The service's webhook level is read where events read it, `WebhookStore::service_webhooks`;
//! its change is the account level's (`store::configuration::WebhookLevelChange`).

use serde::{Deserialize, Serialize};

use super::configuration::WebhookLevelChange;
use crate::error::Result;

/// A service's `/Configuration`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConfiguration {
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: bool,
}

/// A change to a service's configuration: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfigurationChange {
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: Option<bool>,
}

/// The push settings of one event (`added_to_conversation`, `removed_from_conversation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSettings {
    pub enabled: bool,
    pub template: Option<String>,
    pub sound: Option<String>,
}

/// `new_message.with_media`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaPushSettings {
    pub enabled: bool,
    pub template: Option<String>,
}

/// `new_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessagePushSettings {
    pub enabled: bool,
    pub template: Option<String>,
    pub sound: Option<String>,
    pub badge_count_enabled: bool,
    pub with_media: MediaPushSettings,
}

/// A service's push notification configuration, in Twilio's nested wire shape (the SQLite
/// engine keeps it as this JSON object; a setting missing from a stored object reads as its
/// default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    pub log_enabled: bool,
    pub new_message: NewMessagePushSettings,
    pub added_to_conversation: PushSettings,
    pub removed_from_conversation: PushSettings,
}

/// What a new service starts with: every push disabled (twilio-behavior.md 20), the default templates
/// of the spec's example, no sound (the device's own).
impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            log_enabled: false,
            new_message: NewMessagePushSettings {
                enabled: false,
                template: Some(
                    "You have a new message in ${CONVERSATION} from ${PARTICIPANT}: ${MESSAGE}"
                        .into(),
                ),
                sound: None,
                badge_count_enabled: false,
                with_media: MediaPushSettings {
                    enabled: false,
                    template: Some(
                        "You have a new message in ${CONVERSATION} with ${MEDIA_COUNT} media files: ${MEDIA}"
                            .into(),
                    ),
                },
            },
            added_to_conversation: PushSettings {
                enabled: false,
                template: Some("You have been added to a Conversation: ${CONVERSATION}".into()),
                sound: None,
            },
            removed_from_conversation: PushSettings {
                enabled: false,
                template: Some(
                    "You have been removed from a Conversation: ${CONVERSATION}".into(),
                ),
                sound: None,
            },
        }
    }
}

pub trait ServiceConfigurationStore {
    /// The service's configuration (`None` for a service without one).
    fn service_configuration(&self, service_id: i64) -> Result<Option<ServiceConfiguration>>;

    /// Sets the fields of the service's configuration that `change` names and keeps the others,
    /// in one step: a concurrent change of other fields is not lost. A service without a
    /// configuration gets one.
    fn update_service_configuration(
        &mut self,
        service_id: i64,
        change: &ServiceConfigurationChange,
    ) -> Result<()>;

    /// The service's notification settings (`None` until first set).
    fn service_notifications(&self, service_id: i64) -> Result<Option<NotificationSettings>>;

    /// The service's notification settings, for a write job that replaces them: no other write
    /// of them runs until this job ends (SQLite: there is one writer; PostgreSQL: the service's
    /// row is locked, since the settings may have no row yet).
    fn lock_service_notifications(
        &mut self,
        service_id: i64,
    ) -> Result<Option<NotificationSettings>>;

    /// Writes the service's notification settings, whole.
    fn set_service_notifications(
        &mut self,
        service_id: i64,
        settings: &NotificationSettings,
    ) -> Result<()>;

    /// Sets the fields of the service's webhook configuration that `change` names and keeps the
    /// others, in one step: a concurrent change of other fields is not lost. A service has no
    /// `target`: `change.target` is not kept. A service without a webhook configuration gets
    /// one.
    fn update_service_webhooks(
        &mut self,
        service_id: i64,
        change: &WebhookLevelChange,
    ) -> Result<()>;
}
