//! Media, as Twilio's Media Content Service (MCS, `https://mcs.us1.twilio.com/v1`) serves it,
//! so that `MediaSid` names real media (twilio-behavior.md 14.2): `POST /v1/Services/{IS}/Media` with
//! the raw file as the body and its `Content-Type`, `GET .../Media/{ME}` for its metadata and
//! `GET .../Media/{ME}/Content` for its bytes. Basic auth as everywhere.

use crate::wire::json::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::media::{self, NewMedia};
use crate::error::{Code, Error, Result};
use crate::store::media::MediaRow;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;

/// The largest upload: 5 MB, the media limit of an MMS (Twilio documents no MCS limit of its
/// own for REST uploads). Larger is refused with `MediaTooLarge`.
pub const MAX_MEDIA_BYTES: usize = 5 * 1024 * 1024;

pub fn render(row: &MediaRow, urls: &Urls) -> Value {
    let url = urls.scoped(&format!("Media/{}", row.sid));
    json!({
        "sid": row.sid,
        "account_sid": row.account_sid,
        "service_sid": row.service_sid,
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "channel_sid": row.channel_sid,
        "message_sid": row.message_sid,
        "size": row.size,
        "content_type": row.content_type,
        "filename": row.filename,
        "author": row.author,
        "links": {"content": format!("{url}/Content")},
        "url": url,
    })
}

/// The upload's `Content-Type`, which must be a `type/subtype` media type (`InvalidMediaType`
/// otherwise).
fn content_type(headers: &HeaderMap) -> Result<String> {
    let value = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| {
            Error::with(
                Code::InvalidMediaType,
                "send the file's media type in Content-Type (image/png, say)",
            )
        })?;
    media_type(value)
}

/// `value` if it is a well-formed `type/subtype` media type (`InvalidMediaType` otherwise).
fn media_type(value: &str) -> Result<String> {
    let invalid = || Error::new(Code::InvalidMediaType);
    let essence = value.split(';').next().unwrap_or_default().trim();
    let well_formed = essence.split_once('/').is_some_and(|(kind, subtype)| {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        token(kind) && token(subtype)
    });
    if !well_formed {
        return Err(invalid());
    }
    Ok(value.to_string())
}

/// The file name from a `Content-Disposition: attachment; filename="car.jpg"` header, if sent
/// (`filename*=UTF-8''...` preferred over `filename=`, as RFC 6266 says).
fn filename(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_DISPOSITION)?.to_str().ok()?;
    let mut plain = None;
    for part in value.split(';').map(str::trim) {
        let Some((name, v)) = part.split_once('=') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let encoded = v.trim().split_once("''").map_or(v.trim(), |(_, rest)| rest);
                if let Ok(decoded) = percent_encoding::percent_decode_str(encoded).decode_utf8() {
                    return Some(decoded.into_owned()).filter(|f| !f.is_empty());
                }
            }
            "filename" => plain = Some(v.trim().trim_matches('"').to_string()),
            _ => {}
        }
    }
    plain.filter(|f| !f.is_empty())
}

/// The upload's bytes, up to `limit`.
async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if crate::edge::is_length_limit(&e) {
            Error::with(
                Code::MediaTooLarge,
                format!("the limit is {MAX_MEDIA_BYTES} bytes"),
            )
        } else {
            // The client went away, or the body did not arrive in time.
            Error::with(Code::InvalidBody, e)
        }
    })?;
    if bytes.is_empty() {
        return Err(Error::with(Code::InvalidBody, "the media file is empty"));
    }
    Ok(bytes)
}

#[derive(Deserialize)]
pub struct MediaPath {
    media: String,
}

/// What an upload carries: the file as the raw body, with its type in `Content-Type` (as
/// Twilio's documentation uploads it, `curl --data-binary @car.jpg -H 'Content-Type:
/// image/jpeg'`), or a `multipart/form-data` body with one file part (`curl -F media=@car.jpg`,
/// a browser's form). A form-encoded body is refused: it is what `curl --data-binary` sends
/// without `-H 'Content-Type: ...'`, and storing it would store the file under a type it is not.
async fn upload(headers: &HeaderMap, body: Body) -> Result<NewMedia> {
    let declared = content_type(headers)?;
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Err(Error::with(
            Code::InvalidMediaType,
            "application/x-www-form-urlencoded is not a media type: send the file's own type \
             in Content-Type (curl: --data-binary @car.jpg -H 'Content-Type: image/jpeg'), or \
             the file as multipart/form-data (curl -F media=@car.jpg)",
        )),
        "multipart/form-data" => from_multipart(&declared, body).await,
        _ => Ok(NewMedia {
            content_type: declared,
            filename: filename(headers),
            content: read_body(body, MAX_MEDIA_BYTES).await?.to_vec(),
        }),
    }
}

/// The room a multipart body's envelope (boundaries, part headers) may take beside the file.
const MULTIPART_ENVELOPE_BYTES: usize = 64 * 1024;

