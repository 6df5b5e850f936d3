//! confab's own routes, outside Twilio's `/v1` namespace: health, and declaring more tenants
//! (accounts and API keys) at run time, so that a CI suite can give every test its own account.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::domain::{self, accounts, clock, deliveries};
use crate::error::{Code, Error, Result};
use crate::secrets::Secret;
use crate::states::DeliveryOutcome;
use crate::store::accounts::Credential;
use crate::store::webhooks::DeliveryFilter;
use crate::webhook_events::EventType;
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::time::{format_date, parse_date, parse_duration};
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

/// GET /healthz, without auth: the process is up (it answers once the store is open).
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// GET /readyz, without auth: the store answers a read now, for a load balancer's health check
/// (a node whose database is out of reach is taken out of rotation). 503 when it does not.
pub async fn readyz(State(app): State<AppState>) -> Response {
    match domain::accounts::ready(&app.store).await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable"})),
        )
            .into_response(),
    }
}

/// GET /metrics, without auth (as Prometheus scrapes): the Prometheus text format
/// (`crate::metrics`), with the store's backlog read now.
pub async fn metrics(State(app): State<AppState>) -> Result<Response> {
    let backlog = domain::lifecycle::backlog(&app.store).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&backlog),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CreateAccount {
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
}

/// POST /confab/Accounts: a new isolated account (with its own default service). Only the
/// operator account (the one given by `--account-sid`) may create accounts.
pub async fn create_account(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioForm(p): TwilioForm<CreateAccount>,
) -> Result<(StatusCode, Json<Value>)> {
    let caller = app.authenticate(&headers).await?;
    if caller != *app.operator_account {
        return Err(Error::with(
            Code::Forbidden,
            "only the operator account may create accounts",
        ));
    }
    let name = p.friendly_name.unwrap_or_else(|| "confab account".into());
    let account = accounts::create(&app.store, name).await?;
    app.credentials.add(Credential {
        username: account.account_sid.clone(),
        secret: Secret::Plain(account.auth_token.clone()),
        account_sid: account.account_sid.clone(),
    });
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(account).map_err(Error::internal)?),
    ))
}

/// `/confab/Accounts/{AccountSid}/...`.
#[derive(Deserialize)]
pub struct AccountPath {
    pub account: String,
}

/// POST /confab/Accounts/{AccountSid}/Keys: a new API key (SK...) whose secret opens the
/// account in Basic auth, as Twilio's API keys do. The account itself or the operator may ask.
pub async fn create_api_key(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
    TwilioForm(form): TwilioForm<CreateAccount>,
) -> Result<(StatusCode, Json<Value>)> {
    let path = format!("/confab/Accounts/{}/Keys", p.account);
    self_or_operator(&app, &headers, &p.account, path).await?;
    let name = form.friendly_name.unwrap_or_else(|| "confab key".into());
    let key = accounts::create_api_key(&app.store, p.account, name).await?;
    app.credentials.add(Credential {
        username: key.sid.clone(),
        secret: Secret::hashed(&key.secret),
        account_sid: key.account_sid.clone(),
    });
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(key).map_err(Error::internal)?),
    ))
}

/// The caller, if it is the account `account` itself or the operator; otherwise the account is
/// not there for it (404 on `path`, as for any resource of another account).
pub(crate) async fn self_or_operator(
    app: &AppState,
    headers: &HeaderMap,
    account: &str,
    path: String,
) -> Result<String> {
    let caller = app.authenticate(headers).await?;
    if caller != account && caller != *app.operator_account {
        return Err(Error::with(Code::NotFound, path));
    }
    Ok(caller)
}

/// The caller, if it is the operator account.
async fn operator_only(app: &AppState, headers: &HeaderMap, what: &str) -> Result<()> {
    let caller = app.authenticate(headers).await?;
    if caller != *app.operator_account {
        return Err(Error::with(
            Code::Forbidden,
            format!("only the operator account may {what}"),
        ));
    }
    Ok(())
}

