//! Conversations (CH...): create, list, fetch, update, delete, and resolving `{Sid}` (a SID or a
//! unique name) for every sub-resource.

use std::sync::{Arc, LazyLock};

use rusqlite::{Connection, Row, params};

use super::cache::ConversationCache;
use super::outbox::{self, Params, Site};
use super::services::{self, ServiceRef, Tenant};
use super::sql::{Keyset, is_unique_violation, optional};
use super::{Store, WriteCtx};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::webhook_events::EventType;
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_id: i64,
    pub service_sid: String,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub messaging_service_sid: Option<String>,
    pub state: String,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub date_inactive: Option<i64>,
    pub date_closed: Option<i64>,
    /// JSON object (`{"email": {"address": ..., "name": ...}}`), when set.
    pub bindings: Option<String>,
    pub created_by: Option<String>,
    /// The index the conversation's next message takes, once the writer has counted it
    /// (`messages::allocate_index`); `None` in a row read from SQLite, whose
    /// `next_message_index` column is only a floor under it.
    pub next_message_index: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

pub const SELECT: &str = "SELECT c.id, c.sid, s.account_sid, c.service_id, s.sid, c.unique_name, c.friendly_name,
    c.attributes, c.messaging_service_sid, c.state, c.timer_inactive, c.timer_closed, c.date_inactive,
    c.date_closed, c.bindings, c.created_by, c.date_created, c.date_updated
    FROM conversations c JOIN services s ON s.id = c.service_id";

pub fn map_row(row: &Row) -> rusqlite::Result<ConversationRow> {
    Ok(ConversationRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        service_id: row.get(3)?,
        service_sid: row.get(4)?,
        unique_name: row.get(5)?,
        friendly_name: row.get(6)?,
        attributes: row.get(7)?,
        messaging_service_sid: row.get(8)?,
        state: row.get(9)?,
        timer_inactive: row.get(10)?,
        timer_closed: row.get(11)?,
        date_inactive: row.get(12)?,
        date_closed: row.get(13)?,
        bindings: row.get(14)?,
        created_by: row.get(15)?,
        next_message_index: None,
        date_created: row.get(16)?,
        date_updated: row.get(17)?,
    })
}

/// Finds a conversation of the service by SID or, failing the SID pattern, by unique name
/// (twilio-behavior.md 3), or answers 404 for the request path.
pub fn resolve(
    conn: &Connection,
    tenant: &Tenant,
    service_id: i64,
    sid_or_name: &str,
) -> Result<ConversationRow> {
    let column = if is_sid(Prefix::Conversation, sid_or_name) {
        "c.sid"
    } else {
        "c.unique_name"
    };
    optional(
        conn,
        &format!("{SELECT} WHERE c.service_id = ?1 AND {column} = ?2"),
        &[&service_id, &sid_or_name],
        map_row,
    )?
    .ok_or_else(|| tenant.not_found())
}

/// Resolves one of the tenant's conversations, by SID or unique name: the first step of every
/// conversation sub-resource operation. The service is resolved in the same statement (it is
/// on the path of every message posted and read); an unknown service and an unknown
/// conversation are the same 404 for the request path either way.
pub fn resolve_in_tenant(
    conn: &Connection,
    tenant: &Tenant,
    sid_or_name: &str,
) -> Result<ConversationRow> {
    let by_sid = is_sid(Prefix::Conversation, sid_or_name);
    let found = match &tenant.service {
        ServiceRef::Sid(service) => {
            let sql = if by_sid {
                &IN_NAMED_SERVICE_BY_SID
            } else {
                &IN_NAMED_SERVICE_BY_NAME
            };
            optional(
                conn,
                sql,
                &[&sid_or_name, service, &tenant.account_sid],
                map_row,
            )?
        }
        ServiceRef::Default => {
            let sql = if by_sid {
                &IN_DEFAULT_SERVICE_BY_SID
            } else {
                &IN_DEFAULT_SERVICE_BY_NAME
            };
            optional(conn, sql, &[&sid_or_name, &tenant.account_sid], map_row)?
        }
    };
    found.ok_or_else(|| tenant.not_found())
}

