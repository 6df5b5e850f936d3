//! Conversation Participants: `/Conversations/{ConversationSid}/Participants` and
//! `/Conversations/{ConversationSid}/Participants/{Sid}`, under both prefixes. `{Sid}` is an MB
//! SID or a chat participant's identity.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::participants::{
    self, AddressChange, NewParticipant, ParticipantUpdate, address_equals_proxy, channel_mismatch,
    channel_of, identity_not_acceptable, projected_on_bound_participant, role_not_found,
    without_channel,
};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::store::participants::{Binding, ParticipantRow};
use crate::webhook_events::EventType;
use crate::webhooks::pre_action;
use crate::wire::form::keep_empty;
use crate::wire::paging::{self, LIMITS_100, PageParams};
use crate::wire::params;
use crate::wire::time::{Date, format_date, parse_date};
use crate::wire::urls::{Link, Urls};
use crate::wire::{TwilioForm, TwilioQuery};

/// Participant attributes may be up to 4 KB (twilio-behavior.md 6).
const MAX_ATTRIBUTES: usize = 4 * 1024;
/// Identities and addresses: 256 characters each (twilio-behavior.md 6).
const MAX_ADDRESS_CHARS: usize = 256;

/// `messaging_binding` as the participant resource shows it (the spec's examples): the `type`
/// and only the addresses the binding has, `{type, address, proxy_address}` or
/// `{type, projected_address}`; `null` for a chat participant.
#[derive(Debug, Serialize)]
pub struct BindingView<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projected_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'a str>,
}

pub fn render_binding(binding: Option<&Binding>) -> Option<BindingView<'_>> {
    binding.map(|b| BindingView {
        kind: &b.kind,
        address: b.address.as_deref(),
        proxy_address: b.proxy_address.as_deref(),
        projected_address: b.projected_address.as_deref(),
        name: b.name.as_deref(),
        level: b.level.as_deref(),
    })
}

pub fn participant_url<'a>(urls: &'a Urls, conversation_sid: &'a str, sid: &'a str) -> Link<'a, 4> {
    urls.link(["Conversations", conversation_sid, "Participants", sid])
}

/// A participant as the wire shows it. It borrows its row and is serialized straight into the
/// body: a `Value` tree per row was about half of a list page's CPU (the benchmark's profile,
/// on messages).
#[derive(Debug, Serialize)]
pub struct ParticipantView<'a> {
    account_sid: &'a str,
    /// Only the service-scoped schema lists `chat_service_sid` (the spec's two schemas).
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<&'a str>,
    conversation_sid: &'a str,
    sid: &'a str,
    identity: Option<&'a str>,
    attributes: &'a str,
    messaging_binding: Option<BindingView<'a>>,
    role_sid: Option<&'a str>,
    date_created: Date,
    date_updated: Date,
    url: Link<'a, 4>,
    last_read_message_index: Option<i64>,
    last_read_timestamp: Option<&'a str>,
}

pub fn render<'a>(row: &'a ParticipantRow, urls: &'a Urls) -> ParticipantView<'a> {
    ParticipantView {
        account_sid: &row.account_sid,
        chat_service_sid: urls.is_service_scoped().then_some(row.service_sid.as_str()),
        conversation_sid: &row.conversation_sid,
        sid: &row.sid,
        identity: row.identity.as_deref(),
        attributes: &row.attributes,
        messaging_binding: render_binding(row.binding.as_ref()),
        role_sid: row.role_sid.as_deref(),
        date_created: Date(row.date_created),
        date_updated: Date(row.date_updated),
        url: participant_url(urls, &row.conversation_sid, &row.sid),
        last_read_message_index: row.last_read_message_index,
        last_read_timestamp: row.last_read_timestamp.as_deref(),
    }
}

fn is_phone_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether an address is well formed for its channel: a phone number (E.164, or a short code)
/// for SMS and WhatsApp, `user@host` for email, anything non-empty after other prefixes.
/// Nothing here asks a carrier whether the number exists or is owned by the account.
pub fn is_valid_address(address: &str) -> bool {
    if address.chars().count() > MAX_ADDRESS_CHARS || address.chars().any(char::is_whitespace) {
        return false;
    }
    let rest = without_channel(address);
    match channel_of(address) {
        "sms" | "whatsapp" => is_phone_number(rest),
        "email" => rest
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty()),
        _ => !rest.is_empty(),
    }
}

