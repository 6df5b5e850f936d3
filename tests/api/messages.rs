//! Conversation Messages under both prefixes: create, list (both orders, pages both ways), fetch,
//! update, delete, every validation error; what a message does to its conversation (index,
//! activity, timers, closed refusal); `participant_sid`; webhook events; and media (the MCS
//! upload, attaching it, its content, its errors).

use serde_json::Value;

use crate::common::{
    Client, ErrorCase, Resp, TestServer, account, assert_date, assert_sid, service_webhooks,
};
use crate::receiver::{Received, Receiver};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

fn sid(body: &Value) -> String {
    body["sid"].as_str().unwrap().to_string()
}

/// A new conversation under `prefix`, with these extra parameters; returns its SID.
pub async fn new_conversation(client: &Client, prefix: &str, form: &[(&str, &str)]) -> String {
    let created = client.post(&format!("{prefix}/Conversations"), form).await;
    sid(created.assert_status(201))
}

/// Posts a message and returns its body.
pub async fn new_message(
    client: &Client,
    prefix: &str,
    conv: &str,
    form: &[(&str, &str)],
) -> Value {
    let created = client
        .post(&format!("{prefix}/Conversations/{conv}/Messages"), form)
        .await;
    created.assert_status(201).clone()
}

/// The service SID a prefix names (the account's default service for `/v1`).
async fn service_of(client: &Client, prefix: &str) -> String {
    match prefix.strip_prefix("/v1/Services/") {
        Some(service) => service.to_string(),
        None => client.default_service().await,
    }
}