/// The largest body the media route reads: a file of [`MAX_MEDIA_BYTES`] in its multipart
/// envelope.
pub const MAX_UPLOAD_BYTES: usize = MAX_MEDIA_BYTES + MULTIPART_ENVELOPE_BYTES;

/// The one file of a `multipart/form-data` upload: the part with a file name, or the only part;
/// its type from the part's `Content-Type` (`application/octet-stream` when it has none, as
/// RFC 7578 says a file part defaults to).
async fn from_multipart(declared: &str, body: Body) -> Result<NewMedia> {
    let malformed =
        |e: multer::Error| Error::with(Code::InvalidBody, format!("multipart body: {e}"));
    let boundary = multer::parse_boundary(declared).map_err(malformed)?;
    let bytes = read_body(body, MAX_UPLOAD_BYTES).await?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut files = Vec::new();
    while let Some(part) = parts.next_field().await.map_err(malformed)? {
        let filename = part
            .file_name()
            .map(str::to_string)
            .filter(|f| !f.is_empty());
        let content_type = part.content_type().map(|m| m.to_string());
        let content = part.bytes().await.map_err(malformed)?;
        files.push((filename, content_type, content));
    }
    let named = files.iter().filter(|(name, ..)| name.is_some()).count();
    let file = match (named, files.len()) {
        (1, _) => files.into_iter().find(|(name, ..)| name.is_some()),
        (0, 1) => files.pop(),
        _ => None,
    };
    let Some((filename, content_type, content)) = file else {
        return Err(Error::with(
            Code::InvalidBody,
            "a multipart upload carries one file (one part with a filename)",
        ));
    };
    if content.len() > MAX_MEDIA_BYTES {
        return Err(Error::with(
            Code::MediaTooLarge,
            format!("the limit is {MAX_MEDIA_BYTES} bytes"),
        ));
    }
    if content.is_empty() {
        return Err(Error::with(Code::InvalidBody, "the media file is empty"));
    }
    let content_type = media_type(
        content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    )?;
    Ok(NewMedia {
        content_type,
        filename,
        content: content.to_vec(),
    })
}

/// Media upload (MCS): POST /v1/Services/{ChatServiceSid}/Media
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let new = upload(&headers, body).await?;
    let row = media::create(&app.store, scope.tenant(), new).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// Media metadata (MCS): GET /v1/Services/{ChatServiceSid}/Media/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MediaPath>,
) -> Result<Json<Value>> {
    let row = media::fetch(&app.store, scope.tenant(), p.media).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// Media content (MCS): GET /v1/Services/{ChatServiceSid}/Media/{Sid}/Content, the bytes as
/// uploaded, with their content type and file name.
pub async fn content(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<MediaPath>,
) -> Result<Response> {
    let (row, bytes) = media::content(&app.store, scope.tenant(), p.media).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&row.content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    if let Some(value) = row.filename.as_deref().and_then(disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `inline; filename="car.jpg"`, or the RFC 5987 form for names that plain quoting cannot carry.
fn disposition(name: &str) -> Option<HeaderValue> {
    let plain = name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    let value = if plain {
        format!("inline; filename=\"{name}\"")
    } else {
        format!(
            "inline; filename*=UTF-8''{}",
            crate::wire::urls::encode(name)
        )
    };
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn content_type_must_be_a_media_type() {
        for good in [
            "image/jpeg",
            "text/plain; charset=utf-8",
            "application/vnd.ms-excel",
        ] {
            assert_eq!(
                content_type(&headers(&[("content-type", good)])).unwrap(),
                good
            );
        }
        for bad in ["", "image", "/jpeg", "image/", "ima ge/jpeg"] {
            let err = content_type(&headers(&[("content-type", bad)])).unwrap_err();
            assert_eq!(err.code, Code::InvalidMediaType, "{bad}");
        }
        assert_eq!(
            content_type(&HeaderMap::new()).unwrap_err().code,
            Code::InvalidMediaType
        );
    }

    #[test]
    fn filename_comes_from_content_disposition() {
        let name = |v: &str| filename(&headers(&[("content-disposition", v)]));
        assert_eq!(
            name("attachment; filename=\"car.jpg\""),
            Some("car.jpg".into())
        );
        assert_eq!(name("inline; filename=car.jpg"), Some("car.jpg".into()));
        assert_eq!(
            name("attachment; filename=\"x.jpg\"; filename*=UTF-8''caf%C3%A9.jpg"),
            Some("café.jpg".into())
        );
        assert_eq!(name("attachment"), None);
        assert_eq!(filename(&HeaderMap::new()), None);
    }

    #[test]
    fn content_disposition_carries_any_filename() {
        assert_eq!(
            disposition("car.jpg").unwrap(),
            "inline; filename=\"car.jpg\""
        );
        assert_eq!(
            disposition("café \"1\".jpg").unwrap(),
            "inline; filename*=UTF-8''caf%C3%A9%20%221%22%2Ejpg"
        );
    }
}
