//! Webhooks that really fire: real HTTP receivers on loopback, signed requests, filters, the
//! `X-Twilio-Webhook-Enabled` gate, pre-action vetoes and modifications, retries, restarts.

use confab::webhooks::signature::sign;

use crate::common::{TestServer, account, service_webhooks};
use crate::receiver::{Received, Receiver};

const ENABLED: (&str, &str) = ("X-Twilio-Webhook-Enabled", "true");

/// The signature a Twilio validator expects for this request, computed independently of how
/// confab built it (the SDK conformance suite checks it again with the official validator).
fn assert_signed(received: &Received, auth_token: &str) {
    let params = if received.method == "POST" {
        received.params.clone()
    } else {
        Vec::new()
    };
    assert_eq!(
        received.signature,
        sign(auth_token, &received.url, &params),
        "{received:#?}"
    );
}

#[tokio::test]
async fn post_action_events_are_signed_and_carry_twilios_parameters() {
    let client = account().await;
    let receiver = Receiver::start();
    service_webhooks(
        &client,
        &receiver,
        &[
            "onConversationAdded",
            "onConversationUpdated",
            "onConversationStateUpdated",
        ],
    )
    .await;
    let created = client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "hooked"), ("UniqueName", "u1")],
            &[ENABLED],
        )
        .await;
    let sid = created.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let added = &receiver.wait_for_event(1, "onConversationAdded").await[0];
    assert_eq!(added.url, receiver.url("/post"));
    for (name, value) in [
        ("AccountSid", client.sid.as_str()),
        ("ConversationSid", sid.as_str()),
        ("FriendlyName", "hooked"),
        ("UniqueName", "u1"),
        ("State", "active"),
        ("Source", "API"),
        ("RetryCount", "0"),
    ] {
        assert_eq!(added.param(name), Some(value), "{name} in {added:#?}");
    }
    assert!(added.param("DateCreated").is_some() && added.param("ChatServiceSid").is_some());
    assert!(!added.idempotency_token.is_empty());
    assert_signed(added, &client.token);

    client
        .post_with_headers(
            &format!("/v1/Conversations/{sid}"),
            &[("State", "inactive")],
            &[ENABLED],
        )
        .await
        .assert_status(200);
    let state = &receiver
        .wait_for_event(1, "onConversationStateUpdated")
        .await[0];
    assert_eq!(
        (
            state.param("StateFrom"),
            state.param("StateTo"),
            state.param("Reason")
        ),
        (Some("active"), Some("inactive"), Some("API"))
    );
    receiver.wait_for_event(1, "onConversationUpdated").await;
}

#[tokio::test]
async fn rest_actions_fire_webhooks_only_with_the_header_and_only_for_filtered_events() {
    let client = account().await;
    let receiver = Receiver::start();
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    client
        .post("/v1/Conversations", &[("FriendlyName", "silent")])
        .await
        .assert_status(201);
    let conv = client
        .post_with_headers("/v1/Conversations", &[("FriendlyName", "loud")], &[ENABLED])
        .await;
    let conv = conv.body["sid"].as_str().unwrap().to_string();
    // Not in the filters: must not be sent, though the header is there.
    client
        .delete_with_headers(&format!("/v1/Conversations/{conv}"), &[ENABLED])
        .await
        .assert_status(204);
    // A later event that is in the filters marks the point by which anything queued earlier went out.
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "marker")],
            &[ENABLED],
        )
        .await;
    let added = receiver.wait_for_event(2, "onConversationAdded").await;
    let names: Vec<_> = added
        .iter()
        .map(|r| r.param("FriendlyName").unwrap())
        .collect();
    assert_eq!(names, ["loud", "marker"]);
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.url.ends_with("/post") && r.event() == "onConversationAdded")
    );
}

