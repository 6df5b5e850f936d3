//! Participant Conversations: `GET /ParticipantConversations?Identity=...` or `?Address=...`,
//! under both prefixes: the conversations (in any state) a chat identity or a device address
//! takes part in, each joined with that participant.

use crate::wire::json::{ObjectWriter, WriteJson, Written};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::conversations::{Timers, render_timers};
use super::participants::participant_url;
use super::scope::Scope;
use crate::app::AppState;
use crate::domain::participants;
use crate::error::{Code, Error, Result};
use crate::store::conversations::ConversationRow;
use crate::store::participants::{Binding, ListedParticipant, Lookup};
use crate::wire::TwilioQuery;
use crate::wire::paging::{self, LIMITS_50, PageParams};
use crate::wire::time::Date;
use crate::wire::urls::{Link, Urls};

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
    /// Exactly one of `Identity` and `Address` (twilio-behavior.md 13): both is `AmbiguousLookup`;
    /// neither is a missing parameter (`MissingQueryParameter`), since the list has nothing to look
    /// for.
    fn lookup(&self) -> Result<(Lookup, (&'static str, String))> {
        match (&self.identity, &self.address) {
            (Some(_), Some(_)) => Err(Error::new(Code::AmbiguousLookup)),
            (Some(identity), None) => Ok((
                Lookup::Identity(identity.clone()),
                ("Identity", identity.clone()),
            )),
            (None, Some(address)) => Ok((
                Lookup::Address(address.clone()),
                ("Address", address.clone()),
            )),
            (None, None) => Err(Error::with(
                Code::MissingQueryParameter,
                "Identity or Address",
            )),
        }
    }
}

/// `participant_messaging_binding` as the spec's `readFullByAddress` example shows it: every
/// binding field, `null` where unset; `null` for a chat participant.
#[derive(Debug, Serialize)]
struct BindingView<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    address: Option<&'a str>,
    proxy_address: Option<&'a str>,
    projected_address: Option<&'a str>,
    name: Option<&'a str>,
    level: Option<&'a str>,
}

fn render_binding(binding: Option<&Binding>) -> Option<BindingView<'_>> {
    binding.map(|b| BindingView {
        kind: &b.kind,
        address: b.address.as_deref(),
        proxy_address: b.proxy_address.as_deref(),
        projected_address: b.projected_address.as_deref(),
        name: b.name.as_deref(),
        level: b.level.as_deref(),
    })
}

/// One row: the participant's fields and its conversation's, and links to both; the account
/// and service are the conversation's. Both URL families carry `chat_service_sid` here (the
/// spec's two schemas agree). It borrows both rows and is serialized straight into the body,
/// as the other list rows are.
#[derive(Debug, Serialize)]
pub struct ParticipantConversationView<'a> {
    account_sid: &'a str,
    chat_service_sid: &'a str,
    participant_sid: &'a str,
    participant_user_sid: Option<&'a str>,
    participant_identity: Option<&'a str>,
    participant_messaging_binding: Option<BindingView<'a>>,
    conversation_sid: &'a str,
    conversation_unique_name: Option<&'a str>,
    conversation_friendly_name: Option<&'a str>,
    conversation_attributes: &'a str,
    conversation_date_created: Date,
    conversation_date_updated: Date,
    conversation_created_by: Option<&'a str>,
    conversation_state: &'a str,
    conversation_timers: Timers,
    links: Links<'a>,
}

#[derive(Debug, Serialize)]
struct Links<'a> {
    participant: Link<'a, 4>,
    conversation: Link<'a, 2>,
}

/// The same bytes as serializing it, written with its keys as they are (a page of 50 such rows
/// is 44 KB, the largest body the benchmark reads).
impl WriteJson for ParticipantConversationView<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
        let mut o = ObjectWriter::begin(out);
        o.str("account_sid", self.account_sid);
        o.str("chat_service_sid", self.chat_service_sid);
        o.str("participant_sid", self.participant_sid);
        o.opt_str("participant_user_sid", self.participant_user_sid);
        o.opt_str("participant_identity", self.participant_identity);
        o.value(
            "participant_messaging_binding",
            &self.participant_messaging_binding,
        )?;
        o.str("conversation_sid", self.conversation_sid);
        o.opt_str("conversation_unique_name", self.conversation_unique_name);
        o.opt_str(
            "conversation_friendly_name",
            self.conversation_friendly_name,
        );
        o.str("conversation_attributes", self.conversation_attributes);
        o.date("conversation_date_created", self.conversation_date_created)?;
        o.date("conversation_date_updated", self.conversation_date_updated)?;
        o.opt_str("conversation_created_by", self.conversation_created_by);
        o.str("conversation_state", self.conversation_state);
        o.written("conversation_timers", &self.conversation_timers)?;
        let mut links = o.object("links");
        links.link("participant", &self.links.participant);
        links.link("conversation", &self.links.conversation);
        links.end();
        o.end();
        Ok(())
    }
}

