//! Inbound SMS and WhatsApp (confab's own route, `POST /confab/Inbound`): what a phone sends to
//! one of the account's numbers, posted with the parameters of Twilio's incoming-message webhook
//! (`From`, `To`, `Body`, `NumMedia`, `MediaUrl0..N`, `MediaContentType0..N`, `MessageSid`).
//! The rules are `domain::inbound`'s; this edge validates, fetches the media, runs the
//! `onConversationAdd` pre-action of an autocreation, and answers what became of the message.
//! `GET /confab/Inbound` lists what arrived.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::messages::MAX_BODY;
use super::participants::device_binding;
use crate::app::AppState;
use crate::domain::conversations::ConversationChange;
use crate::domain::inbound::{
    self, ArrivedMedia, Delivered, Envelope, Inbound, MediaUrl, Route, new_channel_message_sid,
};
use crate::error::{Code, Error, Result};
use crate::fetch;
use crate::sid::{Prefix, new_sid};
use crate::states::{InboundChannel, InboundOutcome, Source};
use crate::store::addresses::AddressRow;
use crate::store::inbound::InboundRow;
use crate::webhook_events::EventType;
use crate::webhooks::pre_action::{self, modified_text};
use crate::wire::json::Json;
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::params;
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

/// An MMS carries at most ten media items, as Twilio's `NumMedia` does.
const MAX_MEDIA: usize = 10;
/// A conversation's friendly name, as `onConversationAdd` may set it (`FriendlyNameTooLong`).
const MAX_FRIENDLY_NAME: usize = 256;
/// How often routing is tried again when it changed between the pre-action webhook and the
/// write (an Address Configuration made or changed meanwhile).
const MAX_ROUTINGS: usize = 3;

/// The request's parameters, in order (`MediaUrl0..N` are numbered).
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A validated request, before its media is fetched.
struct Request {
    envelope: Envelope,
    sid: String,
    body: Option<String>,
    media: Vec<MediaUrl>,
}

/// `From` and `To`: a phone (or WhatsApp address) writing to one of the account's numbers, on
/// one channel, SMS or WhatsApp. Checked as a participant's binding is (`InvalidAddress`,
/// `InvalidProxyAddress`, `AddressEqualsProxy`, `AddressTypeMismatch`).
fn envelope(account_sid: String, form: &Form) -> Result<Envelope> {
    let from = form.get("From").ok_or_else(|| Error::missing("From"))?;
    let to = form.get("To").ok_or_else(|| Error::missing("To"))?;
    let binding = device_binding(from, Some(to))?;
    let channel = InboundChannel::parse(&binding.kind).ok_or_else(|| {
        Error::with(
            Code::InvalidAddress,
            format!("{from}: only SMS and WhatsApp messages arrive here"),
        )
    })?;
    Ok(Envelope {
        account_sid,
        channel,
        from: from.to_string(),
        to: to.to_string(),
    })
}

/// `NumMedia` and `MediaUrl0..N` (with `MediaContentType0..N`): as many URLs as `NumMedia`
/// says, or, without it, those numbered from 0 on; at most ten.
fn media_urls(form: &Form) -> Result<Vec<MediaUrl>> {
    let declared = params::integer("NumMedia", form.get("NumMedia"), Code::InvalidParameter)?;
    let count = match declared {
        Some(n) if !(0..=MAX_MEDIA as i64).contains(&n) => {
            return Err(Error::invalid("NumMedia", format!("0 to {MAX_MEDIA}")));
        }
        Some(n) => n as usize,
        None => (0..=MAX_MEDIA)
            .take_while(|i| form.get(&format!("MediaUrl{i}")).is_some())
            .count(),
    };
    if count > MAX_MEDIA {
        return Err(Error::invalid("MediaUrl", format!("at most {MAX_MEDIA}")));
    }
    (0..count)
        .map(|i| {
            let name = format!("MediaUrl{i}");
            let url = form.get(&name).ok_or_else(|| Error::missing(&name))?;
            Ok(MediaUrl {
                url: url.to_string(),
                content_type: form
                    .get(&format!("MediaContentType{i}"))
                    .map(str::to_string),
            })
        })
        .collect()
}

/// `MessageSid`, when sent: the channel message's SID (`SM...`, or `MM...` as WhatsApp's are).
fn message_sid(form: &Form, channel: InboundChannel) -> Result<String> {
    let Some(sid) = form.get("MessageSid") else {
        return Ok(new_channel_message_sid(channel));
    };
    let hex = sid.get(2..).unwrap_or_default();
    let shaped = (sid.starts_with("SM") || sid.starts_with("MM"))
        && hex.len() == 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !shaped {
        return Err(Error::invalid("MessageSid", sid));
    }
    Ok(sid.to_string())
}

impl Request {
    fn parse(account_sid: String, form: &Form) -> Result<Request> {
        let envelope = envelope(account_sid, form)?;
        let body = params::text("Body", form.get("Body"), MAX_BODY, Code::BodyTooLong)?
            .filter(|b| !b.is_empty());
        let media = media_urls(form)?;
        if body.is_none() && media.is_empty() {
            return Err(Error::new(Code::BodyMissing));
        }
        let sid = message_sid(form, envelope.channel)?;
        Ok(Request {
            envelope,
            sid,
            body,
            media,
        })
    }
}

