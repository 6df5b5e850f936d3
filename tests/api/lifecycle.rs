//! Lifecycle on a moved clock: timers move conversations to inactive and closed, and survive a
//! restart. Each test has its own server, so that moving its clock moves nothing else.

use std::time::Duration;

use crate::common::{Client, TestServer, TestStore};

/// Polls the conversation until it reaches `state` (the scheduler fires within a second).
async fn wait_for_state(client: &Client, sid: &str, state: &str) -> serde_json::Value {
    for _ in 0..300 {
        let conv = client.get(&format!("/v1/Conversations/{sid}")).await;
        if conv.body["state"] == state {
            return conv.body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("conversation {sid} never became {state}");
}

async fn timed_conversation(client: &Client) -> String {
    let created = client
        .post(
            "/v1/Conversations",
            &[
                ("State", "active"),
                ("Timers.Inactive", "PT1M"),
                ("Timers.Closed", "PT10M"),
            ],
        )
        .await;
    created.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn timers_move_a_conversation_to_inactive_then_closed() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    server.advance("PT61S").await;
    let inactive = wait_for_state(&client, &sid, "inactive").await;
    assert!(
        inactive["timers"].get("date_inactive").is_none(),
        "a fired timer drops out: {inactive}"
    );
    assert!(inactive["timers"]["date_closed"].is_string());
    server.advance("PT10M").await;
    let closed = wait_for_state(&client, &sid, "closed").await;
    assert_eq!(closed["timers"], serde_json::json!({}));
    client
        .post(&format!("/v1/Conversations/{sid}"), &[("State", "active")])
        .await
        .assert_error(400, 50377);
}

#[tokio::test]
async fn an_update_restarts_the_timers() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    // The same timers, left alone: it goes inactive when the updated one would have.
    let untouched = timed_conversation(&client).await;
    server.advance("PT50S").await;
    let updated = client
        .post(
            &format!("/v1/Conversations/{sid}"),
            &[("FriendlyName", "still here")],
        )
        .await;
    let updated_at = updated.assert_status(200)["date_updated"]
        .as_str()
        .unwrap()
        .to_string();
    let due = updated.body["timers"]["date_inactive"].as_str().unwrap();
    let gap = chrono::DateTime::parse_from_rfc3339(due).unwrap()
        - chrono::DateTime::parse_from_rfc3339(&updated_at).unwrap();
    assert_eq!(gap.num_seconds(), 60);
    server.advance("PT20S").await;
    // Once the scheduler has moved the untouched conversation, it has also looked at this one.
    wait_for_state(&client, &untouched, "inactive").await;
    let conv = client.get(&format!("/v1/Conversations/{sid}")).await;
    assert_eq!(
        conv.body["state"], "active",
        "70 s after creation but only 20 s after the update"
    );
}

#[tokio::test]
async fn account_default_timers_apply_to_new_conversations() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    client
        .post(
            "/v1/Configuration",
            &[
                ("DefaultInactiveTimer", "PT5M"),
                ("DefaultClosedTimer", "PT30M"),
            ],
        )
        .await
        .assert_status(200);
    let conv = client.post("/v1/Conversations", &[]).await;
    let timers = &conv.assert_status(201)["timers"];
    assert!(
        timers["date_inactive"].is_string() && timers["date_closed"].is_string(),
        "{timers}"
    );
    let sid = conv.body["sid"].as_str().unwrap();
    server.advance("PT31M").await;
    wait_for_state(&client, sid, "closed").await;
}

#[tokio::test]
async fn timers_survive_a_restart() {
    let store = TestStore::fresh();
    let server = TestServer::start(&store.url());
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    server.stop();

    let server = TestServer::start(&store.url());
    let client = client.on(&server.base);
    server.advance("PT11M").await;
    wait_for_state(&client, &sid, "closed").await;
    server.stop();
}

#[tokio::test]
async fn the_clock_moves_only_forward_and_only_in_test_mode() {
    let server = TestServer::start_fresh();
    let before = server.operator().get("/confab/Clock").await;
    server.advance("P1D").await;
    let after = server.operator().get("/confab/Clock").await;
    let at = |r: &crate::common::Resp| {
        chrono::DateTime::parse_from_rfc3339(r.body["now"].as_str().unwrap()).unwrap()
    };
    assert!((at(&after) - at(&before)).num_hours() >= 24);
    server
        .operator()
        .post("/confab/Clock", &[("Advance", "-PT1M")])
        .await
        .assert_error(400, 20001);
    server
        .operator()
        .post("/confab/Clock", &[])
        .await
        .assert_error(400, 20001);
}