/// A Media Content Service upload: the raw bytes with their content type, and a file name in
/// `Content-Disposition` when given.
async fn upload(
    client: &Client,
    service: &str,
    content_type: Option<&str>,
    filename: Option<&str>,
    bytes: Vec<u8>,
) -> Resp {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/Services/{service}/Media", client.base))
        .basic_auth(&client.sid, Some(&client.token))
        .body(bytes);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(name) = filename {
        req = req.header(
            "content-disposition",
            format!("attachment; filename=\"{name}\""),
        );
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    Resp { status, body }
}

#[tokio::test]
async fn create_fetch_update_delete_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[("UniqueName", "room")]).await;
        let created = client
            .post(
                &format!("{prefix}/Conversations/room/Messages"),
                &[
                    ("Author", "alice"),
                    ("Body", "hello"),
                    ("Attributes", r#"{"importance":"high"}"#),
                    ("Subject", "greetings"),
                ],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(
            op(
                &prefix,
                "CreateConversationMessage",
                "CreateServiceConversationMessage",
            ),
            201,
            body,
        );
        assert_sid(&body["sid"], "IM");
        assert_date(&body["date_created"]);
        assert_eq!(body["date_updated"], body["date_created"]);
        assert_eq!(body["conversation_sid"], conv.as_str());
        assert_eq!(body["index"], 0);
        assert_eq!(
            (&body["author"], &body["body"], &body["attributes"]),
            (
                &Value::from("alice"),
                &Value::from("hello"),
                &Value::from(r#"{"importance":"high"}"#)
            )
        );
        assert!(body["media"].is_null() && body["delivery"].is_null());
        assert!(body["participant_sid"].is_null() && body["content_sid"].is_null());
        let msg = sid(body);
        let url = format!(
            "{}{prefix}/Conversations/{conv}/Messages/{msg}",
            client.base
        );
        assert_eq!(body["url"], url.as_str());
        assert_eq!(
            body["links"]["delivery_receipts"],
            format!("{url}/Receipts")
        );
        assert_eq!(
            body["links"]["channel_metadata"],
            format!("{url}/ChannelMetadata")
        );
        // The link answers as Twilio does for a message without channel metadata; for another
        // account, or a message that is not there, the message is not found.
        let metadata = format!("{prefix}/Conversations/{conv}/Messages/{msg}/ChannelMetadata");
        client.get(&metadata).await.assert_error(400, 50530);
        account()
            .await
            .get(&metadata)
            .await
            .assert_error(404, 20404);
        client
            .get(&format!(
                "{prefix}/Conversations/{conv}/Messages/IM00000000000000000000000000000000/ChannelMetadata"
            ))
            .await
            .assert_error(404, 20404);
        if prefix != "/v1" {
            assert_eq!(
                body["chat_service_sid"],
                prefix.trim_start_matches("/v1/Services/")
            );
        }

        let system = new_message(&client, &prefix, &conv, &[("Body", "second")]).await;
        assert_eq!(
            (&system["author"], &system["index"]),
            (&"system".into(), &1.into())
        );
        assert_eq!(system["attributes"], "{}");

        for name in [conv.as_str(), "room"] {
            let fetched = client
                .get(&format!("{prefix}/Conversations/{name}/Messages/{msg}"))
                .await;
            assert_shape(
                op(
                    &prefix,
                    "FetchConversationMessage",
                    "FetchServiceConversationMessage",
                ),
                200,
                fetched.assert_status(200),
            );
            assert_eq!(fetched.body, created.body);
        }

        let listed = client
            .get(&format!("{prefix}/Conversations/room/Messages"))
            .await;
        assert_shape(
            op(
                &prefix,
                "ListConversationMessage",
                "ListServiceConversationMessage",
            ),
            200,
            listed.assert_status(200),
        );
        assert_eq!(listed.body["meta"]["key"], "messages");
        assert_eq!(listed.body["messages"][0], created.body);

        let updated = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                &[
                    ("Body", "edited"),
                    ("Author", "bob"),
                    ("Attributes", r#"{"edited":true}"#),
                    ("DateCreated", "2020-01-02T03:04:05Z"),
                    ("Subject", "re: greetings"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(
            op(
                &prefix,
                "UpdateConversationMessage",
                "UpdateServiceConversationMessage",
            ),
            200,
            body,
        );
        assert_eq!(
            (&body["body"], &body["author"], &body["attributes"]),
            (
                &"edited".into(),
                &"bob".into(),
                &r#"{"edited":true}"#.into()
            )
        );
        assert_eq!(body["date_created"], "2020-01-02T03:04:05Z");
        assert_eq!(body["index"], 0, "an update keeps the index");
        let fetched = client
            .get(&format!("{prefix}/Conversations/{conv}/Messages/{msg}"))
            .await;
        assert_eq!(fetched.body, updated.body, "the update was stored");

        let only_attributes = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                &[
                    ("Attributes", "{}"),
                    ("DateUpdated", "2021-05-06T07:08:09Z"),
                ],
            )
            .await;
        let body = only_attributes.assert_status(200);
        assert_eq!(body["body"], "edited", "fields not sent are kept");
        assert_eq!(body["date_updated"], "2021-05-06T07:08:09Z");

        let deleted = client
            .delete(&format!("{prefix}/Conversations/{conv}/Messages/{msg}"))
            .await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        for res in [
            client
                .get(&format!("{prefix}/Conversations/{conv}/Messages/{msg}"))
                .await,
            client
                .delete(&format!("{prefix}/Conversations/{conv}/Messages/{msg}"))
                .await,
            client
                .post(
                    &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                    &[("Body", "x")],
                )
                .await,
        ] {
            res.assert_error(404, 20404);
        }
    }
}

#[tokio::test]
async fn imported_dates_are_kept() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let only_created = new_message(
        &client,
        "/v1",
        &conv,
        &[("Body", "old"), ("DateCreated", "2019-05-01T10:00:00Z")],
    )
    .await;
    assert_eq!(
        (&only_created["date_created"], &only_created["date_updated"]),
        (
            &"2019-05-01T10:00:00Z".into(),
            &"2019-05-01T10:00:00Z".into()
        )
    );
    let both = new_message(
        &client,
        "/v1",
        &conv,
        &[
            ("Body", "old"),
            ("DateCreated", "2019-05-01T10:00:00Z"),
            ("DateUpdated", "2019-05-02T10:00:00+00:00"),
        ],
    )
    .await;
    assert_eq!(both["date_updated"], "2019-05-02T10:00:00Z");
}

#[tokio::test]
async fn paths_that_name_nothing_are_404() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let msg = sid(&new_message(&client, "/v1", &conv, &[("Body", "x")]).await);
    let other_conv = new_conversation(&client, "/v1", &[]).await;
    let other_account = account().await;
    let missing = "IM00000000000000000000000000000000";
    let cases: Vec<(Client, String)> = vec![
        (
            client.clone(),
            "/v1/Conversations/nope/Messages".to_string(),
        ),
        (
            client.clone(),
            "/v1/Conversations/CH00000000000000000000000000000000/Messages".to_string(),
        ),
        (
            client.clone(),
            format!("/v1/Conversations/{conv}/Messages/{missing}"),
        ),
        (
            client.clone(),
            format!("/v1/Conversations/{conv}/Messages/0"),
        ),
        (
            client.clone(),
            format!("/v1/Conversations/{other_conv}/Messages/{msg}"),
        ),
        (
            client.clone(),
            format!("{}/Conversations/{conv}/Messages", prefixes[1]),
        ),
        (
            other_account.clone(),
            format!("/v1/Conversations/{conv}/Messages"),
        ),
        (
            other_account.clone(),
            format!("/v1/Conversations/{conv}/Messages/{msg}"),
        ),
    ];
    for (who, path) in cases {
        let res = who.get(&path).await;
        assert_eq!(
            (res.status, &res.body["code"]),
            (404, &20404.into()),
            "{path}"
        );
        if path.ends_with("/Messages") {
            who.post(&path, &[("Body", "x")])
                .await
                .assert_error(404, 20404);
        } else {
            who.delete(&path).await.assert_error(404, 20404);
        }
    }
    client
        .get(&format!("/v1/Conversations/{conv}/Messages/{msg}"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn validation_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let long_body = "b".repeat(1601);
    let long_author = "a".repeat(257);
    let long_attributes = format!(r#"{{"x":"{}"}}"#, "y".repeat(4096));
    let long_subject = "s".repeat(257);
    let content = "HX0123456789abcdef0123456789abcdef";
    let many_variables = format!(
        "{{{}}}",
        (0..101)
            .map(|i| format!(r#""{i}":"v""#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let long_variables = format!(r#"{{"1":"{}"}}"#, "v".repeat(27_800));
    let long_key = r#"{"abcdefghijklmnopq":"v"}"#;
    let long_value = format!(r#"{{"1":"{}"}}"#, "v".repeat(257));
    let cases: &[ErrorCase] = &[
        (&[], 400, 50503, "no body, media or content"),
        (
            &[("Author", "alice")],
            400,
            50503,
            "an author is not a message",
        ),
        (
            &[("Body", &long_body)],
            400,
            50504,
            "body over 1600 characters",
        ),
        (
            &[("Body", "x"), ("Author", &long_author)],
            400,
            50310,
            "author too long",
        ),
        (
            &[("Body", "x"), ("Attributes", "{nope")],
            400,
            50304,
            "attributes not JSON",
        ),
        (
            &[("Body", "x"), ("Attributes", &long_attributes)],
            400,
            50303,
            "attributes over 4 KB",
        ),
        (
            &[("Body", "x"), ("DateCreated", "yesterday")],
            400,
            50308,
            "bad DateCreated",
        ),
        (
            &[("Body", "x"), ("DateUpdated", "2020-13-45")],
            400,
            50309,
            "bad DateUpdated",
        ),
        (&[("MediaSid", "ME123")], 400, 50510, "malformed media SID"),
        (
            &[("MediaSid", "IM0123456789abcdef0123456789abcdef")],
            400,
            50510,
            "not a media SID",
        ),
        (
            &[("ContentSid", "HX12")],
            400,
            50526,
            "malformed content SID",
        ),
        (
            &[("Body", "x"), ("ContentVariables", r#"{"1":"a"}"#)],
            400,
            50528,
            "variables without content",
        ),
        (
            &[("ContentSid", content), ("ContentVariables", "[1,2]")],
            400,
            50527,
            "variables not an object",
        ),
        (
            &[("ContentSid", content), ("ContentVariables", "{oops")],
            400,
            50527,
            "variables not JSON",
        ),
        (
            &[
                ("ContentSid", content),
                ("ContentVariables", &many_variables),
            ],
            400,
            50529,
            "over 100 variables",
        ),
        (
            &[
                ("ContentSid", content),
                ("ContentVariables", &long_variables),
            ],
            400,
            50529,
            "variables over 27801 characters",
        ),
        (
            &[("ContentSid", content), ("ContentVariables", long_key)],
            400,
            50540,
            "variable key over 16",
        ),
        (
            &[("ContentSid", content), ("ContentVariables", &long_value)],
            400,
            50541,
            "variable value over 256",
        ),
        (
            &[("Body", "x"), ("Subject", &long_subject)],
            400,
            20001,
            "subject over 256",
        ),
        (
            &[("MediaSid", "ME0123456789abcdef0123456789abcdef")],
            400,
            50507,
            "unknown media",
        ),
    ];
    client
        .assert_errors(&format!("/v1/Conversations/{conv}/Messages"), cases)
        .await;
    let listed = client
        .get(&format!("/v1/Conversations/{conv}/Messages"))
        .await;
    assert_eq!(
        listed.body["messages"],
        serde_json::json!([]),
        "no failed create left a row"
    );
    let first = new_message(&client, "/v1", &conv, &[("Body", "x")]).await;
    assert_eq!(first["index"], 0, "no failed create took an index");

    let msg = sid(&first);
    let update_cases: &[ErrorCase] = &[
        (
            &[("Body", &long_body)],
            400,
            50504,
            "body over 1600 characters",
        ),
        (&[("Author", &long_author)], 400, 50310, "author too long"),
        (
            &[("Attributes", "{nope")],
            400,
            50304,
            "attributes not JSON",
        ),
        (
            &[("Attributes", &long_attributes)],
            400,
            50303,
            "attributes over 4 KB",
        ),
        (&[("DateCreated", "soon")], 400, 50308, "bad DateCreated"),
        (&[("DateUpdated", "later")], 400, 50309, "bad DateUpdated"),
        (
            &[("Subject", &long_subject)],
            400,
            20001,
            "subject over 256",
        ),
    ];
    client
        .assert_errors(
            &format!("/v1/Conversations/{conv}/Messages/{msg}"),
            update_cases,
        )
        .await;
    let fetched = client
        .get(&format!("/v1/Conversations/{conv}/Messages/{msg}"))
        .await;
    assert_eq!(fetched.body, first, "no failed update changed the message");

    client
        .get(&format!("/v1/Conversations/{conv}/Messages?Order=sideways"))
        .await
        .assert_error(400, 20001);
    client
        .get(&format!(
            "/v1/Conversations/{conv}/Messages?PageToken=nonsense"
        ))
        .await
        .assert_error(400, 21481);
}

#[tokio::test]
async fn content_template_messages_keep_their_content_sid() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let created = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages"),
                &[
                    ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
                    ("ContentVariables", r#"{"1":"Alice","2":"12/1"}"#),
                ],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(
            op(
                &prefix,
                "CreateConversationMessage",
                "CreateServiceConversationMessage",
            ),
            201,
            body,
        );
        assert_eq!(body["content_sid"], "HX0123456789abcdef0123456789abcdef");
        assert!(body["body"].is_null() && body["media"].is_null());
    }
}

#[tokio::test]
async fn the_index_is_never_reused_after_a_delete() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let mut sids = Vec::new();
    for i in 0..3 {
        let msg = new_message(&client, "/v1", &conv, &[("Body", &format!("m{i}"))]).await;
        assert_eq!(msg["index"], i);
        sids.push(sid(&msg));
    }
    // Deleting the last message frees no index, and the others keep theirs.
    client
        .delete(&format!("/v1/Conversations/{conv}/Messages/{}", sids[2]))
        .await
        .assert_status(204);
    client
        .delete(&format!("/v1/Conversations/{conv}/Messages/{}", sids[0]))
        .await
        .assert_status(204);
    let next = new_message(&client, "/v1", &conv, &[("Body", "after")]).await;
    assert_eq!(next["index"], 3);
    let listed = client
        .get(&format!("/v1/Conversations/{conv}/Messages"))
        .await;
    let indexes: Vec<i64> = listed.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 3]);
    // Another conversation counts from 0.
    let other = new_conversation(&client, "/v1", &[]).await;
    assert_eq!(
        new_message(&client, "/v1", &other, &[("Body", "x")]).await["index"],
        0
    );
}

#[tokio::test]
async fn lists_by_index_in_both_orders_and_pages_both_ways() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[("UniqueName", "paged")]).await;
        let mut sids = Vec::new();
        for i in 0..7 {
            sids.push(sid(&new_message(
                &client,
                &prefix,
                &conv,
                &[("Body", &format!("m{i}"))],
            )
            .await));
        }
        let list = format!("{prefix}/Conversations/paged/Messages");
        let sids_of = |items: &[Value]| -> Vec<String> { items.iter().map(sid).collect() };

        let ascending = client
            .collect_pages(&format!("{list}?PageSize=3"), "messages")
            .await;
        assert_eq!(sids_of(&ascending), sids);
        let explicit = client
            .collect_pages(&format!("{list}?Order=asc&PageSize=2"), "messages")
            .await;
        assert_eq!(sids_of(&explicit), sids);
        let descending = client
            .collect_pages(&format!("{list}?Order=desc&PageSize=3"), "messages")
            .await;
        let mut reversed = sids.clone();
        reversed.reverse();
        assert_eq!(sids_of(&descending), reversed);

        let first = client.get(&format!("{list}?Order=desc&PageSize=3")).await;
        assert_shape(
            op(
                &prefix,
                "ListConversationMessage",
                "ListServiceConversationMessage",
            ),
            200,
            first.assert_status(200),
        );
        let meta = &first.body["meta"];
        assert_eq!(
            (meta["page"].as_u64(), meta["page_size"].as_u64()),
            (Some(0), Some(3))
        );
        assert!(meta["previous_page_url"].is_null());
        assert!(
            meta["url"].as_str().unwrap().contains("Order=desc"),
            "{meta}"
        );
        let next = meta["next_page_url"].as_str().unwrap();
        assert!(
            next.starts_with(&client.base)
                && next.contains("Order=desc&PageSize=3&Page=1&PageToken=PA"),
            "{next}"
        );
        let second = client.get(next).await;
        assert_eq!(
            sids_of(second.body["messages"].as_array().unwrap()),
            reversed[3..6]
        );
        assert_eq!(second.body["meta"]["page"], 1);
        let back = second.body["meta"]["previous_page_url"].as_str().unwrap();
        assert!(back.contains("PageToken=PB"), "{back}");
        let again = client.get(back).await;
        assert_eq!(again.body["messages"], first.body["messages"]);
        assert!(
            again.body["meta"]["previous_page_url"].is_null() || again.body["meta"]["page"] == 0
        );

        // PageSize is clamped to the spec's maximum of 100.
        let clamped = client.get(&format!("{list}?PageSize=1000")).await;
        assert_eq!(clamped.body["meta"]["page_size"], 100);
        assert!(clamped.body["meta"]["next_page_url"].is_null());
    }
}

/// A page token names an index, and whatever index it names (below 0, past the last message,
/// either end of a 64-bit integer), the page answers 200 and holds only its own conversation's
/// messages, those after (`PA`) or before (`PB`) that index.
#[tokio::test]
async fn a_page_token_beyond_either_end_stays_in_its_conversation() {
    let client = account().await;
    let mut conversations = Vec::new();
    for name in ["first", "second"] {
        let conv = new_conversation(&client, "/v1", &[("UniqueName", name)]).await;
        let mut sids = Vec::new();
        for i in 0..3 {
            let body = format!("{name}{i}");
            sids.push(sid(
                &new_message(&client, "/v1", &conv, &[("Body", &body)]).await
            ));
        }
        conversations.push((conv, sids));
    }
    let page = |conv: String, token: &'static str| {
        let client = &client;
        async move {
            let url = format!("/v1/Conversations/{conv}/Messages?PageSize=50&PageToken={token}");
            let listed = client.get(&url).await;
            let messages = listed.assert_status(200)["messages"].as_array().unwrap();
            messages.iter().map(sid).collect::<Vec<_>>()
        }
    };
    for (conv, sids) in &conversations {
        for token in [
            "PA-5",
            "PA-9223372036854775808",
            "PB99999999999",
            "PB9223372036854775807",
        ] {
            assert_eq!(&page(conv.clone(), token).await, sids, "{token}");
        }
        for token in [
            "PA2",
            "PA99999999999",
            "PA9223372036854775807",
            "PB0",
            "PB-9223372036854775808",
        ] {
            assert!(page(conv.clone(), token).await.is_empty(), "{token}");
        }
    }
}

#[tokio::test]
async fn a_closed_conversation_refuses_new_and_edited_messages() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let kept = new_message(&client, &prefix, &conv, &[("Body", "before")]).await;
        client
            .post(
                &format!("{prefix}/Conversations/{conv}"),
                &[("State", "closed")],
            )
            .await
            .assert_status(200);
        client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages"),
                &[("Body", "after")],
            )
            .await
            .assert_error(400, 50377);
        let kept_sid = sid(&kept);
        client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{kept_sid}"),
                &[("Body", "rewritten")],
            )
            .await
            .assert_error(400, 50377);
        let listed = client
            .get(&format!("{prefix}/Conversations/{conv}/Messages"))
            .await;
        assert_eq!(listed.body["messages"], serde_json::json!([kept]));
        // Deleting stays possible.
        client
            .delete(&format!(
                "{prefix}/Conversations/{conv}/Messages/{kept_sid}"
            ))
            .await
            .assert_status(204);
    }
}

