//! Conversation Messages: `/Conversations/{ConversationSid}/Messages[/{Sid}]`, under both
//! prefixes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::sid::Prefix;
use crate::store::messages::{self, Delivery, MessageRow, MessageUpdate, NewMessage};
use crate::webhooks::pre_action::{self, Modifications, modified_json, modified_text};
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::{Urls, encode};
use crate::wire::{TwilioForm, TwilioQuery};

/// Message attributes may be up to 4 KB (BEHAVIOR.md 6).
const MAX_ATTRIBUTES: usize = 4 * 1024;
/// A REST message body may be up to 1600 characters (50504).
const MAX_BODY: usize = 1600;
/// The author's limit is undocumented; 256, as for identities (BEHAVIOR.md 14.1).
const MAX_AUTHOR: usize = 256;
/// "The subject of the message, can be up to 256 characters long" (the spec's description).
const MAX_SUBJECT: usize = 256;
/// Content-variable limits (BEHAVIOR.md 14.3).
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

fn render_delivery(d: &Delivery) -> Value {
    json!({
        "total": d.total,
        "sent": share(d.sent, d.total),
        "delivered": share(d.delivered, d.total),
        "read": share(d.read, d.total),
        "failed": share(d.failed, d.total),
        "undelivered": share(d.undelivered, d.total),
    })
}

pub fn render(row: &MessageRow, urls: &Urls) -> Value {
    let url = urls.scoped(&format!(
        "Conversations/{}/Messages/{}",
        row.conversation_sid, row.sid
    ));
    let media = row
        .media
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .unwrap_or(Value::Null);
    let mut body = Map::with_capacity(16);
    body.insert("account_sid".into(), row.account_sid.clone().into());
    if urls.is_service_scoped() {
        body.insert("chat_service_sid".into(), row.service_sid.clone().into());
    }
    body.insert(
        "conversation_sid".into(),
        row.conversation_sid.clone().into(),
    );
    body.insert("sid".into(), row.sid.clone().into());
    body.insert("index".into(), row.index.into());
    body.insert("author".into(), row.author.clone().into());
    body.insert("body".into(), row.body.clone().into());
    body.insert("media".into(), media);
    body.insert("attributes".into(), row.attributes.clone().into());
    body.insert("participant_sid".into(), row.participant_sid.clone().into());
    body.insert("date_created".into(), format_date(row.date_created).into());
    body.insert("date_updated".into(), format_date(row.date_updated).into());
    body.insert(
        "delivery".into(),
        row.delivery.as_ref().map_or(Value::Null, render_delivery),
    );
    body.insert("content_sid".into(), row.content_sid.clone().into());
    body.insert(
        "links".into(),
        json!({
            "delivery_receipts": format!("{url}/Receipts"),
            "channel_metadata": format!("{url}/ChannelMetadata"),
        }),
    );
    body.insert("url".into(), url.into());
    Value::Object(body)
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
/// `ContentSid` (BEHAVIOR.md 14.3).
fn content_variables(value: Option<&str>, content_sid: Option<&str>) -> ApiResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if content_sid.is_none() {
        return Err(ApiError::bad_request(
            50528,
            "ContentVariables were given without a ContentSid",
        ));
    }
    let variables = serde_json::from_str::<Map<String, Value>>(value).map_err(|_| {
        ApiError::bad_request(
            50527,
            "ContentVariables must be a JSON object of variable names to values",
        )
    })?;
    if value.chars().count() > MAX_VARIABLES_LEN || variables.len() > MAX_VARIABLES {
        return Err(ApiError::bad_request(
            50529,
            format!(
                "ContentVariables are too long: at most {MAX_VARIABLES} variables and {MAX_VARIABLES_LEN} characters"
            ),
        ));
    }
    for (key, value) in &variables {
        if key.chars().count() > MAX_VARIABLE_KEY {
            return Err(ApiError::bad_request(
                50540,
                format!("Content variable key is too long: {key}"),
            ));
        }
        let length = match value {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        };
        if length > MAX_VARIABLE_VALUE {
            return Err(ApiError::bad_request(
                50541,
                format!("Content variable value is too long: {key}"),
            ));
        }
    }
    Ok(Some(value.to_string()))
}

impl MessageParams {
    fn author(&self) -> ApiResult<Option<String>> {
        params::text("Author", self.author.as_deref(), MAX_AUTHOR, 50310)
    }

    fn body(&self) -> ApiResult<Option<String>> {
        params::text("Body", self.body.as_deref(), MAX_BODY, 50504)
    }

