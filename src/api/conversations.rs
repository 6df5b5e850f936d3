//! Conversations: `/Conversations` and `/Conversations/{Sid}`, under both prefixes.

use crate::wire::json::{self, ObjectWriter, RawJson, WriteJson, Written};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::conversations::{self, ConversationUpdate, NewConversation};
use crate::domain::webhook_params::{self, Params};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::states::ConversationState;
use crate::store::Tenant;
use crate::store::conversations::{ConversationFilter, ConversationRow};
use crate::webhook_events::EventType;
use crate::webhooks::pre_action::{self, Modifications, modified_json, modified_text};
use crate::wire::form::keep_empty;
use crate::wire::paging::{self, LIMITS_100, PageParams};
use crate::wire::params::{self, CLOSED_TIMER, INACTIVE_TIMER};
use crate::wire::time::Date;
use crate::wire::urls::{Link, Urls};
use crate::wire::{TwilioForm, TwilioQuery};

/// Conversation attributes may be up to 16 KB (twilio-behavior.md 6).
const MAX_ATTRIBUTES: usize = 16 * 1024;
pub const STATES: &[&str] = &["active", "inactive", "closed"];

/// `timers`: the absolute times at which the running timers fire, `{}` when none runs.
#[derive(Debug, Serialize)]
pub struct Timers {
    #[serde(skip_serializing_if = "Option::is_none")]
    date_inactive: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_closed: Option<Date>,
}

pub fn render_timers(date_inactive: Option<i64>, date_closed: Option<i64>) -> Timers {
    Timers {
        date_inactive: date_inactive.map(Date),
        date_closed: date_closed.map(Date),
    }
}

/// A conversation as the wire shows it. It borrows its row and is serialized straight into the
/// body: building a `Value` tree was 15% of a fetch's CPU and about half of a list page's (the
/// benchmark's profile).
#[derive(Debug, Serialize)]
pub struct ConversationView<'a> {
    account_sid: &'a str,
    chat_service_sid: &'a str,
    messaging_service_sid: Option<&'a str>,
    sid: &'a str,
    friendly_name: Option<&'a str>,
    unique_name: Option<&'a str>,
    attributes: &'a str,
    state: &'a str,
    date_created: Date,
    date_updated: Date,
    timers: Timers,
    /// The stored JSON object as it is; `{}` when there is none (or the text is not JSON).
    bindings: RawJson<'a>,
    url: Link<'a, 2>,
    links: ConversationLinks<'a>,
}

#[derive(Debug, Serialize)]
struct ConversationLinks<'a> {
    participants: Link<'a, 3>,
    messages: Link<'a, 3>,
    webhooks: Link<'a, 3>,
    export: Link<'a, 3>,
}

impl WriteJson for Timers {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
        let mut o = ObjectWriter::begin(out);
        if let Some(at) = self.date_inactive {
            o.date("date_inactive", at)?;
        }
        if let Some(at) = self.date_closed {
            o.date("date_closed", at)?;
        }
        o.end();
        Ok(())
    }
}

/// The same bytes as serializing it, written with its keys as they are (a fetch is the most
/// common read).
impl WriteJson for ConversationView<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
        let mut o = ObjectWriter::begin(out);
        o.str("account_sid", self.account_sid);
        o.str("chat_service_sid", self.chat_service_sid);
        o.opt_str("messaging_service_sid", self.messaging_service_sid);
        o.str("sid", self.sid);
        o.opt_str("friendly_name", self.friendly_name);
        o.opt_str("unique_name", self.unique_name);
        o.str("attributes", self.attributes);
        o.str("state", self.state);
        o.date("date_created", self.date_created)?;
        o.date("date_updated", self.date_updated)?;
        o.written("timers", &self.timers)?;
        o.raw("bindings", Some(&self.bindings));
        o.link("url", &self.url);
        let mut links = o.object("links");
        links.link("participants", &self.links.participants);
        links.link("messages", &self.links.messages);
        links.link("webhooks", &self.links.webhooks);
        links.link("export", &self.links.export);
        links.end();
        o.end();
        Ok(())
    }
}