#[tokio::test]
async fn a_message_is_activity_that_wakes_an_inactive_conversation_and_restarts_timers() {
    // Its own server: the test moves the clock.
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let conv = new_conversation(
        &client,
        "/v1",
        &[
            ("State", "active"),
            ("Timers.Inactive", "PT1M"),
            ("Timers.Closed", "PT10M"),
        ],
    )
    .await;
    client
        .post(
            &format!("/v1/Conversations/{conv}"),
            &[("State", "inactive")],
        )
        .await
        .assert_status(200);
    let before = client.get(&format!("/v1/Conversations/{conv}")).await.body;
    assert_eq!(before["state"], "inactive");
    assert!(before["timers"].get("date_inactive").is_none(), "{before}");
    // Move the clock (short of the closed timer), so that the rescheduled times differ from the
    // old ones.
    server.advance("PT30S").await;

    let msg = new_message(&client, "/v1", &conv, &[("Body", "wake up")]).await;
    let after = client.get(&format!("/v1/Conversations/{conv}")).await.body;
    assert_eq!(after["state"], "active");
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let sent = at(&msg["date_created"]);
    assert_eq!(
        (at(&after["timers"]["date_inactive"]) - sent).num_seconds(),
        60
    );
    assert_eq!(
        (at(&after["timers"]["date_closed"]) - sent).num_seconds(),
        600
    );
    assert!(
        (at(&after["timers"]["date_closed"]) - at(&before["timers"]["date_closed"])).num_seconds()
            >= 30,
        "the closed timer restarted from the message: {before} then {after}"
    );
    assert_eq!(
        after["date_updated"], msg["date_created"],
        "the conversation was touched"
    );

    // Without timers, a message still moves date_updated and leaves the timers empty.
    let plain = new_conversation(&client, "/v1", &[("DateCreated", "2020-01-01T00:00:00Z")]).await;
    let msg = new_message(&client, "/v1", &plain, &[("Body", "x")]).await;
    let touched = client.get(&format!("/v1/Conversations/{plain}")).await.body;
    assert_eq!(touched["date_updated"], msg["date_created"]);
    assert_eq!(touched["timers"], serde_json::json!({}));
    assert_eq!(touched["state"], "active");
}

