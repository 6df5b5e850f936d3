//! Form bodies and query strings (`confab::wire::form`): never a panic, a parameter that is not
//! UTF-8 is refused exactly when the decoded form is not UTF-8, and what is read carries no
//! replacement character the client did not send.
#![no_main]

use confab::api::conversations::ConversationParams;
use confab::error::Code;
use confab::wire::form::{parse_form, parse_query};
use libfuzzer_sys::fuzz_target;

type Pairs = Vec<(String, String)>;

fuzz_target!(|data: &[u8]| {
    let decoded: Vec<u8> = percent_encoding::percent_decode(data).collect();
    let text = std::str::from_utf8(&decoded).is_ok();
    match parse_form::<Pairs>(data) {
        Err(e) if e.code == Code::NotUtf8 => assert!(!text, "refused a UTF-8 form"),
        Err(_) => assert!(text),
        Ok(pairs) => {
            assert!(text, "took a form that is not UTF-8");
            let sent_replacement = std::str::from_utf8(&decoded).unwrap().contains('\u{FFFD}');
            for (name, value) in &pairs {
                assert!(
                    sent_replacement || !(name.contains('\u{FFFD}') || value.contains('\u{FFFD}')),
                    "a replacement character the client did not send"
                );
            }
        }
    }
    // A real parameter struct (dotted names, keep_empty, timers) takes any form without panic.
    if let Ok(params) = parse_form::<ConversationParams>(data) {
        let _ = params.for_create();
    }
    if let Ok(query) = std::str::from_utf8(data) {
        let by_query = parse_query::<Pairs>(query).map_err(|e| e.code);
        let by_form = parse_form::<Pairs>(data).map_err(|e| e.code);
        match (by_query, by_form) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(Code::NotUtf8), Err(Code::NotUtf8)) => {}
            (Err(Code::InvalidQuery), Err(Code::InvalidBody)) => {}
            (a, b) => panic!("a query and a body read differently: {a:?} {b:?}"),
        }
    }
});