pub fn render<'a>(row: &'a ConversationRow, urls: &'a Urls) -> ConversationView<'a> {
    let sid = row.sid.as_str();
    let link = |last| urls.link(["Conversations", sid, last]);
    ConversationView {
        account_sid: &row.account_sid,
        chat_service_sid: &row.service_sid,
        messaging_service_sid: row.messaging_service_sid.as_deref(),
        sid,
        friendly_name: row.friendly_name.as_deref(),
        unique_name: row.unique_name.as_deref(),
        attributes: &row.attributes,
        state: row.state.as_str(),
        date_created: Date(row.date_created),
        date_updated: Date(row.date_updated),
        timers: render_timers(row.date_inactive, row.date_closed),
        bindings: row
            .bindings
            .as_deref()
            .and_then(json::raw)
            .unwrap_or_else(|| json::raw("{}").expect("{} is JSON")),
        url: urls.link(["Conversations", sid]),
        links: ConversationLinks {
            participants: link("Participants"),
            messages: link("Messages"),
            webhooks: link("Webhooks"),
            export: link("Export"),
        },
    }
}

/// The parameters of CreateConversation and UpdateConversation (and the conversation half of
/// ConversationWithParticipants).
#[derive(Debug, Default, Deserialize)]
pub struct ConversationParams {
    #[serde(rename = "FriendlyName")]
    pub friendly_name: Option<String>,
    #[serde(rename = "UniqueName")]
    pub unique_name: Option<String>,
    #[serde(rename = "Attributes")]
    pub attributes: Option<String>,
    #[serde(rename = "MessagingServiceSid")]
    pub messaging_service_sid: Option<String>,
    #[serde(rename = "State", default, deserialize_with = "keep_empty")]
    pub state: Option<String>,
    #[serde(rename = "Timers.Inactive")]
    pub timers_inactive: Option<String>,
    #[serde(rename = "Timers.Closed")]
    pub timers_closed: Option<String>,
    #[serde(rename = "Bindings.Email.Address")]
    pub email_address: Option<String>,
    #[serde(rename = "Bindings.Email.Name")]
    pub email_name: Option<String>,
    #[serde(rename = "DateCreated")]
    pub date_created: Option<String>,
    #[serde(rename = "DateUpdated")]
    pub date_updated: Option<String>,
}

/// Checked values shared by create and update.
struct Checked {
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: Option<String>,
    messaging_service_sid: Option<String>,
    state: Option<String>,
    timer_inactive: Option<i64>,
    timer_closed: Option<i64>,
    bindings: Option<String>,
    date_created: Option<i64>,
    date_updated: Option<i64>,
}

