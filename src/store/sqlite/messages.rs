//! Messages in SQLite: the hottest write (cached statements, the conversation from the batch,
//! no read-back) and the pages written while SQLite is on each row.

use std::sync::LazyLock;

use rusqlite::types::Type;
use rusqlite::{Row, params};

use super::SqliteTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::states::ConversationState;
use crate::store::conversations::ConversationRow;
use crate::store::messages::{Delivery, MessageRef, MessageRow, MessageStore};
use crate::wire::paging::PageRequest;

/// The delivery counts, one indexed probe of `receipts` per message. Only the latest status of a
/// receipt is stored, and the statuses are cumulative: a read message was delivered, a delivered
/// one was sent. The spec's example (`total 2, sent all, delivered some, read some`) reads so.
/// Most messages (chat only) have no receipt: their `receipts` count (set when the message is
/// created, the only time receipts are recorded) answers those without touching the receipts.
const DELIVERY: &str = "CASE WHEN m.receipts > 0
    THEN (SELECT json_array(count(*),
        count(*) FILTER (WHERE r.status IN ('sent', 'delivered', 'read')),
        count(*) FILTER (WHERE r.status IN ('delivered', 'read')),
        count(*) FILTER (WHERE r.status = 'read'),
        count(*) FILTER (WHERE r.status = 'failed'),
        count(*) FILTER (WHERE r.status = 'undelivered'))
    FROM receipts r WHERE r.message_id = m.id) END";

/// Every message column and its delivery counts; built once.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT m.id, m.sid, m.idx, m.author, m.body, m.media, m.attributes, m.participant_sid,
            m.content_sid, m.date_created, m.date_updated, {DELIVERY}
         FROM messages m"
    )
});
static SELECT_BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE m.conversation_id = ?1 AND m.sid = ?2", *SELECT));
static SELECT_IN_CONVERSATION: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE m.conversation_id = ?1", *SELECT));

fn parse_delivery(counts: Option<String>) -> rusqlite::Result<Option<Delivery>> {
    let Some(counts) = counts else {
        return Ok(None);
    };
    let [total, sent, delivered, read, failed, undelivered] =
        serde_json::from_str::<[i64; 6]>(&counts)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(11, Type::Text, e.into()))?;
    Ok(Some(Delivery {
        total,
        sent,
        delivered,
        read,
        failed,
        undelivered,
    }))
}

fn text<'r>(row: &'r Row, column: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(column)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, e.into()))
}

fn optional_text<'r>(row: &'r Row, column: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(column)?
        .as_str_or_null()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, e.into()))
}

/// The message on a row of [`SELECT`]; the conversation supplies the SIDs the row does not hold.
fn borrowed<'r>(row: &'r Row, conv: &'r ConversationRow) -> rusqlite::Result<MessageRef<'r>> {
    Ok(MessageRef {
        sid: text(row, 1)?,
        account_sid: &conv.account_sid,
        service_sid: &conv.service_sid,
        conversation_sid: &conv.sid,
        index: row.get(2)?,
        author: text(row, 3)?,
        body: optional_text(row, 4)?,
        media: optional_text(row, 5)?,
        attributes: text(row, 6)?,
        participant_sid: optional_text(row, 7)?,
        content_sid: optional_text(row, 8)?,
        date_created: row.get(9)?,
        date_updated: row.get(10)?,
        delivery: parse_delivery(row.get(11)?)?,
    })
}

/// Reads a row of [`SELECT`] into an owned row.
fn owned(row: &Row, conv: &ConversationRow) -> rusqlite::Result<MessageRow> {
    let m = borrowed(row, conv)?;
    Ok(MessageRow {
        id: row.get(0)?,
        sid: m.sid.to_owned(),
        account_sid: m.account_sid.to_owned(),
        service_sid: m.service_sid.to_owned(),
        conversation_sid: m.conversation_sid.to_owned(),
        index: m.index,
        author: m.author.to_owned(),
        body: m.body.map(str::to_owned),
        media: m.media.map(str::to_owned),
        attributes: m.attributes.to_owned(),
        participant_sid: m.participant_sid.map(str::to_owned),
        content_sid: m.content_sid.map(str::to_owned),
        date_created: m.date_created,
        date_updated: m.date_updated,
        delivery: m.delivery,
    })
}

