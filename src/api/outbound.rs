//! What would have gone out by SMS or WhatsApp: confab sends nothing to carriers, so each
//! message to a non-chat participant is recorded with its delivery receipt, and can be read
//! here (`GET /confab/Outbound`) and pushed to a final status by a test
//! (`POST /confab/Receipts/{DY...}` with `Status=failed&ErrorCode=30003`). With `?Address=`, the
//! log is one phone's thread: the inbound messages it sent (`api/inbound.rs`) among the
//! outbound ones it got.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::inbound;
use crate::app::AppState;
use crate::domain::inbound as domain_inbound;
use crate::domain::lifecycle;
use crate::error::{Code, Error, Result};
use crate::states::ReceiptStatus as Status;
use crate::store::inbound::ThreadEntry;
use crate::store::receipts::Outbound;
use crate::wire::paging::{self, LIMITS_100, ListPage, PageParams};
use crate::wire::params::{integer, one_of};
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

#[derive(Deserialize)]
pub struct OutboundFilter {
    #[serde(rename = "ConversationSid")]
    conversation_sid: Option<String>,
    #[serde(rename = "Address")]
    address: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// An outbound message as the logs show it: the row, with its direction.
fn render(row: &Outbound) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    value["direction"] = json!("outbound");
    value
}

/// One message of a phone's thread, either way.
fn render_entry(entry: &ThreadEntry) -> Value {
    match entry {
        ThreadEntry::Inbound(row) => inbound::render(row),
        ThreadEntry::Outbound(row) => render(row),
    }
}

/// GET /confab/Outbound[?ConversationSid=CH...]: the account's outbound SMS/WhatsApp
/// messages (to, from, body, media, status), newest first. With `Address=+1555...` instead: that
/// phone's whole thread, what it sent (`direction: inbound`, with its outcome) and what went
/// to it (`direction: outbound`), oldest first.
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    TwilioQuery(q): TwilioQuery<OutboundFilter>,
) -> Result<Json<ListPage<Value>>> {
    let account = app.authenticate(&headers).await?;
    let req = q.page.validate(LIMITS_100)?;
    let (page, filters) = match (q.address, q.conversation_sid) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "Address",
                "a phone's thread is not filtered by ConversationSid",
            ));
        }
        (Some(address), None) => {
            let rows =
                domain_inbound::thread(&app.store, account, address.clone(), req.clone()).await?;
            (rows.map(|e| render_entry(&e)), vec![("Address", address)])
        }
        (None, conversation_sid) => {
            let rows = lifecycle::list_outbound(
                &app.store,
                account,
                conversation_sid.clone(),
                req.clone(),
            )
            .await?;
            let filters = conversation_sid
                .into_iter()
                .map(|c| ("ConversationSid", c))
                .collect();
            (rows.map(|o| render(&o)), filters)
        }
    };
    let base = Urls::from_request(app.public_url.as_deref(), &headers, String::new()).base;
    Ok(Json(paging::render(
        "messages",
        page,
        &req,
        &format!("{base}/confab/Outbound"),
        &filters,
    )))
}

#[derive(Deserialize)]
pub struct ReceiptStatus {
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "ErrorCode")]
    error_code: Option<String>,
}

#[derive(Deserialize)]
pub struct ReceiptPath {
    receipt: String,
}

/// POST /confab/Receipts/{Sid}: sets a receipt's status (sent, delivered, read, failed,
/// undelivered; failures with Twilio's messaging ErrorCode, e.g. 30003).
pub async fn set_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<ReceiptPath>,
    TwilioForm(form): TwilioForm<ReceiptStatus>,
) -> Result<Json<Value>> {
    let account = app.authenticate(&headers).await?;
    let statuses = ["sent", "delivered", "read", "failed", "undelivered"];
    let status = one_of(
        "Status",
        form.status.as_deref(),
        &statuses,
        Code::InvalidParameter,
    )?
    .ok_or_else(|| Error::missing("Status"))?;
    let error_code = integer(
        "ErrorCode",
        form.error_code.as_deref(),
        Code::InvalidParameter,
    )?;
    let updated = lifecycle::force_receipt_status(
        &app.store,
        account,
        p.receipt,
        Status::parse(status).ok_or_else(|| Error::invalid("Status", status))?,
        error_code,
    )
    .await?;
    Ok(Json(
        serde_json::to_value(updated).map_err(Error::internal)?,
    ))
}