/// One clock serves every account, so only the operator moves it; it may be set to a date as
/// well as moved by a duration, and it stays moved across a restart (the store keeps it).
#[tokio::test]
async fn only_the_operator_moves_the_clock_which_a_restart_keeps() {
    let store = TestStore::fresh();
    let server = TestServer::start(&store.url());
    let tenant = server.new_account().await;
    tenant
        .post("/confab/Clock", &[("Advance", "PT1M")])
        .await
        .assert_error(403, 20403);
    let operator = server.operator();
    operator
        .post("/confab/Clock", &[("Set", "2000-01-01T00:00:00Z")])
        .await
        .assert_error(400, 20001);
    operator
        .post(
            "/confab/Clock",
            &[("Set", "2031-05-06T07:08:09Z"), ("Advance", "PT1M")],
        )
        .await
        .assert_error(400, 20001);
    let set = operator
        .post("/confab/Clock", &[("Set", "2031-05-06T07:08:09Z")])
        .await;
    assert!(
        set.assert_status(200)["now"].as_str().unwrap() >= "2031-05-06T07:08:09Z",
        "{}",
        set.body
    );
    let conversation = tenant.post("/v1/Conversations", &[]).await;
    assert!(
        conversation.assert_status(201)["date_created"]
            .as_str()
            .unwrap()
            >= "2031-05-06"
    );
    server.stop();

    let server = TestServer::start(&store.url());
    let now = server.operator().get("/confab/Clock").await;
    assert!(
        now.assert_status(200)["now"].as_str().unwrap() >= "2031-05-06T07:08:09Z",
        "{}",
        now.body
    );
    server.stop();
}

#[tokio::test]
async fn the_clock_is_refused_outside_test_mode() {
    let server = TestServer::start_fresh_with(false);
    server
        .operator()
        .post("/confab/Clock", &[("Advance", "PT1M")])
        .await
        .assert_error(403, 20403);
    server
        .operator()
        .get("/confab/Clock")
        .await
        .assert_status(200);
}

/// A conversation with a chat participant (alice) and an SMS participant.
async fn mixed_conversation(client: &Client) -> (String, String) {
    let conv = client
        .post("/v1/Conversations", &[("FriendlyName", "mixed")])
        .await;
    let sid = conv.assert_status(201)["sid"].as_str().unwrap().to_string();
    let participants = format!("/v1/Conversations/{sid}/Participants");
    client
        .post(&participants, &[("Identity", "alice")])
        .await
        .assert_status(201);
    let sms = client
        .post(
            &participants,
            &[
                ("MessagingBinding.Address", "+15551230000"),
                ("MessagingBinding.ProxyAddress", "+15559870000"),
            ],
        )
        .await;
    let sms_sid = sms.assert_status(201)["sid"].as_str().unwrap().to_string();
    (sid, sms_sid)
}

