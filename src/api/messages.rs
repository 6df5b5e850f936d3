//! Conversation Messages: `/Conversations/{ConversationSid}/Messages[/{Sid}]`, under both
//! prefixes.

use crate::wire::json::{self, ObjectWriter, Prewritten, RawJson, WriteJson, Written};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::messages::{self, MessageUpdate, NewMessage};
use crate::error::{Code, Error, Result};
use crate::sid::Prefix;
use crate::store::messages::{Delivery, MessageRef};
use crate::webhook_events::EventType;
use crate::webhooks::pre_action::{self, Modifications, modified_json, modified_text};
use crate::wire::paging::{self, LIMITS_100, PageParams};
use crate::wire::params;
use crate::wire::time::Date;
use crate::wire::urls::{Link, Urls, encode};
use crate::wire::{TwilioForm, TwilioQuery};

/// Message attributes may be up to 4 KB (twilio-behavior.md 6).
const MAX_ATTRIBUTES: usize = 4 * 1024;
/// A REST message body may be up to 1600 characters (`BodyTooLong`).
pub(crate) const MAX_BODY: usize = 1600;
/// The author's limit is undocumented; 256, as for identities (twilio-behavior.md 14.1).
const MAX_AUTHOR: usize = 256;
/// "The subject of the message, can be up to 256 characters long" (the spec's description).
const MAX_SUBJECT: usize = 256;
/// Content-variable limits (twilio-behavior.md 14.3).
const MAX_VARIABLES_LEN: usize = 27_801;
const MAX_VARIABLES: usize = 100;
const MAX_VARIABLE_KEY: usize = 16;
const MAX_VARIABLE_VALUE: usize = 256;
const DEFAULT_AUTHOR: &str = "system";

/// `"all"`, `"some"` or `"none"` of the recipients reached a status.
fn share(count: i64, total: i64) -> &'static str {
    match count {
        0 => "none",
        n if n >= total => "all",
        _ => "some",
    }
}

/// `delivery`: how far the message's receipts got, as shares of its recipients.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    total: i64,
    sent: &'static str,
    delivered: &'static str,
    read: &'static str,
    failed: &'static str,
    undelivered: &'static str,
}

fn render_delivery(d: &Delivery) -> DeliveryView {
    DeliveryView {
        total: d.total,
        sent: share(d.sent, d.total),
        delivered: share(d.delivered, d.total),
        read: share(d.read, d.total),
        failed: share(d.failed, d.total),
        undelivered: share(d.undelivered, d.total),
    }
}

/// A message as the wire shows it. It borrows its row and is serialized straight into the
/// body: building a `Value` tree per message was half of a list page's CPU.
#[derive(Debug, Serialize)]
pub struct MessageView<'a> {
    account_sid: &'a str,
    /// Only the service-scoped schema lists `chat_service_sid` (the spec's two schemas).
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<&'a str>,
    conversation_sid: &'a str,
    sid: &'a str,
    index: i64,
    author: &'a str,
    body: Option<&'a str>,
    /// The stored JSON array as it is; `null` without media (or if the text is not JSON).
    media: Option<RawJson<'a>>,
    attributes: &'a str,
    participant_sid: Option<&'a str>,
    date_created: Date,
    date_updated: Date,
    delivery: Option<DeliveryView>,
    content_sid: Option<&'a str>,
    links: MessageLinks<'a>,
    url: Link<'a, 4>,
}

#[derive(Debug, Serialize)]
struct MessageLinks<'a> {
    delivery_receipts: Link<'a, 5>,
    channel_metadata: Link<'a, 5>,
}

/// The same bytes as serializing it, written with its keys as they are (a page of messages is
/// the most common list, and a message the most common write).
impl WriteJson for MessageView<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
        let mut o = ObjectWriter::begin(out);
        o.str("account_sid", self.account_sid);
        if let Some(service) = self.chat_service_sid {
            o.str("chat_service_sid", service);
        }
        o.str("conversation_sid", self.conversation_sid);
        o.str("sid", self.sid);
        o.i64("index", self.index);
        o.str("author", self.author);
        o.opt_str("body", self.body);
        o.raw("media", self.media.as_ref());
        o.str("attributes", self.attributes);
        o.opt_str("participant_sid", self.participant_sid);
        o.date("date_created", self.date_created)?;
        o.date("date_updated", self.date_updated)?;
        o.value("delivery", &self.delivery)?;
        o.opt_str("content_sid", self.content_sid);
        let mut links = o.object("links");
        links.link("delivery_receipts", &self.links.delivery_receipts);
        links.link("channel_metadata", &self.links.channel_metadata);
        links.end();
        o.link("url", &self.url);
        o.end();
        Ok(())
    }
}