/// Adds a chat participant with this identity (`POST .../Participants`); returns its SID.
pub async fn new_participant(client: &Client, prefix: &str, conv: &str, identity: &str) -> String {
    let created = client
        .post(
            &format!("{prefix}/Conversations/{conv}/Participants"),
            &[("Identity", identity)],
        )
        .await;
    sid(created.assert_status(201))
}

#[tokio::test]
async fn participant_sid_is_the_participant_whose_identity_is_the_author() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let alice = new_participant(&client, &prefix, &conv, "alice").await;
        let bob = new_participant(&client, &prefix, &conv, "bob").await;
        let elsewhere = new_conversation(&client, &prefix, &[]).await;
        new_participant(&client, &prefix, &elsewhere, "carol").await;

        let by_alice = new_message(
            &client,
            &prefix,
            &conv,
            &[("Author", "alice"), ("Body", "hi")],
        )
        .await;
        assert_eq!(by_alice["participant_sid"], alice.as_str());
        let by_system = new_message(&client, &prefix, &conv, &[("Body", "hi")]).await;
        assert!(by_system["participant_sid"].is_null());
        let by_stranger = new_message(
            &client,
            &prefix,
            &conv,
            &[("Author", "carol"), ("Body", "hi")],
        )
        .await;
        assert!(
            by_stranger["participant_sid"].is_null(),
            "carol is in another conversation"
        );
        let by_case = new_message(
            &client,
            &prefix,
            &conv,
            &[("Author", "Alice"), ("Body", "hi")],
        )
        .await;
        assert!(
            by_case["participant_sid"].is_null(),
            "identities are case-sensitive"
        );

        // A new author is matched again on update.
        let msg = sid(&by_alice);
        let updated = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                &[("Author", "bob")],
            )
            .await;
        assert_eq!(updated.assert_status(200)["participant_sid"], bob.as_str());
        let updated = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                &[("Author", "nobody")],
            )
            .await;
        assert!(updated.assert_status(200)["participant_sid"].is_null());
    }
}