/// [`resolve_in_tenant`] for a write job: by SID from the rows the batch knows to be current
/// when it has the row (`cache.rs`, "Writes"), otherwise (and by unique name) from SQLite.
pub fn resolve_in_batch(
    ctx: &WriteCtx,
    tenant: &Tenant,
    sid_or_name: &str,
) -> Result<Arc<ConversationRow>> {
    if let Some(row) = ctx.conversations.get(tenant, sid_or_name) {
        return Ok(row);
    }
    let row = resolve_in_tenant(ctx.tx, tenant, sid_or_name)?;
    if matches!(tenant.service, ServiceRef::Default) {
        ctx.conversations.found_in_default_service(&row);
    }
    Ok(Arc::new(row))
}

/// The statements of [`resolve_in_tenant`]: `?1` the conversation's SID or unique name, then
/// the service's SID (if named) and the account.
static IN_NAMED_SERVICE_BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE c.sid = ?1 AND s.sid = ?2 AND s.account_sid = ?3"));
static IN_NAMED_SERVICE_BY_NAME: LazyLock<String> = LazyLock::new(|| {
    format!("{SELECT} WHERE c.unique_name = ?1 AND s.sid = ?2 AND s.account_sid = ?3")
});
static IN_DEFAULT_SERVICE: LazyLock<String> = LazyLock::new(|| {
    format!("{SELECT} JOIN account_configurations a ON a.default_chat_service_sid = s.sid")
});
static IN_DEFAULT_SERVICE_BY_SID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE c.sid = ?1 AND a.account_sid = ?2",
        *IN_DEFAULT_SERVICE
    )
});
static IN_DEFAULT_SERVICE_BY_NAME: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE c.unique_name = ?1 AND a.account_sid = ?2",
        *IN_DEFAULT_SERVICE
    )
});

/// A validated CreateConversation.
#[derive(Debug, Clone, Default)]
pub struct NewConversation {
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: Option<String>,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub bindings: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// A validated UpdateConversation: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConversationUpdate {
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: Option<String>,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub bindings: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

#[cfg(test)]
impl ConversationRow {
    /// An active conversation without names, timers or bindings, created in November 2023 and
    /// updated a second later: what tests that cache or render a conversation start from.
    pub fn for_test(id: i64, sid: &str, account_sid: &str, service_sid: &str) -> Self {
        ConversationRow {
            id,
            sid: sid.into(),
            account_sid: account_sid.into(),
            service_id: 1,
            service_sid: service_sid.into(),
            unique_name: None,
            friendly_name: None,
            attributes: "{}".into(),
            messaging_service_sid: None,
            state: "active".into(),
            timer_inactive: None,
            timer_closed: None,
            date_inactive: None,
            date_closed: None,
            bindings: None,
            created_by: None,
            next_message_index: None,
            date_created: 1_700_000_000,
            date_updated: 1_700_000_001,
        }
    }
}

impl ConversationRow {
    /// Where this conversation's events happen.
    pub fn site(&self) -> Site<'_> {
        Site {
            service_id: self.service_id,
            service_sid: &self.service_sid,
            conversation: Some((self.id, &self.sid)),
        }
    }

    /// The webhook parameters that describe a conversation (twilio-behavior.md 17.4).
    pub fn event_params(&self) -> Params {
        let date = |secs| Some(crate::wire::time::format_date(secs));
        vec![
            ("ConversationSid", Some(self.sid.clone())),
            ("DateCreated", date(self.date_created)),
            ("DateUpdated", date(self.date_updated)),
            ("FriendlyName", self.friendly_name.clone()),
            ("UniqueName", self.unique_name.clone()),
            ("Attributes", Some(self.attributes.clone())),
            ("ChatServiceSid", Some(self.service_sid.clone())),
            ("MessagingServiceSid", self.messaging_service_sid.clone()),
            ("State", Some(self.state.clone())),
        ]
    }
}

