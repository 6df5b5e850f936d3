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
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if json {
            tracing::debug!(
                "a JSON body where a form was expected: Twilio takes \
                 application/x-www-form-urlencoded, so none of its fields is read"
            );
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::with(Code::InvalidBody, e))?;
        parse_form(&body).map(TwilioForm)
    }
}

/// Reads a form body as `T`. Parameters are text: one whose percent-decoded bytes are not UTF-8
/// is refused (`NotUtf8`), where `serde_html_form` alone would put U+FFFD in place of each bad
/// sequence, so that `%FF%FE` and `%FF%FD` would be one identity. Otherwise failing with
/// `InvalidBody`.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if let Some(name) = first_non_utf8(body) {
        return Err(Error::with(Code::NotUtf8, name));
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        return parse_noting_ignored(body);
    }
    serde_html_form::from_bytes(body).map_err(|e| Error::with(Code::InvalidBody, e))
}

/// [`parse_form`]'s parse, logging (at debug) the parameters that no field takes: a mistyped
/// name (`Friendlyname`) is otherwise silently ignored, as Twilio ignores it.
fn parse_noting_ignored<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut ignored = Vec::new();
    let parsed =
        serde_ignored::deserialize(serde_html_form::Deserializer::from_bytes(body), |path| {
            ignored.push(path.to_string())
        })
        .map_err(|e| Error::with(Code::InvalidBody, e))?;
    if !ignored.is_empty() {
        tracing::debug!(parameters = ?ignored, "unknown parameters ignored");
    }
    Ok(parsed)
}

/// Reads a query string as `T`, as [`parse_form`] reads a body (`InvalidQuery` when malformed).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    if let Some(name) = first_non_utf8(query.as_bytes()) {
        return Err(Error::with(Code::NotUtf8, name));
    }
    serde_html_form::from_str(query).map_err(|e| Error::with(Code::InvalidQuery, e))
}

/// The name of the first parameter of a form (`a=1&b=2`) whose name or value, percent-decoded,
/// is not UTF-8, as far as it can be shown (lossily, at most 64 characters).
pub fn first_non_utf8(form: &[u8]) -> Option<String> {
    // ASCII without a percent escape is UTF-8: the common case costs one scan.
    if !form.iter().any(|&b| b == b'%' || !b.is_ascii()) {
        return None;
    }
    let is_text = |bytes: &[u8]| {
        percent_encoding::percent_decode(bytes)
            .decode_utf8()
            .is_ok()
    };
    form.split(|&b| b == b'&').find_map(|pair| {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        if is_text(name) && is_text(value) {
            return None;
        }
        let decoded: Vec<u8> = percent_encoding::percent_decode(name).collect();
        let shown = String::from_utf8_lossy(&decoded).replace('+', " ");
        Some(shown.chars().take(64).collect())
    })
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
        parse_query(parts.uri.query().unwrap_or_default()).map(TwilioQuery)
    }
}

/// For `#[serde(default, deserialize_with = "keep_empty")]`: a parameter sent empty (`State=`)
/// is `Some("")`, where plain `Option<String>` would read it as not sent. Use it where Twilio
/// answers an empty value differently from a missing one.
pub fn keep_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs = Vec<(String, String)>;

    #[test]
    fn text_parameters_are_read_as_sent() {
        let pairs: Pairs = parse_form(b"Identity=caf%C3%A9&Body=a+b%26c&Name=Zo\xc3\xab").unwrap();
        assert_eq!(
            pairs,
            [
                ("Identity".into(), "café".into()),
                ("Body".into(), "a b&c".into()),
                ("Name".into(), "Zoë".into()),
            ]
        );
        assert_eq!(first_non_utf8(b"PageSize=50&Page=0"), None);
        assert_eq!(first_non_utf8(b""), None);
    }

    #[test]
    fn parameters_that_are_not_utf8_are_named_and_refused() {
        for (form, name) in [
            (&b"Identity=%FF%FE"[..], "Identity"),
            (b"Identity=\xff", "Identity"),
            (b"Identity=%C0%AF", "Identity"),
            (b"Identity=%ED%A0%80", "Identity"),
            (b"Identity=caf\xe9", "Identity"),
            (b"Identity=%E2%82", "Identity"),
            (b"a=1&Friendly+Name=%E9t%E9", "Friendly Name"),
            (b"Ident%FFity=x", "Ident\u{FFFD}ity"),
        ] {
            assert_eq!(first_non_utf8(form).as_deref(), Some(name), "{form:?}");
            let err = parse_form::<Pairs>(form).unwrap_err();
            assert_eq!(err.code, Code::NotUtf8);
            let query = String::from_utf8_lossy(form);
            if query.is_ascii() {
                assert_eq!(
                    parse_query::<Pairs>(&query).unwrap_err().code,
                    Code::NotUtf8
                );
            }
        }
    }
}