pub fn render<'a>(row: MessageRef<'a>, urls: &'a Urls) -> MessageView<'a> {
    let path = |last| {
        urls.link([
            "Conversations",
            row.conversation_sid,
            "Messages",
            row.sid,
            last,
        ])
    };
    MessageView {
        account_sid: row.account_sid,
        chat_service_sid: urls.is_service_scoped().then_some(row.service_sid),
        conversation_sid: row.conversation_sid,
        sid: row.sid,
        index: row.index,
        author: row.author,
        body: row.body,
        media: row.media.and_then(json::raw),
        attributes: row.attributes,
        participant_sid: row.participant_sid,
        date_created: Date(row.date_created),
        date_updated: Date(row.date_updated),
        delivery: row.delivery.as_ref().map(render_delivery),
        content_sid: row.content_sid,
        links: MessageLinks {
            delivery_receipts: path("Receipts"),
            channel_metadata: path("ChannelMetadata"),
        },
        url: urls.link(["Conversations", row.conversation_sid, "Messages", row.sid]),
    }
}

/// The parameters of CreateConversationMessage and UpdateConversationMessage (update takes no
/// `MediaSid`, `ContentSid` or `ContentVariables`, and ignores them as unknown).
#[derive(Debug, Default, Deserialize)]
pub struct MessageParams {
    #[serde(rename = "Author")]
    author: Option<String>,
    #[serde(rename = "Body")]
    body: Option<String>,
    #[serde(rename = "Attributes")]
    attributes: Option<String>,
    #[serde(rename = "MediaSid")]
    media_sid: Option<String>,
    #[serde(rename = "ContentSid")]
    content_sid: Option<String>,
    #[serde(rename = "ContentVariables")]
    content_variables: Option<String>,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "DateCreated")]
    date_created: Option<String>,
    #[serde(rename = "DateUpdated")]
    date_updated: Option<String>,
}

/// `ContentVariables`: a JSON object of at most 100 short keys and values, only with a
/// `ContentSid` (twilio-behavior.md 14.3).
fn content_variables(value: Option<&str>, content_sid: Option<&str>) -> Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if content_sid.is_none() {
        return Err(Error::with(
            Code::ContentSidMissing,
            "ContentVariables were given without a ContentSid",
        ));
    }
    let variables = serde_json::from_str::<Map<String, Value>>(value).map_err(|_| {
        Error::with(
            Code::InvalidContentVariables,
            "ContentVariables must be a JSON object of variable names to values",
        )
    })?;
    if value.chars().count() > MAX_VARIABLES_LEN || variables.len() > MAX_VARIABLES {
        return Err(Error::with(
            Code::ContentVariablesTooLong,
            format!("at most {MAX_VARIABLES} variables and {MAX_VARIABLES_LEN} characters"),
        ));
    }
    for (key, value) in &variables {
        if key.chars().count() > MAX_VARIABLE_KEY {
            return Err(Error::with(Code::ContentVariableKeyTooLong, key));
        }
        let length = match value {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        };
        if length > MAX_VARIABLE_VALUE {
            return Err(Error::with(Code::ContentVariableValueTooLong, key));
        }
    }
    Ok(Some(value.to_string()))
}

impl MessageParams {
    fn author(&self) -> Result<Option<String>> {
        params::text(
            "Author",
            self.author.as_deref(),
            MAX_AUTHOR,
            Code::AuthorTooLong,
        )
    }

    fn body(&self) -> Result<Option<String>> {
        params::text("Body", self.body.as_deref(), MAX_BODY, Code::BodyTooLong)
    }

    fn subject(&self) -> Result<Option<String>> {
        match &self.subject {
            Some(s) if s.chars().count() > MAX_SUBJECT => Err(Error::invalid(
                "Subject",
                format!("can be up to {MAX_SUBJECT} characters long"),
            )),
            other => Ok(other.clone()),
        }
    }

