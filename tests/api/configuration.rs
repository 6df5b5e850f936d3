//! The account-level configuration: `/v1/Configuration` (default service, messaging service and
//! timers, and their effect on the shorthand URLs and new conversations) and
//! `/v1/Configuration/Webhooks`.

use serde_json::{Value, json};

use crate::common::{Client, ErrorCase, account, assert_sid};
use crate::spec::assert_shape;

fn date(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap()
}

async fn configuration(client: &Client) -> Value {
    let res = client.get("/v1/Configuration").await;
    assert_shape("FetchConfiguration", 200, res.assert_status(200));
    res.body
}

#[tokio::test]
async fn fetch_shows_the_seeded_defaults_with_links() {
    let client = account().await;
    let body = configuration(&client).await;
    let service = client.default_service().await;
    assert_eq!(body["account_sid"], client.sid.as_str());
    assert_eq!(body["default_chat_service_sid"], service.as_str());
    assert_sid(&body["default_messaging_service_sid"], "MG");
    assert!(body["default_inactive_timer"].is_null());
    assert!(body["default_closed_timer"].is_null());
    assert_eq!(body["url"], format!("{}/v1/Configuration", client.base));
    assert_eq!(
        body["links"],
        json!({
            "service": format!("{}/v1/Services/{service}/Configuration", client.base),
            "webhooks": format!("{}/v1/Configuration/Webhooks", client.base),
        })
    );
}

#[tokio::test]
async fn update_sets_each_field_and_keeps_the_others() {
    let client = account().await;
    let second = client.new_service("second").await;
    let mg = "MG0123456789abcdef0123456789abcdef";
    let updated = client
        .post(
            "/v1/Configuration",
            &[
                ("DefaultChatServiceSid", second.as_str()),
                ("DefaultMessagingServiceSid", mg),
                ("DefaultInactiveTimer", "PT1M"),
                ("DefaultClosedTimer", "PT10M"),
            ],
        )
        .await;
    let body = updated.assert_status(200);
    assert_shape("UpdateConfiguration", 200, body);
    assert_eq!(
        (
            body["default_chat_service_sid"].as_str(),
            body["default_messaging_service_sid"].as_str(),
            body["default_inactive_timer"].as_str(),
            body["default_closed_timer"].as_str(),
        ),
        (Some(second.as_str()), Some(mg), Some("PT1M"), Some("PT10M"))
    );
    assert_eq!(
        body["links"]["service"],
        format!("{}/v1/Services/{second}/Configuration", client.base)
    );

    let partial = client
        .post("/v1/Configuration", &[("DefaultInactiveTimer", "P1D")])
        .await;
    let body = partial.assert_status(200);
    assert_eq!(body["default_inactive_timer"], "P1D");
    assert_eq!(body["default_closed_timer"], "PT10M", "not sent, kept");
    assert_eq!(body["default_chat_service_sid"], second.as_str());
    assert_eq!(configuration(&client).await, *body, "the update is stored");
}