/// Activity written with the index, for a conversation that is not plainly active: the state
/// and the timers may change (`domain::conversations::after_activity` says how).
const TAKE_INDEX_WITH_ACTIVITY: &str = "UPDATE conversations SET next_message_index = ?3 + 1,
    state = ?4, date_inactive = ?5, date_closed = ?6, date_updated = ?2 WHERE id = ?1";

/// Activity written with the index, for a conversation that is active with no timer: only
/// `date_updated` moves. Leaving `state` and the timer dates out of the SET spares the UPDATE
/// their indexes, on the path of every message.
const TAKE_INDEX_WHEN_ACTIVE: &str =
    "UPDATE conversations SET next_message_index = ?3 + 1, date_updated = ?2 WHERE id = ?1";

/// The index the conversation's next message takes, counted from SQLite: one past its highest
/// message index, or the stored floor if that is higher (its last messages were deleted).
pub(crate) const NEXT_INDEX: &str = "SELECT max(c.next_message_index,
        coalesce((SELECT max(m.idx) + 1 FROM messages m WHERE m.conversation_id = ?1), 0))
    FROM conversations c WHERE c.id = ?1";

/// Whether a conversation's activity changes nothing of it but `date_updated`.
fn plainly_active(conv: &ConversationRow) -> bool {
    conv.state == ConversationState::Active
        && conv.timer_inactive.is_none_or(|t| t <= 0)
        && conv.timer_closed.is_none_or(|t| t <= 0)
        && conv.date_inactive.is_none()
        && conv.date_closed.is_none()
}

impl MessageStore for SqliteTx<'_, '_> {
    fn find_message(&self, conv: &ConversationRow, sid: &str) -> Result<Option<MessageRow>> {
        self.tx
            .optional(&SELECT_BY_SID, &[&conv.id, &sid], |r| owned(r, conv))
    }

    fn list_messages(
        &self,
        conv: &ConversationRow,
        descending: bool,
        req: &PageRequest,
        each: &mut dyn FnMut(MessageRef<'_>),
    ) -> Result<()> {
        let keyset = Keyset {
            select: &SELECT_IN_CONVERSATION,
            keys: &["m.idx"],
            descending,
        };
        keyset.each(self.tx, &[&conv.id], req, |row| {
            each(borrowed(row, conv)?);
            Ok(())
        })
    }

    /// Indexes start at 0 and are never reused: deleting the last message frees nothing. The
    /// conversation's `next_message_index` column is a floor under the next index, not the
    /// index itself: it is written with the activity, and when a message is deleted. The writer
    /// counts the next index once ([`NEXT_INDEX`]) and then keeps it in the conversation's
    /// cached row, as each message leaves it (docs/design.md, "Message indexes counted once").
    /// So a message into a plainly active conversation whose `date_updated` is already this
    /// second (dates are whole seconds) writes nothing to the conversation's row: spread over
    /// many conversations, that row's page was one more page in every message's commit.
    fn take_message_index(
        &mut self,
        conv: &ConversationRow,
        active: &ConversationRow,
    ) -> Result<i64> {
        let index = match conv.next_message_index {
            Some(index) => index,
            None => self
                .tx
                .prepare_cached(NEXT_INDEX)?
                .query_row([conv.id], |r| r.get(0))?,
        };
        if plainly_active(conv) && conv.date_updated == active.date_updated {
            // Nothing of the row changes but the floor, which may lag.
        } else if plainly_active(conv) {
            self.tx
                .prepare_cached(TAKE_INDEX_WHEN_ACTIVE)?
                .execute(params![conv.id, active.date_updated, index])?;
        } else {
            self.tx
                .prepare_cached(TAKE_INDEX_WITH_ACTIVITY)?
                .execute(params![
                    conv.id,
                    active.date_updated,
                    index,
                    active.state.as_str(),
                    active.date_inactive,
                    active.date_closed,
                ])?;
        }
        // The batch's next message here takes the conversation from this, not from SQLite.
        if let Some(batch) = self.batch() {
            batch.wrote(ConversationRow {
                next_message_index: Some(index + 1),
                ..active.clone()
            });
        }
        Ok(index)
    }

    fn insert_message(
        &mut self,
        conversation_id: i64,
        row: &MessageRow,
        content_variables: Option<&str>,
        subject: Option<&str>,
    ) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO messages (sid, conversation_id, idx, author, body, media, attributes,
                     participant_sid, content_sid, content_variables, subject, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                row.sid,
                conversation_id,
                row.index,
                row.author,
                row.body,
                row.media,
                row.attributes,
                row.participant_sid,
                row.content_sid,
                content_variables,
                subject,
                row.date_created,
                row.date_updated,
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    fn update_message(&mut self, row: &MessageRow, subject: Option<&str>) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE messages SET author = ?1, body = ?2, attributes = ?3, participant_sid = ?4,
                     subject = COALESCE(?5, subject), date_created = ?6, date_updated = ?7
                 WHERE id = ?8",
            )?
            .execute(params![
                row.author,
                row.body,
                row.attributes,
                row.participant_sid,
                subject,
                row.date_created,
                row.date_updated,
                row.id,
            ])?;
        Ok(())
    }

