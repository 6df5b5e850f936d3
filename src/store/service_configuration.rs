//! A service's configuration: `/v1/Services/{IS}/Configuration` (default roles, reachability),
//! `.../Configuration/Notifications` (push settings) and `.../Configuration/Webhooks` (the
//! service-level webhook configuration, which overrides the account's).

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::Store;
use super::configuration::{WebhookLevel, WebhookLevelChange};
use super::services::{self, ServiceKey, Tenant};
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{from_json_list, json_list, optional};
use crate::error::{Code, Error, Result};

#[derive(Debug, Clone)]
pub struct ServiceConfigurationRow {
    pub service_sid: String,
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: bool,
}

/// A validated UpdateServiceConfiguration: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfigurationChange {
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: Option<bool>,
}

/// The type a role must have to fill a default (twilio-behavior.md 7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoleType {
    Service,
    Conversation,
}

impl RoleType {
    fn as_str(self) -> &'static str {
        match self {
            RoleType::Service => "service",
            RoleType::Conversation => "conversation",
        }
    }
}

fn read_configuration(conn: &Connection, service: &ServiceKey) -> Result<ServiceConfigurationRow> {
    let row = optional(
        conn,
        "SELECT default_conversation_creator_role_sid, default_conversation_role_sid,
             default_chat_service_role_sid, reachability_enabled
         FROM service_configurations WHERE service_id = ?1",
        &[&service.id],
        |r| {
            Ok(ServiceConfigurationRow {
                service_sid: service.sid.clone(),
                default_conversation_creator_role_sid: r.get(0)?,
                default_conversation_role_sid: r.get(1)?,
                default_chat_service_role_sid: r.get(2)?,
                reachability_enabled: r.get(3)?,
            })
        },
    )?;
    Ok(row.unwrap_or_else(|| ServiceConfigurationRow {
        service_sid: service.sid.clone(),
        default_conversation_creator_role_sid: None,
        default_conversation_role_sid: None,
        default_chat_service_role_sid: None,
        reachability_enabled: false,
    }))
}

/// A default role must be a role of this very service, of the right type. The codes, for a SID
/// sent in a body parameter (twilio-behavior.md 5: 400 with the specific code, 404 being for path
/// misses): a SID that names no role of the service → `RoleNotFound`; a role of the
/// other type → `InvalidRoleType` (twilio-behavior.md 7.3 leaves the mismatch code open).
fn check_role(
    ctx: &WriteCtx,
    service_id: i64,
    param: &str,
    role_sid: &str,
    wanted: RoleType,
) -> Result<()> {
    let role_type: Option<String> = optional(
        ctx.tx,
        "SELECT type FROM roles WHERE service_id = ?1 AND sid = ?2",
        &[&service_id, &role_sid],
        |r| r.get(0),
    )?;
    match role_type {
        None => Err(Error::with(
            Code::RoleNotFound,
            format!("{param} {role_sid} is not a role of this service"),
        )),
        Some(t) if t != wanted.as_str() => Err(Error::with(
            Code::InvalidRoleType,
            format!(
                "{param} must be a {} role, {role_sid} is a {t} role",
                wanted.as_str()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// FetchServiceConfiguration.
pub async fn fetch(store: &Store, tenant: Tenant) -> Result<ServiceConfigurationRow> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            read_configuration(conn, &service)
        })
        .await
}

/// UpdateServiceConfiguration.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    change: ServiceConfigurationChange,
) -> Result<ServiceConfigurationRow> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let roles = [
                (
                    "DefaultConversationCreatorRoleSid",
                    &change.default_conversation_creator_role_sid,
                    RoleType::Conversation,
                ),
                (
                    "DefaultConversationRoleSid",
                    &change.default_conversation_role_sid,
                    RoleType::Conversation,
                ),
                (
                    "DefaultChatServiceRoleSid",
                    &change.default_chat_service_role_sid,
                    RoleType::Service,
                ),
            ];
            for (param, sid, wanted) in roles {
                if let Some(sid) = sid {
                    check_role(ctx, service.id, param, sid, wanted)?;
                }
            }
            ctx.tx.execute(
                "INSERT OR IGNORE INTO service_configurations (service_id) VALUES (?1)",
                params![service.id],
            )?;
            ctx.tx.execute(
                "UPDATE service_configurations SET
                     default_conversation_creator_role_sid = COALESCE(?1, default_conversation_creator_role_sid),
                     default_conversation_role_sid = COALESCE(?2, default_conversation_role_sid),
                     default_chat_service_role_sid = COALESCE(?3, default_chat_service_role_sid),
                     reachability_enabled = COALESCE(?4, reachability_enabled)
                 WHERE service_id = ?5",
                params![
                    change.default_conversation_creator_role_sid,
                    change.default_conversation_role_sid,
                    change.default_chat_service_role_sid,
                    change.reachability_enabled,
                    service.id,
                ],
            )?;
            read_configuration(ctx.tx, &service)
        })
        .await
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

/// A service's push notification configuration, stored as this JSON object (Twilio's nested
/// wire shape) in `service_notifications.settings`.
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

