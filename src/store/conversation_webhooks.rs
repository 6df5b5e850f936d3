//! Conversation-scoped webhooks (WH...): up to five post-event targets attached to one
//! conversation (twilio-behavior.md 17.7). Events read them where they fan out
//! (`WebhookStore::scoped_webhooks`); this trait holds the rest of what the resource does.

use crate::error::Result;
use crate::states::WebhookTarget;
use crate::wire::paging::{Page, PageRequest};

/// A conversation-scoped webhook.
#[derive(Debug, Clone)]
pub struct ScopedWebhook {
    pub id: i64,
    pub sid: String,
    pub target: WebhookTarget,
    pub url: Option<String>,
    /// `get` | `post`, lower case as Twilio echoes it.
    pub method: Option<String>,
    /// The post-event names a `webhook` target sends.
    pub filters: Option<Vec<String>>,
    /// The words a `trigger` target waits for.
    pub triggers: Option<Vec<String>>,
    /// The Studio Flow (FW...) of a `studio` target.
    pub flow_sid: Option<String>,
    /// `Configuration.ReplayAfter`, as created: a message index.
    pub replay_after: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

pub trait ConversationWebhookStore {
    /// The conversation's scoped webhook `sid`.
    fn conversation_webhook(
        &self,
        conversation_id: i64,
        sid: &str,
    ) -> Result<Option<ScopedWebhook>>;

    /// The conversation's scoped webhooks, one page, in the order they were created.
    fn list_conversation_webhooks(
        &self,
        conversation_id: i64,
        req: &PageRequest,
    ) -> Result<Page<ScopedWebhook>>;

    /// Attaches a scoped webhook (its `id` is ignored) to the conversation; returns its id.
    fn insert_conversation_webhook(
        &mut self,
        conversation_id: i64,
        row: &ScopedWebhook,
    ) -> Result<i64>;

    /// Writes the settings of `row` (found by its id) and its `date_updated`; its target,
    /// `replay_after` and `date_created` are fixed at creation.
    fn update_conversation_webhook(&mut self, row: &ScopedWebhook) -> Result<()>;

    fn delete_conversation_webhook(&mut self, id: i64) -> Result<()>;
}
