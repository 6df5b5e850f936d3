//! The one place webhook parameters are built (twilio-behavior.md 17.4): the fields every
//! request carries, and each resource's own, for post-action events, pre-action calls and
//! anything else that reports what happened.

use serde_json::json;

use super::users::Reachability;
use crate::states::{ConversationState, ReceiptStatus, Source};
use crate::store::conversations::ConversationRow;
use crate::store::inbound::InboundRow;
use crate::store::messages::MessageRow;
use crate::store::participants::{Binding, ParticipantRow};
use crate::store::receipts::Outbound;
use crate::store::users::UserRow;
use crate::store::webhooks::{Attempt, Pending};
use crate::webhook_events::{ConfabEvent, EventType};
use crate::wire::time::format_date;

/// An event's own form parameters, in Twilio's names; `None` values are not sent.
pub type Params = Vec<(&'static str, Option<String>)>;

/// The fields every webhook request carries, then the event's own (without the `None`s). The
/// event's own parameters may name the service already (a conversation's do): it is sent once.
fn with_common(
    account_sid: &str,
    service_sid: &str,
    event: EventType,
    own: Params,
    source: Source,
    retry_count: Option<i64>,
) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = vec![
        ("AccountSid".into(), account_sid.into()),
        ("EventType".into(), event.as_str().into()),
        ("Source".into(), source.as_str().into()),
    ];
    if let Some(count) = retry_count {
        form.push(("RetryCount".into(), count.to_string()));
    }
    if !own.iter().any(|(k, _)| *k == "ChatServiceSid") {
        form.push(("ChatServiceSid".into(), service_sid.into()));
    }
    form.extend(
        own.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
    );
    form
}

/// A post-action event's parameters, as queued (the delivery worker adds `RetryCount` to each
/// attempt, and the target's `WebhookSid` and `WebhookType` are added per target). `source`:
/// where the action came from (`API` for REST, `SMS` or `WHATSAPP` for an inbound message).
pub fn post_action(
    account_sid: &str,
    service_sid: &str,
    event: EventType,
    own: Params,
    source: Source,
) -> Vec<(String, String)> {
    with_common(account_sid, service_sid, event, own, source, None)
}

/// A pre-action call's parameters: sent once, inline, so `RetryCount` is 0.
pub fn pre_action(
    account_sid: &str,
    service_sid: &str,
    event: EventType,
    own: Params,
    source: Source,
) -> Vec<(String, String)> {
    with_common(account_sid, service_sid, event, own, source, Some(0))
}

/// An event's parameters as the event stream carries them (`GET /confab/Events`): one JSON
/// object, each name with its value as the webhook's form sends it (text).
///
/// Written straight from the form, in its order, without building a map first: on SQLite it
/// runs on the writer thread, for every event.
pub fn stream_data(form: &[(String, String)]) -> String {
    let size: usize = form.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    let mut out = Vec::with_capacity(size + 2);
    out.push(b'{');
    for (i, (name, value)) in form.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value);
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