    fn subject(&self) -> ApiResult<Option<String>> {
        match &self.subject {
            Some(s) if s.chars().count() > MAX_SUBJECT => Err(ApiError::invalid(
                "Subject",
                format!("can be up to {MAX_SUBJECT} characters long"),
            )),
            other => Ok(other.clone()),
        }
    }

    fn for_create(&self) -> ApiResult<NewMessage> {
        let author = self.author()?;
        let body = self.body()?;
        let attributes = params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?;
        let media_sid = params::sid("MediaSid", self.media_sid.as_deref(), Prefix::Media, 50510)?;
        let content_sid = params::sid(
            "ContentSid",
            self.content_sid.as_deref(),
            Prefix::Content,
            50526,
        )?;
        let content_variables =
            content_variables(self.content_variables.as_deref(), content_sid.as_deref())?;
        let date_created = params::date("DateCreated", self.date_created.as_deref(), 50308)?;
        let date_updated = params::date("DateUpdated", self.date_updated.as_deref(), 50309)?;
        let subject = self.subject()?;
        if body.is_none() && media_sid.is_none() && content_sid.is_none() {
            return Err(ApiError::bad_request(
                50503,
                "Message body not provided: a message needs a Body, a MediaSid or a ContentSid",
            ));
        }
        // With a ContentSid the template defines the media: MediaSid is ignored, and the media
        // stays free (BEHAVIOR.md 14.3). There is no Content API here to render a template's
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
    /// body, the author and the attributes (BEHAVIOR.md 17.2); the result is validated again
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

    fn for_update(&self) -> ApiResult<MessageUpdate> {
        Ok(MessageUpdate {
            author: self.author()?,
            body: self.body()?,
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            subject: self.subject()?,
            date_created: params::date("DateCreated", self.date_created.as_deref(), 50308)?,
            date_updated: params::date("DateUpdated", self.date_updated.as_deref(), 50309)?,
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
) -> ApiResult<(StatusCode, Json<Value>)> {
    if scope.tenant.webhooks {
        let new = form.for_create()?; // bad input fails before any webhook goes out
        let params =
            messages::add_event_params(&app.store, scope.tenant(), p.conversation.clone(), new);
        let changes = pre_action::run(&app, &scope.tenant, "onMessageAdd", params).await?;
        form.apply(&changes);
    }
    let new = form.for_create()?;
    let row = messages::create(&app.store, scope.tenant(), p.conversation, new).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// ListConversationMessage: GET /v1/Conversations/{ConversationSid}/Messages
/// (and ListServiceConversationMessage).
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
    TwilioQuery(q): TwilioQuery<ListParams>,
) -> ApiResult<Json<ListPage<Value>>> {
    let req = q.page.validate(LIMITS_100)?;
    let order = params::one_of("Order", q.order.as_deref(), &["asc", "desc"], 20001)?;
    let echoed: Vec<(&str, String)> = order
        .map(|o| ("Order", o.to_string()))
        .into_iter()
        .collect();
    let list_url = scope.urls.scoped(&format!(
        "Conversations/{}/Messages",
        encode(&p.conversation)
    ));
    let rows = messages::list(
        &app.store,
        scope.tenant(),
        p.conversation,
        order == Some("desc"),
        req.clone(),
    )
    .await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "messages", page, &req, &list_url, &echoed,
    )))
}

/// FetchConversationMessage: GET /v1/Conversations/{ConversationSid}/Messages/{Sid}
/// (and FetchServiceConversationMessage).
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
) -> ApiResult<Json<Value>> {
    let row = messages::fetch(&app.store, scope.tenant(), p.conversation, p.message).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// UpdateConversationMessage: POST /v1/Conversations/{ConversationSid}/Messages/{Sid}
/// (and UpdateServiceConversationMessage).
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
    TwilioForm(mut form): TwilioForm<MessageParams>,
) -> ApiResult<Json<Value>> {
    if scope.tenant.webhooks {
        let change = form.for_update()?; // bad input fails before any webhook goes out
        let params = messages::update_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            p.message.clone(),
            change,
        );
        let changes = pre_action::run(&app, &scope.tenant, "onMessageUpdate", params).await?;
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
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteConversationMessage: DELETE /v1/Conversations/{ConversationSid}/Messages/{Sid}
/// (and DeleteServiceConversationMessage).
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
) -> ApiResult<StatusCode> {
    if scope.tenant.webhooks {
        let params = messages::remove_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            p.message.clone(),
        );
        pre_action::run(&app, &scope.tenant, "onMessageRemove", params).await?;
    }
    messages::delete(&app.store, scope.tenant(), p.conversation, p.message).await?;
    Ok(StatusCode::NO_CONTENT)
}
