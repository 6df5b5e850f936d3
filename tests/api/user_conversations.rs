//! User Conversations under both prefixes: the conversations a user's identity takes part in,
//! addressed by user SID or identity and conversation SID or unique name; the notification
//! level and read horizon (shared with the participant), unread counts, leaving, and errors.

use serde_json::Value;

use crate::common::{Client, ErrorCase, account};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

async fn new_conversation(client: &Client, prefix: &str, form: &[(&str, &str)]) -> String {
    let res = client.post(&format!("{prefix}/Conversations"), form).await;
    res.assert_status(201)["sid"].as_str().unwrap().to_string()
}

/// Adds a chat participant through the Participants resource; returns its SID.
async fn join(client: &Client, prefix: &str, conversation: &str, identity: &str) -> String {
    let res = client
        .post(
            &format!("{prefix}/Conversations/{conversation}/Participants"),
            &[("Identity", identity)],
        )
        .await;
    res.assert_status(201)["sid"].as_str().unwrap().to_string()
}

async fn say(client: &Client, prefix: &str, conversation: &str, body: &str) {
    client
        .post(
            &format!("{prefix}/Conversations/{conversation}/Messages"),
            &[("Author", "system"), ("Body", body)],
        )
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_user_in_no_conversation_has_an_empty_list_and_nothing_to_fetch() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let user = client
            .post(&format!("{prefix}/Users"), &[("Identity", "loner")])
            .await;
        let user_sid = user.body["sid"].as_str().unwrap().to_string();
        let conv = new_conversation(&client, &prefix, &[("UniqueName", "elsewhere")]).await;
        for user_ref in [user_sid.as_str(), "loner"] {
            let list = client
                .get(&format!("{prefix}/Users/{user_ref}/Conversations"))
                .await;
            assert_shape(
                op(
                    &prefix,
                    "ListUserConversation",
                    "ListServiceUserConversation",
                ),
                200,
                list.assert_status(200),
            );
            assert_eq!(list.body["conversations"], serde_json::json!([]));
            assert_eq!(list.body["meta"]["key"], "conversations");
            assert_eq!(
                list.body["meta"]["url"],
                format!(
                    "{}{prefix}/Users/{user_sid}/Conversations?PageSize=50&Page=0",
                    client.base
                )
            );
        }
        // A conversation the user is not in is not one of the user's conversations.
        for conv_ref in [conv.as_str(), "elsewhere"] {
            let path = format!("{prefix}/Users/loner/Conversations/{conv_ref}");
            client.get(&path).await.assert_error(404, 20404);
            client
                .post(&path, &[("NotificationLevel", "muted")])
                .await
                .assert_error(404, 20404);
            client.delete(&path).await.assert_error(404, 20404);
        }
        for path in [
            format!("{prefix}/Users/nobody/Conversations"),
            format!("{prefix}/Users/US00000000000000000000000000000000/Conversations"),
            format!("{prefix}/Users/nobody/Conversations/{conv}"),
            format!("{prefix}/Users/loner/Conversations/CH00000000000000000000000000000000"),
            format!("{prefix}/Users/loner/Conversations/no-such-name"),
        ] {
            client.get(&path).await.assert_error(404, 20404);
        }
        client
            .get(&format!(
                "{prefix}/Users/loner/Conversations?PageToken=bogus"
            ))
            .await
            .assert_error(400, 21481);
    }
}

#[tokio::test]
async fn update_parameters_are_validated_before_anything_is_looked_up() {
    let client = account().await;
    client.post("/v1/Users", &[("Identity", "u")]).await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let path = format!("/v1/Users/u/Conversations/{conv}");
    for (form, status, code, why) in update_error_cases() {
        let res = client.post(&path, form).await;
        assert_eq!(
            (res.status, res.body["code"].as_u64()),
            (*status, Some(*code)),
            "{why}: {}",
            res.body
        );
    }
}

fn update_error_cases() -> &'static [ErrorCase<'static>] {
    &[
        (
            &[("NotificationLevel", "loud")],
            400,
            50210,
            "unknown notification level",
        ),
        (
            &[("NotificationLevel", "")],
            400,
            50210,
            "empty notification level",
        ),
        (
            &[("NotificationLevel", "Muted")],
            400,
            50210,
            "levels are lower case",
        ),
        (
            &[("LastReadMessageIndex", "three")],
            400,
            50421,
            "index not a number",
        ),
        (
            &[("LastReadMessageIndex", "-1")],
            400,
            50421,
            "negative index",
        ),
        (
            &[("LastReadMessageIndex", "1.5")],
            400,
            50421,
            "fractional index",
        ),
        (
            &[("LastReadTimestamp", "last tuesday")],
            400,
            50405,
            "timestamp not a date",
        ),
    ]
}

