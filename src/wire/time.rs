//! Dates and durations as Twilio writes and reads them.
//!
//! Dates are stored as whole seconds since the epoch and written as ISO-8601 UTC without
//! fractional seconds (`2015-12-16T22:18:37Z`). Durations are ISO-8601 (`PT10M`, `P1D`).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

/// A stored date as the wire writes it, `2015-12-16T22:18:37Z`, written straight into the
/// response body: a `String` per date field (through chrono's formatter) was a visible share of
/// a list page's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub i64);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A timestamp chrono cannot represent is written as the epoch, as before.
        let at = DateTime::<Utc>::from_timestamp(self.0, 0).unwrap_or_default();
        match Date(at.timestamp()).ascii() {
            Some(ascii) => f.write_str(std::str::from_utf8(&ascii).unwrap_or_default()),
            // Outside RFC 3339's four-digit years, chrono's own spelling, as before.
            None => f.write_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

impl Date {
    /// The wire spelling in a stack buffer, digit by digit: through `fmt` (`write!` with
    /// padded integers) the two dates of every row were a visible share of a list page's CPU,
    /// and so was chrono's calendar arithmetic (4% of a ParticipantConversations page), hence
    /// [`civil_from_days`]. `None` outside years 0 to 9999, which `Display` spells as chrono
    /// does.
    pub(crate) fn ascii(&self) -> Option<[u8; 20]> {
        // Rows written together share their dates (a message's two dates are one, and a page
        // of messages often spans a few seconds): the last date this thread spelled is kept.
        thread_local! {
            static LAST: std::cell::Cell<(i64, [u8; 20])> =
                const { std::cell::Cell::new((0, *b"1970-01-01T00:00:00Z")) };
        }
        let (last, spelled) = LAST.get();
        if last == self.0 {
            return Some(spelled);
        }
        let spelled = self.spell()?;
        LAST.set((self.0, spelled));
        Some(spelled)
    }

    /// [`Date::ascii`] without the last date kept.
    fn spell(&self) -> Option<[u8; 20]> {
        let (days, second_of_day) = (self.0.div_euclid(86_400), self.0.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
        let second_of_day = second_of_day as u32; // 0..86_400
        let mut out = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, value: u32, digits: usize| {
            let mut value = value;
            for i in (0..digits).rev() {
                out[at + i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, year, 4);
        put(5, month, 2);
        put(8, day, 2);
        put(11, second_of_day / 3600, 2);
        put(14, second_of_day / 60 % 60, 2);
        put(17, second_of_day % 60, 2);
        Some(out)
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01: Howard
/// Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), which
/// counts in 400-year eras starting on March 1st so that the leap day ends each year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11, March first
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.ascii() {
            // Only ASCII digits and separators were written.
            Some(ascii) => {
                serializer.serialize_str(std::str::from_utf8(&ascii).unwrap_or_default())
            }
            None => serializer.collect_str(self),
        }
    }
}

/// `2015-12-16T22:18:37Z`.
pub fn format_date(secs: i64) -> String {
    Date(secs).to_string()
}

/// Serializes seconds since the epoch as [`format_date`] writes them (`#[serde(serialize_with)]`).
pub fn serialize_date<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_date(*secs))
}

pub fn format_opt_date(secs: Option<i64>) -> Option<String> {
    secs.map(format_date)
}

/// Parses an ISO-8601 / RFC 3339 date-time (any offset, optional fraction) to whole seconds.
/// A bare date (`2024-01-31`) means its midnight UTC, as the list filters document.
pub fn parse_date(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp());
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(dt.and_utc().timestamp());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp())
}

/// The longest duration confab reads: 365,000 days (about 1,000 years). Added to any date a
/// conversation can have, a timer stays a date of four-digit years, as the wire writes them;
/// anything longer (and anything that would overflow) is refused, never wrapped.
pub const MAX_DURATION_SECS: i64 = 365_000 * 86_400;

