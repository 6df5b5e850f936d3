//! Validation of the parameter kinds that many operations share. Each function names the bad
//! parameter and answers with the Twilio code the caller passes in, so that one resource's
//! `Attributes` fail with its own code.

use axum::http::{HeaderMap, HeaderName};

use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid};
use crate::wire::time::{parse_date, parse_duration};

/// `Attributes`: a string that must hold valid JSON, stored verbatim, at most `max_bytes`.
pub fn attributes(value: Option<&str>, max_bytes: usize) -> Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if value.len() > max_bytes {
        return Err(Error::with(
            Code::AttributesTooLong,
            format!("limit is {max_bytes} bytes"),
        ));
    }
    serde_json::from_str::<serde_json::Value>(value)
        .map_err(|_| Error::new(Code::AttributesNotJson))?;
    Ok(Some(value.to_string()))
}

/// A date-time parameter (`DateCreated`, `LastReadTimestamp`...), to whole seconds.
pub fn date(name: &str, value: Option<&str>, code: Code) -> Result<Option<i64>> {
    value
        .map(|v| parse_date(v).ok_or_else(|| refused(code, name, format!("'{v}' is not a date"))))
        .transpose()
}

/// An ISO-8601 duration parameter, to seconds: days or smaller units, unsigned, at most
/// [`MAX_DURATION_SECS`](crate::wire::time::MAX_DURATION_SECS).
pub fn duration(name: &str, value: Option<&str>, code: Code) -> Result<Option<i64>> {
    value
        .map(|v| {
            parse_duration(v).ok_or_else(|| {
                refused(
                    code,
                    name,
                    format!("'{v}' is not an ISO-8601 duration of days or smaller units from PT0S to P365000D"),
                )
            })
        })
        .transpose()
}

/// A SID parameter of a known kind (`RoleSid`, `MessagingServiceSid`...).
pub fn sid(name: &str, value: Option<&str>, prefix: Prefix, code: Code) -> Result<Option<String>> {
    match value {
        Some(v) if !is_sid(prefix, v) => Err(refused(code, name, format!("'{v}' is not a SID"))),
        other => Ok(other.map(str::to_string)),
    }
}

/// One of a closed set of values (`State`, `Type`, `Order`...), case as the spec spells them.
pub fn one_of<'a>(
    name: &str,
    value: Option<&str>,
    allowed: &[&'a str],
    code: Code,
) -> Result<Option<&'a str>> {
    let Some(value) = value else { return Ok(None) };
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .map(Some)
        .ok_or_else(|| {
            let expected = allowed.join(", ");
            refused(
                code,
                name,
                format!("'{value}', expected one of: {expected}"),
            )
        })
}

/// The error `code` for the parameter `name`, with what is wrong with it.
pub fn refused(code: Code, name: &str, detail: impl std::fmt::Display) -> Error {
    Error::with(code, format!("{name}: {detail}"))
}

/// `true` / `false`, as Twilio's SDKs serialize booleans.
pub fn boolean(name: &str, value: Option<&str>) -> Result<Option<bool>> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Error::invalid(
            name,
            format!("'{other}' is not true or false"),
        )),
    }
}

/// A whole number parameter.
pub fn integer(name: &str, value: Option<&str>, code: Code) -> Result<Option<i64>> {
    value
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| refused(code, name, format!("'{v}' is not a whole number")))
        })
        .transpose()
}

/// A text parameter with a length limit (in characters).
pub fn text(
    name: &str,
    value: Option<&str>,
    max_chars: usize,
    code: Code,
) -> Result<Option<String>> {
    match value {
        Some(v) if v.chars().count() > max_chars => Err(refused(
            code,
            name,
            format!("limit is {max_chars} characters"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

/// Named once: `HeaderMap::get` with a `&str` parses and checks the name on every call, and
/// every `/v1` request asks for this header.
const X_TWILIO_WEBHOOK_ENABLED: HeaderName = HeaderName::from_static("x-twilio-webhook-enabled");

/// `X-Twilio-Webhook-Enabled: true`: REST actions fire webhooks only when it is present
/// (twilio-behavior.md 17.3). Any other value counts as false.
pub fn webhooks_enabled(headers: &HeaderMap) -> bool {
    headers
        .get(X_TWILIO_WEBHOOK_ENABLED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// One of a conversation's timers (twilio-behavior.md 8.2): an ISO-8601 duration of days or smaller
/// units, at least `min_secs` unless it is zero (`PT0S` disables it). The account's default
/// timers become conversations' own, so they follow the same rules and codes.
pub struct TimerRule {
    format_code: Code,
    min_secs: i64,
    min_code: Code,
}

pub const INACTIVE_TIMER: TimerRule = TimerRule {
    format_code: Code::InvalidInactiveTimer,
    min_secs: 60,
    min_code: Code::InactiveTimerTooShort,
};

pub const CLOSED_TIMER: TimerRule = TimerRule {
    format_code: Code::InvalidClosedTimer,
    min_secs: 600,
    min_code: Code::ClosedTimerTooShort,
};

impl TimerRule {
    /// The timer in seconds, once checked; `name` is the parameter that carried it.
    pub fn check(&self, name: &str, value: Option<&str>) -> Result<Option<i64>> {
        let secs = duration(name, value, self.format_code)?;
        if secs.is_some_and(|s| s > 0 && s < self.min_secs) {
            return Err(refused(self.min_code, name, value.unwrap_or_default()));
        }
        Ok(secs)
    }
}