pub fn render<'a>(
    participant: &'a ListedParticipant,
    conversation: &'a ConversationRow,
    urls: &'a Urls,
) -> ParticipantConversationView<'a> {
    ParticipantConversationView {
        account_sid: &conversation.account_sid,
        chat_service_sid: &conversation.service_sid,
        participant_sid: &participant.sid,
        participant_user_sid: participant.user_sid.as_deref(),
        participant_identity: participant.identity.as_deref(),
        participant_messaging_binding: render_binding(participant.binding.as_ref()),
        conversation_sid: &conversation.sid,
        conversation_unique_name: conversation.unique_name.as_deref(),
        conversation_friendly_name: conversation.friendly_name.as_deref(),
        conversation_attributes: &conversation.attributes,
        conversation_date_created: Date(conversation.date_created),
        conversation_date_updated: Date(conversation.date_updated),
        conversation_created_by: conversation.created_by.as_deref(),
        conversation_state: conversation.state.as_str(),
        conversation_timers: render_timers(conversation.date_inactive, conversation.date_closed),
        links: Links {
            participant: participant_url(urls, &conversation.sid, &participant.sid),
            conversation: urls.link(["Conversations", &conversation.sid]),
        },
    }
}

/// ListParticipantConversation: GET /v1/ParticipantConversations
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(q): TwilioQuery<Filters>,
) -> Result<Response> {
    let (lookup, echoed) = q.lookup()?;
    let req = q.page.validate(LIMITS_50)?;
    let rows =
        participants::list_conversations(&app.store, scope.tenant(), lookup, req.clone()).await?;
    let page = rows.as_ref().map(|(p, c)| render(p, c, &scope.urls));
    let list_url = scope.urls.scoped("ParticipantConversations");
    let filters = [echoed];
    let page = paging::render("conversations", page, &req, &list_url, &filters);
    Ok(Written(page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::json;

    fn conversation() -> ConversationRow {
        ConversationRow::for_test(
            1,
            "CH00000000000000000000000000000001",
            "AC00000000000000000000000000000002",
            "IS00000000000000000000000000000003",
        )
    }

    fn participant() -> ListedParticipant {
        ListedParticipant {
            id: 1,
            sid: "MB00000000000000000000000000000004".into(),
            conversation_id: 1,
            identity: Some("alice".into()),
            user_sid: None,
            binding: None,
        }
    }

    /// A row written by hand is byte for byte what serde writes, in every shape a row can take.
    #[test]
    fn a_row_written_by_hand_is_the_serialized_row() {
        let odd = "quote \" backslash \\ tab \t nl \n \u{1} é 中文 😀 \u{2028}";
        let mut full = conversation();
        full.unique_name = Some(odd.into());
        full.friendly_name = Some("friends".into());
        full.attributes = r#"{"a":"\"b\""}"#.into();
        full.created_by = Some(odd.into());
        full.state = crate::states::ConversationState::Inactive;
        full.date_inactive = Some(1_700_000_100);
        full.date_closed = Some(1_700_000_200);
        let mut sms = participant();
        sms.identity = None;
        sms.binding = Some(Binding {
            kind: "sms".into(),
            address: Some("+15550001111".into()),
            proxy_address: Some("+15550002222".into()),
            projected_address: None,
            name: None,
            level: None,
        });
        let mut user = participant();
        user.user_sid = Some("US00000000000000000000000000000005".into());
        user.identity = Some(odd.into());
        for conversation in [conversation(), full] {
            for participant in [participant(), sms.clone(), user.clone()] {
                for base in ["http://localhost:8787", "http://odd\"host\\"] {
                    let urls = Urls::new(base.into(), "/v1".into());
                    let view = render(&participant, &conversation, &urls);
                    json::assert_writes_as_serialized(&view);
                }
            }
        }
    }
}