/// Queues `onConversationStateUpdated` for a state change (`reason`: API, TIMER or EVENT).
pub fn state_updated(
    ctx: &WriteCtx,
    tenant: &Tenant,
    row: &ConversationRow,
    from: &str,
    reason: &str,
) -> Result<()> {
    if from == row.state {
        return Ok(());
    }
    let params = vec![
        ("ChatServiceSid", Some(row.service_sid.clone())),
        ("ConversationSid", Some(row.sid.clone())),
        ("MessagingServiceSid", row.messaging_service_sid.clone()),
        ("StateFrom", Some(from.to_string())),
        ("StateTo", Some(row.state.clone())),
        (
            "StateUpdated",
            Some(crate::wire::time::format_date(ctx.now)),
        ),
        ("Reason", Some(reason.to_string())),
    ];
    outbox::enqueue(
        ctx,
        tenant,
        row.site(),
        EventType::ConversationStateUpdated,
        params,
    )
}

/// When each timer fires, counted from `from` (the last activity); a zero duration disables it.
fn schedule(from: i64, timer: Option<i64>) -> Option<i64> {
    timer.filter(|secs| *secs > 0).map(|secs| from + secs)
}

fn duplicate_unique_name(name: &str) -> Error {
    Error::with(Code::UniqueNameTaken, name)
}

/// The account's default timers (`/v1/Configuration`), applied to conversations created
/// without their own.
fn account_default_timers(ctx: &WriteCtx, account_sid: &str) -> Result<(Option<i64>, Option<i64>)> {
    let defaults: Option<(Option<String>, Option<String>)> = optional(
        ctx.tx,
        "SELECT default_inactive_timer, default_closed_timer FROM account_configurations WHERE account_sid = ?1",
        &[&account_sid],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (inactive, closed) = defaults.unwrap_or_default();
    let parse = |d: Option<String>| {
        d.as_deref()
            .and_then(crate::wire::time::parse_duration)
            .filter(|s| *s > 0)
    };
    Ok((parse(inactive), parse(closed)))
}

/// Inserts a conversation inside the caller's transaction (also used by
/// ConversationWithParticipants).
pub fn insert(ctx: &WriteCtx, tenant: &Tenant, new: NewConversation) -> Result<ConversationRow> {
    let service = services::resolve(ctx.tx, tenant)?;
    let (default_inactive, default_closed) =
        if new.timer_inactive.is_none() && new.timer_closed.is_none() {
            account_default_timers(ctx, &tenant.account_sid)?
        } else {
            (None, None)
        };
    let timer_inactive = new.timer_inactive.or(default_inactive);
    let timer_closed = new.timer_closed.or(default_closed);
    let messaging_service_sid = match new.messaging_service_sid {
        Some(sid) => Some(sid),
        None => optional(
            ctx.tx,
            "SELECT default_messaging_service_sid FROM account_configurations WHERE account_sid = ?1",
            &[&tenant.account_sid],
            |r| r.get::<_, Option<String>>(0),
        )?
        .flatten(),
    };
    let state = new.state.unwrap_or_else(|| "active".into());
    let date_created = new.date_created.unwrap_or(ctx.now);
    let date_updated = new.date_updated.unwrap_or(date_created);
    let sid = new_sid(Prefix::Conversation);
    let inserted = ctx.tx.execute(
        "INSERT INTO conversations (sid, service_id, unique_name, friendly_name, attributes, messaging_service_sid,
             state, timer_inactive, timer_closed, date_inactive, date_closed, bindings, date_created, date_updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            sid,
            service.id,
            new.unique_name,
            new.friendly_name,
            new.attributes.unwrap_or_else(|| "{}".into()),
            messaging_service_sid,
            state,
            timer_inactive,
            timer_closed,
            if state == "active" { schedule(ctx.now, timer_inactive) } else { None },
            schedule(ctx.now, timer_closed),
            new.bindings,
            date_created,
            date_updated,
        ],
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(duplicate_unique_name(
            new.unique_name.as_deref().unwrap_or(""),
        )),
        other => other.map_err(Error::from),
    }?;
    let row = resolve(ctx.tx, tenant, service.id, &sid)?;
    outbox::enqueue(
        ctx,
        tenant,
        row.site(),
        EventType::ConversationAdded,
        row.event_params(),
    )?;
    Ok(row)
}

