//! The account-level configuration and webhook level in PostgreSQL: each change is one UPDATE,
//! which locks the row, so fields it does not name keep what a concurrent change wrote.

use super::PgTx;
use super::sql::json_list;
use crate::error::Result;
use crate::store::configuration::{
    AccountConfigurationChange, ConfigurationStore, WebhookLevelChange,
};

/// A change that may clear its column, as two parameters: whether to set the column, and to
/// what (`CASE WHEN $set THEN $value ELSE column END`).
pub(super) fn set_or_keep<T>(change: &Option<Option<T>>) -> (bool, Option<&T>) {
    (change.is_some(), change.as_ref().and_then(Option::as_ref))
}

/// The filters of a webhook level change, as the JSON array the column keeps.
pub(super) fn filters_change(change: &WebhookLevelChange) -> Result<(bool, Option<String>)> {
    let (set, filters) = set_or_keep(&change.filters);
    Ok((set, json_list(filters.map(Vec::as_slice))?))
}

impl ConfigurationStore for PgTx<'_> {
    fn update_account_configuration(
        &mut self,
        account_sid: &str,
        change: &AccountConfigurationChange,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO account_configurations (account_sid) VALUES ($1)
             ON CONFLICT (account_sid) DO NOTHING",
            &[&account_sid],
        )?;
        self.execute(
            "UPDATE account_configurations SET
                 default_chat_service_sid = COALESCE($1, default_chat_service_sid),
                 default_messaging_service_sid = COALESCE($2, default_messaging_service_sid),
                 default_inactive_timer = COALESCE($3, default_inactive_timer),
                 default_closed_timer = COALESCE($4, default_closed_timer)
             WHERE account_sid = $5",
            &[
                &change.default_chat_service_sid,
                &change.default_messaging_service_sid,
                &change.default_inactive_timer,
                &change.default_closed_timer,
                &account_sid,
            ],
        )?;
        Ok(())
    }

    fn update_account_webhooks(
        &mut self,
        account_sid: &str,
        change: &WebhookLevelChange,
    ) -> Result<()> {
        let (set_pre, pre) = set_or_keep(&change.pre_url);
        let (set_post, post) = set_or_keep(&change.post_url);
        let (set_filters, filters) = filters_change(change)?;
        self.execute(
            "INSERT INTO account_webhooks (account_sid) VALUES ($1)
             ON CONFLICT (account_sid) DO NOTHING",
            &[&account_sid],
        )?;
        self.execute(
            "UPDATE account_webhooks SET
                 pre_webhook_url = CASE WHEN $1 THEN $2 ELSE pre_webhook_url END,
                 post_webhook_url = CASE WHEN $3 THEN $4 ELSE post_webhook_url END,
                 method = COALESCE($5, method),
                 filters = CASE WHEN $6 THEN $7 ELSE filters END,
                 target = COALESCE($8, target)
             WHERE account_sid = $9",
            &[
                &set_pre,
                &pre,
                &set_post,
                &post,
                &change.method,
                &set_filters,
                &filters,
                &change.target,
                &account_sid,
            ],
        )?;
        Ok(())
    }
}