/// The post-action webhooks the receiver got, in the order they were sent.
fn post_events(receiver: &Receiver) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.url.ends_with("/post"))
        .collect()
}

/// Waits until the receiver has `n` post-action webhooks, and returns exactly those: events of
/// one conversation are sent in order, so any event queued before the last awaited one has
/// arrived by then, and one too many shows up as an extra.
async fn wait_for_post_events(receiver: &Receiver, n: usize) -> Vec<Received> {
    receiver.wait_for(n, |r| r.url.ends_with("/post")).await;
    post_events(receiver)
}

#[tokio::test]
async fn message_events_are_sent_only_when_the_request_asks_for_webhooks() {
    let client = account().await;
    let receiver = Receiver::start();
    service_webhooks(
        &client,
        &receiver,
        &[
            "onMessageAdded",
            "onMessageUpdated",
            "onMessageRemoved",
            "onConversationStateUpdated",
        ],
    )
    .await;
    let service = client.default_service().await;
    let conv = new_conversation(&client, "/v1", &[("State", "inactive")]).await;
    let alice = new_participant(&client, "/v1", &conv, "alice").await;
    let media = upload(
        &client,
        &service,
        Some("image/png"),
        Some("dot.png"),
        vec![1, 2, 3],
    )
    .await;
    let media_sid = sid(media.assert_status(201));

    // No header, no events (neither the message's nor the state change it causes): the first
    // event to arrive below is the hooked message's own.
    new_message(&client, "/v1", &conv, &[("Body", "quiet")]).await;

    let hooked = [("X-Twilio-Webhook-Enabled", "true")];
    let created = client
        .post_with_headers(
            &format!("/v1/Conversations/{conv}/Messages"),
            &[
                ("Author", "alice"),
                ("MediaSid", &media_sid),
                ("Attributes", r#"{"a":1}"#),
            ],
            &hooked,
        )
        .await;
    let msg = sid(created.assert_status(201));
    let events = wait_for_post_events(&receiver, 1).await;
    let names: Vec<&str> = events.iter().map(Received::event).collect();
    assert_eq!(
        names,
        ["onMessageAdded"],
        "no event for the quiet message; it already woke the conversation"
    );
    let added = &events[0];
    for (key, value) in [
        ("EventType", "onMessageAdded"),
        ("Source", "API"),
        ("AccountSid", client.sid.as_str()),
        ("ChatServiceSid", service.as_str()),
        ("ConversationSid", conv.as_str()),
        ("MessageSid", msg.as_str()),
        ("Index", "1"),
        ("Author", "alice"),
        ("ParticipantSid", alice.as_str()),
        ("Attributes", r#"{"a":1}"#),
    ] {
        assert_eq!(added.param(key), Some(value), "{key}: {added:#?}");
    }
    assert_eq!(
        added.param("DateCreated"),
        created.body["date_created"].as_str()
    );
    let conversation = client.get(&format!("/v1/Conversations/{conv}")).await.body;
    assert_eq!(
        added.param("MessagingServiceSid"),
        conversation["messaging_service_sid"].as_str()
    );
    assert!(
        added.param("Body").is_none(),
        "null parameters are not sent"
    );
    let media_param: Value = serde_json::from_str(added.param("Media").unwrap()).unwrap();
    assert_eq!(
        media_param,
        serde_json::json!([{"Sid": media_sid, "Size": 3, "ContentType": "image/png", "Filename": "dot.png"}])
    );

    client
        .post_with_headers(
            &format!("/v1/Conversations/{conv}/Messages/{msg}"),
            &[("Attributes", "{}")],
            &hooked,
        )
        .await
        .assert_status(200);
    client
        .delete_with_headers(&format!("/v1/Conversations/{conv}/Messages/{msg}"), &hooked)
        .await
        .assert_status(204);
    let events = wait_for_post_events(&receiver, 3).await;
    let names: Vec<&str> = events.iter().map(Received::event).collect();
    assert_eq!(
        names,
        ["onMessageAdded", "onMessageUpdated", "onMessageRemoved"]
    );
    assert!(events[1].param("DateUpdated").is_some());
    assert!(events[2].param("DateRemoved").is_some());
    assert_eq!(events[2].param("MessageSid"), Some(msg.as_str()));

    // A message into an inactive conversation also reports the state change (Reason=EVENT).
    client
        .post(
            &format!("/v1/Conversations/{conv}"),
            &[("State", "inactive")],
        )
        .await
        .assert_status(200);
    client
        .post_with_headers(
            &format!("/v1/Conversations/{conv}/Messages"),
            &[("Body", "wake")],
            &hooked,
        )
        .await
        .assert_status(201);
    let events = wait_for_post_events(&receiver, 5).await;
    let names: Vec<&str> = events.iter().map(Received::event).collect();
    assert_eq!(names[3..], ["onConversationStateUpdated", "onMessageAdded"]);
    let state = &events[3];
    assert_eq!(
        (
            state.param("StateFrom"),
            state.param("StateTo"),
            state.param("Reason")
        ),
        (Some("inactive"), Some("active"), Some("EVENT"))
    );
}

#[tokio::test]
async fn media_is_uploaded_attached_and_served_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let service = service_of(&client, &prefix).await;
        let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let uploaded = upload(
            &client,
            &service,
            Some("image/jpeg"),
            Some("car.jpg"),
            bytes.clone(),
        )
        .await;
        let media = uploaded.assert_status(201).clone();
        assert_sid(&media["sid"], "ME");
        let media_sid = sid(&media);
        assert_eq!(
            (&media["size"], &media["content_type"], &media["filename"]),
            (&3000.into(), &"image/jpeg".into(), &"car.jpg".into())
        );
        assert_eq!(
            (&media["service_sid"], &media["account_sid"]),
            (&service.as_str().into(), &client.sid.as_str().into())
        );
        assert!(media["message_sid"].is_null() && media["channel_sid"].is_null());
        assert_date(&media["date_created"]);
        let media_url = format!("{}/v1/Services/{service}/Media/{media_sid}", client.base);
        assert_eq!(media["url"], media_url.as_str());
        assert_eq!(media["links"]["content"], format!("{media_url}/Content"));

        let conv = new_conversation(&client, &prefix, &[]).await;
        let created = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages"),
                &[("MediaSid", &media_sid), ("Author", "alice")],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(
            op(
                &prefix,
                "CreateConversationMessage",
                "CreateServiceConversationMessage",
            ),
            201,
            body,
        );
        assert!(body["body"].is_null());
        assert_eq!(
            body["media"],
            serde_json::json!([{"sid": media_sid, "size": 3000, "content_type": "image/jpeg", "filename": "car.jpg"}])
        );
        let msg = sid(body);
        let fetched = client
            .get(&format!("{prefix}/Conversations/{conv}/Messages/{msg}"))
            .await;
        assert_eq!(fetched.body["media"], body["media"]);

        let metadata = client.get(&media_url).await;
        let metadata = metadata.assert_status(200);
        assert_eq!(
            (
                &metadata["message_sid"],
                &metadata["channel_sid"],
                &metadata["author"]
            ),
            (&msg.as_str().into(), &conv.as_str().into(), &"alice".into())
        );

        let content = reqwest::Client::new()
            .get(format!("{media_url}/Content"))
            .basic_auth(&client.sid, Some(&client.token))
            .send()
            .await
            .unwrap();
        assert_eq!(content.status().as_u16(), 200);
        assert_eq!(content.headers()["content-type"], "image/jpeg");
        assert!(
            content.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("car.jpg")
        );
        assert_eq!(content.bytes().await.unwrap().to_vec(), bytes);

        // The body of a media message is fixed; its other fields are not.
        client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                &[("Body", "caption")],
            )
            .await
            .assert_error(400, 50509);
        client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{msg}"),
                &[("Attributes", r#"{"k":1}"#)],
            )
            .await
            .assert_status(200);

        // Media goes with its message.
        client
            .delete(&format!("{prefix}/Conversations/{conv}/Messages/{msg}"))
            .await
            .assert_status(204);
        client.get(&media_url).await.assert_error(404, 20404);
        client
            .get(&format!("{media_url}/Content"))
            .await
            .assert_error(404, 20404);
    }
}

