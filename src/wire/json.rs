//! JSON response bodies.
//!
//! Written by sonic-rs, through serde, not by serde_json: its string escaping checks 32 bytes
//! at a time with vector instructions where serde_json looks up a table byte by byte, and that
//! escaping was the largest single cost of a ParticipantConversations page (13% of its CPU;
//! with sonic-rs the page takes 13% less CPU).
//! The bytes are serde_json's: `same_bytes_as_serde_json` holds it to that.
//!
//! axum's `Json` serializes into a buffer that starts at 128 bytes and doubles as it fills, so
//! a list page of 17 KB was copied five times over while it was written (`memmove` was 6% of a
//! message page's CPU). Here each worker thread keeps one buffer that has grown to the largest
//! body it has written, serializes into it, and copies the finished body out once.
//!
//! Messages, conversations and ParticipantConversations rows (the longest lists, the most
//! common write and the most common read) write themselves ([`WriteJson`], with
//! [`ObjectWriter`], answered as [`Written`]): through serde each key of each row went through
//! the string escaper like user text, and that, with dates and URLs written through serde, was a
//! sixth of a list page's instructions. Their tests hold them to serde's bytes
//! (`assert_writes_as_serialized`, a test helper).

use std::cell::RefCell;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::time::Date;
use super::urls::Link;

/// A thread's buffer is given back to the allocator, rather than kept, past this size.
const KEEP_AT_MOST: usize = 1 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

/// Stored JSON text (a message's `media`, a conversation's `bindings`) written into a body as it
/// is. Not serde_json's `RawValue`: sonic-rs does not know that type's private marker and wrote
/// it as an object, `{"$serde_json::private::RawValue": "..."}` (serde_json, reading such a
/// body back, hides that), so this is sonic-rs's own raw type.
pub type RawJson<'a> = sonic_rs::LazyValue<'a>;

/// `text` as [`RawJson`], if it is one JSON value.
pub fn raw(text: &str) -> Option<RawJson<'_>> {
    sonic_rs::from_str(text).ok()
}

/// A `200 OK` (or, in a tuple, any status) with `value` serialized as the JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        body_response(to_bytes(&self.0))
    }
}

/// A body that writes its own JSON (with [`ObjectWriter`]) instead of going through serde.
pub trait WriteJson {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()>;
}

/// What a value wrote of itself, kept to be written again as it is: the rows of a page,
/// written while the store steps through them (`store::messages::list`).
#[derive(Debug)]
pub struct Prewritten(Vec<u8>);

impl Prewritten {
    pub fn of(value: &impl WriteJson) -> sonic_rs::Result<Self> {
        // A message is about 900 bytes.
        let mut out = Vec::with_capacity(1024);
        value.write_json(&mut out)?;
        Ok(Prewritten(out))
    }
}

impl WriteJson for Prewritten {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

/// Like [`Json`], for a body that writes itself.
#[derive(Debug, Clone, Copy)]
pub struct Written<T>(pub T);

impl<T: WriteJson> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        body_response(written_by(|out| self.0.write_json(out)))
    }
}

fn body_response(body: sonic_rs::Result<Bytes>) -> Response {
    match body {
        Ok(body) => (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a response body");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `value` as JSON, written through this thread's buffer.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> sonic_rs::Result<Bytes> {
    written_by(|buffer| sonic_rs::to_writer(buffer, value))
}

/// What `write` writes into this thread's buffer, as a body.
pub(crate) fn written_by(
    write: impl FnOnce(&mut Vec<u8>) -> sonic_rs::Result<()>,
) -> sonic_rs::Result<Bytes> {
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        let written = write(&mut *buffer).map(|()| Bytes::copy_from_slice(buffer));
        if buffer.capacity() > KEEP_AT_MOST {
            *buffer = Vec::with_capacity(4096);
        }
        written
    })
}

