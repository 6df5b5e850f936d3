//! Webhooks that really fire: real HTTP receivers on loopback, signed requests, every event at
//! each of the three levels with its parameters (twilio-behavior.md 17.4), filters, triggers and
//! Studio targets, the `X-Twilio-Webhook-Enabled` gate, pre-action vetoes and modifications,
//! ordering, retries, restarts, and delivery receipts on a moved clock.

use std::collections::BTreeMap;
use std::time::Duration;

use confab::webhook_events::{POST_EVENTS, PRE_EVENTS};
use confab::webhooks::signature::sign;
use serde_json::{Value, json};

use crate::common::{Client, TestServer, account, service_webhooks};
use crate::receiver::{Received, Receiver};

const ENABLED: (&str, &str) = ("X-Twilio-Webhook-Enabled", "true");
/// A Messaging Service SID for conversations that take SMS participants (and so that
/// `MessagingServiceSid` is in every conversation event).
const MG: &str = "MG0123456789abcdef0123456789abcdef";
/// In an expected parameter: any value (a date, a minted SID).
const ANY: &str = "*";

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
    let server = TestServer::start_fresh();
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

/// The log keeps what each attempt sent, as the target received it (its parameters in order,
/// its signature), and the start of what the target answered; an attempt that got no answer
/// has no body. A pre-action attempt is logged the same way.
#[tokio::test]
async fn the_log_keeps_each_requests_parameters_signature_and_answer() {
    let client = account().await;
    let receiver = Receiver::start();
    let service = client.default_service().await;
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[
                ("PostWebhookUrl", receiver.url("/post").as_str()),
                ("PreWebhookUrl", receiver.url("/pre").as_str()),
                ("Filters", "onConversationAdded"),
                ("Filters", "onConversationAdd"),
            ],
        )
        .await
        .assert_status(200);
    receiver.answer(&[(200, r#"{"friendly_name":"renamed"}"#), (202, "seen")]);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "logged")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    let sent = receiver.wait_for_event(1, "onConversationAdded").await;
    let pre = receiver.wait_for_event(1, "onConversationAdd").await;
    // The attempt is logged once its answer is in: a moment after the receiver has it.
    let rows = logged_rows(&client, 2).await;
    for (received, answer) in [
        (&pre[0], r#"{"friendly_name":"renamed"}"#),
        (&sent[0], "seen"),
    ] {
        let row = rows
            .iter()
            .find(|d| d["event_type"] == received.event())
            .unwrap();
        let params: Vec<(String, String)> = serde_json::from_value(row["params"].clone()).unwrap();
        assert_eq!(params, received.params, "{}", received.event());
        assert_eq!(row["signature"], received.signature.as_str());
        assert_eq!(row["response_body"], answer);
    }

    let dead = "http://127.0.0.1:9/post"; // the discard port: nothing listens
    let other = account().await;
    service_webhooks_to(&other, dead, "onConversationAdded").await;
    other
        .post_with_headers("/v1/Conversations", &[("FriendlyName", "x")], &[ENABLED])
        .await
        .assert_status(201);
    let row = logged_rows(&other, 1).await[0].clone();
    assert_eq!(row["status"], Value::Null);
    assert_eq!(row["response_body"], Value::Null);
    assert!(row["signature"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        row["params"]
            .as_array()
            .unwrap()
            .contains(&json!(["RetryCount", "0"]))
    );
}

/// The log filtered by event and by outcome: only the attempts that match, the filters repeated
/// in the page's URLs; a name the log cannot hold is a 400 that names the parameter.
#[tokio::test]
async fn the_log_is_filtered_by_event_and_outcome() {
    let client = account().await;
    let receiver = Receiver::start();
    service_webhooks(
        &client,
        &receiver,
        &["onConversationAdded", "onParticipantAdded"],
    )
    .await;
    receiver.answer(&[(500, "down")]);
    let failed = client
        .post_with_headers("/v1/Conversations", &[("FriendlyName", "a")], &[ENABLED])
        .await
        .body["sid"]
        .as_str()
        .unwrap()
        .to_string();
    receiver.wait_for_event(1, "onConversationAdded").await;
    let other = client
        .post_with_headers("/v1/Conversations", &[("FriendlyName", "b")], &[ENABLED])
        .await
        .body["sid"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post_with_headers(
            &format!("/v1/Conversations/{other}/Participants"),
            &[("Identity", "ann")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onParticipantAdded").await;
    logged_rows(&client, 3).await;

    let list = |query: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(&format!("/confab/Webhooks/Deliveries?{query}"))
                .await
        }
    };
    let retrying = list("Outcome=retrying").await;
    let rows = retrying.body["deliveries"].as_array().unwrap();
    assert!(rows.iter().all(|d| d["outcome"] == "retrying"), "{rows:?}");
    assert!(
        rows.iter()
            .any(|d| d["conversation_sid"] == failed.as_str())
    );
    assert!(rows.iter().all(|d| d["conversation_sid"] != other.as_str()));
    assert!(
        retrying.body["meta"]["url"]
            .as_str()
            .unwrap()
            .contains("Outcome=retrying")
    );

    let added = list("EventType=onParticipantAdded&Outcome=delivered").await;
    let rows = added.body["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["conversation_sid"], other.as_str());

    for bad in [
        "EventType=onNothing",
        "Outcome=lost",
        "EventType=onmessageadded",
    ] {
        list(bad).await.assert_error(400, 20001);
    }
}

async fn service_webhooks_to(client: &Client, url: &str, event: &str) {
    let service = client.default_service().await;
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[("PostWebhookUrl", url), ("Filters", event)],
        )
        .await
        .assert_status(200);
}

/// The account's delivery log, newest first, once it has at least `n` rows.
async fn logged_rows(client: &Client, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let log = client.get("/confab/Webhooks/Deliveries").await;
        let rows = log.body["deliveries"].as_array().unwrap();
        if rows.len() >= n {
            return rows.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} attempts were logged");
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

// ---------------------------------------------------------------------------------------------
// Helpers: the three levels, and the parameters a request must carry.

/// Points the account's (global) webhooks at the receiver: post-events to `/global`,
/// pre-events to `/global-pre`.
async fn account_webhooks(client: &Client, receiver: &Receiver, filters: &[&str]) {
    let (pre, post) = (receiver.url("/global-pre"), receiver.url("/global"));
    let mut form = vec![
        ("PreWebhookUrl", pre.as_str()),
        ("PostWebhookUrl", post.as_str()),
        ("Method", "POST"),
        ("Target", "webhook"),
    ];
    form.extend(filters.iter().map(|f| ("Filters", *f)));
    client
        .post("/v1/Configuration/Webhooks", &form)
        .await
        .assert_status(200);
}

/// Adds a conversation-scoped webhook; returns its WH SID.
async fn scoped_webhook(client: &Client, conversation: &str, form: &[(&str, &str)]) -> String {
    let created = client
        .post(&format!("/v1/Conversations/{conversation}/Webhooks"), form)
        .await;
    created.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A `webhook`-target scoped webhook to `url` for these post-events.
async fn scoped_to(client: &Client, conversation: &str, url: &str, filters: &[&str]) -> String {
    let mut form = vec![("Target", "webhook"), ("Configuration.Url", url)];
    form.extend(filters.iter().map(|f| ("Configuration.Filters", *f)));
    scoped_webhook(client, conversation, &form).await
}

fn sid_of(body: &Value) -> String {
    body["sid"].as_str().unwrap().to_string()
}

/// Own parameters of an event, `ANY` where any value will do.
type Own = Vec<(&'static str, String)>;

fn own(pairs: &[(&'static str, &str)]) -> Own {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Asserts that `got` carries exactly the parameters every event carries (`common`) and the
/// event's own, each once, with these values.
#[track_caller]
fn assert_params(got: &Received, common: &[(&'static str, String)], own: &Own) {
    let mut want: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in common.iter().chain(own) {
        want.insert(name, value);
    }
    let names: Vec<&str> = got.params.iter().map(|(k, _)| k.as_str()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a repeated parameter: {got:#?}");
    assert_eq!(
        unique,
        want.keys().copied().collect::<Vec<_>>(),
        "{} parameters",
        got.event()
    );
    for (name, value) in want {
        if value != ANY {
            assert_eq!(got.param(name), Some(value), "{name} of {}", got.event());
        }
    }
}

/// What every event of this account carries; scoped webhooks add their SID and type.
fn common(client: &Client, service: &str, event: &str, scoped: Option<&str>) -> Own {
    let mut common = vec![
        ("AccountSid", client.sid.clone()),
        ("EventType", event.to_string()),
        ("Source", "API".to_string()),
        ("RetryCount", "0".to_string()),
        ("ChatServiceSid", service.to_string()),
    ];
    if let Some(webhook) = scoped {
        common.push(("WebhookSid", webhook.to_string()));
        common.push(("WebhookType", "webhook".to_string()));
    }
    common
}

/// Moves a server's clock (its own server, never the shared one).
async fn advance(server: &TestServer, by: &str) {
    server
        .operator()
        .post("/confab/Clock", &[("Advance", by)])
        .await
        .assert_status(200);
}

// ---------------------------------------------------------------------------------------------
// Every post-action event at each level.

/// What the scenario created.
struct Made {
    service: String,
    conversation: String,
    participant: String,
    message: String,
    user: String,
}

/// One action of each kind, in an order that fires every post-event but `onDeliveryUpdated`
/// (tested on its own, on a moved clock). With `scoped`, a scoped webhook is added to the
/// conversation as soon as it exists; `headers` go with every write.
async fn run_scenario(
    client: &Client,
    scoped: Option<(&str, &[&str])>,
    headers: &[(&str, &str)],
) -> (Made, Option<String>) {
    let service = client.default_service().await;
    let user = client
        .post_with_headers(
            "/v1/Users",
            &[("Identity", "alice"), ("FriendlyName", "Alice")],
            headers,
        )
        .await;
    let user = sid_of(user.assert_status(201));
    let conv = client
        .post_with_headers(
            "/v1/Conversations",
            &[
                ("FriendlyName", "first"),
                ("UniqueName", "scenario"),
                ("MessagingServiceSid", MG),
            ],
            headers,
        )
        .await;
    let conversation = sid_of(conv.assert_status(201));
    let webhook = match scoped {
        Some((url, filters)) => Some(scoped_to(client, &conversation, url, filters).await),
        None => None,
    };
    let c = format!("/v1/Conversations/{conversation}");
    let post = |path: String, form: Vec<(&'static str, &'static str)>| async move {
        client.post_with_headers(&path, &form, headers).await
    };
    post(
        c.clone(),
        vec![("FriendlyName", "renamed"), ("State", "inactive")],
    )
    .await
    .assert_status(200);
    let participant = post(format!("{c}/Participants"), vec![("Identity", "alice")]).await;
    let participant = sid_of(participant.assert_status(201));
    let message = post(
        format!("{c}/Messages"),
        vec![("Author", "alice"), ("Body", "hello")],
    )
    .await;
    let message = sid_of(message.assert_status(201));
    post(
        format!("{c}/Participants/{participant}"),
        vec![
            ("Attributes", r#"{"seat":1}"#),
            ("LastReadMessageIndex", "0"),
        ],
    )
    .await
    .assert_status(200);
    post(format!("{c}/Messages/{message}"), vec![("Body", "edited")])
        .await
        .assert_status(200);
    post("/v1/Users/alice".into(), vec![("FriendlyName", "Alice B")])
        .await
        .assert_status(200);
    for path in [
        format!("{c}/Messages/{message}"),
        format!("{c}/Participants/{participant}"),
        c.clone(),
    ] {
        client
            .delete_with_headers(&path, headers)
            .await
            .assert_status(204);
    }
    let made = Made {
        service,
        conversation,
        participant,
        message,
        user,
    };
    (made, webhook)
}

/// The events of the scenario in the order they happen, whether a scoped webhook (created right
/// after the conversation) sees them, and their own parameters (twilio-behavior.md 17.4).
fn scenario_events(m: &Made) -> Vec<(&'static str, bool, Own)> {
    let conversation = |name: &str, state: &str| {
        own(&[
            ("ConversationSid", m.conversation.as_str()),
            ("DateCreated", ANY),
            ("DateUpdated", ANY),
            ("FriendlyName", name),
            ("UniqueName", "scenario"),
            ("Attributes", "{}"),
            ("ChatServiceSid", m.service.as_str()),
            ("MessagingServiceSid", MG),
            ("State", state),
        ])
    };
    let state_updated = |from: &str, to: &str, reason: &str| {
        own(&[
            ("ChatServiceSid", m.service.as_str()),
            ("ConversationSid", m.conversation.as_str()),
            ("MessagingServiceSid", MG),
            ("StateFrom", from),
            ("StateTo", to),
            ("StateUpdated", ANY),
            ("Reason", reason),
        ])
    };
    let participant = |attributes: &str| {
        own(&[
            ("ConversationSid", m.conversation.as_str()),
            ("ParticipantSid", m.participant.as_str()),
            ("DateCreated", ANY),
            ("DateUpdated", ANY),
            ("Identity", "alice"),
            ("RoleSid", ANY),
            ("Attributes", attributes),
            ("MessagingBinding.Type", "CHAT"),
        ])
    };
    let message = |body: &str| {
        own(&[
            ("ConversationSid", m.conversation.as_str()),
            ("MessageSid", m.message.as_str()),
            ("Index", "0"),
            ("DateCreated", ANY),
            ("Body", body),
            ("Author", "alice"),
            ("ParticipantSid", m.participant.as_str()),
            ("Attributes", "{}"),
        ])
    };
    let user = |name: &str| {
        own(&[
            ("ChatServiceSid", m.service.as_str()),
            ("UserSid", m.user.as_str()),
            ("Identity", "alice"),
            ("FriendlyName", name),
            ("RoleSid", ANY),
            ("Attributes", "{}"),
            ("DateCreated", ANY),
        ])
    };
    let plus = |mut base: Own, more: &[(&'static str, &str)]| {
        base.extend(own(more));
        base
    };
    vec![
        ("onUserAdded", false, user("Alice")),
        (
            "onConversationAdded",
            false,
            conversation("first", "active"),
        ),
        (
            "onConversationUpdated",
            true,
            conversation("renamed", "inactive"),
        ),
        (
            "onConversationStateUpdated",
            true,
            state_updated("active", "inactive", "API"),
        ),
        ("onParticipantAdded", true, participant("{}")),
        // The message wakes the inactive conversation (twilio-behavior.md 8.2).
        (
            "onConversationStateUpdated",
            true,
            state_updated("inactive", "active", "EVENT"),
        ),
        (
            "onMessageAdded",
            true,
            plus(message("hello"), &[("MessagingServiceSid", MG)]),
        ),
        (
            "onParticipantUpdated",
            true,
            plus(
                participant(r#"{"seat":1}"#),
                &[("LastReadMessageIndex", "0")],
            ),
        ),
        (
            "onMessageUpdated",
            true,
            plus(message("edited"), &[("DateUpdated", ANY)]),
        ),
        (
            "onUserUpdated",
            false,
            plus(user("Alice B"), &[("DateUpdated", ANY)]),
        ),
        (
            "onMessageRemoved",
            true,
            plus(
                message("edited"),
                &[("DateUpdated", ANY), ("DateRemoved", ANY)],
            ),
        ),
        (
            "onParticipantRemoved",
            true,
            plus(
                participant(r#"{"seat":1}"#),
                &[("LastReadMessageIndex", "0"), ("DateRemoved", ANY)],
            ),
        ),
        (
            "onConversationRemoved",
            true,
            plus(conversation("renamed", "active"), &[("DateRemoved", ANY)]),
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Level {
    Service,
    Account,
    Scoped,
}

impl Level {
    /// Where the level's post-events arrive.
    fn path(self) -> &'static str {
        match self {
            Level::Service => "/post",
            Level::Account => "/global",
            Level::Scoped => "/scoped",
        }
    }

    /// The one event each level leaves out of its filters, to show that filters hold; every
    /// event is still checked at two levels.
    fn left_out(self) -> &'static str {
        match self {
            Level::Service => "onParticipantUpdated",
            Level::Account => "onMessageUpdated",
            Level::Scoped => "onConversationUpdated",
        }
    }
}

/// Runs the scenario with one level configured for every post-event but one, and checks that
/// exactly the expected events arrived there, in order for the conversation, each with
/// exactly its parameters, signed.
async fn every_event_fires_at(level: Level) {
    let client = account().await;
    let receiver = Receiver::start();
    let filters: Vec<&str> = POST_EVENTS
        .iter()
        .copied()
        .filter(|e| *e != level.left_out())
        .collect();
    match level {
        Level::Service => {
            service_webhooks(&client, &receiver, &filters).await;
            // The service's configuration overrides the account's: nothing goes there.
            account_webhooks(&client, &receiver, POST_EVENTS).await;
        }
        Level::Account => account_webhooks(&client, &receiver, &filters).await,
        Level::Scoped => {}
    }
    let scoped_url = receiver.url("/scoped");
    let scoped = (level == Level::Scoped).then_some((scoped_url.as_str(), &filters[..]));
    let (made, webhook) = run_scenario(&client, scoped, &[ENABLED]).await;
    let want: Vec<_> = scenario_events(&made)
        .into_iter()
        .filter(|(event, scoped, _)| {
            *event != level.left_out() && (level != Level::Scoped || *scoped)
        })
        .collect();
    let url = receiver.url(level.path());
    let got = receiver.wait_for(want.len(), |r| r.url == url).await;
    assert_eq!(got.len(), want.len(), "{got:#?}");
    // One conversation's events arrive in the order they happened; a user's are another queue.
    let in_conversation = |event: &str| !event.starts_with("onUser");
    let order = |events: Vec<&str>| -> Vec<String> {
        events
            .into_iter()
            .filter(|e| in_conversation(e))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        order(got.iter().map(|r| r.event()).collect()),
        order(want.iter().map(|(e, _, _)| *e).collect())
    );
    // The n-th expected event of a type is checked against the n-th received one.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (event, _, own) in &want {
        let nth = seen.entry(event).or_default();
        let received = got
            .iter()
            .filter(|r| r.event() == *event)
            .nth(*nth)
            .unwrap();
        *nth += 1;
        assert_params(
            received,
            &common(&client, &made.service, event, webhook.as_deref()),
            own,
        );
        assert_signed(received, &client.token);
    }
    let elsewhere: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.url != url)
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:#?}");
}

#[tokio::test]
async fn every_event_fires_at_the_service_level_over_the_accounts() {
    every_event_fires_at(Level::Service).await;
}

#[tokio::test]
async fn every_event_fires_at_the_account_level_when_the_service_has_none() {
    every_event_fires_at(Level::Account).await;
}

#[tokio::test]
async fn every_conversation_event_fires_at_a_scoped_webhook() {
    every_event_fires_at(Level::Scoped).await;
}

#[tokio::test]
async fn without_the_header_no_message_participant_or_user_action_fires_anything() {
    let client = account().await;
    let receiver = Receiver::start();
    let all: Vec<&str> = PRE_EVENTS.iter().chain(POST_EVENTS).copied().collect();
    service_webhooks(&client, &receiver, &all).await;
    let scoped = receiver.url("/scoped");
    run_scenario(&client, Some((&scoped, POST_EVENTS)), &[]).await;
    // A marker with the header: its pre- and post-event arrive, and nothing else ever did
    // (pre-events are synchronous; an unheaded write queues nothing at all).
    client
        .post_with_headers("/v1/Users", &[("Identity", "marker")], &[ENABLED])
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onUserAdded").await;
    let events: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.event().to_string())
        .collect();
    assert_eq!(events, ["onUserAdded"]);
}

// ---------------------------------------------------------------------------------------------
// Pre-action events: vetoes and modifications.

/// A conversation with a participant `alice` and her message, made without webhooks.
struct Stage {
    service: String,
    conversation: String,
    participant: String,
    message: String,
    user: String,
}

async fn stage(client: &Client) -> Stage {
    let service = client.default_service().await;
    let conv = client
        .post(
            "/v1/Conversations",
            &[("UniqueName", "staged"), ("MessagingServiceSid", MG)],
        )
        .await;
    let conversation = sid_of(conv.assert_status(201));
    let c = format!("/v1/Conversations/{conversation}");
    let participant = client
        .post(&format!("{c}/Participants"), &[("Identity", "alice")])
        .await;
    let participant = sid_of(participant.assert_status(201));
    let message = client
        .post(
            &format!("{c}/Messages"),
            &[("Author", "alice"), ("Body", "hello")],
        )
        .await;
    let message = sid_of(message.assert_status(201));
    let user = sid_of(client.get("/v1/Users/alice").await.assert_status(200));
    Stage {
        service,
        conversation,
        participant,
        message,
        user,
    }
}

/// Everything the staged account holds, to show that a veto changed nothing.
async fn snapshot(client: &Client, s: &Stage) -> Vec<Value> {
    let c = format!("/v1/Conversations/{}", s.conversation);
    let mut state = Vec::new();
    for path in [
        "/v1/Conversations".to_string(),
        format!("{c}/Participants"),
        format!("{c}/Messages"),
        "/v1/Users".to_string(),
    ] {
        state.push(client.get(&path).await.assert_status(200).clone());
    }
    state
}

/// A vetoed action: (pre-event, method, path, form, the event's own parameters: the resource
/// as the action would leave it).
type PreCase<'a> = (&'a str, &'a str, String, Vec<(&'a str, &'a str)>, Own);

#[tokio::test]
async fn a_pre_action_veto_stores_nothing_and_answers_50056_for_every_pre_event() {
    let client = account().await;
    let receiver = Receiver::start();
    let s = stage(&client).await;
    let all: Vec<&str> = PRE_EVENTS.iter().chain(POST_EVENTS).copied().collect();
    service_webhooks(&client, &receiver, &all).await;
    let before = snapshot(&client, &s).await;
    let c = format!("/v1/Conversations/{}", s.conversation);
    let (m, p) = (
        format!("{c}/Messages/{}", s.message),
        format!("{c}/Participants/{}", s.participant),
    );
    // The staged conversation has no friendly name: no `FriendlyName` unless the action sets one.
    let conversation_now = |name: Option<&str>| {
        let mut params = own(&[
            ("ConversationSid", s.conversation.as_str()),
            ("DateCreated", ANY),
            ("DateUpdated", ANY),
            ("UniqueName", "staged"),
            ("Attributes", "{}"),
            ("ChatServiceSid", s.service.as_str()),
            ("MessagingServiceSid", MG),
            ("State", "active"),
        ]);
        params.extend(name.map(|name| ("FriendlyName", name.to_string())));
        params
    };
    let message_now = |body: &str| {
        own(&[
            ("ConversationSid", s.conversation.as_str()),
            ("MessageSid", s.message.as_str()),
            ("Index", "0"),
            ("DateCreated", ANY),
            ("DateUpdated", ANY),
            ("Body", body),
            ("Author", "alice"),
            ("ParticipantSid", s.participant.as_str()),
            ("Attributes", "{}"),
        ])
    };
    let participant_now = |attributes: &str| {
        own(&[
            ("ConversationSid", s.conversation.as_str()),
            ("ParticipantSid", s.participant.as_str()),
            ("DateCreated", ANY),
            ("DateUpdated", ANY),
            ("Identity", "alice"),
            ("RoleSid", ANY),
            ("Attributes", attributes),
            ("MessagingBinding.Type", "CHAT"),
        ])
    };
    let cases: Vec<PreCase> = vec![
        (
            "onConversationAdd",
            "POST",
            "/v1/Conversations".into(),
            vec![("FriendlyName", "vetoed"), ("State", "inactive")],
            own(&[
                ("FriendlyName", "vetoed"),
                ("Attributes", "{}"),
                ("State", "inactive"),
            ]),
        ),
        (
            "onConversationAdd",
            "POST",
            "/v1/ConversationWithParticipants".into(),
            vec![
                ("FriendlyName", "vetoed too"),
                ("Participant", r#"{"identity":"carol"}"#),
            ],
            own(&[
                ("FriendlyName", "vetoed too"),
                ("Attributes", "{}"),
                ("State", "active"),
            ]),
        ),
        (
            "onConversationUpdate",
            "POST",
            c.clone(),
            vec![("FriendlyName", "vetoed")],
            conversation_now(Some("vetoed")),
        ),
        (
            "onConversationRemove",
            "DELETE",
            c.clone(),
            vec![],
            conversation_now(None),
        ),
        (
            "onMessageAdd",
            "POST",
            format!("{c}/Messages"),
            vec![
                ("Author", "alice"),
                ("Body", "vetoed"),
                ("Attributes", r#"{"k":1}"#),
            ],
            own(&[
                ("ConversationSid", s.conversation.as_str()),
                ("Body", "vetoed"),
                ("Author", "alice"),
                ("ParticipantSid", s.participant.as_str()),
                ("Attributes", r#"{"k":1}"#),
            ]),
        ),
        (
            "onMessageUpdate",
            "POST",
            m.clone(),
            vec![("Body", "vetoed")],
            message_now("vetoed"),
        ),
        (
            "onMessageRemove",
            "DELETE",
            m.clone(),
            vec![],
            message_now("hello"),
        ),
        (
            "onParticipantAdd",
            "POST",
            format!("{c}/Participants"),
            vec![("Identity", "bob"), ("Attributes", r#"{"new":true}"#)],
            own(&[
                ("ConversationSid", s.conversation.as_str()),
                ("Identity", "bob"),
                ("RoleSid", ANY),
                ("Attributes", r#"{"new":true}"#),
                ("MessagingBinding.Type", "CHAT"),
            ]),
        ),
        (
            "onParticipantAdd",
            "POST",
            format!("{c}/Participants"),
            vec![
                ("MessagingBinding.Address", "+15551230000"),
                ("MessagingBinding.ProxyAddress", "+15559870000"),
            ],
            own(&[
                ("ConversationSid", s.conversation.as_str()),
                ("RoleSid", ANY),
                ("Attributes", "{}"),
                ("MessagingBinding.Address", "+15551230000"),
                ("MessagingBinding.ProxyAddress", "+15559870000"),
                ("MessagingBinding.Type", "SMS"),
            ]),
        ),
        (
            "onParticipantUpdate",
            "POST",
            p.clone(),
            vec![("Attributes", r#"{"vetoed":true}"#)],
            participant_now(r#"{"vetoed":true}"#),
        ),
        (
            "onParticipantRemove",
            "DELETE",
            p.clone(),
            vec![],
            participant_now("{}"),
        ),
        (
            "onUserUpdate",
            "POST",
            "/v1/Users/alice".into(),
            vec![("FriendlyName", "vetoed")],
            own(&[
                ("ChatServiceSid", s.service.as_str()),
                ("UserSid", s.user.as_str()),
                ("Identity", "alice"),
                ("FriendlyName", "vetoed"),
                ("RoleSid", ANY),
                ("Attributes", "{}"),
                ("DateCreated", ANY),
                ("DateUpdated", ANY),
            ]),
        ),
    ];
    for (i, (event, method, path, form, own)) in cases.iter().enumerate() {
        receiver.answer(&[(403, "not this one")]);
        let res = match *method {
            "DELETE" => client.delete_with_headers(path, &[ENABLED]).await,
            _ => client.post_with_headers(path, form, &[ENABLED]).await,
        };
        res.assert_error(400, 50056);
        let pre = receiver.received();
        assert_eq!(pre.len(), i + 1, "one pre-event per vetoed action");
        let pre = &pre[i];
        assert_eq!(
            (pre.event(), pre.url.as_str()),
            (*event, receiver.url("/pre").as_str())
        );
        assert_params(pre, &common(&client, &s.service, event, None), own);
        assert_signed(pre, &client.token);
    }
    assert_eq!(snapshot(&client, &s).await, before, "a veto writes nothing");
    // No post-event of a vetoed action was queued: a marker is the first to arrive.
    client
        .post_with_headers(&c, &[("Attributes", r#"{"marker":1}"#)], &[ENABLED])
        .await
        .assert_status(200);
    let posts = receiver
        .wait_for(1, |r| r.url == receiver.url("/post"))
        .await;
    assert_eq!(posts[0].event(), "onConversationUpdated");
    let log = client.get("/confab/Webhooks/Deliveries").await;
    let rejected = log.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "pre" && d["outcome"] == "rejected" && d["status"] == 403)
        .count();
    assert_eq!(rejected, cases.len(), "{}", log.body);
}

#[tokio::test]
async fn a_message_pre_action_may_modify_body_author_and_attributes() {
    let client = account().await;
    let receiver = Receiver::start();
    let s = stage(&client).await;
    let c = format!("/v1/Conversations/{}", s.conversation);
    let bob = client
        .post(&format!("{c}/Participants"), &[("Identity", "bob")])
        .await;
    let bob = sid_of(bob.assert_status(201));
    service_webhooks(
        &client,
        &receiver,
        &[
            "onMessageAdd",
            "onMessageAdded",
            "onMessageUpdate",
            "onMessageUpdated",
            "onParticipantAdd",
        ],
    )
    .await;

    // Add: every modifiable field changes; a new author is matched to its participant again.
    receiver.answer(&[(
        200,
        r#"{"body":"edited by hook","author":"bob","attributes":{"hooked":true}}"#,
    )]);
    let created = client
        .post_with_headers(
            &format!("{c}/Messages"),
            &[("Author", "alice"), ("Body", "original")],
            &[ENABLED],
        )
        .await;
    let created = created.assert_status(201).clone();
    let attributes = |v: &Value| serde_json::from_str::<Value>(v.as_str().unwrap()).unwrap();
    assert_eq!(
        (
            &created["body"],
            &created["author"],
            &created["participant_sid"]
        ),
        (&json!("edited by hook"), &json!("bob"), &json!(bob))
    );
    assert_eq!(attributes(&created["attributes"]), json!({"hooked": true}));
    let stored = client
        .get(&format!("{c}/Messages/{}", sid_of(&created)))
        .await;
    assert_eq!(stored.assert_status(200), &created);
    let added = &receiver.wait_for_event(1, "onMessageAdded").await[0];
    assert_eq!(
        (
            added.param("Body"),
            added.param("Author"),
            added.param("ParticipantSid")
        ),
        (Some("edited by hook"), Some("bob"), Some(bob.as_str()))
    );
    assert_eq!(added.param("Attributes"), Some(r#"{"hooked":true}"#));

    // Update: an answer that changes one field keeps the request's others.
    receiver.answer(&[(200, r#"{"body":"updated by hook"}"#)]);
    let updated = client
        .post_with_headers(
            &format!("{c}/Messages/{}", s.message),
            &[("Body", "mine"), ("Attributes", r#"{"mine":1}"#)],
            &[ENABLED],
        )
        .await;
    let updated = updated.assert_status(200);
    assert_eq!(updated["body"], "updated by hook");
    assert_eq!(attributes(&updated["attributes"]), json!({"mine": 1}));
    let event = &receiver.wait_for_event(1, "onMessageUpdated").await[0];
    assert_eq!(event.param("Body"), Some("updated by hook"));

    // An answer that makes the action invalid fails it, as the request would have.
    let too_long = json!({ "body": "x".repeat(1601) }).to_string();
    receiver.answer(&[(200, too_long.as_str())]);
    client
        .post_with_headers(
            &format!("{c}/Messages"),
            &[("Body", "short enough")],
            &[ENABLED],
        )
        .await
        .assert_error(400, 50504);
    let listed = client.get(&format!("{c}/Messages")).await;
    assert_eq!(listed.body["messages"].as_array().unwrap().len(), 2);

    // Participant events cannot be modified (twilio-behavior.md 17.2): the answer's fields are ignored.
    receiver.answer(&[(200, r#"{"attributes":{"from":"hook"}}"#)]);
    let carol = client
        .post_with_headers(
            &format!("{c}/Participants"),
            &[("Identity", "carol")],
            &[ENABLED],
        )
        .await;
    assert_eq!(carol.assert_status(201)["attributes"], "{}");
}

#[tokio::test]
async fn a_pre_action_target_that_does_not_answer_lets_message_actions_proceed() {
    let client = account().await;
    let s = stage(&client).await;
    let service = client.default_service().await;
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[
                ("PreWebhookUrl", "http://127.0.0.1:9/pre"),
                ("Filters", "onMessageAdd"),
                ("Filters", "onParticipantAdd"),
            ],
        )
        .await
        .assert_status(200);
    let c = format!("/v1/Conversations/{}", s.conversation);
    let sent = client
        .post_with_headers(&format!("{c}/Messages"), &[("Body", "anyway")], &[ENABLED])
        .await;
    assert_eq!(sent.assert_status(201)["body"], "anyway");
    client
        .post_with_headers(
            &format!("{c}/Participants"),
            &[("Identity", "dan")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    let log = client.get("/confab/Webhooks/Deliveries").await;
    let outcomes: Vec<_> = log.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event_type"].as_str().unwrap(),
                d["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("onParticipantAdd", "fail_open"),
            ("onMessageAdd", "fail_open")
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Scoped targets: triggers and Studio.

#[tokio::test]
async fn a_trigger_target_fires_only_on_added_messages_with_one_of_its_words() {
    let client = account().await;
    let receiver = Receiver::start();
    let s = stage(&client).await;
    let url = receiver.url("/scoped");
    let trigger = scoped_webhook(
        &client,
        &s.conversation,
        &[
            ("Target", "trigger"),
            ("Configuration.Url", &url),
            ("Configuration.Triggers", "help"),
            ("Configuration.Triggers", "Agent"),
        ],
    )
    .await;
    // A `webhook` target at the same URL shares the queue: its last event marks the end.
    scoped_to(
        &client,
        &s.conversation,
        &url,
        &["onMessageAdded", "onMessageUpdated"],
    )
    .await;
    let c = format!("/v1/Conversations/{}", s.conversation);
    for body in ["hello", "I need HELP", "agent, please", "helpful", "last"] {
        client
            .post_with_headers(&format!("{c}/Messages"), &[("Body", body)], &[ENABLED])
            .await
            .assert_status(201);
    }
    client
        .post_with_headers(
            &format!("{c}/Messages/{}", s.message),
            &[("Body", "help, edited")],
            &[ENABLED],
        )
        .await
        .assert_status(200);
    receiver
        .wait_for(1, |r| r.event() == "onMessageUpdated")
        .await;
    let triggered: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.param("WebhookType") == Some("trigger"))
        .collect();
    let bodies: Vec<_> = triggered.iter().map(|r| r.param("Body").unwrap()).collect();
    assert_eq!(bodies, ["I need HELP", "agent, please"]);
    for r in &triggered {
        assert_eq!(
            (r.event(), r.param("WebhookSid")),
            ("onMessageAdded", Some(trigger.as_str()))
        );
        assert_signed(r, &client.token);
    }
}

#[tokio::test]
async fn a_studio_target_is_logged_as_not_delivered() {
    const FLOW: &str = "FW0123456789abcdef0123456789abcdef";
    let client = account().await;
    let s = stage(&client).await;
    let studio = scoped_webhook(
        &client,
        &s.conversation,
        &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
    )
    .await;
    client
        .post_with_headers(
            &format!("/v1/Conversations/{}/Messages", s.conversation),
            &[("Body", "to the flow")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    let mut logged = Value::Null;
    for _ in 0..500 {
        let log = client.get("/confab/Webhooks/Deliveries").await;
        logged = log.body["deliveries"][0].clone();
        if !logged.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(logged["event_type"], "onMessageAdded");
    assert_eq!(logged["kind"], "post");
    assert_eq!(logged["target"], "studio");
    assert_eq!(logged["url"], FLOW);
    assert_eq!(logged["webhook_sid"], studio.as_str());
    assert_eq!(logged["conversation_sid"], s.conversation.as_str());
    assert_eq!(logged["outcome"], "not_delivered");
    assert_eq!(logged["status"], Value::Null);
    assert!(logged["error"].as_str().unwrap().contains(FLOW));
}

// ---------------------------------------------------------------------------------------------
// Ordering, and delivery receipts on a moved clock.

#[tokio::test]
async fn a_conversations_events_reach_each_target_in_order_even_through_retries() {
    // Its own server: retries follow its clock, which this test moves.
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = Receiver::start();
    service_webhooks(&client, &receiver, &["onMessageAdded"]).await;
    let conv = client.post("/v1/Conversations", &[]).await;
    let conv = sid_of(conv.assert_status(201));
    let other = receiver.url("/other");
    scoped_to(&client, &conv, &other, &["onMessageAdded"]).await;
    receiver.down(503); // every target answers 503 for now...
    for i in 0..5 {
        client
            .post_with_headers(
                &format!("/v1/Conversations/{conv}/Messages"),
                &[("Body", &format!("m{i}"))],
                &[ENABLED],
            )
            .await
            .assert_status(201);
    }
    let post = receiver.url("/post");
    receiver.wait_for(1, |r| r.url == post).await;
    receiver.up(); // ...then recovers.
    for _ in 0..50 {
        let done = |url: &str| {
            receiver
                .received()
                .iter()
                .filter(|r| r.url == url && r.answered == 200)
                .count()
        };
        if done(&post) == 5 && done(&other) == 5 {
            break;
        }
        advance(&server, "PT1M").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for url in [&post, &other] {
        let got: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| &r.url == url)
            .collect();
        // Until the head of the queue is delivered, nothing behind it is sent.
        let failed: Vec<_> = got.iter().filter(|r| r.answered != 200).collect();
        assert!(
            failed.iter().all(|r| r.param("Index") == Some("0")),
            "{failed:#?}"
        );
        let delivered: Vec<_> = got
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| r.param("Index").unwrap())
            .collect();
        assert_eq!(delivered, ["0", "1", "2", "3", "4"], "to {url}");
        let head = got.iter().find(|r| r.answered == 200).unwrap();
        assert_eq!(
            head.param("RetryCount"),
            Some(failed.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_message_to_an_sms_participant_is_sent_then_delivered_with_on_delivery_updated() {
    // Its own server: receipts move on its clock, which this test moves.
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = Receiver::start();
    service_webhooks(&client, &receiver, &["onDeliveryUpdated"]).await;
    let service = client.default_service().await;
    let conv = client
        .post("/v1/Conversations", &[("MessagingServiceSid", MG)])
        .await;
    let conv = sid_of(conv.assert_status(201));
    let c = format!("/v1/Conversations/{conv}");
    let sms = client
        .post(
            &format!("{c}/Participants"),
            &[
                ("MessagingBinding.Address", "+15551230000"),
                ("MessagingBinding.ProxyAddress", "+15559870000"),
            ],
        )
        .await;
    let sms = sid_of(sms.assert_status(201));
    // No header: a receipt's progress is not a REST action, and always fires.
    let message = client
        .post(&format!("{c}/Messages"), &[("Body", "to your phone")])
        .await;
    let message = sid_of(message.assert_status(201));

    let outbound = client
        .get(&format!("/confab/Outbound?ConversationSid={conv}"))
        .await;
    let sent = &outbound.assert_status(200)["messages"];
    assert_eq!(sent.as_array().unwrap().len(), 1, "{sent}");
    let sent = &sent[0];
    assert_eq!(
        (
            &sent["to"],
            &sent["from"],
            &sent["body"],
            &sent["message_sid"]
        ),
        (
            &json!("+15551230000"),
            &json!("+15559870000"),
            &json!("to your phone"),
            &json!(message)
        )
    );
    let receipt = sent["receipt_sid"].as_str().unwrap().to_string();
    let channel_message = sent["channel_message_sid"].as_str().unwrap().to_string();
    assert!(channel_message.starts_with("SM"), "{channel_message}");

    let mut updates = Vec::new();
    for status in ["sent", "delivered"] {
        advance(&server, "PT1S").await;
        let got = receiver
            .wait_for(1, |r| {
                r.event() == "onDeliveryUpdated" && r.param("Status") == Some(status)
            })
            .await;
        updates.push(got[0].clone());
    }
    for (update, status) in updates.iter().zip(["sent", "delivered"]) {
        assert_params(
            update,
            &common(&client, &service, "onDeliveryUpdated", None),
            &own(&[
                ("ConversationSid", conv.as_str()),
                ("ChatServiceSid", service.as_str()),
                ("MessageSid", message.as_str()),
                ("DeliveryReceiptSid", receipt.as_str()),
                ("ChannelMessageSid", channel_message.as_str()),
                ("ParticipantSid", sms.as_str()),
                ("Status", status),
                ("DateCreated", ANY),
                ("DateUpdated", ANY),
            ]),
        );
        assert_signed(update, &client.token);
    }
    let fetched = client
        .get(&format!("{c}/Messages/{message}/Receipts/{receipt}"))
        .await;
    assert_eq!(fetched.assert_status(200)["status"], "delivered");
    let summary = client.get(&format!("{c}/Messages/{message}")).await;
    assert_eq!(summary.body["delivery"]["delivered"], "all");
    let all = receiver.wait_for_event(2, "onDeliveryUpdated").await;
    assert_eq!(all.len(), 2, "one event per move: {all:#?}");
}

/// One account's backlog does not hold up another's webhooks: an account whose endpoint hangs
/// (every attempt waits for the 5 s timeout) has at most its share of requests in flight
/// (`MAX_IN_FLIGHT_PER_ACCOUNT`, 8), and another account's event goes out beside them, not
/// after them.
#[tokio::test]
async fn one_accounts_hanging_endpoint_does_not_hold_up_anothers_webhooks() {
    let server = TestServer::start_fresh();
    let (slow_account, quick_account) = (server.new_account().await, server.new_account().await);
    let (hanging, quick) = (Receiver::start(), Receiver::start());
    hanging.slow(std::time::Duration::from_secs(30));
    service_webhooks(&slow_account, &hanging, &["onConversationAdded"]).await;
    service_webhooks(&quick_account, &quick, &["onConversationAdded"]).await;
    // 40 conversations: 40 queues, more than every delivery slot of the server (32).
    for n in 0..40 {
        slow_account
            .post_with_headers(
                "/v1/Conversations",
                &[("FriendlyName", &format!("backlog {n}"))],
                &[ENABLED],
            )
            .await
            .assert_status(201);
    }
    for _ in 0..500 {
        if hanging.arrived() >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    quick_account
        .post_with_headers("/v1/Conversations", &[("FriendlyName", "now")], &[ENABLED])
        .await
        .assert_status(201);
    quick.wait_for_event(1, "onConversationAdded").await;
    assert_eq!(
        hanging.arrived(),
        8,
        "the hanging account has exactly its share in flight when the other's event goes out"
    );
}

/// One move of the clock makes every retry of a failing webhook before it answers, each at its
/// own time (1, 2, 4, ... seconds after the one before, by the moved clock), and gives it up
/// after the last attempt: a test needs no loop of small moves.
#[tokio::test]
async fn one_move_of_the_clock_makes_every_retry_each_at_its_own_time() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = Receiver::start();
    receiver.down(500);
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "never heard")],
            &[ENABLED],
        )
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onConversationAdded").await;

    advance(&server, "PT1H").await;

    let counts: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.param("RetryCount").unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..confab::webhooks::delivery::MAX_ATTEMPTS)
        .map(|n| n.to_string())
        .collect();
    assert_eq!(counts, expected);
    let log = client.get("/confab/Webhooks/Deliveries?PageSize=50").await;
    let mut attempts = log.assert_status(200)["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    attempts.reverse();
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    let mut expected = vec!["retrying"; expected.len() - 1];
    expected.push("gave_up");
    assert_eq!(outcomes, expected);
    let at = |d: &Value| {
        chrono::DateTime::parse_from_rfc3339(d["date_created"].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    // Never early, and each at its own time rather than all at the end of the hour (the
    // backoffs add up to 511 s; the first retries may come late in real time on a busy machine).
    for (n, pair) in attempts.windows(2).enumerate() {
        let gap = at(&pair[1]) - at(&pair[0]);
        let backoff = confab::webhooks::delivery::backoff_secs(n as i64);
        assert!(
            gap >= backoff,
            "attempt {} came {gap} s after the one before, not {backoff} s",
            n + 1
        );
    }
    let span = at(&attempts[attempts.len() - 1]) - at(&attempts[0]);
    assert!(span < 600, "the attempts spread over {span} s");
}