/// `confabInboundUnrouted` (confab's own, on the event stream only): an inbound message that
/// reached no conversation, as the inbound log records it.
pub fn inbound_unrouted(row: &InboundRow) -> Vec<(String, String)> {
    let own: Vec<(&str, Option<String>)> = vec![
        ("AccountSid", Some(row.account_sid.clone())),
        (
            "EventType",
            Some(ConfabEvent::InboundUnrouted.as_str().into()),
        ),
        ("MessageSid", Some(row.sid.clone())),
        ("From", Some(row.from.clone())),
        ("To", Some(row.to.clone())),
        ("Body", row.body.clone()),
        ("Outcome", Some(row.outcome.as_str().into())),
        ("ErrorCode", row.error_code.map(|c| c.to_string())),
        ("ErrorMessage", row.error_message.clone()),
        ("DateCreated", date(row.date_created)),
    ];
    own.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// `confabWebhookFailed` (confab's own, on the event stream only): an attempt at `pending`
/// that failed, as the delivery log records it; `kind` is `post` or `pre`. `EventType` is
/// confab's event, `WebhookEventType` the Twilio event the webhook carried.
pub fn webhook_failed(pending: &Pending, kind: &str, attempt: &Attempt) -> Vec<(String, String)> {
    let own: Vec<(&str, Option<String>)> = vec![
        ("AccountSid", Some(pending.account_sid.clone())),
        (
            "EventType",
            Some(ConfabEvent::WebhookFailed.as_str().into()),
        ),
        ("WebhookEventType", Some(pending.event_type.clone())),
        ("WebhookKind", Some(kind.into())),
        ("ConversationSid", pending.conversation_sid.clone()),
        ("WebhookSid", pending.webhook_sid.clone()),
        ("Target", Some(pending.target.clone())),
        ("Url", Some(pending.url.clone())),
        ("Method", Some(pending.method.clone())),
        ("RetryCount", Some(pending.attempts.to_string())),
        ("Outcome", Some(attempt.outcome.as_str().into())),
        ("StatusCode", attempt.status.map(|s| s.to_string())),
        ("Error", attempt.error.clone()),
        ("LatencyMs", Some(attempt.latency_ms.to_string())),
    ];
    own.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// Keeps only the parameters a pre-action event sends of the resource.
pub fn only(mut params: Params, names: &[&str]) -> Params {
    params.retain(|(name, _)| names.contains(name));
    params
}

fn date(secs: i64) -> Option<String> {
    Some(format_date(secs))
}

/// A conversation (`onConversationAdd[ed]`, `onConversationUpdate[d]`).
pub fn conversation(row: &ConversationRow) -> Params {
    vec![
        ("ConversationSid", Some(row.sid.clone())),
        ("DateCreated", date(row.date_created)),
        ("DateUpdated", date(row.date_updated)),
        ("FriendlyName", row.friendly_name.clone()),
        ("UniqueName", row.unique_name.clone()),
        ("Attributes", Some(row.attributes.clone())),
        ("ChatServiceSid", Some(row.service_sid.clone())),
        ("MessagingServiceSid", row.messaging_service_sid.clone()),
        ("State", Some(row.state.as_str().to_string())),
    ]
}

/// The fields of a conversation a request sets (as sent: a pre-action event reports the request
/// before it is checked against the store).
#[derive(Debug, Default)]
pub struct ConversationFields<'a> {
    pub friendly_name: Option<&'a str>,
    pub unique_name: Option<&'a str>,
    pub attributes: Option<&'a str>,
    pub messaging_service_sid: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// `onConversationAdd` / `onConversationUpdate`: the conversation as the request would leave
/// it: `current` (none for a new one, which has `{}` attributes and is `active` unless the
/// request says otherwise) with what the request sets.
pub fn conversation_change(
    current: Option<&ConversationRow>,
    asked: &ConversationFields,
) -> Params {
    let mut params = current.map(conversation).unwrap_or_else(|| {
        vec![
            ("Attributes", Some("{}".to_string())),
            (
                "State",
                Some(ConversationState::Active.as_str().to_string()),
            ),
        ]
    });
    let mut set = |key: &'static str, value: Option<&str>| {
        if let Some(value) = value {
            params.retain(|(k, _)| *k != key);
            params.push((key, Some(value.to_string())));
        }
    };
    set("FriendlyName", asked.friendly_name);
    set("UniqueName", asked.unique_name);
    set("Attributes", asked.attributes);
    set("MessagingServiceSid", asked.messaging_service_sid);
    set("State", asked.state);
    params
}

/// What arrived on a messaging channel and would create a conversation (`onConversationAdd`
/// during autocreation, twilio-behavior.md 17.8): the new conversation, the sender's binding,
/// the message's body and media (`media_json` as a message's `media` array).
pub fn inbound_conversation_add(
    address: &str,
    proxy_address: &str,
    body: Option<&str>,
    media_json: Option<&str>,
) -> Params {
    let mut params = conversation_change(None, &ConversationFields::default());
    params.extend([
        ("MessagingBinding.Address", Some(address.to_string())),
        (
            "MessagingBinding.ProxyAddress",
            Some(proxy_address.to_string()),
        ),
        ("MessageBody", body.map(str::to_string)),
        ("Media", media_json.map(media)),
    ]);
    params
}

/// A conversation as it goes (`onConversationRemove[d]`).
pub fn conversation_removed(row: &ConversationRow, now: i64) -> Params {
    let mut params = conversation(row);
    params.push(("DateRemoved", date(now)));
    params
}

/// `onConversationStateUpdated` (`reason`: API, TIMER or EVENT).
pub fn state_updated(
    row: &ConversationRow,
    from: ConversationState,
    reason: &str,
    now: i64,
) -> Params {
    vec![
        ("ChatServiceSid", Some(row.service_sid.clone())),
        ("ConversationSid", Some(row.sid.clone())),
        ("MessagingServiceSid", row.messaging_service_sid.clone()),
        ("StateFrom", Some(from.as_str().to_string())),
        ("StateTo", Some(row.state.as_str().to_string())),
        ("StateUpdated", date(now)),
        ("Reason", Some(reason.to_string())),
    ]
}

/// A participant (`onParticipantAdded`, `onParticipantUpdate`, `onParticipantRemove`):
/// `MessagingBinding.Type` is upper case (`SMS`, `WHATSAPP`), and `CHAT` for a participant
/// without a binding.
pub fn participant(row: &ParticipantRow) -> Params {
    let binding = row.binding.as_ref();
    let field = |f: fn(&Binding) -> &Option<String>| binding.and_then(|b| f(b).clone());
    vec![
        ("ConversationSid", Some(row.conversation_sid.clone())),
        ("ParticipantSid", Some(row.sid.clone())),
        ("DateCreated", date(row.date_created)),
        ("DateUpdated", date(row.date_updated)),
        ("Identity", row.identity.clone()),
        ("RoleSid", row.role_sid.clone()),
        ("Attributes", Some(row.attributes.clone())),
        ("MessagingBinding.ProxyAddress", field(|b| &b.proxy_address)),
        ("MessagingBinding.Address", field(|b| &b.address)),
        (
            "MessagingBinding.ProjectedAddress",
            field(|b| &b.projected_address),
        ),
        (
            "MessagingBinding.Type",
            Some(binding.map_or("CHAT".to_string(), |b| b.kind.to_uppercase())),
        ),
    ]
}

/// `onParticipantAdd`: the participant about to be added, before it has a SID.
pub fn participant_add(row: &ParticipantRow) -> Params {
    const ON_PARTICIPANT_ADD: &[&str] = &[
        "ConversationSid",
        "Identity",
        "RoleSid",
        "Attributes",
        "MessagingBinding.ProxyAddress",
        "MessagingBinding.Address",
        "MessagingBinding.ProjectedAddress",
        "MessagingBinding.Type",
    ];
    only(participant(row), ON_PARTICIPANT_ADD)
}

/// `onParticipantUpdated`, and `onParticipantRemoved` before its `DateRemoved`: twilio-behavior.md
/// 17.4 lists each as "the above plus ...", the row above, as its user events chain
/// `onUserAdded` → `onUserUpdate` → `onUserUpdated`.
pub fn participant_updated(row: &ParticipantRow) -> Params {
    let mut params = participant(row);
    params.push((
        "LastReadMessageIndex",
        row.last_read_message_index.map(|i| i.to_string()),
    ));
    params
}

/// `onParticipantRemoved`.
pub fn participant_removed(row: &ParticipantRow, now: i64) -> Params {
    let mut params = participant_updated(row);
    params.push(("DateRemoved", date(now)));
    params
}

/// A message's `media` array (JSON text) as webhooks send it: the same items with PascalCase
/// keys (`Sid`, `Size`, `ContentType`, `Filename`; twilio-behavior.md 14.2, 17.4).
pub fn media(media_json: &str) -> String {
    let items: Vec<serde_json::Value> = serde_json::from_str(media_json).unwrap_or_default();
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|m| {
            json!({
                "Sid": m["sid"],
                "Size": m["size"],
                "ContentType": m["content_type"],
                "Filename": m["filename"],
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// The parameters every message event shares.
fn message(row: &MessageRow) -> Params {
    vec![
        ("ConversationSid", Some(row.conversation_sid.to_string())),
        ("MessageSid", Some(row.sid.clone())),
        ("Index", Some(row.index.to_string())),
        ("DateCreated", date(row.date_created)),
        ("Body", row.body.clone()),
        ("Author", Some(row.author.clone())),
        ("ParticipantSid", row.participant_sid.clone()),
        ("Attributes", Some(row.attributes.clone())),
        ("Media", row.media.as_deref().map(media)),
    ]
}

/// `onMessageAdd`: the message about to be added, before it has a SID or an index.
pub fn message_add(row: &MessageRow) -> Params {
    const ON_MESSAGE_ADD: &[&str] = &[
        "ConversationSid",
        "Body",
        "Author",
        "ParticipantSid",
        "Attributes",
        "Media",
    ];
    only(message(row), ON_MESSAGE_ADD)
}

/// `onMessageAdded`.
pub fn message_added(row: &MessageRow, messaging_service_sid: Option<&str>) -> Params {
    let mut params = message(row);
    params.push((
        "MessagingServiceSid",
        messaging_service_sid.map(str::to_string),
    ));
    params
}

/// `onMessageUpdate[d]` and `onMessageRemove`.
pub fn message_updated(row: &MessageRow) -> Params {
    let mut params = message(row);
    params.push(("DateUpdated", date(row.date_updated)));
    params
}

/// `onMessageRemoved`.
pub fn message_removed(row: &MessageRow, now: i64) -> Params {
    let mut params = message_updated(row);
    params.push(("DateRemoved", date(now)));
    params
}

/// `onDeliveryUpdated`: a receipt of `conversation`'s moved to `status`.
pub fn delivery_updated(
    conversation: &ConversationRow,
    receipt: &Outbound,
    status: ReceiptStatus,
    error_code: Option<i64>,
    now: i64,
) -> Params {
    vec![
        ("ConversationSid", Some(conversation.sid.clone())),
        ("ChatServiceSid", Some(conversation.service_sid.clone())),
        ("MessageSid", Some(receipt.message_sid.clone())),
        ("DeliveryReceiptSid", Some(receipt.receipt_sid.clone())),
        ("ChannelMessageSid", receipt.channel_message_sid.clone()),
        ("ParticipantSid", receipt.participant_sid.clone()),
        ("Status", Some(status.as_str().to_string())),
        ("ErrorCode", error_code.map(|c| c.to_string())),
        ("DateCreated", date(receipt.date_created)),
        ("DateUpdated", date(now)),
    ]
}

/// A user (`onUserAdded`): the parameters every user event carries (twilio-behavior.md 17.4).
pub fn user(row: &UserRow) -> Params {
    vec![
        ("ChatServiceSid", Some(row.service_sid.clone())),
        ("UserSid", Some(row.sid.clone())),
        ("Identity", Some(row.identity.clone())),
        ("FriendlyName", row.friendly_name.clone()),
        ("RoleSid", row.role_sid.clone()),
        ("Attributes", Some(row.attributes.clone())),
        ("DateCreated", date(row.date_created)),
    ]
}

/// `onUserUpdate`: the user as the update would leave it.
pub fn user_update(row: &UserRow) -> Params {
    let mut params = user(row);
    params.push(("DateUpdated", date(row.date_updated)));
    params
}

/// `onUserUpdated`: the user as updated, and its reachability.
pub fn user_updated(row: &UserRow, reach: Reachability) -> Params {
    let mut params = user_update(row);
    params.extend([
        ("IsOnline", reach.is_online.map(|b| b.to_string())),
        ("IsNotifiable", reach.is_notifiable.map(|b| b.to_string())),
    ]);
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_data_is_the_form_as_one_json_object() {
        let form = [
            ("Body".to_string(), "a \"quote\"\nand a line".to_string()),
            ("Index".to_string(), "0".to_string()),
        ];
        let data = stream_data(&form);
        let parsed: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            parsed,
            json!({"Body": "a \"quote\"\nand a line", "Index": "0"})
        );
        assert!(!data.contains('\n'), "one line of data: {data}");
        assert_eq!(stream_data(&[]), "{}");
    }
}