/// `Identity`: at most 256 characters (`IdentityTooLong`), and not shaped like a User SID
/// (`IdentityLooksLikeSid`), which would make `/Users/{Sid}` ambiguous for the User it creates
/// (twilio-behavior.md 2, 11).
pub fn check_identity(identity: Option<&str>) -> Result<Option<String>> {
    if let Some(identity) = identity
        && is_sid(Prefix::User, identity)
    {
        return Err(Error::new(Code::IdentityLooksLikeSid));
    }
    params::text(
        "Identity",
        identity,
        MAX_ADDRESS_CHARS,
        Code::IdentityTooLong,
    )
}

/// `RoleSid`: a malformed SID is as unknown as a missing role (`ConversationRoleNotFound`).
fn check_role(role_sid: Option<&str>) -> Result<Option<String>> {
    match role_sid {
        Some(sid) if !is_sid(Prefix::Role, sid) => Err(role_not_found(sid)),
        other => Ok(other.map(str::to_string)),
    }
}

fn invalid_address(address: &str) -> Error {
    Error::with(Code::InvalidAddress, address)
}

fn invalid_proxy(proxy: &str) -> Error {
    Error::with(Code::InvalidProxyAddress, proxy)
}

fn empty_address() -> Error {
    Error::new(Code::EmptyAddress)
}

fn empty_proxy() -> Error {
    Error::new(Code::EmptyProxyAddress)
}

fn empty_projected() -> Error {
    Error::new(Code::ProjectedAddressMissing)
}

/// A projected address stands for a chat participant in a group MMS, which runs on US/Canada
/// phone numbers: it must be a phone number.
fn check_projected(projected: &str) -> Result<String> {
    if channel_of(projected) == "sms" && is_valid_address(projected) {
        Ok(projected.to_string())
    } else {
        Err(invalid_address(projected))
    }
}

/// The binding of a participant reached at a device address (twilio-behavior.md 10.1, 10.2).
pub fn device_binding(address: &str, proxy: Option<&str>) -> Result<Binding> {
    if proxy == Some(address) {
        return Err(address_equals_proxy());
    }
    if !is_valid_address(address) {
        return Err(invalid_address(address));
    }
    let kind = channel_of(address);
    match proxy {
        Some(proxy) if !is_valid_address(proxy) => return Err(invalid_proxy(proxy)),
        Some(proxy) if channel_of(proxy) != kind => return Err(channel_mismatch()),
        // Only an SMS address goes without a proxy (a group MMS member), or an email one
        // (sent from the conversation's `Bindings.Email`); every other channel needs the
        // Twilio sender it talks to.
        None if kind != "sms" && kind != "email" => return Err(empty_proxy()),
        _ => {}
    }
    Ok(Binding {
        kind: kind.to_string(),
        address: Some(address.to_string()),
        proxy_address: proxy.map(str::to_string),
        ..Binding::default()
    })
}

/// The parameters of CreateConversationParticipant (and, read from JSON, of each `Participant`
/// of ConversationWithParticipants).
#[derive(Debug, Default, Deserialize)]
pub struct CreateParams {
    #[serde(rename = "Identity")]
    pub identity: Option<String>,
    #[serde(
        rename = "MessagingBinding.Address",
        default,
        deserialize_with = "keep_empty"
    )]
    pub address: Option<String>,
    #[serde(
        rename = "MessagingBinding.ProxyAddress",
        default,
        deserialize_with = "keep_empty"
    )]
    pub proxy_address: Option<String>,
    #[serde(
        rename = "MessagingBinding.ProjectedAddress",
        default,
        deserialize_with = "keep_empty"
    )]
    pub projected_address: Option<String>,
    /// Email bindings only (`UnsupportedBindingParameter` otherwise). Not in the spec's create
    /// parameters, but named by error `UnsupportedBindingParameter` ("Sms Participant should not
    /// have MessagingBinding.Name or Level").
    #[serde(rename = "MessagingBinding.Name")]
    pub name: Option<String>,
    #[serde(rename = "MessagingBinding.Level")]
    pub level: Option<String>,
    #[serde(rename = "Attributes")]
    pub attributes: Option<String>,
    #[serde(rename = "RoleSid")]
    pub role_sid: Option<String>,
    #[serde(rename = "DateCreated")]
    pub date_created: Option<String>,
    #[serde(rename = "DateUpdated")]
    pub date_updated: Option<String>,
}

