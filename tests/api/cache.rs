//! Conversations fetched by SID are served from memory (`store/cache.rs`): whatever changed a
//! conversation, a fetch after the change was answered shows it. A file store, so that reads
//! run on their own connections beside the writer, as in production.

use crate::common::{Client, TestServer};

async fn file_server() -> (tempfile::TempDir, TestServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path().join("confab.db").to_str().unwrap());
    let client = server.new_account().await;
    (dir, server, client)
}

async fn create(client: &Client, prefix: &str) -> String {
    client
        .post(
            &format!("{prefix}/Conversations"),
            &[("FriendlyName", "v0")],
        )
        .await
        .assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_fetch_after_a_change_shows_the_change() {
    let (_dir, _server, client) = file_server().await;
    let sid = create(&client, "/v1").await;
    let url = format!("/v1/Conversations/{sid}");
    client.get(&url).await.assert_status(200);

    client
        .post(&url, &[("FriendlyName", "v1")])
        .await
        .assert_status(200);
    assert_eq!(
        client.get(&url).await.assert_status(200)["friendly_name"],
        "v1"
    );

    client
        .post(&url, &[("State", "inactive")])
        .await
        .assert_status(200);
    assert_eq!(
        client.get(&url).await.assert_status(200)["state"],
        "inactive"
    );
    // A message wakes it: the message's write changes the conversation too.
    client
        .post(&format!("{url}/Messages"), &[("Body", "hi")])
        .await
        .assert_status(201);
    assert_eq!(client.get(&url).await.assert_status(200)["state"], "active");

    // Looked up by unique name, it is kept under its SID; a change by either name shows.
    client
        .post(&url, &[("UniqueName", "kept")])
        .await
        .assert_status(200);
    let by_name = "/v1/Conversations/kept";
    assert_eq!(
        client.get(by_name).await.assert_status(200)["sid"],
        sid.as_str()
    );
    client
        .post(by_name, &[("FriendlyName", "v2")])
        .await
        .assert_status(200);
    assert_eq!(
        client.get(&url).await.assert_status(200)["friendly_name"],
        "v2"
    );
    client
        .post(&url, &[("UniqueName", "renamed")])
        .await
        .assert_status(200);
    client.get(by_name).await.assert_error(404, 20404);

    client.delete(&url).await;
    client.get(&url).await.assert_error(404, 20404);
}

#[tokio::test]
async fn a_cached_conversation_is_seen_only_through_its_own_service() {
    let (_dir, _server, client) = file_server().await;
    let default = client.default_service().await;
    let other = client.new_service("other").await;
    let sid = create(&client, "/v1").await;
    client
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_status(200);
    client
        .get(&format!("/v1/Services/{default}/Conversations/{sid}"))
        .await
        .assert_status(200);
    client
        .get(&format!("/v1/Services/{other}/Conversations/{sid}"))
        .await
        .assert_error(404, 20404);
    let stranger = _server.new_account().await;
    stranger
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_error(404, 20404);

    // Another default service: `/v1` names it now, and the cached conversation is not in it.
    client
        .post("/v1/Configuration", &[("DefaultChatServiceSid", &other)])
        .await
        .assert_status(200);
    client
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_error(404, 20404);
    client
        .get(&format!("/v1/Services/{default}/Conversations/{sid}"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn readers_racing_the_writer_never_keep_an_older_row() {
    let (_dir, _server, client) = file_server().await;
    let sid = create(&client, "/v1").await;
    let url = format!("/v1/Conversations/{sid}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Fetches in a loop, so that misses load rows while the writer changes them.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    client.get(&url).await.assert_status(200);
                }
            })
        })
        .collect();
    for version in 1..=100 {
        let name = format!("v{version}");
        client
            .post(&url, &[("FriendlyName", name.as_str())])
            .await
            .assert_status(200);
        let seen = client.get(&url).await;
        assert_eq!(seen.assert_status(200)["friendly_name"], name.as_str());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
}

#[tokio::test]
async fn participant_conversations_show_the_conversation_as_it_is_now() {
    let (_dir, _server, client) = file_server().await;
    let sid = create(&client, "/v1").await;
    let url = format!("/v1/Conversations/{sid}");
    client
        .post(&format!("{url}/Participants"), &[("Identity", "pc-user")])
        .await
        .assert_status(201);
    let list = "/v1/ParticipantConversations?Identity=pc-user";
    let first = client.get(list).await;
    assert_eq!(
        first.assert_status(200)["conversations"][0]["conversation_friendly_name"],
        "v0"
    );
    for (param, value, field) in [
        ("FriendlyName", "v1", "conversation_friendly_name"),
        ("State", "inactive", "conversation_state"),
    ] {
        client
            .post(&url, &[(param, value)])
            .await
            .assert_status(200);
        let now = client.get(list).await;
        assert_eq!(now.assert_status(200)["conversations"][0][field], value);
    }
}