impl ConversationParams {
    fn check(&self) -> Result<Checked> {
        if let Some(name) = &self.unique_name
            && is_sid(Prefix::Conversation, name)
        {
            return Err(Error::new(Code::UniqueNameLooksLikeSid));
        }
        if self.state.as_deref() == Some("") {
            return Err(Error::new(Code::EmptyState));
        }
        let timer_inactive =
            INACTIVE_TIMER.check("Timers.Inactive", self.timers_inactive.as_deref())?;
        let timer_closed = CLOSED_TIMER.check("Timers.Closed", self.timers_closed.as_deref())?;
        let bindings = (self.email_address.is_some() || self.email_name.is_some()).then(|| {
            json!({"email": {"address": self.email_address, "name": self.email_name}}).to_string()
        });
        Ok(Checked {
            friendly_name: params::text(
                "FriendlyName",
                self.friendly_name.as_deref(),
                256,
                Code::FriendlyNameTooLong,
            )?,
            unique_name: params::text(
                "UniqueName",
                self.unique_name.as_deref(),
                256,
                Code::UniqueNameTooLong,
            )?,
            attributes: params::attributes(self.attributes.as_deref(), MAX_ATTRIBUTES)?,
            messaging_service_sid: params::sid(
                "MessagingServiceSid",
                self.messaging_service_sid.as_deref(),
                Prefix::MessagingService,
                Code::InvalidMessagingServiceSid,
            )?,
            state: params::one_of(
                "State",
                self.state.as_deref(),
                &["active", "inactive", "closed", "initializing"],
                Code::InvalidState,
            )?
            .map(str::to_string),
            timer_inactive,
            timer_closed,
            bindings,
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

    /// Validates a create: a conversation cannot start closed (`InitialStateClosed`), and timers
    /// need a state (`TimerWithoutState`).
    pub fn for_create(&self) -> Result<NewConversation> {
        let c = self.check()?;
        match c.state.as_deref() {
            Some("closed") => {
                return Err(Error::new(Code::InitialStateClosed));
            }
            Some("initializing") => {
                return Err(Error::new(Code::InvalidState));
            }
            _ => {}
        }
        if (c.timer_inactive.is_some() || c.timer_closed.is_some()) && c.state.is_none() {
            return Err(Error::new(Code::TimerWithoutState));
        }
        Ok(NewConversation {
            friendly_name: c.friendly_name,
            unique_name: c.unique_name,
            attributes: c.attributes,
            messaging_service_sid: c.messaging_service_sid,
            state: c.state.as_deref().and_then(ConversationState::parse),
            timer_inactive: c.timer_inactive,
            timer_closed: c.timer_closed,
            bindings: c.bindings,
            date_created: c.date_created,
            date_updated: c.date_updated,
        })
    }

    /// The parameters of `onConversationAdd` / `onConversationUpdate`: the conversation as it
    /// would be after this request.
    fn pre_action_params(&self, current: Option<&ConversationRow>) -> Params {
        let asked = webhook_params::ConversationFields {
            friendly_name: self.friendly_name.as_deref(),
            unique_name: self.unique_name.as_deref(),
            attributes: self.attributes.as_deref(),
            messaging_service_sid: self.messaging_service_sid.as_deref(),
            state: self.state.as_deref(),
        };
        webhook_params::conversation_change(current, &asked)
    }

    /// Applies what a pre-action webhook answered: it may change the names and attributes
    /// (twilio-behavior.md 17.2); the result is validated again like the request itself.
    fn apply(&mut self, changes: &Modifications) {
        for (key, field) in [
            ("friendly_name", &mut self.friendly_name),
            ("unique_name", &mut self.unique_name),
        ] {
            if let Some(value) = modified_text(changes, key) {
                *field = Some(value);
            }
        }
        if let Some(value) = modified_json(changes, "attributes") {
            self.attributes = Some(value);
        }
    }

    /// Runs `onConversationAdd` for a create (and for ConversationWithParticipants): bad input
    /// fails before any webhook goes out; the target may veto (`WebhookRejected`) or rename, and
    /// what it changed is validated again by the caller's `for_create`.
    pub async fn pre_add(&mut self, app: &AppState, tenant: &Tenant) -> Result<()> {
        self.for_create()?;
        let params = self.pre_action_params(None);
        let changes = pre_action::run(
            app,
            tenant,
            EventType::ConversationAdd,
            std::future::ready(Ok(params)),
        )
        .await?;
        self.apply(&changes);
        Ok(())
    }

    fn for_update(&self) -> Result<ConversationUpdate> {
        let c = self.check()?;
        if c.state.as_deref() == Some("initializing") {
            return Err(Error::new(Code::InvalidState));
        }
        let update = ConversationUpdate {
            friendly_name: c.friendly_name,
            unique_name: c.unique_name,
            attributes: c.attributes,
            messaging_service_sid: c.messaging_service_sid,
            state: c.state.as_deref().and_then(ConversationState::parse),
            timer_inactive: c.timer_inactive,
            timer_closed: c.timer_closed,
            bindings: c.bindings,
            date_created: c.date_created,
            date_updated: c.date_updated,
        };
        Ok(update)
    }
}

#[derive(Deserialize)]
pub struct ConversationPath {
    conversation: String,
}

#[derive(Deserialize)]
pub struct ListFilters {
    #[serde(rename = "State")]
    state: Option<String>,
    #[serde(rename = "StartDate")]
    start_date: Option<String>,
    #[serde(rename = "EndDate")]
    end_date: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// CreateConversation: POST /v1/Conversations
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<ConversationParams>,
) -> Result<Response> {
    let mut p = p;
    if scope.tenant.webhooks {
        p.pre_add(&app, &scope.tenant).await?;
    }
    let row = conversations::create(&app.store, scope.tenant(), p.for_create()?).await?;
    Ok((StatusCode::CREATED, Written(render(&row, &scope.urls))).into_response())
}

/// ListConversation: GET /v1/Conversations
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(q): TwilioQuery<ListFilters>,
) -> Result<Response> {
    let req = q.page.validate(LIMITS_100)?;
    let filter = ConversationFilter {
        state: params::one_of("State", q.state.as_deref(), STATES, Code::InvalidState)?
            .and_then(ConversationState::parse),
        start_date: params::date("StartDate", q.start_date.as_deref(), Code::InvalidParameter)?,
        end_date: params::date("EndDate", q.end_date.as_deref(), Code::InvalidParameter)?,
    };
    let mut echoed = Vec::new();
    for (name, value) in [
        ("StartDate", &q.start_date),
        ("EndDate", &q.end_date),
        ("State", &q.state),
    ] {
        if let Some(v) = value {
            echoed.push((name, v.clone()));
        }
    }
    let rows = conversations::list(&app.store, scope.tenant(), filter, req.clone()).await?;
    let page = rows.as_ref().map(|r| render(r, &scope.urls));
    let list_url = scope.urls.scoped("Conversations");
    let page = paging::render("conversations", page, &req, &list_url, &echoed);
    Ok(Written(page).into_response())
}

/// FetchConversation: GET /v1/Conversations/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
) -> Result<Response> {
    let row = conversations::fetch(&app.store, scope.tenant(), p.conversation).await?;
    Ok(Written(render(&row, &scope.urls)).into_response())
}

/// UpdateConversation: POST /v1/Conversations/{Sid}
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
    TwilioForm(form): TwilioForm<ConversationParams>,
) -> Result<Response> {
    let mut form = form;
    if scope.tenant.webhooks {
        form.for_update()?; // bad input fails before any webhook goes out
        let current = conversations::fetch(&app.store, scope.tenant(), p.conversation.clone());
        let params = async {
            let current = current.await?;
            Ok(form.pre_action_params(Some(&current)))
        };
        let changes =
            pre_action::run(&app, &scope.tenant, EventType::ConversationUpdate, params).await?;
        form.apply(&changes);
    }
    let row = conversations::update(
        &app.store,
        scope.tenant(),
        p.conversation,
        form.for_update()?,
    )
    .await?;
    Ok(Written(render(&row, &scope.urls)).into_response())
}

