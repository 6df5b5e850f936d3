//! Webhook configuration, the outbox and the delivery log, in PostgreSQL. Several nodes send
//! from one outbox: a queue's head is claimed with a lease (`FOR UPDATE SKIP LOCKED` keeps two
//! claims from taking the same queue), and a queue's row is locked before its deliveries are
//! added or removed, so that a queue is never dropped while a delivery joins it.

use postgres::Row;
use postgres::types::ToSql;

use super::sql::{Keyset, from_json_list};
use super::{PgTx, conversation_webhooks};
use crate::error::{Error, Result};
use crate::store::webhooks::{
    Attempt, DeliveryFilter, DeliveryLogRow, Lease, NewDelivery, Pending, ScopedWebhook,
    WebhookLevel, WebhookStore, params_from_text, params_to_text,
};
use crate::wire::paging::{Page, PageRequest};

fn level(r: &Row) -> WebhookLevel {
    WebhookLevel {
        pre_url: r.get(0),
        post_url: r.get(1),
        method: r.get(2),
        filters: from_json_list(r.get(3)),
        target: r.get(4),
    }
}

fn pending(r: &Row) -> Pending {
    let params: &str = r.get(9);
    Pending {
        id: r.get(0),
        queue_id: r.get(1),
        account_sid: r.get(2),
        auth_token: r.get(3),
        conversation_sid: r.get(4),
        event_type: r.get(5),
        target: r.get(6),
        url: r.get(7),
        method: r.get(8),
        params: serde_json::from_str(params).unwrap_or_default(),
        webhook_sid: r.get(10),
        attempts: r.get(11),
        date_created: r.get(12),
        ordering_key: r.get(13),
    }
}

impl PgTx<'_> {
    /// The queue a new delivery joins: its key's (created if it has none yet, due now), or a
    /// new one of its own. The upsert locks the queue's row until the transaction ends.
    fn queue_for(&self, d: &NewDelivery) -> Result<i64> {
        let row = match &d.ordering_key {
            Some(key) => self.query_one(
                "INSERT INTO webhook_queues (account_sid, ordering_key, url, next_attempt_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (ordering_key, url) WHERE ordering_key IS NOT NULL
                 DO UPDATE SET url = excluded.url
                 RETURNING id",
                &[&d.account_sid, key, &d.url, &self.now],
            )?,
            None => self.query_one(
                "INSERT INTO webhook_queues (account_sid, url, next_attempt_at) VALUES ($1, $2, $3)
                 RETURNING id",
                &[&d.account_sid, &d.url, &self.now],
            )?,
        };
        Ok(row.get(0))
    }
}

