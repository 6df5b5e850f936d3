//! Errors on the wire: Twilio's legacy error body,
//! `{"code": N, "message": "...", "more_info": "https://www.twilio.com/docs/errors/N", "status": S}`,
//! with the HTTP status of the error's [`Code`](crate::error::Code).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    message: &'a str,
    more_info: String,
    status: u16,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (code, status) = (self.code.number(), self.code.status());
        let message = self.message();
        let body = ErrorBody {
            code,
            message: &message,
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status,
        };
        // Every status in the table is a valid one (error.rs tests them against their codes).
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(body)).into_response()
    }
}
