//! Fetching the media an inbound message points at (`MediaUrl0..N`), as Twilio fetches an
//! MMS's media from the carrier: with a short timeout and a size limit, so that a slow or huge
//! URL cannot hold a request or the server's memory. A failure is `MediaRetrievalFailed`
//! (Twilio's 11200, "HTTP retrieval failure"), naming the URL and why.

use std::sync::LazyLock;
use std::time::Duration;

use crate::error::{Code, Error, Result};

/// How long one URL may take, connecting and reading included: Twilio's webhook timeout.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most one item may weigh: 5 MB, as an upload to the media service (`api/media.rs`) and
/// Twilio's MMS media.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Redirects followed (media URLs often redirect to a storage bucket).
const MAX_REDIRECTS: usize = 5;

/// The client for media: its own, since webhooks follow no redirects.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent("TwilioProxy/1.1")
        .build()
        .expect("the HTTP client builds")
});

/// What a URL answered.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The answer's `Content-Type`, without parameters, when it is `type/subtype`.
    pub content_type: Option<String>,
    pub content: Vec<u8>,
}

fn failed(url: &str, why: impl std::fmt::Display) -> Error {
    Error::with(Code::MediaRetrievalFailed, format!("{url}: {why}"))
}

/// The `type/subtype` of a `Content-Type` header, if it has one.
fn media_type(header: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    let value = header?.to_str().ok()?;
    let essence = value.split(';').next()?.trim();
    essence
        .split_once('/')
        .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
        .then(|| essence.to_ascii_lowercase())
}

/// Fetches `url` (http or https): a 2xx answer of at most [`MAX_BYTES`], within [`TIMEOUT`].
pub async fn media(url: &str) -> Result<Fetched> {
    let parsed = reqwest::Url::parse(url).map_err(|e| failed(url, e))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(failed(url, "only http and https URLs are fetched"));
    }
    let mut response = CLIENT
        .get(parsed)
        .send()
        .await
        .map_err(|e| failed(url, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(url, format!("answered {}", status.as_u16())));
    }
    let too_large = || failed(url, format!("larger than {MAX_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BYTES as u64)
    {
        return Err(too_large());
    }
    let content_type = media_type(response.headers().get(reqwest::header::CONTENT_TYPE));
    let mut content = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(url, e))? {
        if content.len() + chunk.len() > MAX_BYTES {
            return Err(too_large());
        }
        content.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        content_type,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn content_types_keep_their_essence() {
        let header = |v: &'static str| Some(HeaderValue::from_static(v));
        assert_eq!(
            media_type(header("Image/PNG; charset=binary").as_ref()).as_deref(),
            Some("image/png")
        );
        assert_eq!(media_type(header("png").as_ref()), None);
        assert_eq!(media_type(None), None);
    }

    #[tokio::test]
    async fn only_http_urls_are_fetched() {
        let e = media("file:///etc/passwd").await.unwrap_err();
        assert_eq!(e.code, Code::MediaRetrievalFailed);
        let e = media("not a url").await.unwrap_err();
        assert_eq!(e.code, Code::MediaRetrievalFailed);
    }
}