#[tokio::test]
async fn default_chat_service_sid_retargets_the_shorthand_urls() {
    let client = account().await;
    let first = client.default_service().await;
    let second = client.new_service("second").await;
    let old = client
        .post("/v1/Conversations", &[("UniqueName", "before")])
        .await;
    let old_sid = old.body["sid"].as_str().unwrap().to_string();
    assert_eq!(old.body["chat_service_sid"], first.as_str());

    client
        .post("/v1/Configuration", &[("DefaultChatServiceSid", &second)])
        .await
        .assert_status(200);
    let created = client
        .post("/v1/Conversations", &[("UniqueName", "after")])
        .await;
    let body = created.assert_status(201);
    assert_eq!(body["chat_service_sid"], second.as_str());
    let new_sid = body["sid"].as_str().unwrap().to_string();

    // /v1 now names the second service: it lists and finds only what lives there.
    let listed = client
        .collect_pages("/v1/Conversations", "conversations")
        .await;
    let sids: Vec<&str> = listed.iter().map(|c| c["sid"].as_str().unwrap()).collect();
    assert_eq!(sids, [new_sid.as_str()]);
    client
        .get(&format!("/v1/Conversations/{old_sid}"))
        .await
        .assert_error(404, 20404);
    client
        .get(&format!("/v1/Services/{second}/Conversations/after"))
        .await
        .assert_status(200);
    // No data moved: the old conversation is still in the first service.
    client
        .get(&format!("/v1/Services/{first}/Conversations/{old_sid}"))
        .await
        .assert_status(200);

    client
        .post("/v1/Configuration", &[("DefaultChatServiceSid", &first)])
        .await
        .assert_status(200);
    client
        .get("/v1/Conversations/before")
        .await
        .assert_status(200);
    client
        .get("/v1/Conversations/after")
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn default_timers_apply_to_new_conversations_without_their_own() {
    let client = account().await;
    client
        .post(
            "/v1/Configuration",
            &[
                ("DefaultInactiveTimer", "PT5M"),
                ("DefaultClosedTimer", "PT20M"),
            ],
        )
        .await
        .assert_status(200);
    for prefix in client.prefixes().await {
        let created = client.post(&format!("{prefix}/Conversations"), &[]).await;
        let body = created.assert_status(201);
        let at = date(&body["date_created"]);
        let timers = &body["timers"];
        assert_eq!((date(&timers["date_inactive"]) - at).num_seconds(), 300);
        assert_eq!((date(&timers["date_closed"]) - at).num_seconds(), 1200);
    }

    // A conversation's own timers win over the defaults.
    let own = client
        .post(
            "/v1/Conversations",
            &[("State", "active"), ("Timers.Inactive", "PT2M")],
        )
        .await;
    let body = own.assert_status(201);
    let at = date(&body["date_created"]);
    assert_eq!(
        (date(&body["timers"]["date_inactive"]) - at).num_seconds(),
        120
    );

    // PT0S disables a default.
    client
        .post(
            "/v1/Configuration",
            &[
                ("DefaultInactiveTimer", "PT0S"),
                ("DefaultClosedTimer", "PT0S"),
            ],
        )
        .await
        .assert_status(200);
    let plain = client.post("/v1/Conversations", &[]).await;
    assert_eq!(plain.assert_status(201)["timers"], json!({}));
}

#[tokio::test]
async fn configuration_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let before = configuration(&client).await;
    let other = account().await;
    let foreign = other.default_service().await;
    let cases: &[ErrorCase] = &[
        (
            &[("DefaultChatServiceSid", "ISnope")],
            400,
            50050,
            "malformed service SID",
        ),
        (
            &[(
                "DefaultChatServiceSid",
                "IS00000000000000000000000000000000",
            )],
            400,
            50050,
            "unknown service",
        ),
        (
            &[("DefaultChatServiceSid", foreign.as_str())],
            400,
            50050,
            "another account's service",
        ),
        (
            &[(
                "DefaultMessagingServiceSid",
                "IS00000000000000000000000000000000",
            )],
            400,
            50341,
            "messaging service SID of the wrong kind",
        ),
        (
            &[("DefaultInactiveTimer", "five minutes")],
            400,
            50379,
            "inactive timer not a duration",
        ),
        (
            &[("DefaultInactiveTimer", "PT30S")],
            400,
            50375,
            "inactive timer under a minute",
        ),
        (
            &[("DefaultClosedTimer", "P1Y")],
            400,
            50380,
            "years are not a timer unit",
        ),
        (
            &[("DefaultClosedTimer", "PT9M")],
            400,
            50376,
            "closed timer under ten minutes",
        ),
        (
            &[
                ("DefaultInactiveTimer", "PT5M"),
                ("DefaultClosedTimer", "PT5M"),
            ],
            400,
            50376,
            "one bad field fails the whole update",
        ),
    ];
    client.assert_errors("/v1/Configuration", cases).await;
    assert_eq!(configuration(&client).await, before);
    assert_eq!(
        other.get("/v1/Configuration").await.body["default_chat_service_sid"],
        foreign.as_str(),
        "each account has its own configuration"
    );
    client
        .delete("/v1/Configuration")
        .await
        .assert_error(405, 20004);
}