/// A validated UpdateServiceNotification, one field per form parameter: `None` leaves a
/// setting as it is.
#[derive(Debug, Clone, Default)]
pub struct NotificationChange {
    pub log_enabled: Option<bool>,
    pub new_message_enabled: Option<bool>,
    pub new_message_template: Option<String>,
    pub new_message_sound: Option<String>,
    pub new_message_badge_count_enabled: Option<bool>,
    pub new_message_with_media_enabled: Option<bool>,
    pub new_message_with_media_template: Option<String>,
    pub added_to_conversation_enabled: Option<bool>,
    pub added_to_conversation_template: Option<String>,
    pub added_to_conversation_sound: Option<String>,
    pub removed_from_conversation_enabled: Option<bool>,
    pub removed_from_conversation_template: Option<String>,
    pub removed_from_conversation_sound: Option<String>,
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn set_text(field: &mut Option<String>, value: Option<String>) {
    if value.is_some() {
        *field = value;
    }
}

impl NotificationSettings {
    pub fn apply(mut self, c: NotificationChange) -> Self {
        set(&mut self.log_enabled, c.log_enabled);
        let new_message = &mut self.new_message;
        set(&mut new_message.enabled, c.new_message_enabled);
        set_text(&mut new_message.template, c.new_message_template);
        set_text(&mut new_message.sound, c.new_message_sound);
        set(
            &mut new_message.badge_count_enabled,
            c.new_message_badge_count_enabled,
        );
        set(
            &mut new_message.with_media.enabled,
            c.new_message_with_media_enabled,
        );
        set_text(
            &mut new_message.with_media.template,
            c.new_message_with_media_template,
        );
        let added = &mut self.added_to_conversation;
        set(&mut added.enabled, c.added_to_conversation_enabled);
        set_text(&mut added.template, c.added_to_conversation_template);
        set_text(&mut added.sound, c.added_to_conversation_sound);
        let removed = &mut self.removed_from_conversation;
        set(&mut removed.enabled, c.removed_from_conversation_enabled);
        set_text(&mut removed.template, c.removed_from_conversation_template);
        set_text(&mut removed.sound, c.removed_from_conversation_sound);
        self
    }
}

/// The service's notification settings; a service without a row yet has the defaults (the row
/// is written on the first update).
fn read_notifications(conn: &Connection, service_id: i64) -> Result<NotificationSettings> {
    let stored: Option<String> = optional(
        conn,
        "SELECT settings FROM service_notifications WHERE service_id = ?1",
        &[&service_id],
        |r| r.get(0),
    )?;
    match stored {
        Some(json) => serde_json::from_str(&json).map_err(Error::internal),
        None => Ok(NotificationSettings::default()),
    }
}

/// FetchServiceNotification: the service SID and its settings.
pub async fn fetch_notifications(
    store: &Store,
    tenant: Tenant,
) -> Result<(String, NotificationSettings)> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            Ok((service.sid.clone(), read_notifications(conn, service.id)?))
        })
        .await
}

/// UpdateServiceNotification.
pub async fn update_notifications(
    store: &Store,
    tenant: Tenant,
    change: NotificationChange,
) -> Result<(String, NotificationSettings)> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let settings = read_notifications(ctx.tx, service.id)?.apply(change);
            let json = serde_json::to_string(&settings).map_err(Error::internal)?;
            ctx.tx.execute(
                "INSERT INTO service_notifications (service_id, settings) VALUES (?1, ?2)
                 ON CONFLICT (service_id) DO UPDATE SET settings = excluded.settings",
                params![service.id, json],
            )?;
            Ok((service.sid, settings))
        })
        .await
}

fn read_service_webhooks(conn: &Connection, service_id: i64) -> Result<WebhookLevel> {
    let config = optional(
        conn,
        "SELECT method, filters, pre_webhook_url, post_webhook_url
         FROM service_webhooks WHERE service_id = ?1",
        &[&service_id],
        |r| {
            Ok(WebhookLevel {
                method: r.get(0)?,
                filters: from_json_list(r.get(1)?),
                pre_url: r.get(2)?,
                post_url: r.get(3)?,
                target: None,
            })
        },
    )?;
    Ok(config.unwrap_or_default())
}

/// FetchServiceWebhookConfiguration: the service SID and its configuration.
pub async fn fetch_webhooks(store: &Store, tenant: Tenant) -> Result<(String, WebhookLevel)> {
    store
        .sqlite_read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            Ok((
                service.sid.clone(),
                read_service_webhooks(conn, service.id)?,
            ))
        })
        .await
}

/// UpdateServiceWebhookConfiguration. Once a URL is set here, the service's events go here
/// instead of to the account's configuration (`store::outbox`).
pub async fn update_webhooks(
    store: &Store,
    tenant: Tenant,
    change: WebhookLevelChange,
) -> Result<(String, WebhookLevel)> {
    store
        .sqlite_write(move |ctx| {
            let service = services::resolve(ctx.tx, &tenant)?;
            let current = read_service_webhooks(ctx.tx, service.id)?;
            let config = WebhookLevel {
                method: change.method.or(current.method),
                filters: change.filters.unwrap_or(current.filters),
                pre_url: change.pre_url.unwrap_or(current.pre_url),
                post_url: change.post_url.unwrap_or(current.post_url),
                target: None,
            };
            ctx.tx.execute(
                "INSERT OR IGNORE INTO service_webhooks (service_id) VALUES (?1)",
                params![service.id],
            )?;
            ctx.tx.execute(
                "UPDATE service_webhooks SET method = ?1, filters = ?2, pre_webhook_url = ?3,
                     post_webhook_url = ?4
                 WHERE service_id = ?5",
                params![
                    config.method,
                    json_list(config.filters.as_deref())?,
                    config.pre_url,
                    config.post_url,
                    service.id,
                ],
            )?;
            Ok((service.sid, config))
        })
        .await
}