async fn wait_for_receipt_status(
    client: &Client,
    receipts: &str,
    status: &str,
) -> serde_json::Value {
    for _ in 0..300 {
        let list = client.get(receipts).await;
        let first = &list.body["delivery_receipts"][0];
        if first["status"] == status {
            return first.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no receipt reached {status}");
}

#[tokio::test]
async fn a_message_to_an_sms_participant_is_recorded_and_its_receipt_moves_on_the_clock() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let (conv, sms) = mixed_conversation(&client).await;
    // The receipt is queued until the next second begins: read it before then.
    client.start_of_a_second().await;
    let message = client
        .post(
            &format!("/v1/Conversations/{conv}/Messages"),
            &[("Author", "alice"), ("Body", "hello sms")],
        )
        .await;
    let body = message.assert_status(201);
    let expected = serde_json::json!({"total": 1, "sent": "none", "delivered": "none", "read": "none", "failed": "none", "undelivered": "none"});
    assert_eq!(
        body["delivery"], expected,
        "chat participants get no receipt; the SMS one does"
    );
    let message_sid = body["sid"].as_str().unwrap();
    let receipts = format!("/v1/Conversations/{conv}/Messages/{message_sid}/Receipts");

    let listed = client.get(&receipts).await;
    let receipt = &listed.assert_status(200)["delivery_receipts"][0];
    assert_eq!(
        (
            receipt["participant_sid"].as_str(),
            receipt["status"].as_str()
        ),
        (Some(sms.as_str()), None)
    );
    assert!(
        receipt["channel_message_sid"]
            .as_str()
            .unwrap()
            .starts_with("SM")
    );

    let outbound = client
        .get(&format!("/confab/Outbound?ConversationSid={conv}"))
        .await;
    let sent = &outbound.assert_status(200)["messages"][0];
    assert_eq!(
        (
            sent["to"].as_str(),
            sent["from"].as_str(),
            sent["body"].as_str()
        ),
        (
            Some("+15551230000"),
            Some("+15559870000"),
            Some("hello sms")
        )
    );

    server.advance("PT1S").await;
    wait_for_receipt_status(&client, &receipts, "sent").await;
    server.advance("PT1S").await;
    let delivered = wait_for_receipt_status(&client, &receipts, "delivered").await;
    assert!(delivered["date_updated"].is_string());
    let fetched = client
        .get(&format!("/v1/Conversations/{conv}/Messages/{message_sid}"))
        .await;
    assert_eq!(fetched.body["delivery"]["delivered"], "all");
    assert_eq!(fetched.body["delivery"]["sent"], "all");
}

#[tokio::test]
async fn a_test_can_fail_a_receipt_with_a_twilio_error_code() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let (conv, _) = mixed_conversation(&client).await;
    let message = client
        .post(
            &format!("/v1/Conversations/{conv}/Messages"),
            &[("Body", "to fail")],
        )
        .await;
    let message_sid = message.body["sid"].as_str().unwrap().to_string();
    let receipts = format!("/v1/Conversations/{conv}/Messages/{message_sid}/Receipts");
    let receipt_sid = client.get(&receipts).await.body["delivery_receipts"][0]["sid"]
        .as_str()
        .unwrap()
        .to_string();

    let failed = client
        .post(
            &format!("/confab/Receipts/{receipt_sid}"),
            &[("Status", "undelivered"), ("ErrorCode", "30003")],
        )
        .await;
    assert_eq!(failed.assert_status(200)["status"], "undelivered");
    let fetched = client.get(&format!("{receipts}/{receipt_sid}")).await;
    assert_eq!(
        (
            fetched.body["status"].as_str(),
            fetched.body["error_code"].as_i64()
        ),
        (Some("undelivered"), Some(30003))
    );
    // A status set by hand is final: the clock no longer moves it. A later message's receipt,
    // due after it, shows when the scheduler has had its chance.
    let marker = client
        .post(
            &format!("/v1/Conversations/{conv}/Messages"),
            &[("Body", "marker")],
        )
        .await;
    let marker_sid = marker.assert_status(201)["sid"].as_str().unwrap();
    server.advance("PT10S").await;
    wait_for_receipt_status(
        &client,
        &format!("/v1/Conversations/{conv}/Messages/{marker_sid}/Receipts"),
        "delivered",
    )
    .await;
    assert_eq!(
        client.get(&format!("{receipts}/{receipt_sid}")).await.body["status"],
        "undelivered"
    );
    let summary = client
        .get(&format!("/v1/Conversations/{conv}/Messages/{message_sid}"))
        .await;
    assert_eq!(summary.body["delivery"]["undelivered"], "all");

    client
        .post(
            &format!("/confab/Receipts/{receipt_sid}"),
            &[("Status", "lost")],
        )
        .await
        .assert_error(400, 20001);
    let other = server.new_account().await;
    other
        .post(
            &format!("/confab/Receipts/{receipt_sid}"),
            &[("Status", "failed")],
        )
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn chat_only_conversations_record_nothing_outbound() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let conv = client.post("/v1/Conversations", &[]).await.body["sid"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(
            &format!("/v1/Conversations/{conv}/Participants"),
            &[("Identity", "bob")],
        )
        .await
        .assert_status(201);
    let message = client
        .post(
            &format!("/v1/Conversations/{conv}/Messages"),
            &[("Author", "bob"), ("Body", "chat only")],
        )
        .await;
    assert!(message.assert_status(201)["delivery"].is_null());
    let outbound = client.get("/confab/Outbound").await;
    assert_eq!(outbound.body["messages"], serde_json::json!([]));
}

#[tokio::test]
async fn a_message_wakes_an_inactive_conversation() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    server.advance("PT61S").await;
    wait_for_state(&client, &sid, "inactive").await;
    client
        .post(
            &format!("/v1/Conversations/{sid}/Messages"),
            &[("Body", "wake up")],
        )
        .await
        .assert_status(201);
    let conv = client.get(&format!("/v1/Conversations/{sid}")).await;
    assert_eq!(conv.body["state"], "active");
    assert!(
        conv.body["timers"]["date_inactive"].is_string(),
        "the inactive timer runs again"
    );
}