    fn for_create(&self) -> Result<NewMessage> {
        let author = self.author()?;
        let body = self.body()?;
        let attributes = params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?;
        let media_sid = params::sid(
            "MediaSid",
            self.media_sid.as_deref(),
            Prefix::Media,
            Code::InvalidMediaSid,
        )?;
        let content_sid = params::sid(
            "ContentSid",
            self.content_sid.as_deref(),
            Prefix::Content,
            Code::InvalidContentSid,
        )?;
        let content_variables =
            content_variables(self.content_variables.as_deref(), content_sid.as_deref())?;
        let date_created = params::date(
            "DateCreated",
            self.date_created.as_deref(),
            Code::InvalidDateCreated,
        )?;
        let date_updated = params::date(
            "DateUpdated",
            self.date_updated.as_deref(),
            Code::InvalidDateUpdated,
        )?;
        let subject = self.subject()?;
        if body.is_none() && media_sid.is_none() && content_sid.is_none() {
            return Err(Error::with(
                Code::BodyMissing,
                "a message needs a Body, a MediaSid or a ContentSid",
            ));
        }
        // With a ContentSid the template defines the media: MediaSid is ignored, and the media
        // stays free (twilio-behavior.md 14.3). There is no Content API here to render a template's
        // text from, so a Body given alongside is kept as the closest stand-in.
        let media_sid = if content_sid.is_some() {
            None
        } else {
            media_sid
        };
        Ok(NewMessage {
            author: author.unwrap_or_else(|| DEFAULT_AUTHOR.into()),
            body,
            attributes,
            media_sid,
            content_sid,
            content_variables,
            subject,
            date_created,
            date_updated,
        })
    }

    /// Applies what an `onMessageAdd` / `onMessageUpdate` target answered: it may change the
    /// body, the author and the attributes (twilio-behavior.md 17.2); the result is validated again
    /// like the request itself.
    fn apply(&mut self, changes: &Modifications) {
        if let Some(body) = modified_text(changes, "body") {
            self.body = Some(body);
        }
        if let Some(author) = modified_text(changes, "author") {
            self.author = Some(author);
        }
        if let Some(attributes) = modified_json(changes, "attributes") {
            self.attributes = Some(attributes);
        }
    }

    fn for_update(&self) -> Result<MessageUpdate> {
        Ok(MessageUpdate {
            author: self.author()?,
            body: self.body()?,
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            subject: self.subject()?,
            date_created: params::date(
                "DateCreated",
                self.date_created.as_deref(),
                Code::InvalidDateCreated,
            )?,
            date_updated: params::date(
                "DateUpdated",
                self.date_updated.as_deref(),
                Code::InvalidDateUpdated,
            )?,
        })
    }
}

#[derive(Deserialize)]
pub struct ConversationPath {
    conversation: String,
}

#[derive(Deserialize)]
pub struct MessagePath {
    conversation: String,
    message: String,
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(rename = "Order")]
    order: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// CreateConversationMessage: POST /v1/Conversations/{ConversationSid}/Messages
/// (and CreateServiceConversationMessage under /v1/Services/{ChatServiceSid}).
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
    TwilioForm(mut form): TwilioForm<MessageParams>,
) -> Result<Response> {
    if scope.tenant.webhooks {
        let new = form.for_create()?; // bad input fails before any webhook goes out
        let params =
            messages::add_event_params(&app.store, scope.tenant(), p.conversation.clone(), new);
        let changes = pre_action::run(&app, &scope.tenant, EventType::MessageAdd, params).await?;
        form.apply(&changes);
    }
    let new = form.for_create()?;
    let row = messages::create(&app.store, scope.tenant(), p.conversation, new).await?;
    Ok((
        StatusCode::CREATED,
        Written(render(row.borrowed(), &scope.urls)),
    )
        .into_response())
}

/// ListConversationMessage: GET /v1/Conversations/{ConversationSid}/Messages
/// (and ListServiceConversationMessage).
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
    TwilioQuery(q): TwilioQuery<ListParams>,
) -> Result<Response> {
    let req = q.page.validate(LIMITS_100)?;
    let order = params::one_of(
        "Order",
        q.order.as_deref(),
        &["asc", "desc"],
        Code::InvalidParameter,
    )?;
    let echoed: Vec<(&str, String)> = order
        .map(|o| ("Order", o.to_string()))
        .into_iter()
        .collect();
    let list_url = scope.urls.scoped(&format!(
        "Conversations/{}/Messages",
        encode(&p.conversation)
    ));
    // Each message is written while SQLite is on its row: a `MessageRow` per message (a
    // `String` per column, each copied again into the answer) was 7% of a page's instructions.
    let urls = scope.urls.clone();
    let page = messages::list(
        &app.store,
        scope.tenant(),
        p.conversation,
        order == Some("desc"),
        req.clone(),
        move |message| Prewritten::of(&render(message, &urls)),
    )
    .await?;
    let page = page
        .try_map(|written| written)
        .map_err(|e| Error::internal(format!("could not write a message: {e}")))?;
    Ok(Written(paging::render("messages", page, &req, &list_url, &echoed)).into_response())
}