/// CreateConversation.
pub async fn create(
    store: &Store,
    tenant: Tenant,
    new: NewConversation,
) -> Result<ConversationRow> {
    store.write(move |ctx| insert(ctx, &tenant, new)).await
}

/// FetchConversation. By SID, from the store's cache when it has the row (`cache.rs`).
pub async fn fetch(
    store: &Store,
    tenant: Tenant,
    sid_or_name: String,
) -> Result<Arc<ConversationRow>> {
    if let Some(row) = store.conversations.get(&tenant, &sid_or_name) {
        return Ok(row);
    }
    let cache = Arc::clone(&store.conversations);
    // Read before the read transaction begins: see `ConversationCache::offer`.
    let generation = cache.generation();
    store
        .read(move |conn| load(conn, &cache, generation, &tenant, &sid_or_name))
        .await
}

/// Runs the read `query` on one of the tenant's conversations (by SID or unique name), which
/// comes from the store's cache when it has the row: the read of every conversation
/// sub-resource (messages, participants, receipts, webhooks). A 404 if there is no such
/// conversation.
pub async fn read_within<T, F>(
    store: &Store,
    tenant: Tenant,
    sid_or_name: String,
    query: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &ConversationRow) -> Result<T> + Send + 'static,
{
    let cache = Arc::clone(&store.conversations);
    let cached = cache.get(&tenant, &sid_or_name);
    // Read before the read transaction begins: see `ConversationCache::offer`.
    let generation = cache.generation();
    store
        .read(move |conn| {
            let conversation = match cached {
                Some(row) => row,
                None => load(conn, &cache, generation, &tenant, &sid_or_name)?,
            };
            query(conn, &conversation)
        })
        .await
}

/// The conversation from SQLite, offered to the cache (kept under its SID, whichever way it
/// was named) with the generation read before this read transaction began.
fn load(
    conn: &Connection,
    cache: &ConversationCache,
    generation: u64,
    tenant: &Tenant,
    sid_or_name: &str,
) -> Result<Arc<ConversationRow>> {
    let row = Arc::new(resolve_in_tenant(conn, tenant, sid_or_name)?);
    cache.offer(tenant, &row, generation);
    Ok(row)
}

/// The filters of ListConversation.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub state: Option<String>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
}

/// ListConversation: in creation order; with a date range, newest first (the spec's words).
pub async fn list(
    store: &Store,
    tenant: Tenant,
    filter: ConversationFilter,
    req: PageRequest,
) -> Result<Page<ConversationRow>> {
    store
        .read(move |conn| {
            let service = services::resolve(conn, &tenant)?;
            let mut select = format!("{SELECT} WHERE c.service_id = ?1");
            let mut params: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(service.id)];
            if let Some(state) = filter.state {
                params.push(Box::new(state));
                select.push_str(&format!(" AND c.state = ?{}", params.len()));
            }
            if let Some(start) = filter.start_date {
                params.push(Box::new(start));
                select.push_str(&format!(" AND c.date_created >= ?{}", params.len()));
            }
            if let Some(end) = filter.end_date {
                params.push(Box::new(end));
                select.push_str(&format!(" AND c.date_created <= ?{}", params.len()));
            }
            let by_date = filter.start_date.is_some() || filter.end_date.is_some();
            let keyset = if by_date {
                Keyset {
                    select: &select,
                    keys: &["c.date_created", "c.id"],
                    descending: true,
                }
            } else {
                Keyset {
                    select: &select,
                    keys: &["c.id"],
                    descending: false,
                }
            };
            let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.as_ref()).collect();
            let key = |r: &ConversationRow| {
                if by_date {
                    vec![r.date_created, r.id]
                } else {
                    vec![r.id]
                }
            };
            keyset.page(conn, &params, &req, map_row, key)
        })
        .await
}

