//! One error type for the whole API, written on the wire as Twilio's legacy error body:
//! `{"code": N, "message": "...", "more_info": "https://www.twilio.com/docs/errors/N", "status": S}`.
//!
//! Every failure a client can see goes through [`ApiError`]: handler errors, extractor
//! rejections, unknown routes, wrong methods and panics. Internal causes are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A Twilio error: the code, the HTTP status it travels with, and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u32,
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    message: &'a str,
    more_info: String,
    status: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    /// 400 with a Conversations (50xxx) or platform validation code.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 409 for duplicates and conflicts (observed for 50201 "User already exists").
    pub fn conflict(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 20404 for a path that names nothing this account can see. The message names the path
    /// without the host, as Twilio's does.
    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    /// 20001: a required parameter is missing from the form body.
    pub fn missing(param: &str) -> Self {
        Self::bad_request(
            20001,
            format!("Missing required parameter {param} in the post body"),
        )
    }

    /// 20001 also covers a parameter whose value cannot be parsed at all.
    pub fn invalid(param: &str, detail: impl std::fmt::Display) -> Self {
        Self::bad_request(20001, format!("Invalid parameter {param}: {detail}"))
    }

    /// 20003: missing or wrong credentials.
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
    }

    /// 21481: a PageToken this server did not issue.
    pub fn invalid_page_token() -> Self {
        Self::bad_request(21481, "Invalid PageToken")
    }

    /// 20500: something broke inside. The cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            more_info: format!("https://www.twilio.com/docs/errors/{}", self.code),
            status: self.status.as_u16(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}