#[tokio::test]
async fn list_fetch_update_delete_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let identity = "agent 7@example.com";
        let user = client
            .post(&format!("{prefix}/Users"), &[("Identity", identity)])
            .await;
        let user_sid = user.body["sid"].as_str().unwrap().to_string();
        let conv = new_conversation(
            &client,
            &prefix,
            &[
                ("FriendlyName", "support"),
                ("UniqueName", "ticket-1"),
                ("Attributes", r#"{"priority":1}"#),
                ("State", "active"),
                ("Timers.Inactive", "PT1M"),
            ],
        )
        .await;
        let participant = join(&client, &prefix, &conv, identity).await;
        // Someone else's conversation does not show.
        let elsewhere = new_conversation(&client, &prefix, &[]).await;
        join(&client, &prefix, &elsewhere, "someone else").await;

        let encoded_identity = "agent%207%40example.com";
        let list = client
            .get(&format!("{prefix}/Users/{encoded_identity}/Conversations"))
            .await;
        assert_shape(
            op(
                &prefix,
                "ListUserConversation",
                "ListServiceUserConversation",
            ),
            200,
            list.assert_status(200),
        );
        let listed = list.body["conversations"].as_array().unwrap();
        assert_eq!(listed.len(), 1);
        let row = &listed[0];
        let conv_url = format!("{}{prefix}/Conversations/{conv}", client.base);
        let expected = [
            ("conversation_sid", Value::from(conv.as_str())),
            ("participant_sid", Value::from(participant.as_str())),
            ("user_sid", Value::from(user_sid.as_str())),
            ("friendly_name", Value::from("support")),
            ("unique_name", Value::from("ticket-1")),
            ("attributes", Value::from(r#"{"priority":1}"#)),
            ("conversation_state", Value::from("active")),
            ("notification_level", Value::from("default")),
            ("last_read_message_index", Value::Null),
            ("unread_messages_count", Value::Null),
            (
                "url",
                Value::from(format!(
                    "{}{prefix}/Users/{user_sid}/Conversations/{conv}",
                    client.base
                )),
            ),
        ];
        for (field, value) in expected {
            assert_eq!(row[field], value, "{field}");
        }
        assert!(row["timers"]["date_inactive"].is_string());
        assert_eq!(
            row["links"],
            serde_json::json!({
                "participant": format!("{conv_url}/Participants/{participant}"),
                "conversation": conv_url,
            })
        );

        for (user_ref, conv_ref) in [
            (user_sid.as_str(), conv.as_str()),
            (encoded_identity, "ticket-1"),
        ] {
            let fetched = client
                .get(&format!(
                    "{prefix}/Users/{user_ref}/Conversations/{conv_ref}"
                ))
                .await;
            assert_shape(
                op(
                    &prefix,
                    "FetchUserConversation",
                    "FetchServiceUserConversation",
                ),
                200,
                fetched.assert_status(200),
            );
            assert_eq!(fetched.body, *row);
        }

        let path = format!("{prefix}/Users/{encoded_identity}/Conversations/ticket-1");
        let updated = client
            .post(
                &path,
                &[
                    ("NotificationLevel", "muted"),
                    ("LastReadMessageIndex", "0"),
                    ("LastReadTimestamp", "2024-05-01T10:00:00.000Z"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(
            op(
                &prefix,
                "UpdateUserConversation",
                "UpdateServiceUserConversation",
            ),
            200,
            body,
        );
        assert_eq!(body["notification_level"], "muted");
        assert_eq!(body["last_read_message_index"], 0);
        assert_eq!(body["unread_messages_count"], 0);
        let kept = client.post(&path, &[]).await;
        assert_eq!(
            (
                &kept.body["notification_level"],
                &kept.body["last_read_message_index"]
            ),
            (&Value::from("muted"), &Value::from(0)),
            "fields not sent are kept"
        );

        let deleted = client.delete(&path).await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        client.get(&path).await.assert_error(404, 20404);
        client.delete(&path).await.assert_error(404, 20404);
        client
            .get(&format!(
                "{prefix}/Conversations/{conv}/Participants/{participant}"
            ))
            .await
            .assert_error(404, 20404);
        let list = client
            .get(&format!("{prefix}/Users/{user_sid}/Conversations"))
            .await;
        assert_eq!(list.body["conversations"], serde_json::json!([]));
        client
            .get(&format!("{prefix}/Users/{user_sid}"))
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn unread_count_is_null_until_the_horizon_is_set_then_counts_later_messages() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        join(&client, &prefix, &conv, "reader").await;
        for i in 0..5 {
            say(&client, &prefix, &conv, &format!("m{i}")).await; // indexes 0..=4
        }
        let path = format!("{prefix}/Users/reader/Conversations/{conv}");
        let unread = |res: &crate::common::Resp| res.body["unread_messages_count"].clone();
        assert_eq!(unread(&client.get(&path).await), Value::Null);

        let steps: &[(&str, Value)] = &[
            ("1", Value::from(3)),
            ("4", Value::from(0)),
            ("0", Value::from(4)),
            ("99", Value::from(0)),
            ("", Value::Null),
        ];
        for (index, expected) in steps {
            let res = client.post(&path, &[("LastReadMessageIndex", index)]).await;
            res.assert_status(200);
            assert_eq!(unread(&res), *expected, "after reading up to {index:?}");
            assert_eq!(unread(&client.get(&path).await), *expected);
        }
        client
            .post(&path, &[("LastReadMessageIndex", "2")])
            .await
            .assert_status(200);
        say(&client, &prefix, &conv, "one more").await;
        let listed = client
            .get(&format!("{prefix}/Users/reader/Conversations"))
            .await;
        assert_eq!(
            listed.body["conversations"][0]["unread_messages_count"], 3,
            "indexes 3, 4 and 5"
        );
    }
}

#[tokio::test]
async fn the_read_horizon_is_the_participants_own() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let participant = join(&client, &prefix, &conv, "ann").await;
        let through_user = format!("{prefix}/Users/ann/Conversations/{conv}");
        let through_participant =
            format!("{prefix}/Conversations/{conv}/Participants/{participant}");
        client
            .post(
                &through_user,
                &[
                    ("LastReadMessageIndex", "7"),
                    ("LastReadTimestamp", "2024-05-01T10:00:00Z"),
                ],
            )
            .await
            .assert_status(200);
        let seen = client.get(&through_participant).await;
        assert_eq!(seen.assert_status(200)["last_read_message_index"], 7);
        assert_eq!(seen.body["last_read_timestamp"], "2024-05-01T10:00:00Z");
        client
            .post(&through_participant, &[("LastReadMessageIndex", "9")])
            .await
            .assert_status(200);
        let seen = client.get(&through_user).await;
        assert_eq!(seen.body["last_read_message_index"], 9);
    }
}

#[tokio::test]
async fn failed_updates_change_nothing() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    join(&client, "/v1", &conv, "u").await;
    let path = format!("/v1/Users/u/Conversations/{conv}");
    let before = client
        .post(
            &path,
            &[
                ("NotificationLevel", "muted"),
                ("LastReadMessageIndex", "2"),
            ],
        )
        .await;
    before.assert_status(200);
    for (form, status, code, why) in update_error_cases() {
        let res = client.post(&path, form).await;
        assert_eq!(
            (res.status, res.body["code"].as_u64()),
            (*status, Some(*code)),
            "{why}: {}",
            res.body
        );
    }
    let mixed = client
        .post(
            &path,
            &[
                ("NotificationLevel", "default"),
                ("LastReadMessageIndex", "x"),
            ],
        )
        .await;
    mixed.assert_error(400, 50421);
    assert_eq!(client.get(&path).await.body, before.body);
}

#[tokio::test]
async fn lists_page_by_token_in_conversation_order() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let mut conversations = Vec::new();
        for _ in 0..5 {
            conversations.push(new_conversation(&client, &prefix, &[]).await);
        }
        // Joined in another order than the conversations were created.
        for conv in conversations.iter().rev() {
            join(&client, &prefix, conv, "busy").await;
        }
        let first = client
            .get(&format!("{prefix}/Users/busy/Conversations?PageSize=2"))
            .await;
        assert_shape(
            op(
                &prefix,
                "ListUserConversation",
                "ListServiceUserConversation",
            ),
            200,
            first.assert_status(200),
        );
        let all = client
            .collect_pages(
                &format!("{prefix}/Users/busy/Conversations?PageSize=2"),
                "conversations",
            )
            .await;
        let listed: Vec<&str> = all
            .iter()
            .map(|c| c["conversation_sid"].as_str().unwrap())
            .collect();
        assert_eq!(listed, conversations);
        let clamped = client
            .get(&format!("{prefix}/Users/busy/Conversations?PageSize=500"))
            .await;
        assert_eq!(clamped.body["meta"]["page_size"], 50);
    }
}