impl WebhookStore for PgTx<'_> {
    fn account_webhooks(&self, account_sid: &str) -> Result<Option<WebhookLevel>> {
        let row = self.query_opt(
            "SELECT pre_webhook_url, post_webhook_url, method, filters, target
             FROM account_webhooks WHERE account_sid = $1",
            &[&account_sid],
        )?;
        Ok(row.as_ref().map(level))
    }

    fn service_webhooks(&self, service_id: i64) -> Result<Option<WebhookLevel>> {
        let row = self.query_opt(
            "SELECT pre_webhook_url, post_webhook_url, method, filters, NULL::text
             FROM service_webhooks WHERE service_id = $1",
            &[&service_id],
        )?;
        Ok(row.as_ref().map(level))
    }

    fn scoped_webhooks(&self, conversation_id: i64) -> Result<Vec<ScopedWebhook>> {
        let rows = self.query(conversation_webhooks::OF_CONVERSATION, &[&conversation_id])?;
        rows.iter().map(conversation_webhooks::map_row).collect()
    }

    fn enqueue_delivery(&mut self, d: &NewDelivery) -> Result<()> {
        let queue = self.queue_for(d)?;
        let params = serde_json::to_string(&d.params).map_err(Error::internal)?;
        self.execute(
            "INSERT INTO webhook_outbox (queue_id, account_sid, conversation_sid, ordering_key, event_type,
                 target, url, method, params, webhook_sid, date_created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &queue,
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
        self.queued_webhooks.set(true);
        Ok(())
    }

    /// Another node's live claim is skipped, and so is a queue another node is claiming right
    /// now (`SKIP LOCKED`); a claim whose holder stopped renewing it lapses at `lease_until`.
    fn claim_deliveries(
        &mut self,
        now: i64,
        lease: &Lease,
        limit: usize,
        skip: &[String],
    ) -> Result<Vec<Pending>> {
        let queues: Vec<i64> = self
            .query(
                "UPDATE webhook_queues SET lease_holder = $2, lease_until = $3
                 WHERE id IN (
                     SELECT id FROM webhook_queues
                     WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $4)
                       AND account_sid <> ALL($5)
                     ORDER BY next_attempt_at LIMIT $6 FOR UPDATE SKIP LOCKED)
                 RETURNING id",
                &[
                    &now,
                    &lease.holder,
                    &lease.until,
                    &lease.now,
                    &skip,
                    &(limit as i64),
                ],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let heads = self.query(
            "SELECT o.id, o.queue_id, o.account_sid, a.auth_token, o.conversation_sid, o.event_type,
                 o.target, o.url, o.method, o.params, o.webhook_sid, o.attempts, o.date_created,
                 o.ordering_key
             FROM webhook_outbox o JOIN accounts a ON a.sid = o.account_sid
             WHERE o.id IN (SELECT min(id) FROM webhook_outbox WHERE queue_id = ANY($1) GROUP BY queue_id)
             ORDER BY o.id",
            &[&queues],
        )?;
        let heads: Vec<Pending> = heads.iter().map(pending).collect();
        // A queue whose deliveries went with their account: nothing left to send.
        for queue in &queues {
            if !heads.iter().any(|h| h.queue_id == *queue) {
                self.execute("DELETE FROM webhook_queues WHERE id = $1", &[queue])?;
            }
        }
        Ok(heads)
    }

    fn queued_deliveries(&self) -> Result<i64> {
        Ok(self
            .query_one("SELECT count(*) FROM webhook_outbox", &[])?
            .get(0))
    }

    fn next_delivery_due(&self, after: i64) -> Result<Option<i64>> {
        Ok(self
            .query_one(
                "SELECT min(next_attempt_at) FROM webhook_queues WHERE next_attempt_at > $1",
                &[&after],
            )?
            .get(0))
    }

    /// The queue's row is locked first: a delivery joining the queue meanwhile either waits
    /// and then finds it, or has joined already and is found here. A delivery that is gone
    /// already was finished by another node, which took the queue over when this node's claim
    /// lapsed: the queue, and the claim on it, are that node's now, and are left alone.
    fn remove_delivery(&mut self, pending: &Pending) -> Result<()> {
        self.execute(
            "SELECT 1 FROM webhook_queues WHERE id = $1 FOR UPDATE",
            &[&pending.queue_id],
        )?;
        let removed = self.execute("DELETE FROM webhook_outbox WHERE id = $1", &[&pending.id])?;
        if removed == 0 {
            return Ok(());
        }
        let rest = self.query_opt(
            "SELECT 1 FROM webhook_outbox WHERE queue_id = $1 LIMIT 1",
            &[&pending.queue_id],
        )?;
        if rest.is_some() {
            self.execute(
                "UPDATE webhook_queues SET next_attempt_at = $2, lease_holder = NULL, lease_until = NULL
                 WHERE id = $1",
                &[&pending.queue_id, &self.now],
            )?;
        } else {
            self.execute(
                "DELETE FROM webhook_queues WHERE id = $1",
                &[&pending.queue_id],
            )?;
        }
        Ok(())
    }

    /// As for a removal, a delivery that is gone already (finished by the node that took the
    /// queue over) leaves the queue alone.
    fn retry_delivery(&mut self, pending: &Pending, retry_at: i64) -> Result<()> {
        let counted = self.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1 WHERE id = $1",
            &[&pending.id],
        )?;
        if counted == 0 {
            return Ok(());
        }
        self.execute(
            "UPDATE webhook_queues SET next_attempt_at = $2, lease_holder = NULL, lease_until = NULL
             WHERE id = $1",
            &[&pending.queue_id, &retry_at],
        )?;
        Ok(())
    }

    fn log_attempt(&mut self, pending: &Pending, kind: &str, attempt: &Attempt) -> Result<()> {
        self.execute(
            "INSERT INTO webhook_deliveries (account_sid, event_type, kind, target, url, method, webhook_sid,
                 conversation_sid, attempt, status, outcome, error, latency_ms, date_created,
                 params, signature, response_body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
                &attempt.status.map(i64::from),
                &attempt.outcome.as_str(),
                &attempt.error,
                &attempt.latency_ms,
                &self.now,
                &params_to_text(&attempt.params)?,
                &attempt.signature,
                &attempt.response_body,
            ],
        )?;
        Ok(())
    }

    fn delivery_log(
        &self,
        account_sid: &str,
        filter: &DeliveryFilter,
        req: &PageRequest,
    ) -> Result<Page<DeliveryLogRow>> {
        let mut select = String::from(
            "SELECT id, event_type, kind, target, url, method, webhook_sid, conversation_sid, attempt,
                 status, outcome, error, latency_ms, date_created, params, signature, response_body
             FROM webhook_deliveries WHERE account_sid = $1",
        );
        let event = filter.event.map(|e| e.as_str());
        let outcome = filter.outcome.map(|o| o.as_str());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&account_sid];
        for (column, value) in [("event_type", &event), ("outcome", &outcome)] {
            if let Some(value) = value {
                params.push(value);
                select.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        let keyset = Keyset {
            select: &select,
            keys: &["id"],
            descending: true,
        };
        keyset.page(
            self,
            &params,
            req,
            |r| DeliveryLogRow {
                id: r.get(0),
                event_type: r.get(1),
                kind: r.get(2),
                target: r.get(3),
                url: r.get(4),
                method: r.get(5),
                webhook_sid: r.get(6),
                conversation_sid: r.get(7),
                retry_count: r.get(8),
                status: r.get(9),
                outcome: r.get(10),
                error: r.get(11),
                latency_ms: r.get(12),
                date_created: r.get(13),
                params: params_from_text(r.get(14)),
                signature: r.get(15),
                response_body: r.get(16),
            },
            |d| vec![d.id],
        )
    }
}
