//! Webhook configuration, the outbox and the delivery log, in SQLite.

use rusqlite::Row;

use super::SqliteTx;
use super::sql::Keyset;
use crate::error::{Error, Result};
use crate::store::webhooks::{
    Attempt, DeliveryLogRow, NewDelivery, Pending, ScopedWebhook, WebhookLevel, WebhookStore,
};
use crate::wire::paging::{Page, PageRequest};

fn level(r: &Row) -> rusqlite::Result<WebhookLevel> {
    Ok(WebhookLevel {
        pre_url: r.get(0)?,
        post_url: r.get(1)?,
        method: r.get(2)?,
        filters: r.get(3)?,
        target: r.get(4)?,
    })
}

fn pending(r: &Row) -> rusqlite::Result<Pending> {
    let params: String = r.get(8)?;
    Ok(Pending {
        id: r.get(0)?,
        account_sid: r.get(1)?,
        auth_token: r.get(2)?,
        conversation_sid: r.get(3)?,
        event_type: r.get(4)?,
        target: r.get(5)?,
        url: r.get(6)?,
        method: r.get(7)?,
        params: serde_json::from_str(&params).unwrap_or_default(),
        webhook_sid: r.get(9)?,
        attempts: r.get(10)?,
        date_created: r.get(11)?,
        ordering_key: r.get(12)?,
    })
}

fn delivery_log_row(r: &Row) -> rusqlite::Result<DeliveryLogRow> {
    Ok(DeliveryLogRow {
        id: r.get(0)?,
        event_type: r.get(1)?,
        kind: r.get(2)?,
        target: r.get(3)?,
        url: r.get(4)?,
        method: r.get(5)?,
        webhook_sid: r.get(6)?,
        conversation_sid: r.get(7)?,
        retry_count: r.get(8)?,
        status: r.get(9)?,
        outcome: r.get(10)?,
        error: r.get(11)?,
        latency_ms: r.get(12)?,
        date_created: r.get(13)?,
    })
}

impl WebhookStore for SqliteTx<'_, '_> {
    fn account_webhooks(&self, account_sid: &str) -> Result<Option<WebhookLevel>> {
        self.tx.optional(
            "SELECT pre_webhook_url, post_webhook_url, method, filters, target
             FROM account_webhooks WHERE account_sid = ?1",
            &[&account_sid],
            level,
        )
    }

    fn service_webhooks(&self, service_id: i64) -> Result<Option<WebhookLevel>> {
        self.tx.optional(
            "SELECT pre_webhook_url, post_webhook_url, method, filters, NULL
             FROM service_webhooks WHERE service_id = ?1",
            &[&service_id],
            level,
        )
    }

    fn scoped_webhooks(&self, conversation_id: i64) -> Result<Vec<ScopedWebhook>> {
        self.tx.all(
            "SELECT sid, target, url, method, filters, triggers, flow_sid FROM conversation_webhooks
             WHERE conversation_id = ?1 ORDER BY id",
            &[&conversation_id],
            |r| {
                Ok(ScopedWebhook {
                    sid: r.get(0)?,
                    target: r.get(1)?,
                    url: r.get(2)?,
                    method: r.get(3)?,
                    filters: r.get(4)?,
                    triggers: r.get(5)?,
                    flow_sid: r.get(6)?,
                })
            },
        )
    }

    fn enqueue_delivery(&mut self, d: &NewDelivery) -> Result<()> {
        let params = serde_json::to_string(&d.params).map_err(Error::internal)?;
        self.tx.run(
            "INSERT INTO webhook_outbox (account_sid, conversation_sid, ordering_key, event_type, target, url,
                 method, params, webhook_sid, next_attempt_at, date_created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            &[
                &d.account_sid,
                &d.conversation_sid,
                &d.ordering_key,
                &d.event.as_str(),
                &d.target,
                &d.url,
                &d.method,
                &params,
                &d.webhook_sid,
                &self.now,
            ],
        )?;
        self.queued_webhooks();
        Ok(())
    }

    fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<Pending>> {
        // Only the heads of the queues: a delivery with no ordering key is a queue of its own.
        self.tx.all(
            "SELECT o.id, o.account_sid, a.auth_token, o.conversation_sid, o.event_type, o.target, o.url,
                 o.method, o.params, o.webhook_sid, o.attempts, o.date_created, o.ordering_key
             FROM webhook_outbox o JOIN accounts a ON a.sid = o.account_sid
             WHERE o.next_attempt_at <= ?1
               AND (o.ordering_key IS NULL OR o.id =
                    (SELECT min(h.id) FROM webhook_outbox h
                     WHERE h.ordering_key = o.ordering_key AND h.url = o.url))
             ORDER BY o.id LIMIT ?2",
            &[&now, &(limit as i64)],
            pending,
        )
    }

    fn next_delivery_due(&self) -> Result<Option<i64>> {
        // Deliveries waiting behind their queue's head are not counted: they cannot go before
        // it, however overdue.
        Ok(self
            .tx
            .optional(
                "SELECT min(o.next_attempt_at) FROM webhook_outbox o
                 WHERE o.ordering_key IS NULL OR o.id =
                       (SELECT min(h.id) FROM webhook_outbox h
                        WHERE h.ordering_key = o.ordering_key AND h.url = o.url)",
                &[],
                |r| r.get(0),
            )?
            .flatten())
    }

    fn remove_delivery(&mut self, id: i64) -> Result<()> {
        self.tx
            .run("DELETE FROM webhook_outbox WHERE id = ?1", &[&id])?;
        Ok(())
    }

    fn retry_delivery(&mut self, id: i64, retry_at: i64) -> Result<()> {
        self.tx.run(
            "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?1 WHERE id = ?2",
            &[&retry_at, &id],
        )?;
        Ok(())
    }

    fn log_attempt(&mut self, pending: &Pending, kind: &str, attempt: &Attempt) -> Result<()> {
        self.tx.run(
            "INSERT INTO webhook_deliveries (account_sid, event_type, kind, target, url, method, webhook_sid,
                 conversation_sid, attempt, status, outcome, error, latency_ms, date_created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            &[
                &pending.account_sid,
                &pending.event_type,
                &kind,
                &pending.target,
                &pending.url,
                &pending.method,
                &pending.webhook_sid,
                &pending.conversation_sid,
                &pending.attempts,
                &attempt.status,
                &attempt.outcome,
                &attempt.error,
                &attempt.latency_ms,
                &self.now,
            ],
        )?;
        Ok(())
    }

    fn delivery_log(&self, account_sid: &str, req: &PageRequest) -> Result<Page<DeliveryLogRow>> {
        let keyset = Keyset {
            select: "SELECT id, event_type, kind, target, url, method, webhook_sid, conversation_sid, attempt,
                     status, outcome, error, latency_ms, date_created FROM webhook_deliveries
                     WHERE account_sid = ?1",
            keys: &["id"],
            descending: true,
        };
        keyset.page(self.tx, &[&account_sid], req, delivery_log_row, |d| {
            vec![d.id]
        })
    }
}
