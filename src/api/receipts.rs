//! Delivery Receipts: `/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts[/{Sid}]`,
//! under both prefixes.

use crate::wire::json::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::receipts;
use crate::error::Result;
use crate::store::receipts::ReceiptRow;
use crate::wire::TwilioQuery;
use crate::wire::paging::{self, LIMITS_50, ListPage, PageParams};
use crate::wire::time::{format_date, format_opt_date};
use crate::wire::urls::{Urls, encode};

pub fn render(row: &ReceiptRow, urls: &Urls) -> Value {
    let mut body = Map::with_capacity(13);
    body.insert("account_sid".into(), row.account_sid.clone().into());
    if urls.is_service_scoped() {
        body.insert("chat_service_sid".into(), row.service_sid.clone().into());
    }
    body.insert(
        "conversation_sid".into(),
        row.conversation_sid.clone().into(),
    );
    body.insert("message_sid".into(), row.message_sid.clone().into());
    body.insert("sid".into(), row.sid.clone().into());
    body.insert(
        "channel_message_sid".into(),
        row.channel_message_sid.clone().into(),
    );
    body.insert("participant_sid".into(), row.participant_sid.clone().into());
    body.insert("status".into(), row.status.map(|s| s.as_str()).into());
    // The spec types `error_code` as a non-null integer with default 0: 0 when there is none.
    body.insert("error_code".into(), row.error_code.unwrap_or(0).into());
    body.insert("date_created".into(), format_date(row.date_created).into());
    body.insert(
        "date_updated".into(),
        format_opt_date(row.date_updated).into(),
    );
    body.insert(
        "url".into(),
        urls.scoped(&format!(
            "Conversations/{}/Messages/{}/Receipts/{}",
            row.conversation_sid, row.message_sid, row.sid
        ))
        .into(),
    );
    Value::Object(body)
}

#[derive(Deserialize)]
pub struct MessagePath {
    conversation: String,
    message: String,
}

#[derive(Deserialize)]
pub struct ReceiptPath {
    conversation: String,
    message: String,
    receipt: String,
}

/// ListConversationMessageReceipt:
/// GET /v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts
/// (and ListServiceConversationMessageReceipt). The spec caps PageSize at 50.
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MessagePath>,
    TwilioQuery(q): TwilioQuery<PageParams>,
) -> Result<Json<ListPage<Value>>> {
    let req = q.validate(LIMITS_50)?;
    let list_url = scope.urls.scoped(&format!(
        "Conversations/{}/Messages/{}/Receipts",
        encode(&p.conversation),
        encode(&p.message)
    ));
    let rows = receipts::list(
        &app.store,
        scope.tenant(),
        p.conversation,
        p.message,
        req.clone(),
    )
    .await?;
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "delivery_receipts",
        page,
        &req,
        &list_url,
        &[],
    )))
}

/// FetchConversationMessageReceipt:
/// GET /v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}
/// (and FetchServiceConversationMessageReceipt).
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<ReceiptPath>,
) -> Result<Json<Value>> {
    let row = receipts::fetch(
        &app.store,
        scope.tenant(),
        p.conversation,
        p.message,
        p.receipt,
    )
    .await?;
    Ok(Json(render(&row, &scope.urls)))
}