/// DeleteConversation: DELETE /v1/Conversations/{Sid}
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ConversationPath>,
) -> Result<StatusCode> {
    if scope.tenant.webhooks {
        let current = conversations::fetch(&app.store, scope.tenant(), p.conversation.clone());
        let params = async { Ok(webhook_params::conversation(&*current.await?)) };
        pre_action::run(&app, &scope.tenant, EventType::ConversationRemove, params).await?;
    }
    conversations::delete(&app.store, scope.tenant(), p.conversation).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ConversationRow {
        ConversationRow::for_test(
            1,
            "CH00000000000000000000000000000001",
            "AC00000000000000000000000000000002",
            "IS00000000000000000000000000000003",
        )
    }

    /// A conversation written by hand is byte for byte what serde writes, in every shape a
    /// conversation can take.
    #[test]
    fn a_conversation_written_by_hand_is_the_serialized_conversation() {
        let odd = "quote \" backslash \\ tab \t nl \n \u{1} é 中文 😀 \u{2028}";
        let mut full = row();
        full.unique_name = Some(odd.into());
        full.friendly_name = Some(odd.into());
        full.attributes = r#"{"a":"\"b\""}"#.into();
        full.messaging_service_sid = Some("MG00000000000000000000000000000004".into());
        full.state = crate::states::ConversationState::Inactive;
        full.date_inactive = Some(1_700_000_100);
        full.date_closed = Some(1_700_000_200);
        full.bindings = Some(r#"{"email": {"address": "a@b.c", "name": "A"}}"#.into());
        let mut closing_only = row();
        closing_only.date_closed = Some(1_700_000_200);
        closing_only.bindings = Some("{not json".into());
        let mut out_of_range = row();
        out_of_range.date_created = 300_000_000_000;
        out_of_range.date_inactive = Some(-100_000_000_000);
        for row in [row(), full, closing_only, out_of_range] {
            for base in ["http://localhost:8787", "http://odd\"host\\"] {
                for prefix in ["/v1", "/v1/Services/IS00000000000000000000000000000003"] {
                    let urls = Urls::new(base.into(), prefix.into());
                    let view = render(&row, &urls);
                    json::assert_writes_as_serialized(&view);
                }
            }
        }
    }
}