/// POST /confab/Accounts/{AccountSid}/Reset: the account back to how it was made (a fresh
/// default service, nothing else), keeping its SID, token and API keys; as the account itself
/// or the operator. Answers 204.
pub async fn reset_account(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
) -> Result<StatusCode> {
    let path = format!("/confab/Accounts/{}/Reset", p.account);
    self_or_operator(&app, &headers, &p.account, path).await?;
    accounts::reset(&app.store, p.account).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /confab/Accounts: every account (SID, friendly name, creation date), as the operator.
pub async fn list_accounts(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioQuery(page): TwilioQuery<PageParams>,
) -> Result<Json<ListPage<Value>>> {
    operator_only(&app, &headers, "list accounts").await?;
    let req = page.validate(LIMITS_100)?;
    let rows = accounts::list(&app.store, req.clone()).await?;
    let page = rows.map(|a| serde_json::to_value(a).unwrap_or_default());
    let urls = Urls::from_request(app.public_url.as_deref(), &headers, String::new());
    let list_url = format!("{}/confab/Accounts", urls.base);
    Ok(Json(paging::render("accounts", page, &req, &list_url, &[])))
}

/// DELETE /confab/Accounts/{AccountSid}: the account and everything it holds, as the operator
/// (who cannot delete its own account). Answers 204.
pub async fn delete_account(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
) -> Result<StatusCode> {
    operator_only(&app, &headers, "delete accounts").await?;
    if p.account == *app.operator_account {
        return Err(Error::with(
            Code::Forbidden,
            "the operator account cannot be deleted",
        ));
    }
    accounts::delete(&app.store, p.account.clone()).await?;
    app.credentials.forget_account(&p.account);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct DeliveryLogQuery {
    #[serde(rename = "EventType")]
    event_type: Option<String>,
    #[serde(rename = "Outcome")]
    outcome: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

impl DeliveryLogQuery {
    /// The filter, each value checked against the names the log can hold.
    fn filter(&self) -> Result<DeliveryFilter> {
        let event = match self.event_type.as_deref() {
            Some(name) => Some(
                name.parse::<EventType>()
                    .map_err(|_| Error::invalid("EventType", name))?,
            ),
            None => None,
        };
        let outcome = match self.outcome.as_deref() {
            Some(name) => {
                Some(DeliveryOutcome::parse(name).ok_or_else(|| Error::invalid("Outcome", name))?)
            }
            None => None,
        };
        Ok(DeliveryFilter { event, outcome })
    }

    /// The filters, as the page's URLs repeat them.
    fn echoed(&self) -> Vec<(&'static str, String)> {
        [("EventType", &self.event_type), ("Outcome", &self.outcome)]
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }
}

/// GET /confab/Webhooks/Deliveries[?EventType=onMessageAdded][&Outcome=retrying]: the
/// account's webhook delivery log, newest first: which event went to which URL, with which
/// parameters and signature, and what came back (status, body, latency), retry count.
pub async fn list_webhook_deliveries(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioQuery(q): TwilioQuery<DeliveryLogQuery>,
) -> Result<Json<ListPage<Value>>> {
    let account = app.authenticate(&headers).await?;
    let req = q.page.validate(LIMITS_100)?;
    let filter = q.filter()?;
    let rows = deliveries::log(&app.store, account, filter, req.clone()).await?;
    let page = rows.map(|d| serde_json::to_value(d).unwrap_or_default());
    let urls = Urls::from_request(app.public_url.as_deref(), &headers, String::new());
    let list_url = format!("{}/confab/Webhooks/Deliveries", urls.base);
    Ok(Json(paging::render(
        "deliveries",
        page,
        &req,
        &list_url,
        &q.echoed(),
    )))
}

/// The clock as the store has it: on PostgreSQL another node may have moved it a moment ago.
async fn clock_body(app: &AppState) -> Result<Json<Value>> {
    let now = clock::now(&app.store).await?;
    Ok(Json(
        json!({ "now": format_date(now), "test_mode": app.test_mode }),
    ))
}

/// GET /confab/Clock: the server's current time (moved forward in test mode).
pub async fn fetch_clock(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>> {
    app.authenticate(&headers).await?;
    clock_body(&app).await
}

#[derive(Deserialize)]
pub struct MoveClock {
    #[serde(rename = "Advance")]
    advance: Option<String>,
    #[serde(rename = "Set")]
    set: Option<String>,
}

/// POST /confab/Clock `Advance=PT10M` or `Set=2030-01-01T00:00:00Z`: moves the server's clock
/// forward (test mode only), so that timers, retries and dates follow without waiting. There is
/// one clock, which every account's data follows, so only the operator account may move it: a
/// suite that gives each test an account of its own moves it from its set-up, as the operator.
pub async fn move_clock(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioForm(p): TwilioForm<MoveClock>,
) -> Result<Json<Value>> {
    let caller = app.authenticate(&headers).await?;
    if !app.test_mode {
        return Err(Error::with(
            Code::Forbidden,
            "the clock can be moved only in --test-mode",
        ));
    }
    if caller != *app.operator_account {
        return Err(Error::with(
            Code::Forbidden,
            "only the operator account may move the clock, which every account shares",
        ));
    }
    match (p.advance, p.set) {
        (Some(advance), None) => {
            let secs = parse_duration(&advance)
                .ok_or_else(|| Error::invalid("Advance", "an ISO-8601 duration such as PT10M"))?;
            clock::advance(&app.store, secs).await?;
        }
        (None, Some(set)) => {
            let at = parse_date(&set).ok_or_else(|| {
                Error::invalid("Set", "an ISO-8601 date such as 2030-01-01T00:00:00Z")
            })?;
            clock::set(&app.store, at).await?;
        }
        (Some(_), Some(_)) => {
            return Err(Error::invalid("Set", "give Advance or Set, not both"));
        }
        (None, None) => return Err(Error::missing("Advance")),
    }
    clock_body(&app).await
}