/// UpdateConversation. A closed conversation is final (`ConversationClosed`); a state change or any
/// update counts as activity and restarts the timers.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid_or_name: String,
    change: ConversationUpdate,
) -> Result<ConversationRow> {
    store
        .write(move |ctx| {
            let current = resolve_in_tenant(ctx.tx, &tenant, &sid_or_name)?;
            if current.state == "closed" {
                return Err(Error::new(Code::ConversationClosed));
            }
            let state = change.state.clone().unwrap_or(current.state.clone());
            let timer_inactive = change.timer_inactive.or(current.timer_inactive);
            let timer_closed = change.timer_closed.or(current.timer_closed);
            let (date_inactive, date_closed) = if state == "closed" {
                (None, None)
            } else {
                let inactive = if state == "active" { schedule(ctx.now, timer_inactive) } else { None };
                (inactive, schedule(ctx.now, timer_closed))
            };
            let unique_name = change.unique_name.clone().or(current.unique_name.clone());
            let updated = ctx.tx.execute(
                "UPDATE conversations SET unique_name = ?1, friendly_name = ?2, attributes = ?3,
                     messaging_service_sid = ?4, state = ?5, timer_inactive = ?6, timer_closed = ?7,
                     date_inactive = ?8, date_closed = ?9, bindings = ?10, date_created = ?11, date_updated = ?12
                 WHERE id = ?13",
                params![
                    unique_name,
                    change.friendly_name.or(current.friendly_name),
                    change.attributes.unwrap_or(current.attributes),
                    change.messaging_service_sid.or(current.messaging_service_sid),
                    state,
                    timer_inactive,
                    timer_closed,
                    date_inactive,
                    date_closed,
                    change.bindings.or(current.bindings),
                    change.date_created.unwrap_or(current.date_created),
                    change.date_updated.unwrap_or(ctx.now),
                    current.id,
                ],
            );
            match updated {
                Err(e) if is_unique_violation(&e) => Err(duplicate_unique_name(unique_name.as_deref().unwrap_or(""))),
                other => other.map_err(Error::from),
            }?;
            let row = resolve(ctx.tx, &tenant, current.service_id, &current.sid)?;
            let event = EventType::ConversationUpdated;
            outbox::enqueue(ctx, &tenant, row.site(), event, row.event_params())?;
            state_updated(ctx, &tenant, &row, &current.state, "API")?;
            Ok(row)
        })
        .await
}

/// DeleteConversation: its messages, participants, receipts and webhooks go with it.
pub async fn delete(store: &Store, tenant: Tenant, sid_or_name: String) -> Result<()> {
    store
        .write(move |ctx| {
            let current = resolve_in_tenant(ctx.tx, &tenant, &sid_or_name)?;
            // Queued before the delete, while the conversation's scoped webhooks still exist.
            let mut removed = current.event_params();
            removed.push(("DateRemoved", Some(crate::wire::time::format_date(ctx.now))));
            outbox::enqueue(
                ctx,
                &tenant,
                current.site(),
                EventType::ConversationRemoved,
                removed,
            )?;
            ctx.tx.execute(
                "DELETE FROM conversations WHERE id = ?1",
                params![current.id],
            )?;
            Ok(())
        })
        .await
}
