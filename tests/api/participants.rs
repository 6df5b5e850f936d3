//! Conversation Participants under both prefixes: chat, SMS, WhatsApp, group-MMS and projected
//! participants; fetch, update and delete by SID and by identity; the binding invariant (50416)
//! across conversations and its release; the limits; and every validation error.

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::common::{Client, ErrorCase, Resp, account, assert_date, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

/// A new conversation under `prefix`; returns its SID.
pub async fn new_conversation(client: &Client, prefix: &str, form: &[(&str, &str)]) -> String {
    let res = client.post(&format!("{prefix}/Conversations"), form).await;
    res.assert_status(201)["sid"].as_str().unwrap().to_string()
}

async fn add(client: &Client, prefix: &str, conversation: &str, form: &[(&str, &str)]) -> Resp {
    client
        .post(
            &format!("{prefix}/Conversations/{conversation}/Participants"),
            form,
        )
        .await
}

/// Adds a participant that must be accepted; returns its body.
async fn added(client: &Client, prefix: &str, conversation: &str, form: &[(&str, &str)]) -> Value {
    let res = add(client, prefix, conversation, form).await;
    res.assert_status(201);
    res.body
}

fn sms<'a>(address: &'a str, proxy: &'a str) -> [(&'static str, &'a str); 2] {
    [
        ("MessagingBinding.Address", address),
        ("MessagingBinding.ProxyAddress", proxy),
    ]
}

async fn participant_count(client: &Client, prefix: &str, conversation: &str) -> usize {
    client
        .collect_pages(
            &format!("{prefix}/Conversations/{conversation}/Participants"),
            "participants",
        )
        .await
        .len()
}

#[tokio::test]
async fn every_kind_of_participant_under_both_prefixes() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        // Pairs are unique across the account's services: each prefix uses its own proxies.
        let proxy = format!("+1501712266{n}");
        let whatsapp_proxy = format!("whatsapp:{proxy}");
        let rcs_proxy = format!("rcs:{proxy}");
        let conv = new_conversation(&client, &prefix, &[("UniqueName", "room")]).await;
        let create = op(
            &prefix,
            "CreateConversationParticipant",
            "CreateServiceConversationParticipant",
        );

        let chat = added(
            &client,
            &prefix,
            "room",
            &[("Identity", "alice"), ("Attributes", r#"{"team":"a"}"#)],
        )
        .await;
        assert_shape(create, 201, &chat);
        assert_sid(&chat["sid"], "MB");
        assert_sid(&chat["role_sid"], "RL");
        assert_date(&chat["date_created"]);
        assert_eq!(chat["conversation_sid"], conv.as_str());
        assert_eq!(chat["account_sid"], client.sid.as_str());
        assert_eq!(chat["identity"], "alice");
        assert_eq!(chat["attributes"], r#"{"team":"a"}"#);
        assert_eq!(chat["messaging_binding"], Value::Null);
        assert_eq!(chat["last_read_message_index"], Value::Null);
        assert_eq!(chat["last_read_timestamp"], Value::Null);
        assert_eq!(
            chat["url"],
            format!(
                "{}{prefix}/Conversations/{conv}/Participants/{}",
                client.base,
                chat["sid"].as_str().unwrap()
            )
        );
        if prefix == "/v1" {
            assert!(chat.get("chat_service_sid").is_none());
        } else {
            assert_eq!(
                chat["chat_service_sid"],
                prefix.trim_start_matches("/v1/Services/")
            );
        }

        let texter = added(&client, &prefix, &conv, &sms("+15558675310", &proxy)).await;
        assert_shape(create, 201, &texter);
        assert_eq!(texter["identity"], Value::Null);
        assert_eq!(texter["attributes"], "{}");
        assert_eq!(
            texter["messaging_binding"],
            json!({"type": "sms", "address": "+15558675310", "proxy_address": proxy})
        );

        let whatsapp = added(
            &client,
            &prefix,
            &conv,
            &sms("whatsapp:+15558675311", &whatsapp_proxy),
        )
        .await;
        assert_eq!(whatsapp["messaging_binding"]["type"], "whatsapp");
        let rcs = added(
            &client,
            &prefix,
            &conv,
            &sms("rcs:+15558675312", &rcs_proxy),
        )
        .await;
        assert_eq!(rcs["messaging_binding"]["type"], "rcs");

        let group_member = added(
            &client,
            &prefix,
            &conv,
            &[("MessagingBinding.Address", "+15558675313")],
        )
        .await;
        assert_shape(create, 201, &group_member);
        assert_eq!(
            group_member["messaging_binding"],
            json!({"type": "sms", "address": "+15558675313"})
        );

        let projected = added(
            &client,
            &prefix,
            &conv,
            &[
                ("Identity", "bob"),
                ("MessagingBinding.ProjectedAddress", "+15017122662"),
            ],
        )
        .await;
        assert_shape(create, 201, &projected);
        assert_eq!(projected["identity"], "bob");
        assert_eq!(
            projected["messaging_binding"],
            json!({"type": "sms", "projected_address": "+15017122662"})
        );

        let list = client
            .get(&format!("{prefix}/Conversations/room/Participants"))
            .await;
        assert_shape(
            op(
                &prefix,
                "ListConversationParticipant",
                "ListServiceConversationParticipant",
            ),
            200,
            list.assert_status(200),
        );
        let sids: Vec<&Value> = list.body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["sid"])
            .collect();
        assert_eq!(
            sids,
            [
                &chat["sid"],
                &texter["sid"],
                &whatsapp["sid"],
                &rcs["sid"],
                &group_member["sid"],
                &projected["sid"]
            ],
            "in the order they joined"
        );
        assert_eq!(list.body["meta"]["key"], "participants");
        assert_eq!(
            list.body["meta"]["url"],
            format!(
                "{}{prefix}/Conversations/{conv}/Participants?PageSize=50&Page=0",
                client.base
            ),
            "the list's URLs name the conversation by SID"
        );
    }
}