impl CreateParams {
    /// Everything that can be checked without the database, in the order a caller would fix
    /// them: who the participant is, then its binding, then the rest.
    pub fn check(&self) -> Result<NewParticipant> {
        let identity = check_identity(self.identity.as_deref())?;
        let address = self.address.as_deref();
        let proxy = self.proxy_address.as_deref();
        let projected = self.projected_address.as_deref();
        if identity.is_some() && address.is_some() {
            return Err(identity_not_acceptable());
        }
        if address == Some("") || (address.is_none() && proxy.is_some()) {
            return Err(empty_address());
        }
        if proxy == Some("") {
            return Err(empty_proxy());
        }
        if projected == Some("") {
            return Err(empty_projected());
        }
        let mut binding = match (address, projected) {
            (Some(_), Some(_)) => return Err(projected_on_bound_participant()),
            (Some(address), None) => Some(device_binding(address, proxy)?),
            (None, Some(projected)) if identity.is_some() => Some(Binding {
                kind: "sms".into(),
                projected_address: Some(check_projected(projected)?),
                ..Binding::default()
            }),
            (None, Some(_)) => return Err(Error::missing("Identity")),
            (None, None) if identity.is_some() => None,
            (None, None) => return Err(Error::missing("Identity or MessagingBinding.Address")),
        };
        if self.name.is_some() || self.level.is_some() {
            match binding.as_mut().filter(|b| b.kind == "email") {
                Some(email) => {
                    email.name = self.name.clone();
                    email.level = self.level.clone();
                }
                None => {
                    return Err(Error::with(
                        Code::UnsupportedBindingParameter,
                        "only an email participant has MessagingBinding.Name or MessagingBinding.Level",
                    ));
                }
            }
        }
        Ok(NewParticipant {
            identity,
            binding,
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            role_sid: check_role(self.role_sid.as_deref())?,
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

/// The parameters of UpdateConversationParticipant.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateParams {
    #[serde(rename = "Attributes")]
    attributes: Option<String>,
    #[serde(rename = "RoleSid")]
    role_sid: Option<String>,
    #[serde(
        rename = "MessagingBinding.ProxyAddress",
        default,
        deserialize_with = "keep_empty"
    )]
    proxy_address: Option<String>,
    #[serde(
        rename = "MessagingBinding.ProjectedAddress",
        default,
        deserialize_with = "keep_empty"
    )]
    projected_address: Option<String>,
    #[serde(rename = "Identity")]
    identity: Option<String>,
    #[serde(
        rename = "LastReadMessageIndex",
        default,
        deserialize_with = "keep_empty"
    )]
    last_read_message_index: Option<String>,
    #[serde(rename = "LastReadTimestamp", default, deserialize_with = "keep_empty")]
    last_read_timestamp: Option<String>,
    #[serde(rename = "DateCreated")]
    date_created: Option<String>,
    #[serde(rename = "DateUpdated")]
    date_updated: Option<String>,
}

/// The read-horizon parameters are nullable: `null` (or an empty value) clears them.
fn is_null(value: &str) -> bool {
    value.is_empty() || value == "null"
}

/// A bad read horizon is `InvalidLastReadIndex` for both parameters: twilio-behavior.md 10.4 gives
/// that code for a bad `LastReadMessageIndex` or `LastReadTimestamp` on the participant (the
/// dictionary's older Chat codes 50405/50406 name the "consumption" horizon of Chat members).
fn bad_read_horizon(name: &str, value: &str) -> Error {
    params::refused(Code::InvalidLastReadIndex, name, format!("'{value}'"))
}

impl UpdateParams {
    fn check(&self) -> Result<ParticipantUpdate> {
        let proxy_address = match self.proxy_address.as_deref() {
            None => None,
            Some("null") => Some(AddressChange::Remove),
            Some("") => return Err(empty_proxy()),
            Some(proxy) if !is_valid_address(proxy) => return Err(invalid_proxy(proxy)),
            Some(proxy) => Some(AddressChange::Set(proxy.to_string())),
        };
        let projected_address = match self.projected_address.as_deref() {
            None => None,
            Some("null") => Some(AddressChange::Remove),
            Some("") => return Err(empty_projected()),
            Some(projected) => Some(AddressChange::Set(check_projected(projected)?)),
        };
        let last_read_message_index = match self.last_read_message_index.as_deref() {
            None => None,
            Some(v) if is_null(v) => Some(None),
            Some(v) => match v.parse::<i64>() {
                Ok(index) if index >= 0 => Some(Some(index)),
                _ => return Err(bad_read_horizon("LastReadMessageIndex", v)),
            },
        };
        let last_read_timestamp = match self.last_read_timestamp.as_deref() {
            None => None,
            Some(v) if is_null(v) => Some(None),
            Some(v) => match parse_date(v) {
                Some(at) => Some(Some(format_date(at))),
                None => return Err(bad_read_horizon("LastReadTimestamp", v)),
            },
        };
        Ok(ParticipantUpdate {
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            role_sid: check_role(self.role_sid.as_deref())?,
            proxy_address,
            projected_address,
            identity: check_identity(self.identity.as_deref())?,
            last_read_message_index,
            last_read_timestamp,
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
pub struct ParticipantPath {
    conversation: String,
    participant: String,
}

/// CreateConversationParticipant: POST /v1/Conversations/{ConversationSid}/Participants
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
    TwilioForm(form): TwilioForm<CreateParams>,
) -> Result<Response> {
    let new = form.check()?;
    // A participant event's target may veto, not modify (twilio-behavior.md 17.2).
    if scope.tenant.webhooks {
        let params = participants::add_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            new.clone(),
        );
        pre_action::run(&app, &scope.tenant, EventType::ParticipantAdd, params).await?;
    }
    let row = participants::create(&app.store, scope.tenant(), p.conversation, new).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))).into_response())
}

