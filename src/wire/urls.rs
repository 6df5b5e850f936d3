//! Absolute URLs, built from the address the client used (or `--public-url`), so that the SDKs,
//! which follow `url`, `links` and `meta.next_page_url` verbatim, come back here.

use std::fmt;

use axum::http::header::HOST;
use axum::http::{HeaderMap, HeaderName};
use serde::{Serialize, Serializer};

/// Named once: `HeaderMap::get` with a `&str` parses and checks the name on every call.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The base of every absolute URL in one response, and the family of the request:
/// `/v1` (the account's default service) or `/v1/Services/IS...`.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `scheme://host[:port]`, without a trailing slash.
    pub base: String,
    /// `/v1` or `/v1/Services/IS...`.
    pub prefix: String,
    /// Whether `base` and `prefix` hold no character a JSON string escapes (the `Host` header
    /// is the client's), so that links can be written into a body as they are. Set by `new`;
    /// nothing changes `base` or `prefix` after.
    json_plain: bool,
}

impl Urls {
    pub fn from_request(public_url: Option<&str>, headers: &HeaderMap, prefix: String) -> Self {
        let base = match public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host = headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                let scheme = headers
                    .get(X_FORWARDED_PROTO)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("http");
                format!("{scheme}://{host}")
            }
        };
        Self::new(base, prefix)
    }

    pub fn new(base: String, prefix: String) -> Self {
        let json_plain = !needs_json_escaping(&base) && !needs_json_escaping(&prefix);
        Self {
            base,
            prefix,
            json_plain,
        }
    }

    /// A URL inside the request's family: `scoped("Conversations/CH...")`.
    pub fn scoped(&self, path: &str) -> String {
        format!("{}{}/{}", self.base, self.prefix, path)
    }

    /// The same URL as `scoped`, from its path segments, written only when it is serialized:
    /// `link(["Conversations", sid, "Messages"])`. Rows render three to five URLs each; a
    /// `format!` for every one was a visible share of a list page's CPU. The segments are
    /// SIDs and fixed names (anything else would need percent-encoding first, see [`encode`]),
    /// so they never need JSON escaping.
    pub fn link<'a, const N: usize>(&'a self, segments: [&'a str; N]) -> Link<'a, N> {
        Link {
            urls: self,
            segments,
        }
    }

    /// A URL at the account level, whatever the family: `v1("Services/IS...")`.
    pub fn v1(&self, path: &str) -> String {
        format!("{}/v1/{}", self.base, path)
    }

    /// Whether the request came in under `/v1/Services/{sid}/...`; some resources then carry
    /// `chat_service_sid` where their default-service form does not (the spec's schemas).
    pub fn is_service_scoped(&self) -> bool {
        self.prefix != "/v1"
    }
}

/// An absolute URL inside the request's family, as `Urls::link` makes it.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a, const N: usize> {
    urls: &'a Urls,
    segments: [&'a str; N],
}

impl<const N: usize> Link<'_, N> {
    /// The whole URL, in a string of exactly its length.
    fn joined(&self) -> String {
        let len = self.urls.base.len()
            + self.urls.prefix.len()
            + self.segments.iter().map(|s| s.len() + 1).sum::<usize>();
        let mut url = String::with_capacity(len);
        url.push_str(&self.urls.base);
        url.push_str(&self.urls.prefix);
        for segment in self.segments {
            url.push('/');
            url.push_str(segment);
        }
        url
    }

    /// Writes the URL as a JSON string, the same bytes as serializing it, without joining it
    /// first. Only the base (the `Host` header or `--public-url`) can hold a character JSON
    /// escapes; then the URL is joined and escaped like any other string.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        debug_assert!(!self.segments.iter().any(|s| needs_json_escaping(s)));
        if !self.urls.json_plain {
            super::json::escaped(out, &self.joined());
            return;
        }
        out.push(b'"');
        out.extend_from_slice(self.urls.base.as_bytes());
        out.extend_from_slice(self.urls.prefix.as_bytes());
        for segment in self.segments {
            out.push(b'/');
            out.extend_from_slice(segment.as_bytes());
        }
        out.push(b'"');
    }
}

/// Whether serde would escape anything in `s` (quotes, backslashes, control characters).
fn needs_json_escaping(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

impl<const N: usize> fmt::Display for Link<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined())
    }
}

impl<const N: usize> Serialize for Link<'_, N> {
    /// Joined first and written as one string: through `collect_str` each of the URL's pieces
    /// went through the JSON escaper on its own.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.joined())
    }
}

/// Percent-encodes one path segment or query value (identities and unique names in URLs).
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_the_scoped_urls() {
        for prefix in ["/v1", "/v1/Services/IS00000000000000000000000000000000"] {
            let urls = Urls::new("http://localhost:8080".into(), prefix.into());
            let link = urls.link(["Conversations", "CH1", "Messages", "IM2"]);
            assert_eq!(
                link.to_string(),
                urls.scoped("Conversations/CH1/Messages/IM2")
            );
            assert_eq!(
                serde_json::to_value(link).unwrap(),
                serde_json::Value::String(urls.scoped("Conversations/CH1/Messages/IM2"))
            );
        }
    }
}
