//! ConversationWithParticipants under both prefixes: the conversation and its participants in
//! one request, every participant checked first, and all or nothing.

use serde_json::{Value, json};

use crate::common::{Client, account, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str) -> &'static str {
    if prefix == "/v1" {
        "CreateConversationWithParticipants"
    } else {
        "CreateServiceConversationWithParticipants"
    }
}

/// A form built at run time, the expected status and code, and why it must fail.
type FormCase<'a> = (Vec<(&'a str, &'a str)>, u16, u64, &'a str);

async fn conversations_of(client: &Client, prefix: &str) -> Vec<Value> {
    client
        .collect_pages(&format!("{prefix}/Conversations"), "conversations")
        .await
}

async fn participants_of(client: &Client, prefix: &str, conversation: &str) -> Vec<Value> {
    client
        .collect_pages(
            &format!("{prefix}/Conversations/{conversation}/Participants"),
            "participants",
        )
        .await
}

#[tokio::test]
async fn creates_the_conversation_and_its_participants_under_both_prefixes() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        let texter = json!({"messaging_binding": {"address": "+15551110000", "proxy_address": format!("+1555222000{n}")}})
            .to_string();
        let whatsapp = json!({"MessagingBinding": {"Address": "whatsapp:+15551110001", "ProxyAddress": format!("whatsapp:+1555222000{n}")}})
            .to_string();
        let created = client
            .post(
                &format!("{prefix}/ConversationWithParticipants"),
                &[
                    ("FriendlyName", "support"),
                    ("UniqueName", "case-1"),
                    ("Attributes", r#"{"topic":"billing"}"#),
                    (
                        "Participant",
                        r#"{"identity":"alice","attributes":"{\"lead\":true}"}"#,
                    ),
                    ("Participant", &texter),
                    ("Participant", &whatsapp),
                    ("Participant", r#"{"identity":"bob","attributes":{"x":1}}"#),
                ],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(op(&prefix), 201, body);
        assert_sid(&body["sid"], "CH");
        assert_eq!(
            body["state"], "active",
            "participants are added before the answer"
        );
        assert_eq!(body["friendly_name"], "support");
        assert_eq!(body["unique_name"], "case-1");
        assert_eq!(body["attributes"], r#"{"topic":"billing"}"#);
        let sid = body["sid"].as_str().unwrap().to_string();
        assert_eq!(
            body["url"],
            format!("{}{prefix}/Conversations/{sid}", client.base)
        );
        assert_eq!(
            body["links"]["participants"],
            format!("{}{prefix}/Conversations/{sid}/Participants", client.base)
        );
        let fetched = client.get(&format!("{prefix}/Conversations/case-1")).await;
        assert_eq!(
            &fetched.body, body,
            "the conversation is stored as answered"
        );

        let participants = participants_of(&client, &prefix, &sid).await;
        assert_eq!(participants.len(), 4);
        assert_eq!(participants[0]["identity"], "alice");
        assert_eq!(participants[0]["attributes"], r#"{"lead":true}"#);
        assert_eq!(participants[0]["messaging_binding"], Value::Null);
        assert_sid(&participants[0]["role_sid"], "RL");
        assert_eq!(
            participants[1]["messaging_binding"],
            json!({"type": "sms", "address": "+15551110000", "proxy_address": format!("+1555222000{n}")})
        );
        assert_eq!(participants[2]["messaging_binding"]["type"], "whatsapp");
        assert_eq!(participants[3]["attributes"], r#"{"x":1}"#);
    }
}

#[tokio::test]
async fn state_timers_and_zero_or_one_participant() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let inactive = client
            .post(
                &format!("{prefix}/ConversationWithParticipants"),
                &[
                    ("State", "inactive"),
                    ("Timers.Closed", "PT10M"),
                    ("Participant", r#"{"identity":"solo"}"#),
                ],
            )
            .await;
        let body = inactive.assert_status(201);
        assert_shape(op(&prefix), 201, body);
        assert_eq!(
            body["state"], "inactive",
            "the requested state, not initializing"
        );
        assert!(body["timers"]["date_closed"].is_string());
        let sid = body["sid"].as_str().unwrap();
        let participants = participants_of(&client, &prefix, sid).await;
        assert_eq!(participants.len(), 1, "a lone Participant is a list of one");
        assert_eq!(participants[0]["identity"], "solo");

        let empty = client
            .post(&format!("{prefix}/ConversationWithParticipants"), &[])
            .await;
        let body = empty.assert_status(201);
        assert_shape(op(&prefix), 201, body);
        assert_eq!(body["state"], "active");
        assert!(
            participants_of(&client, &prefix, body["sid"].as_str().unwrap())
                .await
                .is_empty()
        );
    }
}

#[tokio::test]
async fn any_refused_part_creates_nothing() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        // A pair already held by an open conversation of the account.
        let holder = client
            .post(&format!("{prefix}/Conversations"), &[])
            .await
            .body["sid"]
            .as_str()
            .unwrap()
            .to_string();
        let held_proxy = format!("+1555333000{n}");
        client
            .post(
                &format!("{prefix}/Conversations/{holder}/Participants"),
                &[
                    ("MessagingBinding.Address", "+15554440000"),
                    ("MessagingBinding.ProxyAddress", &held_proxy),
                ],
            )
            .await
            .assert_status(201);
        client
            .post(
                &format!("{prefix}/Conversations"),
                &[("UniqueName", "taken")],
            )
            .await
            .assert_status(201);
        let before = conversations_of(&client, &prefix).await.len();

        let alice = r#"{"identity":"alice"}"#;
        let held =
            json!({"messaging_binding": {"address": "+15554440000", "proxy_address": held_proxy}})
                .to_string();
        let fresh_pair =
            json!({"messaging_binding": {"address": "+15554440001", "proxy_address": held_proxy}})
                .to_string();
        let eleven: Vec<String> = (0..11)
            .map(|i| json!({"identity": format!("u{i}")}).to_string())
            .collect();
        let mut too_many: Vec<(&str, &str)> = vec![("UniqueName", "fresh")];
        too_many.extend(eleven.iter().map(|p| ("Participant", p.as_str())));
        let cases: Vec<FormCase> = vec![
            (
                vec![("Participant", alice), ("Participant", "{not json")],
                400,
                20001,
                "a participant that is not JSON",
            ),
            (
                vec![("Participant", alice), ("Participant", "[1,2]")],
                400,
                20001,
                "a participant that is not an object",
            ),
            (
                vec![
                    ("Participant", alice),
                    (
                        "Participant",
                        r#"{"messaging_binding":{"address":"hello","proxy_address":"+15550001111"}}"#,
                    ),
                ],
                400,
                50407,
                "an invalid address",
            ),
            (
                vec![(
                    "Participant",
                    r#"{"identity":"bob","messaging_binding":{"address":"+15550000001"}}"#,
                )],
                400,
                50211,
                "identity and address together",
            ),
            (
                vec![("Participant", "{}")],
                400,
                20001,
                "a participant with neither identity nor address",
            ),
            (
                vec![("Participant", alice), ("Participant", alice)],
                409,
                50433,
                "the same identity twice",
            ),
            (
                vec![("Participant", alice), ("Participant", &held)],
                409,
                50416,
                "a pair held by another conversation",
            ),
            (
                vec![("Participant", &fresh_pair), ("Participant", &fresh_pair)],
                409,
                50416,
                "the same pair twice",
            ),
            (
                vec![
                    ("Participant", alice),
                    (
                        "Participant",
                        r#"{"identity":"carol","role_sid":"RL00000000000000000000000000000000"}"#,
                    ),
                ],
                400,
                50109,
                "an unknown role",
            ),
            (too_many, 400, 50426, "more than 10 participants"),
            (
                vec![("State", "closed"), ("Participant", alice)],
                400,
                50384,
                "a conversation cannot start closed",
            ),
            (
                vec![("Attributes", "{oops"), ("Participant", alice)],
                400,
                50304,
                "conversation attributes not JSON",
            ),
            (
                vec![("UniqueName", "taken"), ("Participant", alice)],
                409,
                50353,
                "a unique name in use",
            ),
        ];
        for (form, status, code, why) in &cases {
            let mut form = form.clone();
            if !form.iter().any(|(k, _)| *k == "UniqueName") {
                form.push(("UniqueName", "fresh"));
            }
            let res = client
                .post(&format!("{prefix}/ConversationWithParticipants"), &form)
                .await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{why}: {}",
                res.body
            );
            res.assert_error(*status, *code);
            assert_eq!(
                conversations_of(&client, &prefix).await.len(),
                before,
                "{why}: no conversation was left behind"
            );
        }
        // Nothing holds the unique name or the identities of the refused requests.
        let ok = client
            .post(
                &format!("{prefix}/ConversationWithParticipants"),
                &[
                    ("UniqueName", "fresh"),
                    ("Participant", alice),
                    ("Participant", &fresh_pair),
                ],
            )
            .await;
        ok.assert_status(201);
        client
            .get(&format!("{prefix}/Conversations/fresh/Participants/alice"))
            .await
            .assert_status(200);
        client
            .delete(&format!("{prefix}/Conversations/fresh"))
            .await
            .assert_status(204);
    }
}