#[tokio::test]
async fn the_read_horizon_and_unread_count_follow_adds_deletes_and_both_resources() {
    let client = crate::common::account().await;
    let conv = client.post("/v1/Conversations", &[]).await.body["sid"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(
            &format!("/v1/Conversations/{conv}/Participants"),
            &[("Identity", "reader")],
        )
        .await
        .assert_status(201);
    let messages = format!("/v1/Conversations/{conv}/Messages");
    let mut sids = Vec::new();
    for i in 0..5 {
        let m = client.post(&messages, &[("Body", &format!("m{i}"))]).await;
        sids.push(m.body["sid"].as_str().unwrap().to_string());
    }
    let user_conv = format!("/v1/Users/reader/Conversations/{conv}");
    let unread = |body: &serde_json::Value| {
        (
            body["last_read_message_index"].as_i64(),
            body["unread_messages_count"].as_i64(),
        )
    };
    assert_eq!(
        unread(client.get(&user_conv).await.assert_status(200)),
        (None, None),
        "null before any read"
    );

    let participant = format!("/v1/Conversations/{conv}/Participants/reader");
    client
        .post(&participant, &[("LastReadMessageIndex", "1")])
        .await
        .assert_status(200);
    assert_eq!(
        unread(&client.get(&user_conv).await.body),
        (Some(1), Some(3))
    );

    client
        .post(&messages, &[("Body", "m5")])
        .await
        .assert_status(201);
    assert_eq!(
        unread(&client.get(&user_conv).await.body),
        (Some(1), Some(4))
    );
    client
        .delete(&format!("{messages}/{}", sids[4]))
        .await
        .assert_status(204);
    assert_eq!(
        unread(&client.get(&user_conv).await.body),
        (Some(1), Some(3)),
        "a deleted message is no longer unread"
    );

    client
        .post(&user_conv, &[("LastReadMessageIndex", "5")])
        .await
        .assert_status(200);
    assert_eq!(
        client.get(&participant).await.body["last_read_message_index"],
        5,
        "one horizon, two resources"
    );
    assert_eq!(
        unread(&client.get(&user_conv).await.body),
        (Some(5), Some(0))
    );
}

/// Seconds since the epoch of a date on the wire.
fn epoch(date: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(date.as_str().unwrap())
        .unwrap()
        .timestamp()
}

/// One move that spans both timers runs each at its own time, in order, before it answers: the
/// conversation is closed when the move returns, with both state changes dated when their
/// timers fell due (not when the move ended), and both events sent.
#[tokio::test]
async fn one_move_fires_the_inactive_then_the_closed_timer_each_at_its_own_time() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = crate::receiver::Receiver::start();
    crate::common::service_webhooks(&client, &receiver, &["onConversationStateUpdated"]).await;
    let sid = timed_conversation(&client).await;
    let before = client.get(&format!("/v1/Conversations/{sid}")).await;
    let timers = &before.assert_status(200)["timers"];
    let (inactive_at, closed_at) = (
        epoch(&timers["date_inactive"]),
        epoch(&timers["date_closed"]),
    );

    server.advance("PT1H").await;

    let after = client.get(&format!("/v1/Conversations/{sid}")).await;
    assert_eq!(
        after.assert_status(200)["state"],
        "closed",
        "{}",
        after.body
    );
    let closed_late = epoch(&after.body["date_updated"]) - closed_at;
    assert!(
        (0..=2).contains(&closed_late),
        "closed {closed_late} s late"
    );
    let events = receiver.received();
    let moves: Vec<_> = events
        .iter()
        .map(|r| (r.param("StateFrom").unwrap(), r.param("StateTo").unwrap()))
        .collect();
    assert_eq!(moves, [("active", "inactive"), ("inactive", "closed")]);
    for (event, due) in events.iter().zip([inactive_at, closed_at]) {
        let at = chrono::DateTime::parse_from_rfc3339(event.param("StateUpdated").unwrap())
            .unwrap()
            .timestamp();
        assert!(
            (0..=2).contains(&(at - due)),
            "{event:?} is {} s late",
            at - due
        );
    }
}
