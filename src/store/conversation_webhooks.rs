//! Conversation-scoped webhooks (WH...): up to five post-event targets attached to one
//! conversation (twilio-behavior.md 17.7). `store::outbox` reads `target`, `url`, `method`, `filters`,
//! `triggers` and `flow_sid` of these rows to fan events out.

use rusqlite::{Connection, Row, params};

use super::Store;
use super::conversations::ConversationRow;
use super::services::Tenant;
use super::sqlite::SqliteTx as WriteCtx;
use super::sqlite::sql::{Keyset, from_json_list as decode_names, json_list, optional};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::wire::paging::{Page, PageRequest};

/// At most this many scoped webhooks per conversation (twilio-behavior.md 6, 17.7;
/// `TooManyConversationWebhooks`).
pub const MAX_PER_CONVERSATION: i64 = 5;

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    /// `webhook` | `trigger` | `studio`.
    pub target: String,
    pub url: Option<String>,
    /// `get` | `post`, lower case as Twilio echoes it.
    pub method: Option<String>,
    pub filters: Option<Vec<String>>,
    pub triggers: Option<Vec<String>>,
    pub flow_sid: Option<String>,
    pub replay_after: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

const SELECT: &str =
    "SELECT w.id, w.sid, s.account_sid, s.sid, c.sid, w.target, w.url, w.method, w.filters,
    w.triggers, w.flow_sid, w.replay_after, w.date_created, w.date_updated
    FROM conversation_webhooks w
    JOIN conversations c ON c.id = w.conversation_id
    JOIN services s ON s.id = c.service_id";

fn map_row(row: &Row) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_sid: row.get(3)?,
        conversation_sid: row.get(4)?,
        target: row.get(5)?,
        url: row.get(6)?,
        method: row.get(7)?,
        filters: decode_names(row.get(8)?),
        triggers: decode_names(row.get(9)?),
        flow_sid: row.get(10)?,
        replay_after: row.get(11)?,
        date_created: row.get(12)?,
        date_updated: row.get(13)?,
    })
}

/// A validated CreateConversationScopedWebhook: the target's required settings are present.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub target: String,
    pub url: Option<String>,
    pub method: Option<String>,
    pub filters: Option<Vec<String>>,
    pub triggers: Option<Vec<String>>,
    pub flow_sid: Option<String>,
    pub replay_after: Option<i64>,
}

/// A validated UpdateConversationScopedWebhook: `None` leaves a setting as it is. The target
/// and `replay_after` are fixed at creation; `target`, when sent, must repeat the current one.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub target: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub filters: Option<Vec<String>>,
    pub triggers: Option<Vec<String>>,
    pub flow_sid: Option<String>,
}

/// The webhook `sid` of this conversation, or 404 for the request path.
fn resolve(
    conn: &Connection,
    tenant: &Tenant,
    conversation: &ConversationRow,
    sid: &str,
) -> Result<WebhookRow> {
    optional(
        conn,
        &format!("{SELECT} WHERE w.conversation_id = ?1 AND w.sid = ?2"),
        &[&conversation.id, &sid],
        map_row,
    )?
    .ok_or_else(Error::not_found)
}

fn count(ctx: &WriteCtx, conversation_id: i64) -> Result<i64> {
    Ok(ctx.tx.query_row(
        "SELECT COUNT(*) FROM conversation_webhooks WHERE conversation_id = ?1",
        params![conversation_id],
        |r| r.get(0),
    )?)
}

/// CreateConversationScopedWebhook. A sixth webhook on one conversation is refused with
/// `TooManyConversationWebhooks`, as 400: twilio-behavior.md 21 hesitates between 400 and 403, and
/// it is a limit on the request's content rather than on the caller's rights.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    new: NewWebhook,
) -> Result<WebhookRow> {
    store
        .sqlite_write(move |ctx| {
            let conversation = super::sqlite::conversations::resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            if count(ctx, conversation.id)? >= MAX_PER_CONVERSATION {
                return Err(Error::with(
                    Code::TooManyConversationWebhooks,
                    format!("a conversation has at most {MAX_PER_CONVERSATION}"),
                ));
            }
            let sid = new_sid(Prefix::Webhook);
            ctx.tx.execute(
                "INSERT INTO conversation_webhooks (sid, conversation_id, target, url, method, filters,
                     triggers, flow_sid, replay_after, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                params![
                    sid,
                    conversation.id,
                    new.target,
                    new.url,
                    new.method,
                    json_list(new.filters.as_deref())?,
                    json_list(new.triggers.as_deref())?,
                    new.flow_sid,
                    new.replay_after,
                    ctx.now,
                ],
            )?;
            resolve(ctx.tx, &tenant, &conversation, &sid)
        })
        .await
}

/// ListConversationScopedWebhook, in creation order.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    req: PageRequest,
) -> Result<Page<WebhookRow>> {
    store
        .sqlite_read_within(tenant, conversation, move |conn, conversation| {
            let keyset = Keyset {
                select: &format!("{SELECT} WHERE w.conversation_id = ?1"),
                keys: &["w.id"],
                descending: false,
            };
            keyset.page(conn, &[&conversation.id], &req, map_row, |r| vec![r.id])
        })
        .await
}

/// FetchConversationScopedWebhook.
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    sid: String,
) -> Result<WebhookRow> {
    store
        .sqlite_read_within(tenant.clone(), conversation, move |conn, conversation| {
            resolve(conn, &tenant, conversation, &sid)
        })
        .await
}

/// UpdateConversationScopedWebhook. The target cannot change (the spec's update has no
/// `Target`); a different one sent anyway answers `InvalidWebhookTarget`
/// rather than being silently ignored.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    sid: String,
    change: WebhookUpdate,
) -> Result<WebhookRow> {
    store
        .sqlite_write(move |ctx| {
            let conversation = super::sqlite::conversations::resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            let current = resolve(ctx.tx, &tenant, &conversation, &sid)?;
            if let Some(target) = change.target.filter(|t| *t != current.target) {
                return Err(Error::with(
                    Code::InvalidWebhookTarget,
                    format!(
                        "the target of a webhook cannot change from '{}' to '{target}'",
                        current.target
                    ),
                ));
            }
            ctx.tx.execute(
                "UPDATE conversation_webhooks SET url = ?1, method = ?2, filters = ?3, triggers = ?4,
                     flow_sid = ?5, date_updated = ?6
                 WHERE id = ?7",
                params![
                    change.url.or(current.url),
                    change.method.or(current.method),
                    json_list(change.filters.or(current.filters).as_deref())?,
                    json_list(change.triggers.or(current.triggers).as_deref())?,
                    change.flow_sid.or(current.flow_sid),
                    ctx.now,
                    current.id,
                ],
            )?;
            resolve(ctx.tx, &tenant, &conversation, &sid)
        })
        .await
}

/// DeleteConversationScopedWebhook.
pub async fn delete(
    store: &Store,
    tenant: Tenant,
    conversation: String,
    sid: String,
) -> Result<()> {
    store
        .sqlite_write(move |ctx| {
            let conversation =
                super::sqlite::conversations::resolve_in_tenant(ctx.tx, &tenant, &conversation)?;
            let current = resolve(ctx.tx, &tenant, &conversation, &sid)?;
            ctx.tx.execute(
                "DELETE FROM conversation_webhooks WHERE id = ?1",
                params![current.id],
            )?;
            Ok(())
        })
        .await
}
