//! Fault injection for client code (test mode): `POST /confab/Accounts/{AC}/Faults` with
//! `Rate429`, `Rate5xx` (shares of requests, 0 to 1) and `LatencyMs`; `GET` shows them,
//! `DELETE` clears them, and so does a reset. The account's `/v1` requests then meet them
//! (`inject`, a layer on the routes); confab's own routes never do, so a test can always clear
//! them.

use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::confab::{AccountPath, self_or_operator};
use crate::app::AppState;
use crate::domain::faults;
use crate::error::{Code, Error, Result};
use crate::store::accounts::Faults;
use crate::wire::TwilioForm;
use crate::wire::json::Json;
use crate::wire::params;

/// The most latency a fault may add: longer than any client's timeout worth testing.
const MAX_LATENCY_MS: i64 = 60_000;

#[derive(Deserialize)]
pub struct SetFaults {
    #[serde(rename = "Rate429")]
    rate_429: Option<String>,
    #[serde(rename = "Rate5xx")]
    rate_5xx: Option<String>,
    #[serde(rename = "LatencyMs")]
    latency_ms: Option<String>,
}

/// A share of requests: a number from 0 to 1 (0 when not given).
fn share(name: &str, value: Option<&str>) -> Result<f64> {
    let Some(v) = value else { return Ok(0.0) };
    match v.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(Error::invalid(
            name,
            format!("'{v}' is not a number from 0 to 1"),
        )),
    }
}

impl SetFaults {
    fn validate(&self) -> Result<Faults> {
        let rate_429 = share("Rate429", self.rate_429.as_deref())?;
        let rate_5xx = share("Rate5xx", self.rate_5xx.as_deref())?;
        if rate_429 + rate_5xx > 1.0 {
            return Err(Error::invalid(
                "Rate5xx",
                "Rate429 and Rate5xx together are more than 1",
            ));
        }
        let latency_ms = params::integer(
            "LatencyMs",
            self.latency_ms.as_deref(),
            Code::InvalidParameter,
        )?
        .unwrap_or(0);
        if !(0..=MAX_LATENCY_MS).contains(&latency_ms) {
            return Err(Error::invalid(
                "LatencyMs",
                format!("must be from 0 to {MAX_LATENCY_MS}"),
            ));
        }
        Ok(Faults {
            rate_429,
            rate_5xx,
            latency_ms,
        })
    }
}

/// The caller, when it is the account itself or the operator, in test mode.
async fn allowed(app: &AppState, headers: &HeaderMap, account: &str) -> Result<()> {
    let path = format!("/confab/Accounts/{account}/Faults");
    self_or_operator(app, headers, account, path).await?;
    if !app.test_mode {
        return Err(Error::with(
            Code::Forbidden,
            "faults can be injected only in --test-mode",
        ));
    }
    Ok(())
}

fn render(faults: &Faults) -> Json<Value> {
    Json(serde_json::to_value(faults).unwrap_or_default())
}

/// POST /confab/Accounts/{AccountSid}/Faults: sets the account's faults (what is not given is
/// 0), answering them.
pub async fn set(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
    TwilioForm(form): TwilioForm<SetFaults>,
) -> Result<Json<Value>> {
    allowed(&app, &headers, &p.account).await?;
    let faults = form.validate()?;
    faults::set(&app.store, p.account, Some(faults)).await?;
    Ok(render(&faults))
}

/// GET /confab/Accounts/{AccountSid}/Faults: the account's faults (all 0 when none).
pub async fn fetch(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
) -> Result<Json<Value>> {
    allowed(&app, &headers, &p.account).await?;
    let faults = faults::of(&app.store, p.account).await?;
    Ok(render(&faults.unwrap_or_default()))
}

/// DELETE /confab/Accounts/{AccountSid}/Faults: no more faults (204).
pub async fn clear(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<AccountPath>,
) -> Result<StatusCode> {
    allowed(&app, &headers, &p.account).await?;
    faults::set(&app.store, p.account, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// On every matched route, in test mode: a `/v1` request of an account with faults waits its
/// latency, then may be answered 429 (20429) or 500 (20500) instead of being served. A request
/// whose credentials open no account goes through untouched (its handler answers 401).
pub async fn inject(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if !app.test_mode || !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let Some(account) = app.credentials.authenticate(req.headers()) else {
        return next.run(req).await;
    };
    let found = match faults::of(&app.store, account).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let Some(faults) = found else {
        return next.run(req).await;
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms as u64)).await;
    }
    match faults::verdict(&faults, rand::random::<f64>()) {
        Some(code) => {
            tracing::debug!(code = code.number(), path = %req.uri().path(), "injected fault");
            Error::new(code).into_response()
        }
        None => next.run(req).await,
    }
}