/// Parses an ISO-8601 duration of days or smaller units (`P1D`, `PT5H`, `PT90S`, `P1DT2H`) to
/// seconds. Years, months and weeks are refused, as Twilio's timers refuse them; so are signs
/// (`P-1D`, `P+1D`), fractions, and anything over [`MAX_DURATION_SECS`].
pub fn parse_duration(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    // Whole numbers in ASCII digits only (`str::parse` would take a sign), within range.
    let number = |digits: &str, scale: i64| -> Option<i64> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i64>().ok()?.checked_mul(scale)
    };
    let mut total = 0i64;
    let mut seen_unit = false;
    if !days.is_empty() {
        total = number(days.strip_suffix('D')?, 86_400)?;
        seen_unit = true;
    }
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        let mut digits_from = 0;
        let mut last_unit = 0;
        for (at, c) in time.char_indices() {
            if c.is_ascii_digit() {
                continue;
            }
            let (rank, scale) = match c {
                'H' => (1, 3600),
                'M' => (2, 60),
                'S' => (3, 1),
                _ => return None,
            };
            if rank <= last_unit {
                return None;
            }
            total = total.checked_add(number(&time[digits_from..at], scale)?)?;
            digits_from = at + 1;
            last_unit = rank;
            seen_unit = true;
        }
        if digits_from != time.len() {
            return None;
        }
    }
    seen_unit
        .then_some(total)
        .filter(|t| *t <= MAX_DURATION_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_in_twilio_format() {
        assert_eq!(format_date(1450304317), "2015-12-16T22:18:37Z");
        assert_eq!(parse_date("2015-12-16T22:18:37Z"), Some(1450304317));
        assert_eq!(
            parse_date("2015-12-16T22:18:37.123+00:00"),
            Some(1450304317)
        );
        assert_eq!(parse_date("2015-12-16T23:18:37+01:00"), Some(1450304317));
        assert_eq!(parse_date("2015-12-16"), Some(1450224000));
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn dates_print_as_chrono_prints_rfc3339() {
        for secs in [
            0,
            1,
            -1,
            1450304317,
            951_782_400, // 2000-02-29
            253_402_300_799,
            253_402_300_800,
            -62_167_219_200,
            -62_167_219_201,
            i64::MAX,
        ] {
            let chrono = DateTime::<Utc>::from_timestamp(secs, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            assert_eq!(format_date(secs), chrono, "{secs}");
            assert_eq!(
                serde_json::to_value(Date(secs)).unwrap(),
                serde_json::Value::String(chrono)
            );
        }
    }

    /// The kept date answers only for its own second.
    #[test]
    fn the_last_date_kept_is_spelled_as_any_other() {
        for secs in [1450304317, 1450304317, 1450304318, 0, 0, 1450304317, -1, 0] {
            assert_eq!(Date(secs).ascii(), Date(secs).spell(), "{secs}");
            assert_eq!(format_date(secs), Date(secs).to_string(), "{secs}");
        }
    }

    /// Every day of years 0 to 9999 at some time of day (a stride just short of a day moves
    /// the time of day as it goes), and every second around the edges of that range.
    #[test]
    fn the_calendar_is_chronos_across_the_whole_range() {
        let first = -62_167_219_200; // 0000-01-01T00:00:00Z
        let last = 253_402_300_799; // 9999-12-31T23:59:59Z
        let mut secs = first;
        while secs <= last {
            let chrono = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let ascii = Date(secs).ascii().expect("in range");
            assert_eq!(
                std::str::from_utf8(&ascii).unwrap(),
                chrono.to_rfc3339_opts(SecondsFormat::Secs, true),
                "{secs}"
            );
            secs += 86_399;
        }
        for edge in [first, last + 1] {
            for secs in edge - 2..edge + 2 {
                let in_range = (first..=last).contains(&secs);
                assert_eq!(Date(secs).ascii().is_some(), in_range, "{secs}");
            }
        }
    }

    #[test]
    fn durations_accept_days_and_smaller_only() {
        for (text, secs) in [
            ("PT1M", 60),
            ("PT10M", 600),
            ("P1D", 86_400),
            ("PT90S", 90),
            ("P1DT2H3M4S", 93_784),
            ("PT0S", 0),
        ] {
            assert_eq!(parse_duration(text), Some(secs), "{text}");
        }
        for bad in [
            "", "P", "PT", "1M", "P6M", "P1Y", "P1W", "PT1", "PTM", "PT1S1M", "P1DT", "PT-1M",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    /// Signs, overflow and absurd lengths are refused, never wrapped or negative: each of these
    /// was once read as a negative or wrapped number of seconds.
    #[test]
    fn durations_are_never_negative_nor_past_the_maximum() {
        assert_eq!(parse_duration("P365000D"), Some(MAX_DURATION_SECS));
        assert_eq!(
            parse_duration("PT31536000000S"),
            Some(MAX_DURATION_SECS),
            "the maximum in any unit"
        );
        for bad in [
            "P-1D",
            "P+1D",
            "PT-60S",
            "PT+60S",
            "P365001D",
            "P365000DT1S",
            "PT31536000001S",
            "P106751991167301D",
            "PT9223372036854775807S",
            "PT9223372036854775808S",
            "PT99999999999999999999S",
            "PT2562047788015216H",
            "P1.5D",
            "PT1.5S",
            "P 1D",
            "P１D",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        // Each unit checked alone and in sum: no overflow on the way to the maximum.
        assert_eq!(
            parse_duration("P364999DT23H59M60S"),
            Some(MAX_DURATION_SECS)
        );
        assert_eq!(parse_duration("P364999DT23H59M61S"), None);
    }
}