/// A JSON object written field by field, its keys as they are (the spec's snake_case names,
/// which need no escaping); string values are escaped by sonic-rs exactly as serde writes
/// them, and anything else can be written through serde with [`ObjectWriter::value`].
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &'static str) {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        // `,"key":` in one copy, from a stack buffer (keys are short): four growing writes
        // per key were a twelfth of a message page's instructions.
        let mut framed = [0u8; 64];
        let start = usize::from(self.first);
        let end = key.len() + 4;
        if end > framed.len() {
            return self.long_key(key);
        }
        framed[0] = b',';
        framed[1] = b'"';
        framed[2..key.len() + 2].copy_from_slice(key.as_bytes());
        framed[key.len() + 2..end].copy_from_slice(b"\":");
        self.out.extend_from_slice(&framed[start..end]);
        self.first = false;
    }

    #[cold]
    fn long_key(&mut self, key: &'static str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        escaped(self.out, value);
    }

    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    pub fn null(&mut self, key: &'static str) {
        self.key(key);
        self.out.extend_from_slice(b"null");
    }

    pub fn i64(&mut self, key: &'static str, value: i64) {
        self.key(key);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// A stored date, `2015-12-16T22:18:37Z`.
    pub fn date(&mut self, key: &'static str, value: Date) -> sonic_rs::Result<()> {
        match value.ascii() {
            Some(ascii) => {
                self.key(key);
                // Digits and separators: nothing to escape.
                self.out.push(b'"');
                self.out.extend_from_slice(&ascii);
                self.out.push(b'"');
                Ok(())
            }
            None => self.value(key, &value),
        }
    }

    /// An absolute URL.
    pub fn link<const N: usize>(&mut self, key: &'static str, value: &Link<'_, N>) {
        self.key(key);
        value.write_json(self.out);
    }

    /// Stored JSON text as it is, or `null`.
    pub fn raw(&mut self, key: &'static str, value: Option<&RawJson<'_>>) {
        match value {
            Some(v) => {
                self.key(key);
                self.out.extend_from_slice(v.as_raw_str().as_bytes());
            }
            None => self.null(key),
        }
    }

    /// Any other value, through serde.
    pub fn value<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> sonic_rs::Result<()> {
        self.key(key);
        sonic_rs::to_writer(&mut *self.out, value)
    }

    /// A value that writes itself.
    pub fn written<T: WriteJson + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> sonic_rs::Result<()> {
        self.key(key);
        value.write_json(self.out)
    }

    /// A nested object; end it before writing on here.
    pub fn object(&mut self, key: &'static str) -> ObjectWriter<'_> {
        self.key(key);
        ObjectWriter::begin(self.out)
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// `value` as a JSON string, escaped as serde writes it.
pub(crate) fn escaped(out: &mut Vec<u8>, value: &str) {
    use serde::Serializer as _;
    // Writing into a Vec cannot fail.
    let _ = (&mut sonic_rs::Serializer::new(out)).serialize_str(value);
}

/// Asserts that `value` writes itself as the very bytes serde writes for it, and that those are
/// JSON: what every hand-written view is held to.
#[cfg(test)]
pub fn assert_writes_as_serialized<T: WriteJson + Serialize>(value: &T) {
    let by_hand = written_by(|out| value.write_json(out)).unwrap();
    let by_serde = to_bytes(value).unwrap();
    assert_eq!(
        std::str::from_utf8(&by_hand).unwrap(),
        std::str::from_utf8(&by_serde).unwrap()
    );
    serde_json::from_slice::<serde_json::Value>(&by_hand).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_json_is_written_as_it_is() {
        #[derive(Serialize)]
        struct View<'a> {
            media: Option<RawJson<'a>>,
            bindings: RawJson<'a>,
        }
        let media = r#"[{"sid": "ME0", "size": 3}]"#;
        let view = View {
            media: raw(media),
            bindings: raw("{}").unwrap(),
        };
        assert_eq!(
            &to_bytes(&view).unwrap()[..],
            br#"{"media":[{"sid": "ME0", "size": 3}],"bindings":{}}"#
        );
        assert!(raw("{not json").is_none());
        assert!(raw("[1] [2]").is_none());
    }

    #[test]
    fn objects_written_by_hand_frame_their_keys() {
        let long = "a_key_longer_than_the_stack_buffer_that_frames_the_short_ones_x";
        let written = written_by(|out| {
            let mut o = ObjectWriter::begin(out);
            o.i64("first", 1);
            o.str(long, "v");
            o.null("last");
            o.object("empty").end();
            o.end();
            Ok(())
        })
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&written).unwrap(),
            format!(r#"{{"first":1,"{long}":"v","last":null,"empty":{{}}}}"#)
        );
    }

    #[test]
    fn bodies_are_whole_and_independent() {
        let big = to_bytes(&vec!["x".repeat(1000); 100]).unwrap();
        let small = to_bytes(&serde_json::json!({"a": "b\"c"})).unwrap();
        assert_eq!(&small[..], br#"{"a":"b\"c"}"#);
        let parsed: Vec<String> = serde_json::from_slice(&big).unwrap();
        assert_eq!(parsed.len(), 100);
        assert!(parsed.iter().all(|s| s.len() == 1000));
    }

    /// Every string an API user can store (attributes, bodies, names) comes back out through
    /// here, so its escaping must be serde_json's to the byte: control characters, quotes,
    /// backslashes, slashes, non-ASCII, the line separators JavaScript minds, long runs.
    #[test]
    fn same_bytes_as_serde_json() {
        let mut strings: Vec<String> = (0u8..0x80).map(|b| (b as char).to_string()).collect();
        strings.extend(
            [
                "",
                "plain",
                "quote \" and backslash \\ and slash /",
                "tab\tnew\nline\rcarriage \u{8}\u{c}",
                "\u{7f}\u{80}\u{2028}\u{2029}\u{feff} é 中文 😀",
                r#"{"a":[1,2,{"b":"c"}]}"#,
            ]
            .map(String::from),
        );
        strings.push("0123456789abcdef\"".repeat(40));
        strings.push("x".repeat(31) + "\u{1}" + &"y".repeat(33));
        let value = serde_json::json!({
            "strings": strings,
            "numbers": [0, -1, i64::MIN, u64::MAX, 1.5, -0.25, 1e21, 1e-7],
            "nested": {"null": null, "true": true, "empty": {}, "list": []},
        });
        assert_eq!(
            std::str::from_utf8(&to_bytes(&value).unwrap()).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        for s in &strings {
            assert_eq!(
                to_bytes(s).unwrap(),
                serde_json::to_vec(s).unwrap(),
                "{s:?}"
            );
        }
    }
}