/// Fetches every media URL, in order; the first that fails fails them all.
async fn fetch_media(urls: &[MediaUrl]) -> Result<Vec<ArrivedMedia>> {
    let mut arrived = Vec::with_capacity(urls.len());
    for url in urls {
        let fetched = fetch::media(&url.url).await?;
        let content_type = url
            .content_type
            .clone()
            .or(fetched.content_type)
            .unwrap_or_else(|| "application/octet-stream".into());
        arrived.push(ArrivedMedia {
            sid: new_sid(Prefix::Media),
            url: url.url.clone(),
            content_type,
            filename: None,
            content: fetched.content,
        });
    }
    Ok(arrived)
}

/// `onConversationAdd` for an autocreation by `config` (twilio-behavior.md 17.8): the service's
/// pre-action target may rename the conversation, or veto (`WebhookRejected`).
async fn vet(app: &AppState, inbound: &Inbound, config: &AddressRow) -> Result<ConversationChange> {
    let tenant = inbound::tenant(&inbound.envelope.account_sid, &config.auto.service_sid);
    let now = app.store.clock.now_secs();
    let own = inbound::conversation_add_params(inbound, config, now);
    let source = Source::of_channel(inbound.envelope.channel);
    let event = EventType::ConversationAdd;
    let changes =
        pre_action::run_from(app, &tenant, event, std::future::ready(Ok(own)), source).await?;
    let friendly_name = params::text(
        "FriendlyName",
        modified_text(&changes, "friendly_name").as_deref(),
        MAX_FRIENDLY_NAME,
        Code::FriendlyNameTooLong,
    )?;
    Ok(ConversationChange {
        friendly_name,
        ..ConversationChange::default()
    })
}

/// What the answer says of a logged message.
fn answer(row: &InboundRow) -> Value {
    let error = row
        .error_code
        .map(|code| json!({"code": code, "message": row.error_message}));
    json!({
        "outcome": row.outcome,
        "sid": row.sid,
        "conversation_sid": row.conversation_sid,
        "participant_sid": row.participant_sid,
        "message_sid": row.message_sid,
        "error": error,
    })
}

/// Routes the message and writes what it does: the pre-action webhook first when it creates a
/// conversation; its veto drops the message.
async fn route(app: &AppState, inbound: Inbound) -> Result<InboundRow> {
    let mut vetted = None;
    if let Route::Create(config) = inbound::plan(&app.store, inbound.envelope.clone()).await? {
        vetted = Some(config);
    }
    for _ in 0..MAX_ROUTINGS {
        let change = match vetted.take() {
            Some(config) => match vet(app, &inbound, &config).await {
                Ok(change) => Some((config.sid.clone(), change)),
                Err(e) if e.code == Code::WebhookRejected => {
                    let dropped = InboundOutcome::Dropped;
                    return inbound::log_unrouted(&app.store, inbound, Vec::new(), dropped, &e)
                        .await;
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        match inbound::deliver(&app.store, inbound.clone(), change).await? {
            Delivered::Logged(row) => return Ok(row),
            Delivered::NeedsVetting(config) => vetted = Some(Box::new(config)),
        }
    }
    Err(Error::internal(
        "inbound routing changed under every attempt",
    ))
}

/// POST /confab/Inbound: a message from a phone (`From`) to one of the account's numbers or
/// WhatsApp senders (`To`). Answers `{outcome, sid, conversation_sid, participant_sid,
/// message_sid, error}`: `appended`, `created`, `dropped` (vetoed by `onConversationAdd`) or
/// `ignored`. Media that cannot be fetched fails the message (`MediaRetrievalFailed`), which
/// is logged as `failed` and changes nothing else.
pub async fn receive(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioForm(form): TwilioForm<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let account = app.authenticate(&headers).await?;
    let request = Request::parse(account, &Form(form))?;
    let media = match fetch_media(&request.media).await {
        Ok(media) => media,
        Err(e) => {
            let failed = Inbound {
                envelope: request.envelope,
                sid: request.sid,
                body: request.body,
                media: Vec::new(),
            };
            let outcome = InboundOutcome::Failed;
            inbound::log_unrouted(&app.store, failed, request.media, outcome, &e).await?;
            return Err(e);
        }
    };
    let inbound = Inbound {
        envelope: request.envelope,
        sid: request.sid,
        body: request.body,
        media,
    };
    let row = route(&app, inbound).await?;
    tracing::info!(sid = %row.sid, outcome = row.outcome.as_str(), "inbound message");
    Ok(Json(answer(&row)))
}

#[derive(Deserialize)]
pub struct InboundFilter {
    #[serde(rename = "Address")]
    address: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// An inbound message as the logs show it: the row, with its direction.
pub fn render(row: &InboundRow) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    value["direction"] = json!("inbound");
    value
}

/// GET /confab/Inbound[?Address=+1555...]: the account's inbound messages, newest first, each
/// with its outcome; `Address` keeps those from one phone.
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioQuery(q): TwilioQuery<InboundFilter>,
) -> Result<Json<ListPage<Value>>> {
    let account = app.authenticate(&headers).await?;
    let req = q.page.validate(LIMITS_100)?;
    let rows = inbound::list(&app.store, account, q.address.clone(), req.clone()).await?;
    let page = rows.map(|row| render(&row));
    let base = Urls::from_request(app.public_url.as_deref(), &headers, String::new()).base;
    let filters: Vec<(&str, String)> = q.address.into_iter().map(|a| ("Address", a)).collect();
    Ok(Json(paging::render(
        "messages",
        page,
        &req,
        &format!("{base}/confab/Inbound"),
        &filters,
    )))
}