/// One part of a multipart body: `(name, filename, type, bytes)`.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body as `curl -F` writes it.
fn multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes(),
        );
        if let Some(filename) = filename {
            body.extend(format!("; filename=\"{filename}\"").bytes());
        }
        body.extend(b"\r\n");
        if let Some(content_type) = content_type {
            body.extend(format!("Content-Type: {content_type}\r\n").bytes());
        }
        body.extend(b"\r\n");
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    body
}

/// `curl -F media=@car.png`: the file part is the media, its type and name those of the part,
/// its bytes without the envelope. A form-encoded body (`curl --data-binary` without a
/// `Content-Type`) is refused, not stored as a file of that type.
#[tokio::test]
async fn media_is_uploaded_as_multipart_form_data_and_a_form_encoded_body_is_refused() {
    let client = account().await;
    let service = client.default_service().await;
    let file: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let multipart_type = "multipart/form-data; boundary=------------------------abc123";
    let boundary = "------------------------abc123";
    let body = multipart(
        boundary,
        &[("media", Some("car.png"), Some("image/png"), &file)],
    );
    let uploaded = upload(&client, &service, Some(multipart_type), None, body).await;
    let media = uploaded.assert_status(201).clone();
    assert_eq!(
        (&media["size"], &media["content_type"], &media["filename"]),
        (&70_000.into(), &"image/png".into(), &"car.png".into())
    );
    let content = reqwest::Client::new()
        .get(media["links"]["content"].as_str().unwrap())
        .basic_auth(&client.sid, Some(&client.token))
        .send()
        .await
        .unwrap();
    assert_eq!(content.headers()["content-type"], "image/png");
    assert_eq!(content.bytes().await.unwrap().as_ref(), file.as_slice());

    // A file part without a type is application/octet-stream (RFC 7578); other form fields
    // beside the one file are ignored.
    let body = multipart(
        boundary,
        &[
            ("note", None, None, b"hello"),
            ("file", Some("blob.bin"), None, b"\x00\x01"),
        ],
    );
    let uploaded = upload(&client, &service, Some(multipart_type), None, body).await;
    assert_eq!(
        uploaded.assert_status(201)["content_type"],
        "application/octet-stream"
    );

    // Two files, none, or no multipart at all: 20001, nothing stored.
    let two = multipart(
        boundary,
        &[
            ("a", Some("a.png"), Some("image/png"), b"a"),
            ("b", Some("b.png"), Some("image/png"), b"b"),
        ],
    );
    upload(&client, &service, Some(multipart_type), None, two)
        .await
        .assert_error(400, 20001);
    let none = multipart(
        boundary,
        &[("a", None, None, b"x"), ("b", None, None, b"y")],
    );
    upload(&client, &service, Some(multipart_type), None, none)
        .await
        .assert_error(400, 20001);
    upload(
        &client,
        &service,
        Some(multipart_type),
        None,
        b"not multipart".to_vec(),
    )
    .await
    .assert_error(400, 20001);
    upload(
        &client,
        &service,
        Some("multipart/form-data"),
        None,
        b"x".to_vec(),
    )
    .await
    .assert_error(400, 20001);
    let refused = upload(
        &client,
        &service,
        Some("application/x-www-form-urlencoded"),
        None,
        file.clone(),
    )
    .await;
    let refused = refused.assert_error(400, 50511);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type"),
        "{refused}"
    );
}

