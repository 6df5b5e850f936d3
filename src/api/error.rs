//! Errors on the wire: Twilio's legacy error body,
//! `{"code": N, "message": "...", "more_info": "https://www.twilio.com/docs/errors/N", "status": S}`,
//! with the HTTP status of the error's [`Code`](crate::error::Code).

use axum::Json;
use axum::extract::Request;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{Code, Error};

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    message: &'a str,
    more_info: String,
    status: u16,
}

/// A 404 that does not name its path yet: [`name_the_path`] writes it with the request's.
#[derive(Clone, Copy)]
struct PathToName;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.code == Code::NotFound && self.detail.is_none() {
            let mut response = StatusCode::NOT_FOUND.into_response();
            response.extensions_mut().insert(PathToName);
            return response;
        }
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
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // Twilio's challenge: clients that wait for it before sending credentials (as
            // browsers and some HTTP libraries do) would otherwise never send them.
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(TWILIO_CHALLENGE));
        }
        response
    }
}

/// The store and the domain say "not found" without knowing the request: Twilio's message
/// names the path that was asked for ("The requested resource /v1/... was not found"), so it
/// is written here, where the request is known (a middleware around every route).
///
/// It also leaves the challenge out of a 401 for a script that says it is one
/// ([`wants_no_challenge`]).
pub async fn name_the_path(request: Request, next: Next) -> Response {
    // A `Uri` clone shares its bytes: no copy of the path per request.
    let uri = request.uri().clone();
    let no_challenge = wants_no_challenge(request.headers());
    let mut response = next.run(request).await;
    if no_challenge && response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().remove(WWW_AUTHENTICATE);
    }
    if response.extensions().get::<PathToName>().is_none() {
        return response;
    }
    // The new answer keeps what the layers inside noted on the old one (the route, for the
    // metrics).
    let extensions = std::mem::take(response.extensions_mut());
    let mut named = Error::with(Code::NotFound, uri.path()).into_response();
    named.extensions_mut().extend(extensions);
    named
}

/// A browser answers a 401 that carries a Basic challenge by asking its user for a password
/// (and a headless one waits for an answer that never comes), even when the page's own script
/// sent the credentials, as the web console does. Such scripts say so with
/// `X-Requested-With: XMLHttpRequest`, the convention Spring Security and others follow, and
/// get the 401 without the challenge, to handle themselves.
fn wants_no_challenge(headers: &HeaderMap) -> bool {
    headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"))
}

/// The `WWW-Authenticate` of every 401, with Twilio's realm.
pub const TWILIO_CHALLENGE: &str = "Basic realm=\"Twilio API\"";
