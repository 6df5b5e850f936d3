//! Fixtures: an account's data as one JSON document (roles, users, address configurations,
//! conversations with their participants and messages), exported
//! (`GET /confab/Accounts/{AC}/Fixtures`) and loaded (`POST` of the same document, or
//! `--fixtures` at start-up, into the operator account). The format is in README.md.
//!
//! Loading replays the document as the requests a client would make, through the server's own
//! router: every item meets exactly the validation and rules of the API. It first runs on a
//! scratch account, so that a bad document changes nothing (its first refused request's
//! Twilio error is the answer); only then is the account reset and the document replayed
//! into it. SIDs and dates are minted anew: the document names roles by friendly name and
//! conversations by their place in the list.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;

use super::confab::{AccountPath, self_or_operator};
use crate::app::AppState;
use crate::domain::accounts;
use crate::error::{Code, Error, Result};
use crate::wire::json::Json;

/// The document.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub roles: Vec<RoleFixture>,
    #[serde(default)]
    pub users: Vec<UserFixture>,
    #[serde(default)]
    pub address_configurations: Vec<Value>,
    #[serde(default)]
    pub conversations: Vec<ConversationFixture>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleFixture {
    pub friendly_name: String,
    #[serde(rename = "type")]
    pub role_type: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserFixture {
    pub identity: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub attributes: Option<String>,
    /// A role's friendly name.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConversationFixture {
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub attributes: Option<String>,
    /// `active` (the default), `inactive` or `closed`: set once its messages are in.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub participants: Vec<ParticipantFixture>,
    #[serde(default)]
    pub messages: Vec<MessageFixture>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParticipantFixture {
    #[serde(default)]
    pub identity: Option<String>,
    /// An SMS or WhatsApp participant: its address and the proxy address it is reached from.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub proxy_address: Option<String>,
    #[serde(default)]
    pub attributes: Option<String>,
    /// A role's friendly name.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessageFixture {
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub attributes: Option<String>,
}

/// The biggest answer a replayed request may give.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Requests made as one account, through the server's router.
struct Replay {
    router: Router,
    authorization: String,
}

/// A refused replayed request: its answer, passed on as it is (a Twilio error).
struct Refused(Response);

impl Replay {
    fn new(app: &AppState, account_sid: &str, auth_token: &str) -> Self {
        let pair = format!("{account_sid}:{auth_token}");
        Replay {
            router: crate::app::router(app.clone()),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
    ) -> std::result::Result<Value, Refused> {
        let body = serde_html_form::to_string(form).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(AUTHORIZATION, &self.authorization)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .map_err(|e| Refused(Error::internal(e).into_response()))?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        if !response.status().is_success() {
            return Err(Refused(response));
        }
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| Refused(Error::internal(e).into_response()))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Refused(Error::internal(e).into_response()))
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
    ) -> std::result::Result<Value, Refused> {
        self.call(Method::POST, path, form).await
    }

    /// Every item of a list, page after page.
    async fn all(&self, path: &str, key: &str) -> std::result::Result<Vec<Value>, Refused> {
        let mut items = Vec::new();
        let mut next = Some(format!("{path}?PageSize=100"));
        while let Some(url) = next {
            let page = self.call(Method::GET, &url, &[]).await?;
            items.extend(page[key].as_array().cloned().unwrap_or_default());
            // The next page's absolute URL, from its path on.
            next = page["meta"]["next_page_url"]
                .as_str()
                .and_then(|u| u.find("/v1/").map(|at| u[at..].to_string()));
        }
        Ok(items)
    }
}

/// A parameter when the document gives it.
fn push<'a>(form: &mut Vec<(&'a str, String)>, name: &'a str, value: &Option<String>) {
    if let Some(v) = value {
        form.push((name, v.clone()));
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// The account's roles by friendly name (SID), and by SID (friendly name).
async fn role_names(replay: &Replay) -> std::result::Result<Vec<(String, String, Value)>, Refused> {
    Ok(replay
        .all("/v1/Roles", "roles")
        .await?
        .into_iter()
        .map(|r| {
            (
                text(&r["sid"]).unwrap_or_default(),
                text(&r["friendly_name"]).unwrap_or_default(),
                r,
            )
        })
        .collect())
}

/// Replays the document into the account behind `replay`, which has only what a new account
/// has.
async fn replay_into(replay: &Replay, fixtures: &Fixtures) -> std::result::Result<(), Refused> {
    let existing = role_names(replay).await?;
    for role in &fixtures.roles {
        let mut form: Vec<(&str, String)> = role
            .permissions
            .iter()
            .map(|p| ("Permission", p.clone()))
            .collect();
        let same = existing.iter().find(|(_, name, r)| {
            *name == role.friendly_name && r["type"] == role.role_type.as_str()
        });
        match same {
            Some((sid, _, _)) => {
                replay.post(&format!("/v1/Roles/{sid}"), &form).await?;
            }
            None => {
                form.push(("FriendlyName", role.friendly_name.clone()));
                form.push(("Type", role.role_type.clone()));
                replay.post("/v1/Roles", &form).await?;
            }
        }
    }
    let roles = role_names(replay).await?;
    let role_sid = |name: &Option<String>| {
        name.as_ref().map(|n| {
            roles
                .iter()
                .find(|(_, friendly, _)| friendly == n)
                .map_or_else(|| n.clone(), |(sid, _, _)| sid.clone())
        })
    };
    for user in &fixtures.users {
        let mut form = vec![("Identity", user.identity.clone())];
        push(&mut form, "FriendlyName", &user.friendly_name);
        push(&mut form, "Attributes", &user.attributes);
        push(&mut form, "RoleSid", &role_sid(&user.role));
        replay.post("/v1/Users", &form).await?;
    }
    for address in &fixtures.address_configurations {
        replay
            .post("/v1/Configuration/Addresses", &address_form(address))
            .await?;
    }
    for conversation in &fixtures.conversations {
        let mut form = Vec::new();
        push(&mut form, "UniqueName", &conversation.unique_name);
        push(&mut form, "FriendlyName", &conversation.friendly_name);
        push(&mut form, "Attributes", &conversation.attributes);
        let created = replay.post("/v1/Conversations", &form).await?;
        let path = format!(
            "/v1/Conversations/{}",
            text(&created["sid"]).unwrap_or_default()
        );
        for participant in &conversation.participants {
            let mut form = Vec::new();
            push(&mut form, "Identity", &participant.identity);
            push(&mut form, "MessagingBinding.Address", &participant.address);
            push(
                &mut form,
                "MessagingBinding.ProxyAddress",
                &participant.proxy_address,
            );
            push(&mut form, "Attributes", &participant.attributes);
            push(&mut form, "RoleSid", &role_sid(&participant.role));
            replay.post(&format!("{path}/Participants"), &form).await?;
        }
        for message in &conversation.messages {
            let mut form = Vec::new();
            push(&mut form, "Author", &message.author);
            push(&mut form, "Body", &message.body);
            push(&mut form, "Attributes", &message.attributes);
            replay.post(&format!("{path}/Messages"), &form).await?;
        }
        if let Some(state) = conversation.state.as_ref().filter(|s| *s != "active") {
            replay.post(&path, &[("State", state.clone())]).await?;
        }
    }
    Ok(())
}

/// An address configuration's form, from its exported shape (the conversation service of its
/// autocreation is the account's default one, so it is not carried).
fn address_form(address: &Value) -> Vec<(&'static str, String)> {
    let mut form = Vec::new();
    for (name, value) in [
        ("Type", &address["type"]),
        ("Address", &address["address"]),
        ("FriendlyName", &address["friendly_name"]),
        ("AutoCreation.Type", &address["auto_creation"]["type"]),
        (
            "AutoCreation.WebhookUrl",
            &address["auto_creation"]["webhook_url"],
        ),
        (
            "AutoCreation.WebhookMethod",
            &address["auto_creation"]["webhook_method"],
        ),
        (
            "AutoCreation.StudioFlowSid",
            &address["auto_creation"]["studio_flow_sid"],
        ),
    ] {
        if let Some(v) = text(value) {
            form.push((name, v));
        }
    }
    if let Some(enabled) = address["auto_creation"]["enabled"].as_bool() {
        form.push(("AutoCreation.Enabled", enabled.to_string()));
    }
    if let Some(count) = address["auto_creation"]["studio_retry_count"].as_i64() {
        form.push(("AutoCreation.StudioRetryCount", count.to_string()));
    }
    for filter in address["auto_creation"]["webhook_filters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(text)
    {
        form.push(("AutoCreation.WebhookFilters", filter));
    }
    form
}

/// The exported shape of an address configuration: what loading it takes back.
fn address_fixture(address: &Value) -> Value {
    let auto = &address["auto_creation"];
    serde_json::json!({
        "type": address["type"],
        "address": address["address"],
        "friendly_name": address["friendly_name"],
        "auto_creation": {
            "enabled": auto["enabled"],
            "type": auto["type"],
            "webhook_url": auto["webhook_url"],
            "webhook_method": auto["webhook_method"],
            "webhook_filters": auto["webhook_filters"],
            "studio_flow_sid": auto["studio_flow_sid"],
            "studio_retry_count": auto["studio_retry_count"],
        },
    })
}

/// Reads the account's data into a document, through the same routes a client reads.
async fn export_from(replay: &Replay) -> std::result::Result<Fixtures, Refused> {
    let roles = role_names(replay).await?;
    let role_name = |sid: &Value| {
        text(sid).map(|sid| {
            roles
                .iter()
                .find(|(s, _, _)| *s == sid)
                .map_or(sid, |(_, name, _)| name.clone())
        })
    };
    let mut fixtures = Fixtures {
        roles: roles
            .iter()
            .map(|(_, name, r)| RoleFixture {
                friendly_name: name.clone(),
                role_type: text(&r["type"]).unwrap_or_default(),
                permissions: r["permissions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(text)
                    .collect(),
            })
            .collect(),
        ..Fixtures::default()
    };
    for user in replay.all("/v1/Users", "users").await? {
        fixtures.users.push(UserFixture {
            identity: text(&user["identity"]).unwrap_or_default(),
            friendly_name: text(&user["friendly_name"]),
            attributes: text(&user["attributes"]),
            role: role_name(&user["role_sid"]),
        });
    }
    for address in replay
        .all("/v1/Configuration/Addresses", "address_configurations")
        .await?
    {
        fixtures
            .address_configurations
            .push(address_fixture(&address));
    }
    // Listed in the order they were made, the order they are replayed in.
    for conversation in replay.all("/v1/Conversations", "conversations").await? {
        let path = format!(
            "/v1/Conversations/{}",
            text(&conversation["sid"]).unwrap_or_default()
        );
        let participants = replay
            .all(&format!("{path}/Participants"), "participants")
            .await?
            .into_iter()
            .map(|p| ParticipantFixture {
                identity: text(&p["identity"]),
                address: text(&p["messaging_binding"]["address"]),
                proxy_address: text(&p["messaging_binding"]["proxy_address"]),
                attributes: text(&p["attributes"]),
                role: role_name(&p["role_sid"]),
            })
            .collect();
        let messages = replay
            .all(&format!("{path}/Messages"), "messages")
            .await?
            .into_iter()
            .map(|m| MessageFixture {
                author: text(&m["author"]),
                body: text(&m["body"]),
                attributes: text(&m["attributes"]),
            })
            .collect();
        fixtures.conversations.push(ConversationFixture {
            unique_name: text(&conversation["unique_name"]),
            friendly_name: text(&conversation["friendly_name"]),
            attributes: text(&conversation["attributes"]),
            state: text(&conversation["state"]),
            participants,
            messages,
        });
    }
    Ok(fixtures)
}

/// Loads the document into the account: checked on a scratch account first, then the account
/// is reset and the document replayed into it. A refused item answers its request's error.
pub async fn load(
    app: &AppState,
    account_sid: &str,
    fixtures: &Fixtures,
) -> std::result::Result<(), Response> {
    let scratch = accounts::create(&app.store, "confab fixtures check".into())
        .await
        .map_err(IntoResponse::into_response)?;
    app.credentials.add(crate::store::accounts::Credential {
        username: scratch.account_sid.clone(),
        secret: crate::secrets::Secret::Plain(scratch.auth_token.clone()),
        account_sid: scratch.account_sid.clone(),
    });
    let checked = replay_into(
        &Replay::new(app, &scratch.account_sid, &scratch.auth_token),
        fixtures,
    )
    .await;
    app.credentials.forget_account(&scratch.account_sid);
    accounts::delete(&app.store, scratch.account_sid.clone())
        .await
        .map_err(IntoResponse::into_response)?;
    checked.map_err(|Refused(answer)| answer)?;
    let token = accounts::auth_token(&app.store, account_sid.to_string())
        .await
        .map_err(IntoResponse::into_response)?;
    accounts::reset(&app.store, account_sid.to_string())
        .await
        .map_err(IntoResponse::into_response)?;
    replay_into(&Replay::new(app, account_sid, &token), fixtures)
        .await
        .map_err(|Refused(answer)| answer)
}

/// The caller, when it is the account itself or the operator.
async fn allowed(app: &AppState, headers: &HeaderMap, account: &str) -> Result<()> {
    let path = format!("/confab/Accounts/{account}/Fixtures");
    self_or_operator(app, headers, account, path)
        .await
        .map(drop)
}

/// GET /confab/Accounts/{AccountSid}/Fixtures: the account's data as a fixtures document.
pub async fn export(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
) -> Response {
    if let Err(e) = allowed(&app, &headers, &p.account).await {
        return e.into_response();
    }
    let token = match accounts::auth_token(&app.store, p.account.clone()).await {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    match export_from(&Replay::new(&app, &p.account, &token)).await {
        Ok(fixtures) => Json(serde_json::to_value(fixtures).unwrap_or_default()).into_response(),
        Err(Refused(answer)) => answer,
    }
}

/// POST /confab/Accounts/{AccountSid}/Fixtures with a fixtures document (JSON): the account's
/// data replaced by the document's (204); a bad document changes nothing.
pub async fn import(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = allowed(&app, &headers, &p.account).await {
        return e.into_response();
    }
    let fixtures: Fixtures = match serde_json::from_slice(&body) {
        Ok(fixtures) => fixtures,
        Err(e) => return Error::with(Code::InvalidBody, e).into_response(),
    };
    match load(&app, &p.account, &fixtures).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(answer) => answer,
    }
}