#[tokio::test]
async fn media_errors() {
    let client = account().await;
    let service = client.default_service().await;
    let other_service = client.new_service("other").await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let messages = format!("/v1/Conversations/{conv}/Messages");

    // Uploads.
    upload(&client, &service, None, None, vec![1])
        .await
        .assert_error(400, 50511);
    upload(&client, &service, Some("jpeg"), None, vec![1])
        .await
        .assert_error(400, 50511);
    upload(&client, &service, Some("image/png"), None, vec![])
        .await
        .assert_error(400, 20001);
    upload(
        &client,
        &service,
        Some("image/png"),
        None,
        vec![0; 5 * 1024 * 1024 + 1],
    )
    .await
    .assert_error(400, 50512);
    let at_limit = upload(
        &client,
        &service,
        Some("image/png"),
        None,
        vec![0; 5 * 1024 * 1024],
    )
    .await;
    assert_eq!(at_limit.assert_status(201)["size"], 5 * 1024 * 1024);
    assert!(at_limit.body["filename"].is_null());
    upload(
        &client,
        "IS00000000000000000000000000000000",
        Some("image/png"),
        None,
        vec![1],
    )
    .await
    .assert_error(404, 20404);
    let stranger = account().await;
    upload(&stranger, &service, Some("image/png"), None, vec![1])
        .await
        .assert_error(404, 20404);
    client
        .get(&format!(
            "/v1/Services/{service}/Media/ME00000000000000000000000000000000"
        ))
        .await
        .assert_error(404, 20404);

    // Attaching.
    let used = sid(
        upload(&client, &service, Some("text/plain"), None, b"hi".to_vec())
            .await
            .assert_status(201),
    );
    new_message(&client, "/v1", &conv, &[("MediaSid", &used)]).await;
    let foreign = sid(upload(
        &client,
        &other_service,
        Some("text/plain"),
        None,
        b"hi".to_vec(),
    )
    .await
    .assert_status(201));
    let cases: &[ErrorCase] = &[
        (
            &[("MediaSid", "ME-not-a-sid")],
            400,
            50510,
            "malformed media SID",
        ),
        (
            &[("MediaSid", "ME0123456789abcdef0123456789abcdef")],
            400,
            50507,
            "unknown media",
        ),
        (
            &[("MediaSid", &foreign)],
            400,
            50507,
            "media of another service",
        ),
        (
            &[("MediaSid", &used)],
            400,
            50508,
            "media already sent with another message",
        ),
    ];
    client.assert_errors(&messages, cases).await;
    // Media of another service is also invisible there, and another account cannot read it.
    client
        .get(&format!("/v1/Services/{service}/Media/{foreign}"))
        .await
        .assert_error(404, 20404);
    stranger
        .get(&format!("/v1/Services/{service}/Media/{used}"))
        .await
        .assert_error(404, 20404);
    // A content template ignores MediaSid: the media stays free for a later message.
    let free = sid(
        upload(&client, &service, Some("text/plain"), None, b"x".to_vec())
            .await
            .assert_status(201),
    );
    let templated = new_message(
        &client,
        "/v1",
        &conv,
        &[
            ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
            ("MediaSid", &free),
        ],
    )
    .await;
    assert!(templated["media"].is_null());
    let later = new_message(
        &client,
        "/v1",
        &conv,
        &[("MediaSid", &free), ("Body", "caption")],
    )
    .await;
    assert_eq!(later["media"][0]["sid"], free.as_str());
    assert_eq!(later["body"], "caption");
}
