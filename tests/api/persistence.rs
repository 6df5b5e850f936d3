//! State survives a restart: the store is a real SQLite file, and every 2xx write was committed
//! before it was answered.

use crate::common::TestServer;

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let db = db.to_str().unwrap();

    let server = TestServer::start(db);
    let client = server.new_account().await;
    let created = client
        .post(
            "/v1/Conversations",
            &[("UniqueName", "kept"), ("FriendlyName", "before")],
        )
        .await;
    created.assert_status(201);
    let service = client.new_service("kept service").await;
    server.stop();

    let server = TestServer::start(db);
    let client = client.on(&server.base);
    let fetched = client.get("/v1/Conversations/kept").await;
    assert_eq!(fetched.assert_status(200)["sid"], created.body["sid"]);
    client
        .get(&format!("/v1/Services/{service}"))
        .await
        .assert_status(200);
    server.stop();
}