    fn delete_message(&mut self, conv: &ConversationRow, row: &MessageRow) -> Result<()> {
        // Raises the floor past the message before it goes, in case it is the last one
        // (`take_message_index`): its index is not taken again.
        self.tx.run(
            "UPDATE conversations SET next_message_index = max(next_message_index, ?2 + 1)
             WHERE id = ?1",
            &[&conv.id, &row.index],
        )?;
        self.tx
            .run("DELETE FROM messages WHERE id = ?1", &[&row.id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::domain::accounts;
    use crate::domain::conversations::{self, NewConversation, after_activity};
    use crate::domain::messages::{NewMessage, add, create, delete};
    use crate::error::Result;
    use crate::store::conversations::ConversationStore;
    use crate::store::{Location, ServiceRef, Store, Tenant};

    async fn conversation(new: NewConversation) -> (Store, Tenant, ConversationRow) {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = accounts::create(&store, "activity".into()).await.unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            webhooks: false,
        };
        let conv = conversations::create(&store, tenant.clone(), new)
            .await
            .unwrap();
        (store, tenant, conv)
    }

    /// Takes an index as a message would: the conversation resolved in the job, then the index.
    /// The conversation stays cached as the job wrote it (see `stored_and_cached`).
    fn take_index(tx: &mut SqliteTx, tenant: &Tenant, sid: &str) -> Result<i64> {
        let conv = tx
            .lock_conversation(tenant, sid)?
            .expect("the conversation");
        let active = after_activity(&conv, tx.now);
        tx.take_message_index(&conv, &active)
    }

    /// The conversation as SQLite has it, and as the cache has it (the writer kept it): the
    /// same but for the next message index, which only the cached row knows, and which must be
    /// what SQLite counts.
    async fn stored_and_cached(
        store: &Store,
        tenant: &Tenant,
        sid: &str,
    ) -> (ConversationRow, Arc<ConversationRow>) {
        let (t, s) = (tenant.clone(), sid.to_string());
        let stored = super::super::engine_of(store)
            .read_conn(move |conn| {
                // From SQLite itself, not through the cache.
                Ok(super::super::conversations::find(conn, &t, &s)?.expect("stored"))
            })
            .await
            .unwrap();
        let cached = super::super::engine_of(store)
            .cache
            .get(tenant, sid)
            .expect("cached");
        let without_index = ConversationRow {
            next_message_index: None,
            ..(*cached).clone()
        };
        assert_eq!(format!("{without_index:?}"), format!("{stored:?}"));
        assert_eq!(
            cached.next_message_index,
            Some(counted_next_index(store, stored.id).await)
        );
        (stored, cached)
    }

    /// The next message index as the writer counts it from SQLite alone.
    async fn counted_next_index(store: &Store, conversation_id: i64) -> i64 {
        super::super::engine_of(store)
            .read_conn(move |conn| Ok(conn.query_row(NEXT_INDEX, [conversation_id], |r| r.get(0))?))
            .await
            .unwrap()
    }

    fn with_timers(state: &str) -> NewConversation {
        NewConversation {
            state: crate::states::ConversationState::parse(state),
            timer_inactive: Some(60),
            timer_closed: Some(600),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn activity_wakes_an_inactive_conversation_and_restarts_its_timers() {
        let (store, tenant, conv) = conversation(with_timers("inactive")).await;
        assert_eq!(
            conv.date_inactive, None,
            "no inactive timer runs while inactive"
        );
        store.clock.advance(chrono::Duration::seconds(100)).unwrap();
        let now = store.clock.now_secs();
        let (t, sid) = (tenant.clone(), conv.sid.clone());
        super::super::engine_of(&store)
            .write(move |ctx| take_index(ctx, &t, &sid))
            .await
            .unwrap();
        let (after, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(after.state, ConversationState::Active);
        assert_eq!(after.date_inactive, Some(now + 60));
        assert_eq!(after.date_closed, Some(now + 600));
        assert_eq!(after.date_updated, now);
        assert_eq!(
            cached.next_message_index,
            Some(1),
            "the message took index 0"
        );
    }

    #[tokio::test]
    async fn activity_without_timers_schedules_nothing() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(5)).unwrap();
        let (t, sid) = (tenant.clone(), conv.sid.clone());
        super::super::engine_of(&store)
            .write(move |ctx| take_index(ctx, &t, &sid))
            .await
            .unwrap();
        let (after, _) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!((after.date_inactive, after.date_closed), (None, None));
        assert_eq!(after.state, ConversationState::Active);
        assert_eq!(after.date_updated, conv.date_created + 5);
    }

    fn message(n: usize) -> NewMessage {
        NewMessage {
            author: "alice".into(),
            body: Some(format!("message {n}")),
            ..Default::default()
        }
    }

    /// Messages and a change of their conversation sent at once share write batches, where a
    /// message takes its conversation from what the batch knows (`cache.rs`, "Writes"): each
    /// must see the change exactly when it is ordered after it.
    #[tokio::test]
    async fn messages_sent_together_see_their_conversation_as_of_their_turn() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        let post = |n| create(&store, tenant.clone(), conv.sid.clone(), message(n));
        let before: Vec<_> = (0..20).map(post).collect();
        let close = conversations::update(
            &store,
            tenant.clone(),
            conv.sid.clone(),
            conversations::ConversationUpdate {
                state: Some(ConversationState::Closed),
                ..Default::default()
            },
        );
        let after: Vec<_> = (20..40).map(post).collect();
        let (before, closed, after) = tokio::join!(
            futures_util::future::join_all(before),
            close,
            futures_util::future::join_all(after)
        );
        let indexes: Vec<i64> = before.into_iter().map(|m| m.unwrap().index).collect();
        assert_eq!(indexes, (0..20).collect::<Vec<_>>());
        assert_eq!(closed.unwrap().state, ConversationState::Closed);
        for refused in after {
            assert_eq!(
                refused.unwrap_err().code,
                crate::error::Code::ConversationClosed
            );
        }
        let now = conversations::fetch(&store, tenant, conv.sid)
            .await
            .unwrap();
        assert_eq!(now.state, ConversationState::Closed);
        assert_eq!(counted_next_index(&store, conv.id).await, 20);
    }

    /// A conversation that takes messages stays cached, as the writer wrote it.
    #[tokio::test]
    async fn a_message_leaves_its_conversation_cached_as_written() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(7)).unwrap();
        for n in 0..3 {
            create(&store, tenant.clone(), conv.sid.clone(), message(n))
                .await
                .unwrap();
        }
        let (_, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(cached.next_message_index, Some(3));
        assert_eq!(cached.date_updated, conv.date_created + 7);
    }

    /// The conversation's stored counter, a floor under the next index.
    async fn stored_floor(store: &Store, conversation_id: i64) -> i64 {
        super::super::engine_of(store)
            .read_conn(move |conn| {
                Ok(conn.query_row(
                    "SELECT next_message_index FROM conversations WHERE id = ?1",
                    [conversation_id],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap()
    }

    /// Posts `count` messages in one write job, so in one second.
    async fn post_in_one_second(
        store: &Store,
        tenant: &Tenant,
        sid: &str,
        count: usize,
    ) -> Vec<MessageRow> {
        let (t, s) = (tenant.clone(), sid.to_string());
        super::super::engine_of(store)
            .write(move |ctx| {
                (0..count)
                    .map(|n| add(ctx, &t, &s, message(n)))
                    .collect::<Result<Vec<_>>>()
            })
            .await
            .unwrap()
    }

    /// Drops the cached row (and with it the counted index) by changing the conversation.
    async fn rename(store: &Store, tenant: &Tenant, sid: &str) {
        let change = conversations::ConversationUpdate {
            friendly_name: Some("renamed".into()),
            ..Default::default()
        };
        conversations::update(store, tenant.clone(), sid.into(), change)
            .await
            .unwrap();
        assert!(
            super::super::engine_of(store)
                .cache
                .get(tenant, sid)
                .is_none()
        );
    }

    /// Messages of one second write their conversation's row once: after the first, only the
    /// counter would change, and that is counted from the messages when the row is read again.
    #[tokio::test]
    async fn messages_of_one_second_write_their_conversation_once() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(3)).unwrap();
        let posted = post_in_one_second(&store, &tenant, &conv.sid, 3).await;
        let taken: Vec<i64> = posted.iter().map(|m| m.index).collect();
        assert_eq!(taken, [0, 1, 2]);
        assert_eq!(
            stored_floor(&store, conv.id).await,
            1,
            "written by the first only"
        );
        let (after, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(cached.next_message_index, Some(3));
        assert_eq!(after.date_updated, posted[0].date_created);
        rename(&store, &tenant, &conv.sid).await;
        let next = create(&store, tenant.clone(), conv.sid.clone(), message(3)).await;
        assert_eq!(next.unwrap().index, 3);
    }

    /// Deleting the last message raises the floor past it, so its index stays taken even when
    /// the stored counter lagged behind it.
    #[tokio::test]
    async fn a_deleted_last_index_is_not_taken_again() {
        let (store, tenant, conv) = conversation(NewConversation::default()).await;
        store.clock.advance(chrono::Duration::seconds(3)).unwrap();
        let last = post_in_one_second(&store, &tenant, &conv.sid, 3)
            .await
            .pop()
            .unwrap();
        delete(&store, tenant.clone(), conv.sid.clone(), last.sid)
            .await
            .unwrap();
        assert_eq!(stored_floor(&store, conv.id).await, 3);
        let next = create(&store, tenant.clone(), conv.sid.clone(), message(3)).await;
        assert_eq!(next.unwrap().index, 3);
    }

    #[tokio::test]
    async fn indexes_count_up_from_zero_with_the_activity() {
        let (store, tenant, conv) = conversation(with_timers("active")).await;
        store.clock.advance(chrono::Duration::seconds(30)).unwrap();
        let now = store.clock.now_secs();
        let (t, sid) = (tenant.clone(), conv.sid.clone());
        let taken = super::super::engine_of(&store)
            .write(move |ctx| Ok((take_index(ctx, &t, &sid)?, take_index(ctx, &t, &sid)?)))
            .await
            .unwrap();
        assert_eq!(taken, (0, 1));
        let (after, cached) = stored_and_cached(&store, &tenant, &conv.sid).await;
        assert_eq!(cached.next_message_index, Some(2));
        assert_eq!(after.date_inactive, Some(now + 60));
    }
}
