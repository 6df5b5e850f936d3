//! A service's configuration: `/v1/Services/{IS}/Configuration` (default roles, reachability),
//! `.../Configuration/Notifications` (push settings, twilio-behavior.md 20) and
//! `.../Configuration/Webhooks` (the service-level webhook configuration, which overrides the
//! account's: 17.1).

use super::configuration::with_method_used;
use super::{roles, services};
use crate::error::{Code, Error, Result};
use crate::states::RoleType;
use crate::store::configuration::{WebhookLevel, WebhookLevelChange};
use crate::store::service_configuration::{
    NotificationSettings, ServiceConfiguration, ServiceConfigurationChange,
};
use crate::store::{Store, Tenant, Tx};

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

/// The service's configuration; a service without one reads as no default roles, reachability
/// off. (Also what users read of it: their default role and reachability.)
pub fn configuration(tx: &dyn Tx, service_id: i64) -> Result<ServiceConfiguration> {
    Ok(tx.service_configuration(service_id)?.unwrap_or_default())
}

/// A default role must be a role of this very service, of the right type (twilio-behavior.md
/// 7.3). The codes, for a SID sent in a body parameter (twilio-behavior.md 5: 400 with the
/// specific code, 404 being for path misses): a SID that names no role of the service →
/// `RoleNotFound`; a role of the other type → `InvalidRoleType` (twilio-behavior.md 7.3 leaves
/// the mismatch code open).
fn check_role(
    tx: &dyn Tx,
    service_id: i64,
    param: &str,
    role_sid: &str,
    wanted: RoleType,
) -> Result<()> {
    match roles::find(tx, service_id, role_sid)? {
        None => Err(Error::with(
            Code::RoleNotFound,
            format!("{param} {role_sid} is not a role of this service"),
        )),
        Some(role) if RoleType::parse(&role.role_type) != Some(wanted) => Err(Error::with(
            Code::InvalidRoleType,
            format!(
                "{param} must be a {wanted} role, {role_sid} is a {} role",
                role.role_type
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Each default role the change names, checked against the type it must have.
fn check_roles(tx: &dyn Tx, service_id: i64, change: &ServiceConfigurationChange) -> Result<()> {
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
            check_role(tx, service_id, param, sid, wanted)?;
        }
    }
    Ok(())
}

/// FetchServiceConfiguration: the service SID and its configuration.
pub async fn fetch(store: &Store, tenant: Tenant) -> Result<(String, ServiceConfiguration)> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            Ok((service.sid, configuration(tx, service.id)?))
        })
        .await
}

/// UpdateServiceConfiguration.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    change: ServiceConfigurationChange,
) -> Result<(String, ServiceConfiguration)> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            check_roles(tx, service.id, &change)?;
            tx.update_service_configuration(service.id, &change)?;
            Ok((service.sid, configuration(tx, service.id)?))
        })
        .await
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

/// The settings after a change: what it sends replaces, the rest is kept.
fn apply(mut settings: NotificationSettings, c: NotificationChange) -> NotificationSettings {
    set(&mut settings.log_enabled, c.log_enabled);
    let new_message = &mut settings.new_message;
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
    let added = &mut settings.added_to_conversation;
    set(&mut added.enabled, c.added_to_conversation_enabled);
    set_text(&mut added.template, c.added_to_conversation_template);
    set_text(&mut added.sound, c.added_to_conversation_sound);
    let removed = &mut settings.removed_from_conversation;
    set(&mut removed.enabled, c.removed_from_conversation_enabled);
    set_text(&mut removed.template, c.removed_from_conversation_template);
    set_text(&mut removed.sound, c.removed_from_conversation_sound);
    settings
}

/// FetchServiceNotification: the service SID and its settings. A service whose settings were
/// never set has the defaults.
pub async fn fetch_notifications(
    store: &Store,
    tenant: Tenant,
) -> Result<(String, NotificationSettings)> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            let settings = tx.service_notifications(service.id)?.unwrap_or_default();
            Ok((service.sid, settings))
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
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let current = tx.lock_service_notifications(service.id)?;
            let settings = apply(current.unwrap_or_default(), change);
            tx.set_service_notifications(service.id, &settings)?;
            Ok((service.sid, settings))
        })
        .await
}

/// The service's webhook configuration: every field is null until set (the spec's
/// `fetchEmpty`). Once it has a URL its calls go out, with POST unless a method was set, and
/// that is the method it shows.
fn webhooks(tx: &dyn Tx, service_id: i64) -> Result<WebhookLevel> {
    let level = tx.service_webhooks(service_id)?.unwrap_or_default();
    if level.pre_url.is_none() && level.post_url.is_none() {
        return Ok(level);
    }
    Ok(with_method_used(level))
}

/// FetchServiceWebhookConfiguration: the service SID and its configuration.
pub async fn fetch_webhooks(store: &Store, tenant: Tenant) -> Result<(String, WebhookLevel)> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            Ok((service.sid, webhooks(tx, service.id)?))
        })
        .await
}

/// UpdateServiceWebhookConfiguration. Once a URL is set here, the service's events go here
/// instead of to the account's configuration (`events::effective_level`).
pub async fn update_webhooks(
    store: &Store,
    tenant: Tenant,
    change: WebhookLevelChange,
) -> Result<(String, WebhookLevel)> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            tx.update_service_webhooks(service.id, &change)?;
            Ok((service.sid, webhooks(tx, service.id)?))
        })
        .await
}
