//! User Conversations: `/Users/{UserSid}/Conversations[/{ConversationSid}]`, under both
//! prefixes. `{UserSid}` is the user's SID or identity, `{ConversationSid}` the conversation's
//! SID or unique name.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::conversations::{Timers, render_timers};
use super::scope::Scope;
use crate::app::AppState;
use crate::domain::users::{self, UserConversationRow};
use crate::error::{Code, Result};
use crate::store::users::UserConversationUpdate;
use crate::wire::TwilioForm;
use crate::wire::TwilioQuery;
use crate::wire::form::keep_empty;
use crate::wire::paging::{self, LIMITS_50, PageParams};
use crate::wire::params;
use crate::wire::time::{Date, format_date, parse_date};
use crate::wire::urls::{Link, Urls};

const NOTIFICATION_LEVELS: &[&str] = &["default", "muted"];

/// A User Conversation: the conversation's own fields, the user's participant and read state.
/// `chat_service_sid` is there under both prefixes (the spec's two schemas are the same). It
/// borrows its row and is serialized straight into the body, as the other list rows are.
#[derive(Debug, Serialize)]
pub struct UserConversationView<'a> {
    account_sid: &'a str,
    chat_service_sid: &'a str,
    conversation_sid: &'a str,
    unread_messages_count: Option<i64>,
    last_read_message_index: Option<i64>,
    participant_sid: &'a str,
    user_sid: &'a str,
    friendly_name: Option<&'a str>,
    conversation_state: &'a str,
    timers: Timers,
    attributes: &'a str,
    date_created: Date,
    date_updated: Date,
    created_by: Option<&'a str>,
    notification_level: &'a str,
    unique_name: Option<&'a str>,
    url: Link<'a, 4>,
    links: Links<'a>,
}

#[derive(Debug, Serialize)]
struct Links<'a> {
    participant: Link<'a, 4>,
    conversation: Link<'a, 2>,
}

pub fn render<'a>(row: &'a UserConversationRow, urls: &'a Urls) -> UserConversationView<'a> {
    let c = &row.conversation;
    UserConversationView {
        account_sid: &c.account_sid,
        chat_service_sid: &c.service_sid,
        conversation_sid: &c.sid,
        unread_messages_count: row.unread_messages_count,
        last_read_message_index: row.last_read_message_index,
        participant_sid: &row.participant_sid,
        user_sid: &row.user_sid,
        friendly_name: c.friendly_name.as_deref(),
        conversation_state: c.state.as_str(),
        timers: render_timers(c.date_inactive, c.date_closed),
        attributes: &c.attributes,
        date_created: Date(c.date_created),
        date_updated: Date(c.date_updated),
        created_by: c.created_by.as_deref(),
        notification_level: &row.notification_level,
        unique_name: c.unique_name.as_deref(),
        url: urls.link(["Users", &row.user_sid, "Conversations", &c.sid]),
        links: Links {
            participant: urls.link([
                "Conversations",
                &c.sid,
                "Participants",
                &row.participant_sid,
            ]),
            conversation: urls.link(["Conversations", &c.sid]),
        },
    }
}

/// The parameters of UpdateUserConversation. The read horizon may be cleared by sending a
/// parameter empty (or as the literal `null`, the spelling Twilio uses to remove values).
#[derive(Debug, Default, Deserialize)]
pub struct UserConversationParams {
    #[serde(rename = "NotificationLevel", default, deserialize_with = "keep_empty")]
    notification_level: Option<String>,
    #[serde(
        rename = "LastReadMessageIndex",
        default,
        deserialize_with = "keep_empty"
    )]
    last_read_message_index: Option<String>,
    #[serde(rename = "LastReadTimestamp", default, deserialize_with = "keep_empty")]
    last_read_timestamp: Option<String>,
}

fn clears(value: &str) -> bool {
    value.is_empty() || value == "null"
}

impl UserConversationParams {
    fn check(&self) -> Result<UserConversationUpdate> {
        let notification_level = params::one_of(
            "NotificationLevel",
            self.notification_level.as_deref(),
            NOTIFICATION_LEVELS,
            Code::InvalidNotificationLevel,
        )?
        .map(str::to_string);
        // `InvalidLastReadIndex`; an index is never negative.
        let last_read_message_index = match self.last_read_message_index.as_deref() {
            None => None,
            Some(v) if clears(v) => Some(None),
            Some(v) => match v.parse::<i64>() {
                Ok(index) if index >= 0 => Some(Some(index)),
                _ => {
                    return Err(params::refused(
                        Code::InvalidLastReadIndex,
                        "LastReadMessageIndex",
                        format!("'{v}' is not an index"),
                    ));
                }
            },
        };
        // `InvalidLastReadTimestamp` is Chat's "last consumption timestamp" code, the same
        // timestamp (Conversations has no code of its own for it; twilio-behavior.md 21).
        let last_read_timestamp = match self.last_read_timestamp.as_deref() {
            None => None,
            Some(v) if clears(v) => Some(None),
            Some(v) => match parse_date(v) {
                Some(secs) => Some(Some(format_date(secs))),
                None => {
                    return Err(params::refused(
                        Code::InvalidLastReadTimestamp,
                        "LastReadTimestamp",
                        format!("'{v}' is not a date"),
                    ));
                }
            },
        };
        Ok(UserConversationUpdate {
            notification_level,
            last_read_message_index,
            last_read_timestamp,
        })
    }
}

#[derive(Deserialize)]
pub struct UserPath {
    user: String,
}

#[derive(Deserialize)]
pub struct UserConversationPath {
    user: String,
    conversation: String,
}

/// ListUserConversation: GET /v1/Users/{UserSid}/Conversations (and
/// ListServiceUserConversation)
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserPath>,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> Result<Response> {
    let req = page.validate(LIMITS_50)?;
    let (user, rows) =
        users::list_conversations(&app.store, scope.tenant(), p.user, req.clone()).await?;
    let page = rows.as_ref().map(|r| render(r, &scope.urls));
    let list_url = scope
        .urls
        .scoped(&format!("Users/{}/Conversations", user.sid));
    Ok(Json(paging::render("conversations", page, &req, &list_url, &[])).into_response())
}

/// FetchUserConversation: GET /v1/Users/{UserSid}/Conversations/{ConversationSid} (and
/// FetchServiceUserConversation)
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserConversationPath>,
) -> Result<Response> {
    let row = users::fetch_conversation(&app.store, scope.tenant(), p.user, p.conversation).await?;
    Ok(Json(render(&row, &scope.urls)).into_response())
}

/// UpdateUserConversation: POST /v1/Users/{UserSid}/Conversations/{ConversationSid} (and
/// UpdateServiceUserConversation)
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserConversationPath>,
    TwilioForm(form): TwilioForm<UserConversationParams>,
) -> Result<Response> {
    let change = form.check()?;
    let row =
        users::update_conversation(&app.store, scope.tenant(), p.user, p.conversation, change)
            .await?;
    Ok(Json(render(&row, &scope.urls)).into_response())
}

/// DeleteUserConversation: DELETE /v1/Users/{UserSid}/Conversations/{ConversationSid} (and
/// DeleteServiceUserConversation): the user leaves the conversation.
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<UserConversationPath>,
) -> Result<StatusCode> {
    users::delete_conversation(&app.store, scope.tenant(), p.user, p.conversation).await?;
    Ok(StatusCode::NO_CONTENT)
}
