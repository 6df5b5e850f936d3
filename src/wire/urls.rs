//! Absolute URLs, built from the address the client used (or `--public-url`), so that the SDKs,
//! which follow `url`, `links` and `meta.next_page_url` verbatim, come back here.

use axum::http::HeaderMap;
use axum::http::header::HOST;

/// The base of every absolute URL in one response, and the family of the request:
/// `/v1` (the account's default service) or `/v1/Services/IS...`.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `scheme://host[:port]`, without a trailing slash.
    pub base: String,
    /// `/v1` or `/v1/Services/IS...`.
    pub prefix: String,
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
                    .get("x-forwarded-proto")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("http");
                format!("{scheme}://{host}")
            }
        };
        Self { base, prefix }
    }

    /// A URL inside the request's family: `scoped("Conversations/CH...")`.
    pub fn scoped(&self, path: &str) -> String {
        format!("{}{}/{}", self.base, self.prefix, path)
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

/// Percent-encodes one path segment or query value (identities and unique names in URLs).
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