#[tokio::test]
async fn a_pre_action_rejection_vetoes_the_action() {
    let client = account().await;
    let receiver = Receiver::start();
    service_webhooks(
        &client,
        &receiver,
        &["onConversationAdd", "onConversationAdded"],
    )
    .await;
    receiver.answer(&[(403, "no")]);
    let res = client
        .post_with_headers("/v1/Conversations", &[("UniqueName", "vetoed")], &[ENABLED])
        .await;
    res.assert_error(400, 50056);
    let pre = &receiver.wait_for_event(1, "onConversationAdd").await[0];
    assert_eq!(pre.url, receiver.url("/pre"));
    assert_eq!(pre.param("UniqueName"), Some("vetoed"));
    assert_signed(pre, &client.token);
    client
        .get("/v1/Conversations/vetoed")
        .await
        .assert_error(404, 20404);
    let listed = client.get("/v1/Conversations").await;
    assert_eq!(
        listed.body["conversations"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn a_pre_action_json_answer_modifies_the_action() {
    let client = account().await;
    let receiver = Receiver::start();
    service_webhooks(
        &client,
        &receiver,
        &["onConversationAdd", "onConversationAdded"],
    )
    .await;
    receiver.answer(&[(200, r#"{"friendly_name":"renamed by hook"}"#)]);
    let created = client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "original")],
            &[ENABLED],
        )
        .await;
    assert_eq!(
        created.assert_status(201)["friendly_name"],
        "renamed by hook"
    );
    let added = &receiver.wait_for_event(1, "onConversationAdded").await[0];
    assert_eq!(added.param("FriendlyName"), Some("renamed by hook"));
}

#[tokio::test]
async fn a_pre_action_target_that_is_unreachable_lets_the_action_proceed() {
    let client = account().await;
    let service = client.default_service().await;
    let dead = "http://127.0.0.1:9/pre"; // the discard port: nothing listens
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[("PreWebhookUrl", dead), ("Filters", "onConversationAdd")],
        )
        .await
        .assert_status(200);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "fail-open")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_failing_target_is_retried_with_a_rising_retry_count() {
    // Its own server: moving the clock must not move the shared server's timers.
    let server = TestServer::start(":memory:");
    let client = server.new_account().await;
    let receiver = Receiver::start();
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    receiver.answer(&[(500, ""), (503, "")]);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "retried")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onConversationAdded").await;
    // Backoff follows the server's clock: move it instead of waiting.
    for _ in 0..20 {
        if receiver.received().len() >= 3 {
            break;
        }
        server.advance("PT1M").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let attempts = receiver.wait_for_event(3, "onConversationAdded").await;
    let counts: Vec<_> = attempts
        .iter()
        .map(|r| r.param("RetryCount").unwrap())
        .collect();
    assert_eq!(counts, ["0", "1", "2"]);
    assert!(
        attempts
            .iter()
            .all(|r| r.idempotency_token == attempts[0].idempotency_token)
    );
    let log = client.get("/confab/Webhooks/Deliveries").await;
    let outcomes: Vec<_> = log.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["delivered", "retrying", "retrying"],
        "newest first"
    );
}

#[tokio::test]
async fn undelivered_events_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let receiver = Receiver::start();
    receiver.down(503);
    let server = TestServer::start(db.to_str().unwrap());
    let client = server.new_account().await;
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "durable")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onConversationAdded").await;
    server.stop();

    receiver.up();
    let server = TestServer::start(db.to_str().unwrap());
    for _ in 0..20 {
        if receiver
            .received()
            .iter()
            .any(|r| r.param("RetryCount") == Some("1"))
        {
            break;
        }
        server.advance("PT1M").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let delivered = receiver
        .wait_for(1, |r| r.param("RetryCount") == Some("1"))
        .await;
    assert_eq!(delivered[0].param("FriendlyName"), Some("durable"));
    server.stop();
}

#[tokio::test]
async fn account_level_webhooks_apply_when_the_service_has_none() {
    let client = account().await;
    let receiver = Receiver::start();
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("PostWebhookUrl", &receiver.url("/global")),
                ("Filters", "onConversationAdded"),
                ("Target", "webhook"),
            ],
        )
        .await
        .assert_status(200);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "global")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    let got = receiver.wait_for_event(1, "onConversationAdded").await;
    assert_eq!(got[0].url, receiver.url("/global"));
}

#[tokio::test]
async fn get_webhooks_carry_parameters_in_the_query_and_sign_the_url() {
    let client = account().await;
    let receiver = Receiver::start();
    let service = client.default_service().await;
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[
                ("PostWebhookUrl", &receiver.url("/get?x=1")),
                ("Filters", "onConversationAdded"),
                ("Method", "GET"),
            ],
        )
        .await
        .assert_status(200);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "by get")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    let got = &receiver.wait_for_event(1, "onConversationAdded").await[0];
    assert_eq!(got.method, "GET");
    assert!(
        got.url.starts_with(&receiver.url("/get?x=1&")),
        "{}",
        got.url
    );
    assert_signed(got, &client.token);
}