/// FetchConversationMessage: GET /v1/Conversations/{ConversationSid}/Messages/{Sid}
/// (and FetchServiceConversationMessage).
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
) -> Result<Response> {
    let row = messages::fetch(&app.store, scope.tenant(), p.conversation, p.message).await?;
    Ok(Written(render(row.borrowed(), &scope.urls)).into_response())
}

/// GET /v1/Conversations/{ConversationSid}/Messages/{Sid}/ChannelMetadata, where every
/// message's `links.channel_metadata` points. Twilio keeps a channel's own metadata for messages
/// of some channel types only and answers 50530 for the others (Twilio's error reference,
/// 50530); confab's messages come from the API and its emulated SMS and WhatsApp records, none
/// with a channel's metadata. A message that is not there is 20404, as everywhere.
pub async fn channel_metadata(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
) -> Result<Response> {
    let row = messages::fetch(&app.store, scope.tenant(), p.conversation, p.message).await?;
    Err(Error::with(
        Code::ChannelMetadataNotFound,
        format!("message {} has no channel metadata", row.borrowed().sid),
    ))
}

/// UpdateConversationMessage: POST /v1/Conversations/{ConversationSid}/Messages/{Sid}
/// (and UpdateServiceConversationMessage).
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
    TwilioForm(mut form): TwilioForm<MessageParams>,
) -> Result<Response> {
    if scope.tenant.webhooks {
        let change = form.for_update()?; // bad input fails before any webhook goes out
        let params = messages::update_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            p.message.clone(),
            change,
        );
        let changes =
            pre_action::run(&app, &scope.tenant, EventType::MessageUpdate, params).await?;
        form.apply(&changes);
    }
    let change = form.for_update()?;
    let row = messages::update(
        &app.store,
        scope.tenant(),
        p.conversation,
        p.message,
        change,
    )
    .await?;
    Ok(Written(render(row.borrowed(), &scope.urls)).into_response())
}

/// DeleteConversationMessage: DELETE /v1/Conversations/{ConversationSid}/Messages/{Sid}
/// (and DeleteServiceConversationMessage).
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
) -> Result<StatusCode> {
    if scope.tenant.webhooks {
        let params = messages::remove_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            p.message.clone(),
        );
        pre_action::run(&app, &scope.tenant, EventType::MessageRemove, params).await?;
    }
    messages::delete(&app.store, scope.tenant(), p.conversation, p.message).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::messages::MessageRow;

    fn row() -> MessageRow {
        MessageRow {
            id: 1,
            sid: "IM00000000000000000000000000000001".into(),
            account_sid: "AC00000000000000000000000000000002".into(),
            service_sid: "IS00000000000000000000000000000003".into(),
            conversation_sid: "CH00000000000000000000000000000004".into(),
            index: 7,
            author: "alice".into(),
            body: Some("hello".into()),
            media: None,
            attributes: "{}".into(),
            participant_sid: None,
            content_sid: None,
            date_created: 1_700_000_000,
            date_updated: 1_700_000_001,
            delivery: None,
        }
    }

    /// A message row written by hand (pages of messages) is byte for byte what serde writes
    /// (a single message), in every shape a message can take.
    #[test]
    fn a_message_written_by_hand_is_the_serialized_message() {
        let odd = "quote \" backslash \\ tab \t nl \n \u{1} é 中文 😀 \u{2028}";
        let mut rows = vec![row()];
        let mut full = row();
        full.body = None;
        full.author = odd.into();
        full.attributes = format!(r#"{{"note":"{}"}}"#, "\\\"");
        full.media = Some(r#"[{"sid":"ME0","size":3}]"#.into());
        full.participant_sid = Some("MB00000000000000000000000000000005".into());
        full.content_sid = Some("HX00000000000000000000000000000006".into());
        full.delivery = Some(Delivery {
            total: 2,
            sent: 2,
            delivered: 1,
            read: 0,
            failed: 0,
            undelivered: 0,
        });
        rows.push(full);
        let mut broken_media = row();
        broken_media.media = Some("{not json".into());
        broken_media.body = Some(odd.into());
        rows.push(broken_media);
        let mut out_of_range = row();
        out_of_range.date_created = 300_000_000_000;
        out_of_range.date_updated = -100_000_000_000;
        rows.push(out_of_range);
        let family = ["/v1", "/v1/Services/IS00000000000000000000000000000003"];
        let bases = ["http://localhost:8787", "http://odd\"host\\"];
        for row in &rows {
            for (prefix, base) in family.iter().flat_map(|p| bases.map(|b| (p, b))) {
                let urls = Urls::new(base.into(), prefix.to_string());
                let view = render(row.borrowed(), &urls);
                json::assert_writes_as_serialized(&view);
            }
        }
    }
}