#[tokio::test]
async fn fetch_update_delete_by_sid_and_by_identity() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let alice = added(
            &client,
            &prefix,
            &conv,
            &[("Identity", "alice@example.com")],
        )
        .await;
        let sid = alice["sid"].as_str().unwrap().to_string();
        let base = format!("{prefix}/Conversations/{conv}/Participants");
        let fetch_op = op(
            &prefix,
            "FetchConversationParticipant",
            "FetchServiceConversationParticipant",
        );
        for name in [sid.as_str(), "alice@example.com", "alice%40example.com"] {
            let fetched = client.get(&format!("{base}/{name}")).await;
            assert_shape(fetch_op, 200, fetched.assert_status(200));
            assert_eq!(fetched.body, alice, "fetched by {name}");
        }

        let updated = client
            .post(
                &format!("{base}/alice@example.com"),
                &[
                    ("Attributes", r#"{"seen":true}"#),
                    ("LastReadMessageIndex", "3"),
                    ("LastReadTimestamp", "2024-05-06T07:08:09.123+02:00"),
                    ("DateCreated", "2020-01-01T00:00:00Z"),
                    ("RoleSid", alice["role_sid"].as_str().unwrap()),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(
            op(
                &prefix,
                "UpdateConversationParticipant",
                "UpdateServiceConversationParticipant",
            ),
            200,
            body,
        );
        assert_eq!(body["attributes"], r#"{"seen":true}"#);
        assert_eq!(body["last_read_message_index"], 3);
        assert_eq!(body["last_read_timestamp"], "2024-05-06T05:08:09Z");
        assert_eq!(body["date_created"], "2020-01-01T00:00:00Z");
        assert_eq!(body["identity"], "alice@example.com", "not sent, kept");
        assert_eq!(body["role_sid"], alice["role_sid"]);

        let fetched = client.get(&format!("{base}/{sid}")).await;
        assert_eq!(&fetched.body, body, "the update is stored");

        // `null` clears the read horizon.
        let cleared = client
            .post(
                &format!("{base}/{sid}"),
                &[
                    ("LastReadMessageIndex", "null"),
                    ("LastReadTimestamp", "null"),
                ],
            )
            .await;
        let body = cleared.assert_status(200);
        assert_eq!(
            (
                &body["last_read_message_index"],
                &body["last_read_timestamp"]
            ),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(body["attributes"], r#"{"seen":true}"#);

        let deleted = client.delete(&format!("{base}/alice@example.com")).await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        client
            .get(&format!("{base}/{sid}"))
            .await
            .assert_error(404, 20404);
        client
            .delete(&format!("{base}/{sid}"))
            .await
            .assert_error(404, 20404);
        assert_eq!(participant_count(&client, &prefix, &conv).await, 0);

        // The identity may join again (Twilio's re-add 404 bug is not reproduced).
        added(
            &client,
            &prefix,
            &conv,
            &[("Identity", "alice@example.com")],
        )
        .await;

        let proxy = format!("+1555000999{n}");
        let texter = added(&client, &prefix, &conv, &sms("+15550000001", &proxy)).await;
        let texter_sid = texter["sid"].as_str().unwrap();
        client
            .delete(&format!("{base}/{texter_sid}"))
            .await
            .assert_status(204);
        client
            .get(&format!("{base}/{texter_sid}"))
            .await
            .assert_error(404, 20404);
    }
}

#[tokio::test]
async fn binding_changes_on_update() {
    let client = account().await;
    let prefix = "/v1";
    let conv = new_conversation(&client, prefix, &[]).await;
    let base = format!("{prefix}/Conversations/{conv}/Participants");
    let texter = added(&client, prefix, &conv, &sms("+15550000001", "+15550009999")).await;
    let texter = format!("{base}/{}", texter["sid"].as_str().unwrap());
    added(&client, prefix, &conv, &[("Identity", "alice")]).await;
    let alice = format!("{base}/alice");

    let moved = client
        .post(
            &texter,
            &[("MessagingBinding.ProxyAddress", "+15550008888")],
        )
        .await;
    assert_eq!(
        moved.assert_status(200)["messaging_binding"],
        json!({"type": "sms", "address": "+15550000001", "proxy_address": "+15550008888"})
    );
    let removed = client
        .post(&texter, &[("MessagingBinding.ProxyAddress", "null")])
        .await;
    assert_eq!(
        removed.assert_status(200)["messaging_binding"],
        json!({"type": "sms", "address": "+15550000001"})
    );

    let projected = client
        .post(
            &alice,
            &[("MessagingBinding.ProjectedAddress", "+15550007777")],
        )
        .await;
    assert_eq!(
        projected.assert_status(200)["messaging_binding"],
        json!({"type": "sms", "projected_address": "+15550007777"})
    );
    let unprojected = client
        .post(&alice, &[("MessagingBinding.ProjectedAddress", "null")])
        .await;
    assert_eq!(
        unprojected.assert_status(200)["messaging_binding"],
        Value::Null
    );
    // Sending the identity it already has changes nothing.
    client
        .post(&alice, &[("Identity", "alice")])
        .await
        .assert_status(200);
}

#[tokio::test]
async fn create_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let proxy = format!("+1555000999{n}");
        added(&client, &prefix, &conv, &[("Identity", "alice")]).await;
        added(&client, &prefix, &conv, &sms("+15550000001", &proxy)).await;
        added(
            &client,
            &prefix,
            &conv,
            &[("MessagingBinding.Address", "+15550000002")],
        )
        .await;
        let long_identity = "i".repeat(257);
        let big_attributes = format!(r#"{{"a":"{}"}}"#, "x".repeat(4096));
        let cases: &[ErrorCase] = &[
            (&[], 400, 20001, "neither identity nor address"),
            (
                &[
                    ("Identity", "carol"),
                    ("MessagingBinding.Address", "+15550000003"),
                ],
                400,
                50211,
                "identity and address together",
            ),
            (
                &[
                    ("Identity", "carol"),
                    ("MessagingBinding.Address", "+15550000003"),
                    ("MessagingBinding.ProjectedAddress", "+15550000004"),
                ],
                400,
                50211,
                "identity and address together, even with a projected address",
            ),
            (
                &[("MessagingBinding.Address", "")],
                400,
                50411,
                "empty address",
            ),
            (
                &[("MessagingBinding.ProxyAddress", "+15550009999")],
                400,
                50411,
                "a proxy without an address",
            ),
            (
                &[
                    ("MessagingBinding.Address", "+15550000003"),
                    ("MessagingBinding.ProxyAddress", ""),
                ],
                400,
                50412,
                "empty proxy",
            ),
            (
                &[("MessagingBinding.Address", "whatsapp:+15550000003")],
                400,
                50412,
                "a WhatsApp participant needs a proxy",
            ),
            (
                &[
                    ("Identity", "carol"),
                    ("MessagingBinding.ProjectedAddress", ""),
                ],
                400,
                50434,
                "empty projected address",
            ),
            (
                &sms("+15550000003", "+15550000003"),
                400,
                50409,
                "address equals proxy",
            ),
            (&sms("hello", "+15550009999"), 400, 50407, "invalid address"),
            (&sms("+15550000003", "nowhere"), 400, 50408, "invalid proxy"),
            (
                &sms("whatsapp:+15550000003", "+15550009999"),
                400,
                50414,
                "WhatsApp address with an SMS proxy",
            ),
            (
                &sms("+15550000003", "whatsapp:+15550009999"),
                400,
                50414,
                "SMS address with a WhatsApp proxy",
            ),
            (
                &[
                    ("MessagingBinding.Address", "+15550000003"),
                    ("MessagingBinding.ProxyAddress", "+15550009998"),
                    ("MessagingBinding.Name", "Joe"),
                ],
                400,
                50420,
                "SMS participant with a name",
            ),
            (
                &[
                    ("MessagingBinding.Address", "+15550000003"),
                    ("MessagingBinding.ProxyAddress", "+15550009998"),
                    ("MessagingBinding.Level", "cc"),
                ],
                400,
                50420,
                "SMS participant with a level",
            ),
            (
                &[
                    ("MessagingBinding.Address", "+15550000003"),
                    ("MessagingBinding.ProjectedAddress", "+15550000004"),
                ],
                400,
                50443,
                "a projected address on an addressed participant",
            ),
            (
                &[("MessagingBinding.ProjectedAddress", "+15550000004")],
                400,
                20001,
                "a projected address needs an identity",
            ),
            (
                &[("Identity", "carol"), ("Attributes", "{nope")],
                400,
                50304,
                "attributes not JSON",
            ),
            (
                &[
                    ("Identity", "carol"),
                    ("Attributes", big_attributes.as_str()),
                ],
                400,
                50303,
                "attributes over 4 KB",
            ),
            (
                &[("Identity", "carol"), ("RoleSid", "RLnope")],
                400,
                50109,
                "malformed role",
            ),
            (
                &[
                    ("Identity", "carol"),
                    ("RoleSid", "RL00000000000000000000000000000000"),
                ],
                400,
                50109,
                "unknown role",
            ),
            (
                &[("Identity", "US00000000000000000000000000000000")],
                400,
                50206,
                "identity like a user SID",
            ),
            (
                &[("Identity", long_identity.as_str())],
                400,
                50207,
                "identity over 256 characters",
            ),
            (
                &[("Identity", "carol"), ("DateCreated", "yesterday")],
                400,
                50308,
                "bad DateCreated",
            ),
            (
                &[("Identity", "carol"), ("DateUpdated", "2020-13-45")],
                400,
                50309,
                "bad DateUpdated",
            ),
            (&[("Identity", "alice")], 409, 50433, "identity already in"),
            (
                &sms("+15550000001", &proxy),
                409,
                50416,
                "pair already in this conversation",
            ),
            (
                &[("MessagingBinding.Address", "+15550000002")],
                409,
                50437,
                "group member already in",
            ),
        ];
        for (form, status, code, why) in cases {
            let res = add(&client, &prefix, &conv, form).await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{why}: {}",
                res.body
            );
            res.assert_error(*status, *code);
        }
        assert_eq!(
            participant_count(&client, &prefix, &conv).await,
            3,
            "no refused participant was added"
        );
    }
}

#[tokio::test]
async fn update_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let base = format!("{prefix}/Conversations/{conv}/Participants");
        let (proxy, other_proxy) = (format!("+1555000999{n}"), format!("+1555000888{n}"));
        added(&client, &prefix, &conv, &[("Identity", "alice")]).await;
        let texter = added(&client, &prefix, &conv, &sms("+15550000001", &proxy)).await;
        let texter_path = format!("{base}/{}", texter["sid"].as_str().unwrap());
        let other = new_conversation(&client, &prefix, &[]).await;
        added(&client, &prefix, &other, &sms("+15550000001", &other_proxy)).await;
        let alice_before = client.get(&format!("{base}/alice")).await.body;

        let alice = format!("{base}/alice");
        let cases: &[(&str, ErrorCase)] = &[
            (
                &alice,
                (
                    &[("MessagingBinding.ProxyAddress", "null")],
                    400,
                    50440,
                    "removing a proxy it lacks",
                ),
            ),
            (
                &alice,
                (
                    &[("MessagingBinding.ProxyAddress", "+15550007777")],
                    400,
                    50441,
                    "a proxy for a chat participant",
                ),
            ),
            (
                &alice,
                (
                    &[("MessagingBinding.ProjectedAddress", "null")],
                    400,
                    50442,
                    "removing a projected address it lacks",
                ),
            ),
            (
                &alice,
                (
                    &[("MessagingBinding.ProjectedAddress", "")],
                    400,
                    50434,
                    "empty projected address",
                ),
            ),
            (
                &alice,
                (&[("Identity", "bob")], 400, 50444, "another identity"),
            ),
            (
                &alice,
                (
                    &[("LastReadMessageIndex", "-1")],
                    400,
                    50421,
                    "negative read index",
                ),
            ),
            (
                &alice,
                (
                    &[("LastReadMessageIndex", "three")],
                    400,
                    50421,
                    "read index not a number",
                ),
            ),
            (
                &alice,
                (
                    &[("LastReadTimestamp", "yesterday")],
                    400,
                    50421,
                    "bad read timestamp",
                ),
            ),
            (
                &alice,
                (
                    &[("RoleSid", "RL00000000000000000000000000000000")],
                    400,
                    50109,
                    "unknown role",
                ),
            ),
            (
                &alice,
                (&[("Attributes", "[1,")], 400, 50304, "attributes not JSON"),
            ),
            (
                &alice,
                (&[("DateUpdated", "soon")], 400, 50309, "bad DateUpdated"),
            ),
            (
                &texter_path,
                (
                    &[("MessagingBinding.ProjectedAddress", "+15550006666")],
                    400,
                    50443,
                    "a projected address on an addressed participant",
                ),
            ),
            (
                &texter_path,
                (&[("Identity", "carol")], 400, 50211, "identity on SMS"),
            ),
            (
                &texter_path,
                (
                    &[("MessagingBinding.ProxyAddress", "+15550000001")],
                    400,
                    50409,
                    "proxy equals address",
                ),
            ),
            (
                &texter_path,
                (
                    &[("MessagingBinding.ProxyAddress", "whatsapp:+15550007777")],
                    400,
                    50414,
                    "proxy on another channel",
                ),
            ),
            (
                &texter_path,
                (
                    &[("MessagingBinding.ProxyAddress", "not a number")],
                    400,
                    50408,
                    "invalid proxy",
                ),
            ),
            (
                &texter_path,
                (
                    &[("MessagingBinding.ProxyAddress", "")],
                    400,
                    50412,
                    "empty proxy",
                ),
            ),
            (
                &texter_path,
                (
                    &[("MessagingBinding.ProxyAddress", other_proxy.as_str())],
                    409,
                    50416,
                    "the new pair is held by another conversation",
                ),
            ),
        ];
        for (path, (form, status, code, why)) in cases {
            let res = client.post(path, form).await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{why}: {}",
                res.body
            );
        }
        assert_eq!(client.get(&alice).await.body, alice_before);
        assert_eq!(client.get(&texter_path).await.body, texter);
    }
}

