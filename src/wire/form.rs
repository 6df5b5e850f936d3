//! Form bodies as Twilio's SDKs send them: `application/x-www-form-urlencoded`, dotted names
//! (`Timers.Inactive`) and repeated keys (`Permission=a&Permission=b`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::{Code, Error};

/// Like `axum::Form`, but with `serde_html_form` (repeated keys fill a `Vec`), tolerant of a
/// missing `Content-Type` (the SDKs send none on a POST without parameters), and failing with
/// Twilio's `InvalidBody` instead of axum's plain-text rejection. A JSON body is read as a form, as
/// Twilio does: its fields are simply not there, so the required ones are reported missing.
pub struct TwilioForm<T>(pub T);

impl<T, S> FromRequest<S> for TwilioForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::with(Code::InvalidBody, e))?;
        serde_html_form::from_bytes(&body)
            .map(TwilioForm)
            .map_err(|e| Error::with(Code::InvalidBody, e))
    }
}

/// The query string, read the same way: repeated keys fill a `Vec`
/// (`BindingType=apn&BindingType=fcm`), and a malformed one fails with Twilio's `InvalidQuery`.
pub struct TwilioQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for TwilioQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_html_form::from_str(query)
            .map(TwilioQuery)
            .map_err(|e| Error::with(Code::InvalidQuery, e))
    }
}

/// For `#[serde(default, deserialize_with = "keep_empty")]`: a parameter sent empty (`State=`)
/// is `Some("")`, where plain `Option<String>` would read it as not sent. Use it where Twilio
/// answers an empty value differently from a missing one.
pub fn keep_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(Some)
}
