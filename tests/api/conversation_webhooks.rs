//! Conversation-scoped webhooks under both prefixes: the three targets, list pages, fetch,
//! update, delete, the limit of five, and every validation error.

use serde_json::{Value, json};

use crate::common::{Client, ErrorCase, account, assert_date, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

const FLOW: &str = "FW0123456789abcdef0123456789abcdef";

async fn conversation(client: &Client, prefix: &str) -> String {
    let res = client.post(&format!("{prefix}/Conversations"), &[]).await;
    res.assert_status(201)["sid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn create_fetch_update_delete_each_target_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = conversation(&client, &prefix).await;
        let list_path = format!("{prefix}/Conversations/{conv}/Webhooks");
        let create_op = op(
            &prefix,
            "CreateConversationScopedWebhook",
            "CreateServiceConversationScopedWebhook",
        );

        let webhook = client
            .post(
                &list_path,
                &[
                    ("Target", "webhook"),
                    ("Configuration.Url", "https://example.com/hook"),
                    ("Configuration.Method", "GET"),
                    ("Configuration.Filters", "onMessageAdded"),
                    ("Configuration.Filters", "onParticipantRemoved"),
                ],
            )
            .await;
        let body = webhook.assert_status(201);
        assert_shape(create_op, 201, body);
        assert_sid(&body["sid"], "WH");
        assert_date(&body["date_created"]);
        assert_eq!(body["date_created"], body["date_updated"]);
        assert_eq!(body["account_sid"], client.sid.as_str());
        assert_eq!(body["conversation_sid"], conv.as_str());
        assert_eq!(body["target"], "webhook");
        assert_eq!(
            body["configuration"],
            json!({
                "url": "https://example.com/hook",
                "method": "get",
                "filters": ["onMessageAdded", "onParticipantRemoved"],
            })
        );
        let sid = body["sid"].as_str().unwrap().to_string();
        assert_eq!(
            body["url"],
            format!("{}{list_path}/{sid}", client.base).as_str()
        );
        if prefix == "/v1" {
            assert!(body.get("chat_service_sid").is_none());
        } else {
            assert_eq!(
                body["chat_service_sid"],
                prefix.trim_start_matches("/v1/Services/")
            );
        }

        let trigger = client
            .post(
                &list_path,
                &[
                    ("Target", "trigger"),
                    ("Configuration.Url", "https://example.com/bot"),
                    ("Configuration.Triggers", "help"),
                    ("Configuration.Triggers", "agent"),
                ],
            )
            .await;
        let body = trigger.assert_status(201);
        assert_shape(create_op, 201, body);
        assert_eq!(
            body["configuration"],
            json!({
                "url": "https://example.com/bot",
                "method": "post",
                "triggers": ["help", "agent"],
            }),
            "the method defaults to post"
        );

        let studio = client
            .post(
                &list_path,
                &[
                    ("Target", "studio"),
                    ("Configuration.FlowSid", FLOW),
                    ("Configuration.ReplayAfter", "0"),
                ],
            )
            .await;
        let body = studio.assert_status(201);
        assert_shape(create_op, 201, body);
        assert_eq!(
            body["configuration"],
            json!({"flow_sid": FLOW, "replay_after": 0})
        );
        let studio_sid = body["sid"].as_str().unwrap().to_string();

        let fetched = client.get(&format!("{list_path}/{sid}")).await;
        assert_shape(
            op(
                &prefix,
                "FetchConversationScopedWebhook",
                "FetchServiceConversationScopedWebhook",
            ),
            200,
            fetched.assert_status(200),
        );
        assert_eq!(fetched.body, webhook.body);

        let updated = client
            .post(
                &format!("{list_path}/{sid}"),
                &[
                    ("Configuration.Url", "https://example.com/other"),
                    ("Configuration.Method", "post"),
                    ("Configuration.Filters", "onConversationUpdated"),
                    ("Target", "webhook"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(
            op(
                &prefix,
                "UpdateConversationScopedWebhook",
                "UpdateServiceConversationScopedWebhook",
            ),
            200,
            body,
        );
        assert_eq!(
            body["configuration"],
            json!({
                "url": "https://example.com/other",
                "method": "post",
                "filters": ["onConversationUpdated"],
            })
        );
        assert_eq!(body["date_created"], webhook.body["date_created"]);
        assert_eq!(client.get(&format!("{list_path}/{sid}")).await.body, *body);

        // A studio webhook's flow can move; its replay point stays (create-only).
        let other_flow = "FWfedcba9876543210fedcba9876543210";
        let moved = client
            .post(
                &format!("{list_path}/{studio_sid}"),
                &[
                    ("Configuration.FlowSid", other_flow),
                    ("Configuration.ReplayAfter", "7"),
                ],
            )
            .await;
        assert_eq!(
            moved.assert_status(200)["configuration"],
            json!({"flow_sid": other_flow, "replay_after": 0})
        );

        let deleted = client.delete(&format!("{list_path}/{sid}")).await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        for res in [
            client.get(&format!("{list_path}/{sid}")).await,
            client
                .post(
                    &format!("{list_path}/{sid}"),
                    &[("Configuration.Url", "https://x.example")],
                )
                .await,
            client.delete(&format!("{list_path}/{sid}")).await,
        ] {
            res.assert_error(404, 20404);
        }
    }
}

#[tokio::test]
async fn lists_page_in_creation_order_and_hold_at_most_five() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = conversation(&client, &prefix).await;
        let path = format!("{prefix}/Conversations/{conv}/Webhooks");
        let list_op = op(
            &prefix,
            "ListConversationScopedWebhook",
            "ListServiceConversationScopedWebhook",
        );
        let empty = client.get(&path).await;
        assert_shape(list_op, 200, empty.assert_status(200));
        assert_eq!(empty.body["webhooks"], json!([]));
        assert_eq!(empty.body["meta"]["page_size"], 5, "default page size");
        assert_eq!(empty.body["meta"]["key"], "webhooks");

        let mut sids = Vec::new();
        for i in 0..5 {
            let url = format!("https://example.com/{i}");
            let res = client
                .post(
                    &path,
                    &[
                        ("Target", "webhook"),
                        ("Configuration.Url", url.as_str()),
                        ("Configuration.Filters", "onMessageAdded"),
                    ],
                )
                .await;
            sids.push(res.assert_status(201)["sid"].as_str().unwrap().to_string());
        }
        client
            .post(
                &path,
                &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
            )
            .await
            .assert_error(400, 50361);

        let first = client.get(&format!("{path}?PageSize=2")).await;
        assert_shape(list_op, 200, first.assert_status(200));
        assert!(first.body["meta"]["next_page_url"].is_string());
        let all = client
            .collect_pages(&format!("{path}?PageSize=2"), "webhooks")
            .await;
        let listed: Vec<&str> = all.iter().map(|w| w["sid"].as_str().unwrap()).collect();
        assert_eq!(listed, sids.iter().map(String::as_str).collect::<Vec<_>>());

        let clamped = client.get(&format!("{path}?PageSize=50")).await;
        assert_eq!(clamped.body["meta"]["page_size"], 5, "the maximum is 5");
        assert_eq!(clamped.body["webhooks"].as_array().unwrap().len(), 5);

        // Room frees up when one is deleted; the limit is per conversation.
        client
            .delete(&format!("{path}/{}", sids[0]))
            .await
            .assert_status(204);
        client
            .post(
                &path,
                &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
            )
            .await
            .assert_status(201);
        let other = conversation(&client, &prefix).await;
        client
            .post(
                &format!("{prefix}/Conversations/{other}/Webhooks"),
                &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
            )
            .await
            .assert_status(201);
    }
}

#[tokio::test]
async fn create_errors_answer_twilio_codes_and_create_nothing() {
    let client = account().await;
    let conv = conversation(&client, "/v1").await;
    let path = format!("/v1/Conversations/{conv}/Webhooks");
    let url = ("Configuration.Url", "https://example.com/hook");
    let filter = ("Configuration.Filters", "onMessageAdded");
    let long_url = format!("https://example.com/{}", "x".repeat(493));
    let long_trigger = "t".repeat(249);
    let cases: &[ErrorCase] = &[
        (&[url, filter], 400, 50368, "no target"),
        (&[("Target", ""), url, filter], 400, 50368, "empty target"),
        (
            &[("Target", "bot"), url, filter],
            400,
            50364,
            "unknown target",
        ),
        (
            &[("Target", "Webhook"), url, filter],
            400,
            50364,
            "targets are lower case",
        ),
        (
            &[("Target", "webhook"), filter],
            400,
            50369,
            "webhook without URL",
        ),
        (
            &[("Target", "trigger"), ("Configuration.Triggers", "help")],
            400,
            50369,
            "trigger without URL",
        ),
        (
            &[("Target", "webhook"), url],
            400,
            50370,
            "webhook without filters",
        ),
        (
            &[("Target", "trigger"), url],
            400,
            50371,
            "trigger without keywords",
        ),
        (&[("Target", "studio")], 400, 50367, "studio without a flow"),
        (
            &[("Target", "studio"), ("Configuration.FlowSid", "FWnope")],
            400,
            50367,
            "malformed flow SID",
        ),
        (
            &[
                ("Target", "webhook"),
                ("Configuration.Url", long_url.as_str()),
                filter,
            ],
            400,
            50372,
            "URL over 512 characters",
        ),
        (
            &[
                ("Target", "webhook"),
                url,
                ("Configuration.Filters", "onMessageAdd"),
            ],
            400,
            50365,
            "a pre-event cannot be a scoped filter",
        ),
        (
            &[
                ("Target", "webhook"),
                url,
                filter,
                ("Configuration.Filters", "onMessageSent"),
            ],
            400,
            50365,
            "not an event",
        ),
        (
            &[
                ("Target", "trigger"),
                url,
                ("Configuration.Triggers", "a"),
                ("Configuration.Triggers", "b"),
                ("Configuration.Triggers", "c"),
                ("Configuration.Triggers", "d"),
                ("Configuration.Triggers", "e"),
                ("Configuration.Triggers", "f"),
            ],
            400,
            50362,
            "six keywords",
        ),
        (
            &[
                ("Target", "trigger"),
                url,
                ("Configuration.Triggers", "help"),
                ("Configuration.Triggers", ""),
            ],
            400,
            50366,
            "an empty keyword",
        ),
        (
            &[
                ("Target", "trigger"),
                url,
                ("Configuration.Triggers", long_trigger.as_str()),
            ],
            400,
            50366,
            "a keyword over 248 characters",
        ),
        (
            &[
                ("Target", "webhook"),
                url,
                filter,
                ("Configuration.Method", "PUT"),
            ],
            400,
            50055,
            "method not GET or POST",
        ),
        (
            &[
                ("Target", "studio"),
                ("Configuration.FlowSid", FLOW),
                ("Configuration.ReplayAfter", "last"),
            ],
            400,
            20001,
            "replay point not a number",
        ),
        (
            &[
                ("Target", "studio"),
                ("Configuration.FlowSid", FLOW),
                ("Configuration.ReplayAfter", "-1"),
            ],
            400,
            20001,
            "replay point not an index",
        ),
    ];
    client.assert_errors(&path, cases).await;
    // The limits themselves are allowed.
    let max_url = format!("https://example.com/{}", "x".repeat(492));
    let max_trigger = "t".repeat(248);
    client
        .post(
            &path,
            &[
                ("Target", "trigger"),
                ("Configuration.Url", max_url.as_str()),
                ("Configuration.Triggers", max_trigger.as_str()),
                ("Configuration.Triggers", "b"),
                ("Configuration.Triggers", "c"),
                ("Configuration.Triggers", "d"),
                ("Configuration.Triggers", "e"),
            ],
        )
        .await
        .assert_status(201);
    let listed = client.get(&path).await;
    assert_eq!(
        listed.body["webhooks"].as_array().unwrap().len(),
        1,
        "no failed create left a row"
    );
}

#[tokio::test]
async fn update_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let conv = conversation(&client, "/v1").await;
    let path = format!("/v1/Conversations/{conv}/Webhooks");
    let created = client
        .post(
            &path,
            &[
                ("Target", "webhook"),
                ("Configuration.Url", "https://example.com/hook"),
                ("Configuration.Filters", "onMessageAdded"),
            ],
        )
        .await;
    let sid = created.body["sid"].as_str().unwrap().to_string();
    let long_url = format!("https://example.com/{}", "x".repeat(493));
    let cases: &[ErrorCase] = &[
        (
            &[("Target", "studio")],
            400,
            50364,
            "the target cannot change",
        ),
        (&[("Target", "robot")], 400, 50364, "unknown target"),
        (
            &[("Configuration.Filters", "onConversationAdd")],
            400,
            50365,
            "a pre-event",
        ),
        (
            &[("Configuration.Url", long_url.as_str())],
            400,
            50372,
            "URL over 512 characters",
        ),
        (
            &[("Configuration.Method", "PATCH")],
            400,
            50055,
            "method not GET or POST",
        ),
        (
            &[(
                "Configuration.FlowSid",
                "CH0123456789abcdef0123456789abcdef",
            )],
            400,
            50367,
            "flow SID of the wrong kind",
        ),
        (
            &[
                ("Configuration.Url", "https://example.com/new"),
                ("Configuration.Triggers", ""),
            ],
            400,
            50366,
            "one bad field fails the whole update",
        ),
    ];
    client.assert_errors(&format!("{path}/{sid}"), cases).await;
    assert_eq!(
        client.get(&format!("{path}/{sid}")).await.body,
        created.body,
        "nothing changed"
    );
}

#[tokio::test]
async fn webhooks_are_found_only_through_their_own_conversation() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let conv = conversation(&client, "/v1").await;
    client
        .post(
            &format!("/v1/Conversations/{conv}"),
            &[("UniqueName", "named")],
        )
        .await
        .assert_status(200);
    let created = client
        .post(
            "/v1/Conversations/named/Webhooks",
            &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
        )
        .await;
    let body = created.assert_status(201);
    assert_eq!(body["conversation_sid"], conv.as_str(), "unique names work");
    let sid = body["sid"].as_str().unwrap().to_string();
    client
        .get(&format!("/v1/Conversations/named/Webhooks/{sid}"))
        .await
        .assert_status(200);

    let sibling = conversation(&client, "/v1").await;
    let other = account().await;
    let not_found = [
        (
            &client,
            format!("/v1/Conversations/{sibling}/Webhooks/{sid}"),
        ),
        (
            &client,
            format!("{}/Conversations/{conv}/Webhooks/{sid}", prefixes[1]),
        ),
        (
            &client,
            format!("/v1/Conversations/{conv}/Webhooks/WH00000000000000000000000000000000"),
        ),
        (&client, format!("/v1/Conversations/{conv}/Webhooks/nope")),
        (&other, format!("/v1/Conversations/{conv}/Webhooks/{sid}")),
    ];
    for (who, path) in not_found {
        who.get(&path).await.assert_error(404, 20404);
        who.post(&path, &[("Configuration.FlowSid", FLOW)])
            .await
            .assert_error(404, 20404);
        who.delete(&path).await.assert_error(404, 20404);
    }
    for path in [
        "/v1/Conversations/CH00000000000000000000000000000000/Webhooks".to_string(),
        format!("{}/Conversations/{conv}/Webhooks", prefixes[1]),
    ] {
        client.get(&path).await.assert_error(404, 20404);
        client
            .post(
                &path,
                &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
            )
            .await
            .assert_error(404, 20404);
    }
    other
        .get(&format!("/v1/Conversations/{conv}/Webhooks"))
        .await
        .assert_error(404, 20404);

    // Deleting the conversation takes its webhooks with it.
    client
        .delete(&format!("/v1/Conversations/{conv}"))
        .await
        .assert_status(204);
    let recreated = client
        .post("/v1/Conversations", &[("UniqueName", "named")])
        .await;
    recreated.assert_status(201);
    let listed = client.get("/v1/Conversations/named/Webhooks").await;
    assert_eq!(listed.assert_status(200)["webhooks"], json!([]));
}