#[tokio::test]
async fn a_pair_belongs_to_one_open_conversation_until_released() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let pair = sms("+15551230001", "+15559870001");
        let first = new_conversation(&client, &prefix, &[]).await;
        let held = added(&client, &prefix, &first, &pair).await;

        // Another conversation of the account, even in another service, is refused, by name.
        for other_prefix in client.prefixes().await.into_iter().chain([prefix.clone()]) {
            let second = new_conversation(&client, &other_prefix, &[]).await;
            let refused = add(&client, &other_prefix, &second, &pair).await;
            let body = refused.assert_error(409, 50416);
            assert!(
                body["message"].as_str().unwrap().contains(&first),
                "names the holder: {body}"
            );
        }
        // The same address through another proxy is another pair.
        let second = new_conversation(&client, &prefix, &[]).await;
        added(
            &client,
            &prefix,
            &second,
            &sms("+15551230001", "+15559870002"),
        )
        .await;
        // Another account has its own pairs.
        let stranger = account().await;
        let theirs = new_conversation(&stranger, "/v1", &[]).await;
        added(&stranger, "/v1", &theirs, &pair).await;

        // Released when the participant is removed...
        client
            .delete(&format!(
                "{prefix}/Conversations/{first}/Participants/{}",
                held["sid"].as_str().unwrap()
            ))
            .await
            .assert_status(204);
        added(&client, &prefix, &second, &pair).await;

        // ...when the conversation holding it is closed...
        let third = new_conversation(&client, &prefix, &[]).await;
        add(&client, &prefix, &third, &pair)
            .await
            .assert_error(409, 50416);
        client
            .post(
                &format!("{prefix}/Conversations/{second}"),
                &[("State", "closed")],
            )
            .await
            .assert_status(200);
        added(&client, &prefix, &third, &pair).await;

        // ...or deleted. An inactive conversation still holds it.
        client
            .post(
                &format!("{prefix}/Conversations/{third}"),
                &[("State", "inactive")],
            )
            .await
            .assert_status(200);
        let fourth = new_conversation(&client, &prefix, &[]).await;
        let refused = add(&client, &prefix, &fourth, &pair).await;
        assert!(
            refused.assert_error(409, 50416)["message"]
                .as_str()
                .unwrap()
                .contains(&third)
        );
        client
            .delete(&format!("{prefix}/Conversations/{third}"))
            .await
            .assert_status(204);
        added(&client, &prefix, &fourth, &pair).await;

        // Clean up so the next prefix starts from a free pair.
        client
            .delete(&format!("{prefix}/Conversations/{fourth}"))
            .await
            .assert_status(204);
    }
}

