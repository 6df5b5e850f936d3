//! ConversationWithParticipants: `POST /ConversationWithParticipants`, under both prefixes: a
//! conversation and up to 10 participants, each given as a JSON `Participant` parameter.
//!
//! Twilio validates everything synchronously, answers with the conversation in state
//! `initializing` and adds the participants asynchronously (twilio-behavior.md 9). confab adds them
//! synchronously, in the same write job as the conversation: when it answers, the participants
//! exist and the conversation is already in its requested state (or `active`), so the
//! `initializing` state is never observable, and an invalid participant creates nothing at all
//! instead of closing a half-built conversation (Twilio's asynchronous 50427).

use crate::wire::json::Written;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::conversations::{self, ConversationParams};
use super::participants::CreateParams;
use super::scope::Scope;
use crate::app::AppState;
use crate::domain::participants::{self, NewParticipant};
use crate::error::{Code, Error, Result};

/// At most this many `Participant` parameters in one request (`TooManyParticipantsAtOnce`).
const MAX_PARTICIPANTS: usize = 10;

/// The repeated `Participant` parameter; the conversation's own parameters are read separately
/// into [`ConversationParams`].
#[derive(Deserialize)]
struct ParticipantList {
    #[serde(rename = "Participant", default)]
    participants: Vec<String>,
}

/// One `Participant` JSON object: the participant resource's parameters in snake_case (the
/// docs' `{"identity":"alice"}`, `{"messaging_binding":{"address":"+1...","proxy_address":
/// "+1..."}}`); the form's PascalCase names are accepted too. Unknown keys are ignored, as
/// unknown form parameters are.
#[derive(Deserialize, Default)]
struct ParticipantJson {
    #[serde(alias = "Identity")]
    identity: Option<String>,
    #[serde(alias = "MessagingBinding")]
    messaging_binding: Option<BindingJson>,
    /// A string holding JSON, as on the form; a JSON object is taken as that object's text.
    #[serde(alias = "Attributes")]
    attributes: Option<Value>,
    #[serde(alias = "RoleSid")]
    role_sid: Option<String>,
    #[serde(alias = "DateCreated")]
    date_created: Option<String>,
    #[serde(alias = "DateUpdated")]
    date_updated: Option<String>,
}

#[derive(Deserialize, Default)]
struct BindingJson {
    #[serde(alias = "Address")]
    address: Option<String>,
    #[serde(alias = "ProxyAddress")]
    proxy_address: Option<String>,
    #[serde(alias = "ProjectedAddress")]
    projected_address: Option<String>,
    #[serde(alias = "Name")]
    name: Option<String>,
    #[serde(alias = "Level")]
    level: Option<String>,
}

impl ParticipantJson {
    /// The same parameters as a CreateConversationParticipant form, so that both are checked
    /// by one set of rules. An empty identity counts as absent, as an empty form value does.
    fn into_params(self) -> CreateParams {
        let binding = self.messaging_binding.unwrap_or_default();
        CreateParams {
            identity: self.identity.filter(|i| !i.is_empty()),
            address: binding.address,
            proxy_address: binding.proxy_address,
            projected_address: binding.projected_address,
            name: binding.name,
            level: binding.level,
            attributes: self.attributes.map(|a| match a {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            role_sid: self.role_sid,
            date_created: self.date_created,
            date_updated: self.date_updated,
        }
    }
}

/// Reads the form body as `T`, failing as [`crate::wire::TwilioForm`] does. The body is read
/// twice (conversation parameters, then the repeated `Participant`), because one struct
/// flattening the other would lose serde_html_form's handling of a lone repeated key.
fn read_form<T: DeserializeOwned>(body: &Bytes) -> Result<T> {
    crate::wire::form::parse_form(body)
}

/// Parses and checks every `Participant` before anything is written (twilio-behavior.md 9).
fn check_participants(raw: &[String]) -> Result<Vec<NewParticipant>> {
    if raw.len() > MAX_PARTICIPANTS {
        return Err(Error::with(
            Code::TooManyParticipantsAtOnce,
            format!("at most {MAX_PARTICIPANTS} participants can be added in one request"),
        ));
    }
    raw.iter()
        .map(|json| {
            let parsed: ParticipantJson = serde_json::from_str(json).map_err(|e| {
                Error::invalid(
                    "Participant",
                    format!("not a participant JSON object ({e}): {json}"),
                )
            })?;
            parsed.into_params().check()
        })
        .collect()
}

/// CreateConversationWithParticipants: POST /v1/ConversationWithParticipants
pub async fn create(scope: Scope, State(app): State<AppState>, body: Bytes) -> Result<Response> {
    let mut params = read_form::<ConversationParams>(&body)?;
    params.for_create()?;
    let list: ParticipantList = read_form(&body)?;
    let new_participants = check_participants(&list.participants)?;
    // The conversation's `onConversationAdd` may veto the whole request or rename the
    // conversation. There is no per-participant `onParticipantAdd` here: the participants
    // join a conversation that does not exist yet (no ConversationSid to send), and Twilio
    // documents none for this operation.
    if scope.tenant.webhooks {
        params.pre_add(&app, &scope.tenant).await?;
    }
    let conversation = params.for_create()?;
    let row = participants::create_conversation_with(
        &app.store,
        scope.tenant(),
        conversation,
        new_participants,
    )
    .await?;
    // The participants exist already: 201 Created, not Twilio's 202 "still adding them".
    let body = Written(conversations::render(&row, &scope.urls));
    Ok((StatusCode::CREATED, body).into_response())
}
