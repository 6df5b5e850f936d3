//! Participant Conversations: `GET /ParticipantConversations?Identity=...` or `?Address=...`,
//! under both prefixes: the conversations (in any state) a chat identity or a device address
//! takes part in, each joined with that participant.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conversations::render_timers;
use super::participants::participant_url;
use super::scope::Scope;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::store::conversations::ConversationRow;
use crate::store::participants::{self, Binding, Lookup, ParticipantRow};
use crate::wire::TwilioQuery;
use crate::wire::paging::{self, LIMITS_50, ListPage, PageParams};
use crate::wire::time::format_date;
use crate::wire::urls::Urls;

#[derive(Deserialize)]
pub struct Filters {
    #[serde(rename = "Identity")]
    identity: Option<String>,
    #[serde(rename = "Address")]
    address: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

impl Filters {
    /// Exactly one of `Identity` and `Address` (BEHAVIOR.md 13): both is 50451; neither is a
    /// missing parameter (20001), since the list has nothing to look for.
    fn lookup(&self) -> ApiResult<(Lookup, (&'static str, String))> {
        match (&self.identity, &self.address) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                50451,
                "One user identifier parameter for lookup at a time is allowed. Please, use either Identity or Address.",
            )),
            (Some(identity), None) => Ok((
                Lookup::Identity(identity.clone()),
                ("Identity", identity.clone()),
            )),
            (None, Some(address)) => Ok((
                Lookup::Address(address.clone()),
                ("Address", address.clone()),
            )),
            (None, None) => Err(ApiError::bad_request(
                20001,
                "Missing required parameter: either Identity or Address",
            )),
        }
    }
}

/// `participant_messaging_binding` as the spec's `readFullByAddress` example shows it: every
/// binding field, `null` where unset; `null` for a chat participant.
fn render_binding(binding: Option<&Binding>) -> Value {
    match binding {
        None => Value::Null,
        Some(b) => json!({
            "type": b.kind,
            "address": b.address,
            "proxy_address": b.proxy_address,
            "projected_address": b.projected_address,
            "name": b.name,
            "level": b.level,
        }),
    }
}

/// One row: the participant's fields and its conversation's, and links to both. Both URL
/// families carry `chat_service_sid` here (the spec's two schemas agree).
pub fn render(participant: &ParticipantRow, conversation: &ConversationRow, urls: &Urls) -> Value {
    json!({
        "account_sid": participant.account_sid,
        "chat_service_sid": participant.service_sid,
        "participant_sid": participant.sid,
        "participant_user_sid": participant.user_sid,
        "participant_identity": participant.identity,
        "participant_messaging_binding": render_binding(participant.binding.as_ref()),
        "conversation_sid": conversation.sid,
        "conversation_unique_name": conversation.unique_name,
        "conversation_friendly_name": conversation.friendly_name,
        "conversation_attributes": conversation.attributes,
        "conversation_date_created": format_date(conversation.date_created),
        "conversation_date_updated": format_date(conversation.date_updated),
        "conversation_created_by": conversation.created_by,
        "conversation_state": conversation.state,
        "conversation_timers": render_timers(conversation.date_inactive, conversation.date_closed),
        "links": {
            "participant": participant_url(urls, &conversation.sid, &participant.sid),
            "conversation": urls.scoped(&format!("Conversations/{}", conversation.sid)),
        },
    })
}

/// ListParticipantConversation: GET /v1/ParticipantConversations
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(q): TwilioQuery<Filters>,
) -> ApiResult<Json<ListPage<Value>>> {
    let (lookup, echoed) = q.lookup()?;
    let req = q.page.validate(LIMITS_50)?;
    let rows =
        participants::list_conversations(&app.store, scope.tenant(), lookup, req.clone()).await?;
    let page = rows.map(|(p, c)| render(&p, &c, &scope.urls));
    Ok(Json(paging::render(
        "conversations",
        page,
        &req,
        &scope.urls.scoped("ParticipantConversations"),
        &[(echoed.0, echoed.1)],
    )))
}
