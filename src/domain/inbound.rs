//! Inbound SMS and WhatsApp messages (`POST /confab/Inbound`): what a phone's message does when
//! it reaches one of the account's numbers (twilio-behavior.md 19.1), in order:
//!
//! 1. the participant that holds the (From, To) pair, in a conversation that is not closed,
//!    gets it as a message of its own (the conversation wakes if it was inactive);
//! 2. otherwise an Address Configuration of `To` with autocreation on makes a conversation for
//!    it: the sender as a participant, the message as its first, with the sequence of webhooks
//!    of 17.8 (the `onConversationAdd` pre-action may rename or veto; no `onParticipantAdd` nor
//!    `onMessageAdd`);
//! 3. otherwise it is ignored.
//!
//! Whatever becomes of it, it is logged with its outcome, beside the outbound log, so that a
//! test can read a phone's whole thread.

use super::conversation_webhooks::{self, NewWebhook};
use super::conversations::{self, ConversationChange, site};
use super::events;
use super::messages::{self, NewMessage, Origin};
use super::participants::{self, NewParticipant, without_channel};
use super::webhook_params::{self, Params};
use crate::error::{Error, Result};
use crate::sid::{Prefix, new_sid};
use crate::states::{AutoCreationType, InboundChannel, InboundOutcome, Source, WebhookTarget};
use crate::store::addresses::AddressRow;
use crate::store::conversations::ConversationRow;
use crate::store::events::NewEvent;
use crate::store::inbound::{InboundRow, PairHolder, ThreadEntry};
use crate::store::media::MediaRow;
use crate::store::messages::MessageRow;
use crate::store::participants::Binding;
use crate::store::{ServiceRef, Store, Tenant, Tx};
use crate::webhook_events::{ConfabEvent, EventType};
use crate::wire::paging::{Page, PageRequest};

/// Who wrote to whom, on which channel: all that routing looks at.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub account_sid: String,
    pub channel: InboundChannel,
    /// The phone: `+15551234567` or `whatsapp:+15551234567`.
    pub from: String,
    /// The account's number or WhatsApp sender.
    pub to: String,
}

/// Media that arrived with a message, fetched and not yet stored.
#[derive(Debug, Clone)]
pub struct ArrivedMedia {
    /// The media's SID, chosen before it is stored so that `onConversationAdd` can name it.
    pub sid: String,
    pub url: String,
    pub content_type: String,
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

/// A validated inbound message.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub envelope: Envelope,
    /// The channel message's SID (`SM...`, `MM...`).
    pub sid: String,
    pub body: Option<String>,
    pub media: Vec<ArrivedMedia>,
}

/// A media URL as it arrived, before (or instead of) being fetched.
#[derive(Debug, Clone)]
pub struct MediaUrl {
    pub url: String,
    pub content_type: Option<String>,
}

/// Which rule takes the message.
#[derive(Debug, Clone)]
pub enum Route {
    /// Rule 1: the pair's holder.
    Append(PairHolder),
    /// Rule 2: the configuration that autocreates for `To`.
    Create(Box<AddressRow>),
    /// Rule 3.
    Ignore,
}

/// What the write did, or that it needs `onConversationAdd` first: the message would now
/// create a conversation, and the pre-action webhook ran for no creation (or for another
/// configuration) before it.
#[derive(Debug)]
pub enum Delivered {
    Logged(InboundRow),
    NeedsVetting(AddressRow),
}

/// The channel message SID a message gets when the request names none: `MM...` on WhatsApp
/// (as Twilio's WhatsApp messages are), `SM...` otherwise.
pub fn new_channel_message_sid(channel: InboundChannel) -> String {
    let prefix = match channel {
        InboundChannel::Whatsapp => "MM",
        InboundChannel::Sms => "SM",
    };
    format!("{prefix}{}", &new_sid(Prefix::ChannelMessage)[2..])
}

