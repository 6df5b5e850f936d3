//! A service's configuration, notification settings and webhook level in SQLite. The
//! notification settings are one JSON object (`service_notifications.settings`).

use rusqlite::Row;

use super::SqliteTx;
use super::configuration::{filters_change, set_or_keep};
use crate::error::{Error, Result};
use crate::store::configuration::WebhookLevelChange;
use crate::store::service_configuration::{
    NotificationSettings, ServiceConfiguration, ServiceConfigurationChange,
    ServiceConfigurationStore,
};

fn configuration(r: &Row) -> rusqlite::Result<ServiceConfiguration> {
    Ok(ServiceConfiguration {
        default_conversation_creator_role_sid: r.get(0)?,
        default_conversation_role_sid: r.get(1)?,
        default_chat_service_role_sid: r.get(2)?,
        reachability_enabled: r.get(3)?,
    })
}

impl SqliteTx<'_, '_> {
    fn read_notifications(&self, service_id: i64) -> Result<Option<NotificationSettings>> {
        let stored: Option<String> = self.tx.optional(
            "SELECT settings FROM service_notifications WHERE service_id = ?1",
            &[&service_id],
            |r| r.get(0),
        )?;
        stored
            .map(|json| serde_json::from_str(&json).map_err(Error::internal))
            .transpose()
    }
}

impl ServiceConfigurationStore for SqliteTx<'_, '_> {
    fn service_configuration(&self, service_id: i64) -> Result<Option<ServiceConfiguration>> {
        self.tx.optional(
            "SELECT default_conversation_creator_role_sid, default_conversation_role_sid,
                 default_chat_service_role_sid, reachability_enabled
             FROM service_configurations WHERE service_id = ?1",
            &[&service_id],
            configuration,
        )
    }

    fn update_service_configuration(
        &mut self,
        service_id: i64,
        change: &ServiceConfigurationChange,
    ) -> Result<()> {
        self.tx.run(
            "INSERT OR IGNORE INTO service_configurations (service_id) VALUES (?1)",
            &[&service_id],
        )?;
        self.tx.run(
            "UPDATE service_configurations SET
                 default_conversation_creator_role_sid = COALESCE(?1, default_conversation_creator_role_sid),
                 default_conversation_role_sid = COALESCE(?2, default_conversation_role_sid),
                 default_chat_service_role_sid = COALESCE(?3, default_chat_service_role_sid),
                 reachability_enabled = COALESCE(?4, reachability_enabled)
             WHERE service_id = ?5",
            &[
                &change.default_conversation_creator_role_sid,
                &change.default_conversation_role_sid,
                &change.default_chat_service_role_sid,
                &change.reachability_enabled,
                &service_id,
            ],
        )?;
        Ok(())
    }

    fn service_notifications(&self, service_id: i64) -> Result<Option<NotificationSettings>> {
        self.read_notifications(service_id)
    }

    /// The single writer is the lock.
    fn lock_service_notifications(
        &mut self,
        service_id: i64,
    ) -> Result<Option<NotificationSettings>> {
        self.read_notifications(service_id)
    }

    fn set_service_notifications(
        &mut self,
        service_id: i64,
        settings: &NotificationSettings,
    ) -> Result<()> {
        let json = serde_json::to_string(settings).map_err(Error::internal)?;
        self.tx.run(
            "INSERT INTO service_notifications (service_id, settings) VALUES (?1, ?2)
             ON CONFLICT (service_id) DO UPDATE SET settings = excluded.settings",
            &[&service_id, &json],
        )?;
        Ok(())
    }

    fn update_service_webhooks(
        &mut self,
        service_id: i64,
        change: &WebhookLevelChange,
    ) -> Result<()> {
        let (set_pre, pre) = set_or_keep(&change.pre_url);
        let (set_post, post) = set_or_keep(&change.post_url);
        let (set_filters, filters) = filters_change(change)?;
        self.tx.run(
            "INSERT OR IGNORE INTO service_webhooks (service_id) VALUES (?1)",
            &[&service_id],
        )?;
        self.tx.run(
            "UPDATE service_webhooks SET
                 pre_webhook_url = CASE WHEN ?1 THEN ?2 ELSE pre_webhook_url END,
                 post_webhook_url = CASE WHEN ?3 THEN ?4 ELSE post_webhook_url END,
                 method = COALESCE(?5, method),
                 filters = CASE WHEN ?6 THEN ?7 ELSE filters END
             WHERE service_id = ?8",
            &[
                &set_pre,
                &pre,
                &set_post,
                &post,
                &change.method,
                &set_filters,
                &filters,
                &service_id,
            ],
        )?;
        Ok(())
    }
}