/// ListConversationParticipant: GET /v1/Conversations/{ConversationSid}/Participants
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
    TwilioQuery(q): TwilioQuery<PageParams>,
) -> Result<Response> {
    let req = q.validate(LIMITS_100)?;
    let (conversation_sid, rows) =
        participants::list(&app.store, scope.tenant(), p.conversation, req.clone()).await?;
    let page = rows.as_ref().map(|r| render(r, &scope.urls));
    let list_url = scope
        .urls
        .scoped(&format!("Conversations/{conversation_sid}/Participants"));
    Ok(Json(paging::render("participants", page, &req, &list_url, &[])).into_response())
}

/// FetchConversationParticipant: GET /v1/Conversations/{ConversationSid}/Participants/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ParticipantPath>,
) -> Result<Response> {
    let row =
        participants::fetch(&app.store, scope.tenant(), p.conversation, p.participant).await?;
    Ok(Json(render(&row, &scope.urls)).into_response())
}

/// UpdateConversationParticipant: POST /v1/Conversations/{ConversationSid}/Participants/{Sid}
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ParticipantPath>,
    TwilioForm(form): TwilioForm<UpdateParams>,
) -> Result<Response> {
    let change = form.check()?;
    if scope.tenant.webhooks {
        let params = participants::update_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            p.participant.clone(),
            change.clone(),
        );
        pre_action::run(&app, &scope.tenant, EventType::ParticipantUpdate, params).await?;
    }
    let row = participants::update(
        &app.store,
        scope.tenant(),
        p.conversation,
        p.participant,
        change,
    )
    .await?;
    Ok(Json(render(&row, &scope.urls)).into_response())
}

/// DeleteConversationParticipant: DELETE /v1/Conversations/{ConversationSid}/Participants/{Sid}
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ParticipantPath>,
) -> Result<StatusCode> {
    if scope.tenant.webhooks {
        let params = participants::remove_event_params(
            &app.store,
            scope.tenant(),
            p.conversation.clone(),
            p.participant.clone(),
        );
        pre_action::run(&app, &scope.tenant, EventType::ParticipantRemove, params).await?;
    }
    participants::delete(&app.store, scope.tenant(), p.conversation, p.participant).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_are_checked_for_their_channel() {
        for good in [
            "+15558675310",
            "12345",
            "whatsapp:+15558675310",
            "rcs:+15558675310",
            "messenger:123456",
            "joe@example.com",
            "email:joe@example.com",
        ] {
            assert!(is_valid_address(good), "{good}");
        }
        let long = format!("+1{}", "5".repeat(300));
        for bad in [
            "",
            "+",
            "hello",
            "+1 555 867",
            "whatsapp:",
            "whatsapp:bob",
            "messenger:",
            "@example.com",
            "email:joe@",
            long.as_str(),
        ] {
            assert!(!is_valid_address(bad), "{bad}");
        }
    }

    fn rendered(binding: Option<&Binding>) -> serde_json::Value {
        serde_json::to_value(render_binding(binding)).unwrap()
    }

    #[test]
    fn bindings_render_only_the_addresses_they_have() {
        let sms = Binding {
            kind: "sms".into(),
            address: Some("+1555".into()),
            proxy_address: Some("+1666".into()),
            ..Binding::default()
        };
        assert_eq!(
            rendered(Some(&sms)),
            json!({"type": "sms", "address": "+1555", "proxy_address": "+1666"})
        );
        let projected = Binding {
            kind: "sms".into(),
            projected_address: Some("+1777".into()),
            ..Binding::default()
        };
        assert_eq!(
            rendered(Some(&projected)),
            json!({"type": "sms", "projected_address": "+1777"})
        );
        assert_eq!(rendered(None), serde_json::Value::Null);
    }
}
