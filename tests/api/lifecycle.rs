//! Lifecycle on a moved clock: timers move conversations to inactive and closed, and survive a
//! restart. Each test has its own server, so that moving its clock moves nothing else.

use std::time::Duration;

use crate::common::{Client, TestServer};

async fn advance(server: &TestServer, by: &str) {
    server
        .operator()
        .post("/confab/Clock", &[("Advance", by)])
        .await
        .assert_status(200);
}

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
    let server = TestServer::start(":memory:");
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    advance(&server, "PT61S").await;
    let inactive = wait_for_state(&client, &sid, "inactive").await;
    assert!(
        inactive["timers"].get("date_inactive").is_none(),
        "a fired timer drops out: {inactive}"
    );
    assert!(inactive["timers"]["date_closed"].is_string());
    advance(&server, "PT10M").await;
    let closed = wait_for_state(&client, &sid, "closed").await;
    assert_eq!(closed["timers"], serde_json::json!({}));
    client
        .post(&format!("/v1/Conversations/{sid}"), &[("State", "active")])
        .await
        .assert_error(400, 50377);
}

#[tokio::test]
async fn an_update_restarts_the_timers() {
    let server = TestServer::start(":memory:");
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    advance(&server, "PT50S").await;
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
    advance(&server, "PT20S").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let conv = client.get(&format!("/v1/Conversations/{sid}")).await;
    assert_eq!(
        conv.body["state"], "active",
        "70 s after creation but only 20 s after the update"
    );
}

#[tokio::test]
async fn account_default_timers_apply_to_new_conversations() {
    let server = TestServer::start(":memory:");
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
    advance(&server, "PT31M").await;
    wait_for_state(&client, sid, "closed").await;
}

#[tokio::test]
async fn timers_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let server = TestServer::start(db.to_str().unwrap());
    let client = server.new_account().await;
    let sid = timed_conversation(&client).await;
    server.stop();

    let server = TestServer::start(db.to_str().unwrap());
    let client = client.on(&server.base);
    advance(&server, "PT11M").await;
    wait_for_state(&client, &sid, "closed").await;
    server.stop();
}

#[tokio::test]
async fn the_clock_moves_only_forward_and_only_in_test_mode() {
    let server = TestServer::start(":memory:");
    let before = server.operator().get("/confab/Clock").await;
    advance(&server, "P1D").await;
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

#[tokio::test]
async fn the_clock_is_refused_outside_test_mode() {
    let server = TestServer::start_with(":memory:", false);
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
