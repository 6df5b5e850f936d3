//! A service's configuration: `/v1/Services/{IS}/Configuration` (default roles, reachability),
//! `.../Configuration/Notifications` (push settings, nested) and `.../Configuration/Webhooks`.

use serde_json::{Value, json};

use crate::common::{Client, ErrorCase, account, assert_sid};
use crate::spec::assert_shape;

/// The default service and a second one: the configuration routes exist only under
/// `/v1/Services/{sid}`, and every service has its own.
async fn services(client: &Client) -> Vec<String> {
    vec![
        client.default_service().await,
        client.new_service("second").await,
    ]
}

async fn configuration(client: &Client, service: &str) -> Value {
    let res = client
        .get(&format!("/v1/Services/{service}/Configuration"))
        .await;
    assert_shape("FetchServiceConfiguration", 200, res.assert_status(200));
    res.body
}

#[tokio::test]
async fn configuration_fetch_and_update() {
    let client = account().await;
    for service in services(&client).await {
        let base = format!("{}/v1/Services/{service}/Configuration", client.base);
        let body = configuration(&client, &service).await;
        assert_eq!(body["chat_service_sid"], service.as_str());
        for key in [
            "default_conversation_creator_role_sid",
            "default_conversation_role_sid",
            "default_chat_service_role_sid",
        ] {
            assert_sid(&body[key], "RL");
        }
        assert_eq!(body["reachability_enabled"], false);
        assert_eq!(body["url"], base.as_str());
        assert_eq!(
            body["links"],
            json!({
                "notifications": format!("{base}/Notifications"),
                "webhooks": format!("{base}/Webhooks"),
            })
        );

        // Both seeded conversation roles may fill either conversation default.
        let creator = body["default_conversation_creator_role_sid"]
            .as_str()
            .unwrap()
            .to_string();
        let member = body["default_conversation_role_sid"]
            .as_str()
            .unwrap()
            .to_string();
        let service_role = body["default_chat_service_role_sid"]
            .as_str()
            .unwrap()
            .to_string();
        let updated = client
            .post(
                &format!("/v1/Services/{service}/Configuration"),
                &[
                    ("DefaultConversationCreatorRoleSid", member.as_str()),
                    ("DefaultConversationRoleSid", creator.as_str()),
                    ("DefaultChatServiceRoleSid", service_role.as_str()),
                    ("ReachabilityEnabled", "true"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape("UpdateServiceConfiguration", 200, body);
        assert_eq!(
            (
                body["default_conversation_creator_role_sid"].as_str(),
                body["default_conversation_role_sid"].as_str(),
                body["default_chat_service_role_sid"].as_str(),
                body["reachability_enabled"].as_bool(),
            ),
            (
                Some(member.as_str()),
                Some(creator.as_str()),
                Some(service_role.as_str()),
                Some(true)
            )
        );
        assert_eq!(configuration(&client, &service).await, *body, "stored");

        let partial = client
            .post(
                &format!("/v1/Services/{service}/Configuration"),
                &[("ReachabilityEnabled", "false")],
            )
            .await;
        let body = partial.assert_status(200);
        assert_eq!(body["reachability_enabled"], false);
        assert_eq!(
            body["default_conversation_role_sid"],
            creator.as_str(),
            "kept"
        );
    }
}

#[tokio::test]
async fn configuration_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let [service, second] = <[String; 2]>::try_from(services(&client).await).unwrap();
    let before = configuration(&client, &service).await;
    let service_role = before["default_chat_service_role_sid"].as_str().unwrap();
    let conversation_role = before["default_conversation_role_sid"].as_str().unwrap();
    let elsewhere = configuration(&client, &second).await;
    let foreign_role = elsewhere["default_conversation_role_sid"].as_str().unwrap();
    let cases: &[ErrorCase] = &[
        (
            &[("DefaultConversationRoleSid", "RLnope")],
            400,
            50100,
            "malformed role SID",
        ),
        (
            &[(
                "DefaultConversationCreatorRoleSid",
                "RL00000000000000000000000000000000",
            )],
            400,
            50100,
            "unknown role",
        ),
        (
            &[("DefaultConversationRoleSid", foreign_role)],
            400,
            50100,
            "a role of another service",
        ),
        (
            &[("DefaultConversationRoleSid", service_role)],
            400,
            50105,
            "a service role as a conversation default",
        ),
        (
            &[("DefaultConversationCreatorRoleSid", service_role)],
            400,
            50105,
            "a service role as the creator default",
        ),
        (
            &[("DefaultChatServiceRoleSid", conversation_role)],
            400,
            50105,
            "a conversation role as the service default",
        ),
        (
            &[("ReachabilityEnabled", "maybe")],
            400,
            20001,
            "not a boolean",
        ),
        (
            &[
                ("ReachabilityEnabled", "true"),
                ("DefaultChatServiceRoleSid", conversation_role),
            ],
            400,
            50105,
            "one bad field fails the whole update",
        ),
    ];
    client
        .assert_errors(&format!("/v1/Services/{service}/Configuration"), cases)
        .await;
    assert_eq!(configuration(&client, &service).await, before);
}

#[tokio::test]
async fn unknown_or_foreign_services_are_404_on_every_configuration_path() {
    let client = account().await;
    let other = account().await;
    let foreign = other.default_service().await;
    for service in [
        "IS00000000000000000000000000000000".to_string(),
        "nope".to_string(),
        foreign,
    ] {
        for path in [
            "Configuration",
            "Configuration/Notifications",
            "Configuration/Webhooks",
        ] {
            let path = format!("/v1/Services/{service}/{path}");
            client.get(&path).await.assert_error(404, 20404);
            client.post(&path, &[]).await.assert_error(404, 20404);
        }
    }
}

async fn notifications(client: &Client, service: &str) -> Value {
    let res = client
        .get(&format!(
            "/v1/Services/{service}/Configuration/Notifications"
        ))
        .await;
    assert_shape("FetchServiceNotification", 200, res.assert_status(200));
    res.body
}

fn default_notifications(client: &Client, service: &str) -> Value {
    json!({
        "account_sid": client.sid,
        "chat_service_sid": service,
        "log_enabled": false,
        "new_message": {
            "enabled": false,
            "template": "You have a new message in ${CONVERSATION} from ${PARTICIPANT}: ${MESSAGE}",
            "sound": null,
            "badge_count_enabled": false,
            "with_media": {
                "enabled": false,
                "template": "You have a new message in ${CONVERSATION} with ${MEDIA_COUNT} media files: ${MEDIA}",
            },
        },
        "added_to_conversation": {
            "enabled": false,
            "template": "You have been added to a Conversation: ${CONVERSATION}",
            "sound": null,
        },
        "removed_from_conversation": {
            "enabled": false,
            "template": "You have been removed from a Conversation: ${CONVERSATION}",
            "sound": null,
        },
        "url": format!("{}/v1/Services/{service}/Configuration/Notifications", client.base),
    })
}

#[tokio::test]
async fn notifications_start_disabled_and_round_trip_every_field_nested() {
    let client = account().await;
    for service in services(&client).await {
        let path = format!("/v1/Services/{service}/Configuration/Notifications");
        assert_eq!(
            notifications(&client, &service).await,
            default_notifications(&client, &service)
        );
        let updated = client
            .post(
                &path,
                &[
                    ("LogEnabled", "true"),
                    ("NewMessage.Enabled", "true"),
                    ("NewMessage.Template", "${PARTICIPANT}: ${MESSAGE}"),
                    ("NewMessage.Sound", "ring"),
                    ("NewMessage.BadgeCountEnabled", "true"),
                    ("NewMessage.WithMedia.Enabled", "true"),
                    ("NewMessage.WithMedia.Template", "${MEDIA_COUNT} files"),
                    ("AddedToConversation.Enabled", "true"),
                    ("AddedToConversation.Template", "added to ${CONVERSATION}"),
                    ("AddedToConversation.Sound", "chime"),
                    ("RemovedFromConversation.Enabled", "True"),
                    ("RemovedFromConversation.Template", "removed"),
                    ("RemovedFromConversation.Sound", "bell"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape("UpdateServiceNotification", 200, body);
        let mut expected = default_notifications(&client, &service);
        expected["log_enabled"] = json!(true);
        expected["new_message"] = json!({
            "enabled": true,
            "template": "${PARTICIPANT}: ${MESSAGE}",
            "sound": "ring",
            "badge_count_enabled": true,
            "with_media": {"enabled": true, "template": "${MEDIA_COUNT} files"},
        });
        expected["added_to_conversation"] =
            json!({"enabled": true, "template": "added to ${CONVERSATION}", "sound": "chime"});
        expected["removed_from_conversation"] =
            json!({"enabled": true, "template": "removed", "sound": "bell"});
        assert_eq!(*body, expected);
        assert_eq!(notifications(&client, &service).await, expected, "stored");

        // One nested field changes alone.
        let partial = client
            .post(&path, &[("NewMessage.WithMedia.Enabled", "false")])
            .await;
        expected["new_message"]["with_media"]["enabled"] = json!(false);
        assert_eq!(*partial.assert_status(200), expected);
    }
}

#[tokio::test]
async fn notification_errors_change_nothing() {
    let client = account().await;
    let service = client.default_service().await;
    let path = format!("/v1/Services/{service}/Configuration/Notifications");
    let cases: &[ErrorCase] = &[
        (&[("LogEnabled", "yes")], 400, 20001, "LogEnabled"),
        (
            &[("NewMessage.Enabled", "1")],
            400,
            20001,
            "NewMessage.Enabled",
        ),
        (
            &[("NewMessage.BadgeCountEnabled", "on")],
            400,
            20001,
            "NewMessage.BadgeCountEnabled",
        ),
        (
            &[("NewMessage.WithMedia.Enabled", "enabled")],
            400,
            20001,
            "NewMessage.WithMedia.Enabled",
        ),
        (
            &[
                ("AddedToConversation.Template", "changed"),
                ("AddedToConversation.Enabled", "sure"),
            ],
            400,
            20001,
            "AddedToConversation.Enabled, with a valid template alongside",
        ),
        (
            &[("RemovedFromConversation.Enabled", "no")],
            400,
            20001,
            "RemovedFromConversation.Enabled",
        ),
    ];
    client.assert_errors(&path, cases).await;
    assert_eq!(
        notifications(&client, &service).await,
        default_notifications(&client, &service)
    );
}

async fn service_webhooks(client: &Client, service: &str) -> Value {
    let res = client
        .get(&format!("/v1/Services/{service}/Configuration/Webhooks"))
        .await;
    assert_shape(
        "FetchServiceWebhookConfiguration",
        200,
        res.assert_status(200),
    );
    res.body
}

#[tokio::test]
async fn service_webhooks_start_null_and_round_trip() {
    let client = account().await;
    for service in services(&client).await {
        let path = format!("/v1/Services/{service}/Configuration/Webhooks");
        assert_eq!(
            service_webhooks(&client, &service).await,
            json!({
                "account_sid": client.sid,
                "chat_service_sid": service,
                "url": format!("{}{path}", client.base),
                "pre_webhook_url": null,
                "post_webhook_url": null,
                "filters": null,
                "method": null,
            })
        );
        let updated = client
            .post(
                &path,
                &[
                    ("PreWebhookUrl", "https://www.example.com/pre"),
                    ("PostWebhookUrl", "https://www.example.com/post"),
                    ("Filters", "onMessageRemoved"),
                    ("Filters", "onParticipantAdd"),
                    ("Method", "get"),
                    ("Target", "flex"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape("UpdateServiceWebhookConfiguration", 200, body);
        assert_eq!(
            (
                body["pre_webhook_url"].as_str(),
                body["post_webhook_url"].as_str(),
                body["method"].as_str(),
            ),
            (
                Some("https://www.example.com/pre"),
                Some("https://www.example.com/post"),
                Some("GET")
            )
        );
        assert_eq!(
            body["filters"],
            json!(["onMessageRemoved", "onParticipantAdd"])
        );
        assert!(body.get("target").is_none(), "no target at service level");
        assert_eq!(service_webhooks(&client, &service).await, *body, "stored");

        let partial = client.post(&path, &[("PostWebhookUrl", "")]).await;
        let body = partial.assert_status(200);
        assert!(body["post_webhook_url"].is_null());
        assert_eq!(body["pre_webhook_url"], "https://www.example.com/pre");
    }
    let account_level = client.get("/v1/Configuration/Webhooks").await;
    assert!(
        account_level.body["pre_webhook_url"].is_null(),
        "a service's configuration is not the account's"
    );
}

/// A service whose URL was set without a `Method` calls it with POST: that is the method it
/// shows, on the update and on every fetch after.
#[tokio::test]
async fn a_service_webhook_url_set_without_a_method_shows_post() {
    let client = account().await;
    let service = client.default_service().await;
    let path = format!("/v1/Services/{service}/Configuration/Webhooks");
    let updated = client
        .post(
            &path,
            &[
                ("PostWebhookUrl", "https://www.example.com/post"),
                ("Filters", "onMessageAdded"),
            ],
        )
        .await;
    assert_eq!(updated.assert_status(200)["method"], "POST");
    let fetched = service_webhooks(&client, &service).await;
    assert_eq!(fetched["method"], "POST");
    assert_eq!(fetched["post_webhook_url"], "https://www.example.com/post");
    let cleared = client.post(&path, &[("PostWebhookUrl", "")]).await;
    assert!(
        cleared.assert_status(200)["method"].is_null(),
        "no URL, no call: nothing set to show"
    );
}

#[tokio::test]
async fn service_webhook_errors_change_nothing() {
    let client = account().await;
    let service = client.default_service().await;
    let path = format!("/v1/Services/{service}/Configuration/Webhooks");
    let cases: &[ErrorCase] = &[
        (
            &[("Method", "DELETE")],
            400,
            50055,
            "method not GET or POST",
        ),
        (
            &[("Filters", "onChannelUpdated")],
            400,
            50054,
            "not a Conversations event",
        ),
        (
            &[("PreWebhookUrl", "/relative/path")],
            400,
            50054,
            "URL not absolute",
        ),
        (
            &[
                ("PostWebhookUrl", "https://example.com/ok"),
                ("PreWebhookUrl", "mailto:someone@example.com"),
            ],
            400,
            50054,
            "URL not http(s), with a valid one alongside",
        ),
    ];
    client.assert_errors(&path, cases).await;
    assert!(
        service_webhooks(&client, &service).await["post_webhook_url"].is_null(),
        "nothing changed"
    );
}