#[tokio::test]
async fn a_closed_conversation_takes_no_participants() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        client
            .post(
                &format!("{prefix}/Conversations/{conv}"),
                &[("State", "closed")],
            )
            .await
            .assert_status(200);
        for form in [
            &[("Identity", "alice")][..],
            &sms("+15550000001", "+15550009999")[..],
        ] {
            add(&client, &prefix, &conv, form)
                .await
                .assert_error(400, 50377);
        }
        assert_eq!(participant_count(&client, &prefix, &conv).await, 0);
    }
}

#[tokio::test]
async fn paths_that_name_nothing_are_404() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let alice = added(&client, "/v1", &conv, &[("Identity", "alice")]).await;
    let sid = alice["sid"].as_str().unwrap();
    let stranger = account().await;
    let missing_conv = "CH00000000000000000000000000000000";
    let paths = [
        (
            &client,
            format!("/v1/Conversations/{conv}/Participants/MB00000000000000000000000000000000"),
        ),
        (
            &client,
            format!("/v1/Conversations/{conv}/Participants/nobody"),
        ),
        (
            &client,
            format!("/v1/Conversations/{missing_conv}/Participants/{sid}"),
        ),
        (
            &client,
            format!("{}/Conversations/{conv}/Participants/{sid}", prefixes[1]),
        ),
        (
            &stranger,
            format!("/v1/Conversations/{conv}/Participants/{sid}"),
        ),
    ];
    for (who, path) in &paths {
        who.get(path).await.assert_error(404, 20404);
        who.post(path, &[("Attributes", "{}")])
            .await
            .assert_error(404, 20404);
        who.delete(path).await.assert_error(404, 20404);
    }
    for (who, list) in [
        (
            &client,
            format!("/v1/Conversations/{missing_conv}/Participants"),
        ),
        (&stranger, format!("/v1/Conversations/{conv}/Participants")),
    ] {
        who.get(&list).await.assert_error(404, 20404);
        who.post(&list, &[("Identity", "x")])
            .await
            .assert_error(404, 20404);
    }
    client
        .get(&format!("/v1/Conversations/{conv}/Participants/{sid}"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn participants_page_by_token() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let mut sids = Vec::new();
    for i in 0..7 {
        let p = added(&client, "/v1", &conv, &[("Identity", &format!("user{i}"))]).await;
        sids.push(p["sid"].as_str().unwrap().to_string());
    }
    let path = format!("/v1/Conversations/{conv}/Participants?PageSize=3");
    let first = client.get(&path).await;
    let meta = &first.assert_status(200)["meta"];
    assert_eq!(meta["page_size"], 3);
    assert!(meta["previous_page_url"].is_null());
    assert!(
        meta["next_page_url"]
            .as_str()
            .unwrap()
            .contains("PageSize=3&Page=1&PageToken=PA")
    );
    let all = client.collect_pages(&path, "participants").await;
    let listed: Vec<&str> = all.iter().map(|p| p["sid"].as_str().unwrap()).collect();
    assert_eq!(listed, sids.iter().map(String::as_str).collect::<Vec<_>>());
    let clamped = client
        .get(&format!(
            "/v1/Conversations/{conv}/Participants?PageSize=1000"
        ))
        .await;
    assert_eq!(clamped.body["meta"]["page_size"], 100);
}

/// Posts `forms` concurrently (the writer commits them in groups) and returns the statuses.
async fn add_all(client: &Client, conv: &str, forms: Vec<Vec<(String, String)>>) -> Vec<u16> {
    let mut tasks = JoinSet::new();
    for form in forms {
        let client = client.clone();
        let path = format!("/v1/Conversations/{conv}/Participants");
        tasks.spawn(async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            client.post(&path, &pairs).await.status
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn a_conversation_holds_1000_participants_of_which_50_non_chat() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let texters: Vec<Vec<(String, String)>> = (0..50)
        .map(|i| {
            vec![
                ("MessagingBinding.Address".into(), format!("+1555100{i:04}")),
                (
                    "MessagingBinding.ProxyAddress".into(),
                    "+15559990000".into(),
                ),
            ]
        })
        .collect();
    assert!(
        add_all(&client, &conv, texters)
            .await
            .iter()
            .all(|s| *s == 201)
    );
    add(&client, "/v1", &conv, &sms("+15551009999", "+15559990000"))
        .await
        .assert_error(400, 50418);

    for batch in 0..5 {
        let chats: Vec<Vec<(String, String)>> = (0..190)
            .map(|i| vec![("Identity".into(), format!("user-{batch}-{i}"))])
            .collect();
        assert!(
            add_all(&client, &conv, chats)
                .await
                .iter()
                .all(|s| *s == 201)
        );
    }
    assert_eq!(participant_count(&client, "/v1", &conv).await, 1000);
    add(&client, "/v1", &conv, &[("Identity", "one-too-many")])
        .await
        .assert_error(400, 50417);
}