async fn webhooks(client: &Client) -> Value {
    let res = client.get("/v1/Configuration/Webhooks").await;
    assert_shape("FetchConfigurationWebhook", 200, res.assert_status(200));
    res.body
}

#[tokio::test]
async fn account_webhooks_start_with_twilios_defaults_and_round_trip() {
    let client = account().await;
    assert_eq!(
        webhooks(&client).await,
        json!({
            "account_sid": client.sid,
            "method": "POST",
            "filters": null,
            "pre_webhook_url": null,
            "post_webhook_url": null,
            "target": "webhook",
            "url": format!("{}/v1/Configuration/Webhooks", client.base),
        })
    );
    let updated = client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("Method", "get"),
                ("Filters", "onMessageAdd"),
                ("Filters", "onConversationUpdated"),
                ("Filters", "onUserUpdated"),
                ("Filters", "onMessageAdd"),
                ("PreWebhookUrl", "https://example.com/pre"),
                ("PostWebhookUrl", "http://example.com:8080/post?x=1"),
                ("Target", "webhook"),
            ],
        )
        .await;
    let body = updated.assert_status(200);
    assert_shape("UpdateConfigurationWebhook", 200, body);
    assert_eq!(body["method"], "GET", "echoed upper case");
    assert_eq!(
        body["filters"],
        json!(["onMessageAdd", "onConversationUpdated", "onUserUpdated"])
    );
    assert_eq!(body["pre_webhook_url"], "https://example.com/pre");
    assert_eq!(body["post_webhook_url"], "http://example.com:8080/post?x=1");
    assert_eq!(body["target"], "webhook");
    assert_eq!(webhooks(&client).await, *body, "the update is stored");

    let partial = client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("Target", "flex"),
                ("PreWebhookUrl", ""),
                ("Method", "POST"),
            ],
        )
        .await;
    let body = partial.assert_status(200);
    assert_eq!(
        (
            body["target"].as_str(),
            body["method"].as_str(),
            &body["pre_webhook_url"]
        ),
        (Some("flex"), Some("POST"), &Value::Null),
        "an empty URL clears it"
    );
    assert_eq!(body["post_webhook_url"], "http://example.com:8080/post?x=1");
    assert_eq!(body["filters"].as_array().unwrap().len(), 3, "kept");

    let cleared = client
        .post("/v1/Configuration/Webhooks", &[("Filters", "")])
        .await;
    assert!(cleared.assert_status(200)["filters"].is_null());
}

#[tokio::test]
async fn account_webhook_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[("PostWebhookUrl", "https://example.com/post")],
        )
        .await
        .assert_status(200);
    let before = webhooks(&client).await;
    let cases: &[ErrorCase] = &[
        (&[("Method", "PUT")], 400, 50055, "method not GET or POST"),
        (
            &[("Filters", "onMessageSent")],
            400,
            50054,
            "a Chat event name, not a Conversations one",
        ),
        (
            &[("Filters", "onMessageAdded"), ("Filters", "onmessageadded")],
            400,
            50054,
            "event names are case-sensitive",
        ),
        (
            &[("PreWebhookUrl", "example.com/pre")],
            400,
            50054,
            "URL not absolute",
        ),
        (
            &[("PostWebhookUrl", "ftp://example.com/post")],
            400,
            50054,
            "URL not http(s)",
        ),
        (
            &[("Target", "studio")],
            400,
            20001,
            "target not webhook/flex",
        ),
    ];
    client
        .assert_errors("/v1/Configuration/Webhooks", cases)
        .await;
    assert_eq!(webhooks(&client).await, before);
    let other = account().await;
    assert!(
        webhooks(&other).await["post_webhook_url"].is_null(),
        "each account has its own webhook configuration"
    );
}
