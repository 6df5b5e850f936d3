//! ISO-8601 durations (`confab::wire::time::parse_duration`): never a panic, never a negative
//! or overflowing number, never past the maximum, and what is read reads back the same.
#![no_main]

use confab::wire::time::{MAX_DURATION_SECS, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(secs) = parse_duration(text) else {
        return;
    };
    assert!((0..=MAX_DURATION_SECS).contains(&secs), "{text} -> {secs}");
    assert!(text.starts_with('P') && text.is_ascii(), "{text}");
    assert!(!text.contains(['-', '+', '.', ',', ' ']), "{text}");
    assert_eq!(parse_duration(&format!("PT{secs}S")), Some(secs));
    let (days, rest) = (secs / 86_400, secs % 86_400);
    assert_eq!(parse_duration(&format!("P{days}DT{rest}S")), Some(secs));
});