/// The configuration that autocreates for `To`: the account's, for `To`'s channel, enabled. A
/// WhatsApp sender's configuration may be stored with its `whatsapp:` prefix or without it.
fn configuration_for(tx: &dyn Tx, envelope: &Envelope) -> Result<Option<AddressRow>> {
    let wanted = envelope.channel.address_type();
    let bare = without_channel(&envelope.to);
    let mut candidates = vec![envelope.to.as_str()];
    if bare != envelope.to {
        candidates.push(bare);
    }
    for address in candidates {
        if let Some(row) = tx.find_address_configuration(&envelope.account_sid, address)?
            && row.address_type == wanted
            && row.auto.enabled
        {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// The rule that takes a message from `envelope` now (twilio-behavior.md 19.1). Closed
/// conversations hold no pair, so a holder's conversation is never closed.
fn route(tx: &dyn Tx, envelope: &Envelope) -> Result<Route> {
    let holder = tx.pair_holder(&envelope.account_sid, &envelope.from, &envelope.to)?;
    if let Some(holder) = holder {
        return Ok(Route::Append(holder));
    }
    Ok(match configuration_for(tx, envelope)? {
        Some(config) => Route::Create(Box::new(config)),
        None => Route::Ignore,
    })
}

/// Which rule would take a message from `envelope`, read before any webhook goes out.
pub async fn plan(store: &Store, envelope: Envelope) -> Result<Route> {
    store.read(move |tx| route(tx, &envelope)).await
}

/// The tenant an autocreated conversation, or an appended message, acts as: not a REST
/// request, so its webhooks always fire (twilio-behavior.md 17.3: the
/// `X-Twilio-Webhook-Enabled` gate is for REST actions).
pub fn tenant(account_sid: &str, service_sid: &str) -> Tenant {
    Tenant {
        account_sid: account_sid.to_string(),
        service: ServiceRef::Sid(service_sid.to_string()),
        webhooks: true,
    }
}

/// The same tenant, firing nothing: the steps of an autocreation fire their events themselves,
/// with the channel as their `Source`.
fn quiet(tenant: &Tenant) -> Tenant {
    Tenant {
        webhooks: false,
        ..tenant.clone()
    }
}

/// The media rows the message's media becomes in `service_sid`, before they have ids.
fn media_rows(inbound: &Inbound, service_sid: &str, now: i64) -> Vec<MediaRow> {
    inbound
        .media
        .iter()
        .map(|m| MediaRow {
            id: 0,
            sid: m.sid.clone(),
            account_sid: inbound.envelope.account_sid.clone(),
            service_sid: service_sid.to_string(),
            channel_sid: None,
            message_sid: None,
            author: None,
            content_type: m.content_type.clone(),
            filename: m.filename.clone(),
            size: m.content.len() as i64,
            date_created: now,
            date_updated: now,
        })
        .collect()
}

/// The parameters of `onConversationAdd` for an autocreation (twilio-behavior.md 17.8): the
/// sender's binding, the body and the media the message would bring.
pub fn conversation_add_params(inbound: &Inbound, config: &AddressRow, now: i64) -> Params {
    let media = media_rows(inbound, &config.auto.service_sid, now);
    let media_json = (!media.is_empty()).then(|| super::media::media_json(&media));
    webhook_params::inbound_conversation_add(
        &inbound.envelope.from,
        &inbound.envelope.to,
        inbound.body.as_deref(),
        media_json.as_deref(),
    )
}

/// Stores the message's media in the conversation's service, unclaimed, for the message to
/// take in the same job.
fn store_media(
    tx: &mut dyn Tx,
    inbound: &Inbound,
    conversation: &ConversationRow,
) -> Result<Vec<MediaRow>> {
    let mut rows = media_rows(inbound, &conversation.service_sid, tx.now());
    for (row, arrived) in rows.iter_mut().zip(&inbound.media) {
        row.id = tx.insert_media(conversation.service_id, row, &arrived.content)?;
    }
    Ok(rows)
}

/// The message itself, from the participant `participant_sid`, with its media.
fn add_message(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    inbound: &Inbound,
    conversation: &ConversationRow,
    participant_sid: &str,
) -> Result<MessageRow> {
    let media = store_media(tx, inbound, conversation)?;
    let new = NewMessage {
        author: inbound.envelope.from.clone(),
        body: inbound.body.clone(),
        ..NewMessage::default()
    };
    let origin = Origin::Channel {
        participant_sid: participant_sid.to_string(),
        media,
        source: Source::of_channel(inbound.envelope.channel),
    };
    messages::add_from(tx, tenant, &conversation.sid, new, origin)
}

/// The log row of a message, before what became of it is known.
fn log_row(inbound: &Inbound, outcome: InboundOutcome, now: i64) -> InboundRow {
    let arrived: Vec<serde_json::Value> = inbound
        .media
        .iter()
        .map(|m| serde_json::json!({"url": m.url, "content_type": m.content_type}))
        .collect();
    InboundRow {
        id: 0,
        sid: inbound.sid.clone(),
        account_sid: inbound.envelope.account_sid.clone(),
        from: inbound.envelope.from.clone(),
        to: inbound.envelope.to.clone(),
        channel: inbound.envelope.channel,
        body: inbound.body.clone(),
        media: (!arrived.is_empty()).then_some(serde_json::Value::Array(arrived)),
        outcome,
        conversation_sid: None,
        participant_sid: None,
        message_sid: None,
        error_code: None,
        error_message: None,
        date_created: now,
    }
}

/// Logs the row with what became of the message and returns it.
fn logged(tx: &mut dyn Tx, mut row: InboundRow) -> Result<InboundRow> {
    row.id = tx.insert_inbound(&row)?;
    if !matches!(
        row.outcome,
        InboundOutcome::Appended | InboundOutcome::Created
    ) {
        // A message that reached no conversation has no Twilio event: confab's own tells the
        // event stream (a developer watching sees the text that went nowhere, and why).
        let form = webhook_params::inbound_unrouted(&row);
        tx.record_event(&NewEvent {
            account_sid: row.account_sid.clone(),
            conversation_sid: None,
            name: ConfabEvent::InboundUnrouted.as_str(),
            data: webhook_params::stream_data(&form),
        })?;
    }
    Ok(row)
}

/// The row as the message that was added leaves it.
fn with_message(mut row: InboundRow, message: &MessageRow, participant_sid: &str) -> InboundRow {
    row.conversation_sid = Some(message.conversation_sid.clone());
    row.participant_sid = Some(participant_sid.to_string());
    row.message_sid = Some(message.sid.clone());
    row.media = message
        .media
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    row
}

/// Rule 1: the message joins the conversation of the pair's holder, as that participant's.
fn append(tx: &mut dyn Tx, inbound: &Inbound, holder: &PairHolder) -> Result<InboundRow> {
    let tenant = tenant(&inbound.envelope.account_sid, &holder.service_sid);
    let conversation = conversations::lock(tx, &tenant, &holder.conversation_sid)?;
    let message = add_message(tx, &tenant, inbound, &conversation, &holder.participant_sid)?;
    let row = log_row(inbound, InboundOutcome::Appended, tx.now());
    logged(tx, with_message(row, &message, &holder.participant_sid))
}

/// The scoped webhook an autocreation attaches (twilio-behavior.md 19.2): a `webhook` one to
/// the configuration's URL, a `studio` one to its flow, none for `default`.
fn autocreation_webhook(config: &AddressRow) -> Option<NewWebhook> {
    let auto = &config.auto;
    let (target, url, flow_sid) = match auto.kind {
        AutoCreationType::Webhook => (WebhookTarget::Webhook, auto.webhook_url.clone(), None),
        AutoCreationType::Studio => (WebhookTarget::Studio, None, auto.studio_flow_sid.clone()),
        AutoCreationType::Default => return None,
    };
    Some(NewWebhook {
        target,
        url,
        method: auto.webhook_method.clone(),
        filters: auto.webhook_filters.clone(),
        triggers: None,
        flow_sid,
        replay_after: None,
    })
}

/// Rule 2: a new conversation in the configuration's service, with its scoped webhook, the
/// sender as an SMS or WhatsApp participant, and the message as its first; `onConversationAdded`,
/// `onParticipantAdded` and `onMessageAdded` in that order, with the channel as `Source`.
fn create(
    tx: &mut dyn Tx,
    inbound: &Inbound,
    config: &AddressRow,
    change: ConversationChange,
) -> Result<InboundRow> {
    let source = Source::of_channel(inbound.envelope.channel);
    let tenant = tenant(&inbound.envelope.account_sid, &config.auto.service_sid);
    let conversation = conversations::add(tx, &quiet(&tenant), change)?;
    if let Some(webhook) = autocreation_webhook(config) {
        conversation_webhooks::attach(tx, &conversation, webhook)?;
    }
    let params = webhook_params::conversation(&conversation);
    let at = site(&conversation);
    events::post_action_from(
        tx,
        &tenant,
        at,
        EventType::ConversationAdded,
        params,
        source,
    )?;
    let sender = NewParticipant {
        binding: Some(Binding {
            kind: inbound.envelope.channel.as_str().to_string(),
            address: Some(inbound.envelope.from.clone()),
            proxy_address: Some(inbound.envelope.to.clone()),
            ..Binding::default()
        }),
        ..NewParticipant::default()
    };
    let participant = participants::add(tx, &quiet(&tenant), &conversation, sender)?;
    let params = webhook_params::participant(&participant);
    events::post_action_from(tx, &tenant, at, EventType::ParticipantAdded, params, source)?;
    let message = add_message(tx, &tenant, inbound, &conversation, &participant.sid)?;
    let row = log_row(inbound, InboundOutcome::Created, tx.now());
    logged(tx, with_message(row, &message, &participant.sid))
}

/// Writes what the message does, by the rule that takes it now. `vetted` is the configuration
/// whose `onConversationAdd` already ran, with the conversation as that webhook left it: a
/// creation by any other configuration (one made meanwhile) answers `NeedsVetting`, and the
/// caller runs the webhook for it first.
pub async fn deliver(
    store: &Store,
    inbound: Inbound,
    vetted: Option<(String, ConversationChange)>,
) -> Result<Delivered> {
    store
        .write(move |tx| match route(tx, &inbound.envelope)? {
            Route::Append(holder) => append(tx, &inbound, &holder).map(Delivered::Logged),
            Route::Create(config) => match vetted {
                Some((sid, change)) if sid == config.sid => {
                    create(tx, &inbound, &config, change).map(Delivered::Logged)
                }
                _ => Ok(Delivered::NeedsVetting(*config)),
            },
            Route::Ignore => {
                let row = log_row(&inbound, InboundOutcome::Ignored, tx.now());
                logged(tx, row).map(Delivered::Logged)
            }
        })
        .await
}

/// Logs a message that changed nothing else: `dropped` by an `onConversationAdd` veto, or
/// `failed` before routing (its media could not be fetched: `media` is what arrived), with
/// the error that says why.
pub async fn log_unrouted(
    store: &Store,
    inbound: Inbound,
    media: Vec<MediaUrl>,
    outcome: InboundOutcome,
    error: &Error,
) -> Result<InboundRow> {
    let (code, message) = (i64::from(error.code.number()), error.message());
    store
        .write(move |tx| {
            let mut row = log_row(&inbound, outcome, tx.now());
            if !media.is_empty() && row.media.is_none() {
                let arrived = media
                    .iter()
                    .map(|m| serde_json::json!({"url": m.url, "content_type": m.content_type}))
                    .collect();
                row.media = Some(serde_json::Value::Array(arrived));
            }
            row.error_code = Some(code);
            row.error_message = Some(message);
            logged(tx, row)
        })
        .await
}

/// The account's inbound messages, newest first, optionally only those from one address.
pub async fn list(
    store: &Store,
    account_sid: String,
    from: Option<String>,
    req: PageRequest,
) -> Result<Page<InboundRow>> {
    store
        .read(move |tx| tx.list_inbound(&account_sid, from.as_deref(), &req))
        .await
}

/// Everything `address` sent to the account and everything that went to it, oldest first.
pub async fn thread(
    store: &Store,
    account_sid: String,
    address: String,
    req: PageRequest,
) -> Result<Page<ThreadEntry>> {
    store
        .read(move |tx| tx.thread(&account_sid, &address, &req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{accounts, addresses};
    use crate::error::Code;

    fn first_page() -> PageRequest {
        crate::wire::paging::PageParams::default()
            .validate(crate::wire::paging::LIMITS_100)
            .unwrap()
    }

    fn message(account_sid: &str) -> Inbound {
        Inbound {
            envelope: Envelope {
                account_sid: account_sid.to_string(),
                channel: InboundChannel::Sms,
                from: "+15551234567".into(),
                to: "+15550001111".into(),
            },
            sid: new_channel_message_sid(InboundChannel::Sms),
            body: Some("hi".into()),
            media: Vec::new(),
        }
    }

    async fn configuration(store: &Store, account_sid: &str, address: &str) -> AddressRow {
        let tenant = Tenant {
            account_sid: account_sid.to_string(),
            service: ServiceRef::Default,
            webhooks: false,
        };
        let new = addresses::NewAddress {
            address_type: crate::states::AddressType::Sms,
            address: address.to_string(),
            friendly_name: None,
            address_country: None,
            auto: addresses::AutoCreationChange {
                enabled: Some(true),
                ..Default::default()
            },
        };
        addresses::create(store, tenant, new).await.unwrap()
    }

    /// A creation is written only after its configuration's `onConversationAdd`: a write that
    /// finds a configuration nobody vetted (made after the read that planned the message, or
    /// another one) asks for the webhook instead of creating.
    #[tokio::test]
    async fn a_creation_waits_for_its_configurations_vetting() {
        let store = crate::store::open_for_test().await;
        let account = accounts::create(&store, "inbound".into()).await.unwrap();
        let sid = account.account_sid.clone();
        let planned = plan(&store, message(&sid).envelope).await.unwrap();
        assert!(matches!(planned, Route::Ignore));
        let config = configuration(&store, &sid, "+15550001111").await;

        let unvetted = deliver(&store, message(&sid), None).await.unwrap();
        assert!(matches!(&unvetted, Delivered::NeedsVetting(c) if c.sid == config.sid));
        let other = Some(("IG-another".to_string(), ConversationChange::default()));
        let mismatched = deliver(&store, message(&sid), other).await.unwrap();
        assert!(matches!(mismatched, Delivered::NeedsVetting(_)));
        let nothing = list(&store, sid.clone(), None, first_page()).await.unwrap();
        assert!(
            nothing.rows.is_empty(),
            "nothing written before the vetting"
        );

        let named = ConversationChange {
            friendly_name: Some("vetted".into()),
            ..Default::default()
        };
        let vetted = Some((config.sid.clone(), named));
        let Delivered::Logged(row) = deliver(&store, message(&sid), vetted).await.unwrap() else {
            panic!("a vetted creation is written");
        };
        assert_eq!(row.outcome, InboundOutcome::Created);
        // The pair is held now: the next message is appended, vetted or not.
        let Delivered::Logged(next) = deliver(&store, message(&sid), None).await.unwrap() else {
            panic!("the pair's holder takes the next message");
        };
        assert_eq!(next.outcome, InboundOutcome::Appended);
        assert_eq!(next.conversation_sid, row.conversation_sid);
        assert_eq!(next.participant_sid, row.participant_sid);
    }

    /// A failed or dropped message is logged with the error that says why, and nothing else.
    #[tokio::test]
    async fn unrouted_messages_keep_their_error() {
        let store = crate::store::open_for_test().await;
        let account = accounts::create(&store, "inbound".into()).await.unwrap();
        let sid = account.account_sid.clone();
        let error = Error::with(Code::MediaRetrievalFailed, "http://x: answered 404");
        let urls = vec![MediaUrl {
            url: "http://x".into(),
            content_type: None,
        }];
        let row = log_unrouted(&store, message(&sid), urls, InboundOutcome::Failed, &error)
            .await
            .unwrap();
        assert_eq!(row.error_code, Some(11200));
        assert_eq!(
            row.error_message.as_deref(),
            Some("HTTP retrieval failure: http://x: answered 404")
        );
        assert_eq!(row.media.unwrap()[0]["url"], "http://x");
        let logged = list(&store, sid, Some("+15551234567".into()), first_page())
            .await
            .unwrap();
        assert_eq!(logged.rows.len(), 1);
        assert_eq!(logged.rows[0].outcome, InboundOutcome::Failed);
        assert!(logged.rows[0].conversation_sid.is_none());
    }
}
