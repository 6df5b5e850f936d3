//! Page tokens (`confab::wire::paging::decode_token`) and the paging parameters: never a panic,
//! and a token that decodes is exactly the spelling of its cursor (one key, one token).
#![no_main]

use confab::wire::paging::{Cursor, LIMITS_100, PageParams, decode_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cursor) = decode_token(text) {
        let (direction, key) = match &cursor {
            Cursor::After(key) => ("PA", key),
            Cursor::Before(key) => ("PB", key),
        };
        assert!(!key.is_empty() && key.len() <= 8, "{text}");
        let spelled: Vec<String> = key.iter().map(i64::to_string).collect();
        let canonical = format!("{direction}{}", spelled.join("_"));
        assert_eq!(canonical, text);
    }
    let params = PageParams {
        page_size: Some(text.to_string()),
        page: Some(text.to_string()),
        page_token: Some(text.to_string()),
    };
    if let Ok(page) = params.validate(LIMITS_100) {
        assert!((1..=100).contains(&page.size));
    }
});
