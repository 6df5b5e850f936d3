//! Fixtures (`/confab/Accounts/{AC}/Fixtures`, `--fixtures`): an account's data exported as one
//! document and loaded back through the API's own validation; a bad document changes nothing.

use serde_json::{Value, json};

use crate::common::{Client, TestServer, TestStore, account};

fn path(client: &Client) -> String {
    format!("/confab/Accounts/{}/Fixtures", client.sid)
}

async fn export(client: &Client) -> Value {
    client.get(&path(client)).await.assert_status(200).clone()
}

async fn load(client: &Client, document: &Value) -> crate::common::Resp {
    client
        .post_raw(&path(client), "application/json", &document.to_string())
        .await
}

/// One of each thing a fixtures document holds.
async fn populate(client: &Client) {
    client
        .post(
            "/v1/Roles",
            &[
                ("FriendlyName", "moderator"),
                ("Type", "conversation"),
                ("Permission", "sendMessage"),
                ("Permission", "deleteAnyMessage"),
            ],
        )
        .await
        .assert_status(201);
    let roles = client.get("/v1/Roles").await;
    let moderator = roles.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["friendly_name"] == "moderator")
        .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(
            "/v1/Users",
            &[
                ("Identity", "alice"),
                ("FriendlyName", "Alice"),
                ("Attributes", r#"{"vip":true}"#),
            ],
        )
        .await
        .assert_status(201);
    client
        .post(
            "/v1/Configuration/Addresses",
            &[
                ("Type", "sms"),
                ("Address", "+15550001111"),
                ("FriendlyName", "support line"),
            ],
        )
        .await
        .assert_status(201);
    let conv = client
        .post(
            "/v1/Conversations",
            &[
                ("UniqueName", "support-1"),
                ("FriendlyName", "Support"),
                ("Attributes", r#"{"a":1}"#),
            ],
        )
        .await;
    let conv = conv.assert_status(201)["sid"].as_str().unwrap().to_string();
    let c = format!("/v1/Conversations/{conv}");
    client
        .post(
            &format!("{c}/Participants"),
            &[("Identity", "alice"), ("RoleSid", &moderator)],
        )
        .await
        .assert_status(201);
    client
        .post(
            &format!("{c}/Participants"),
            &[
                ("MessagingBinding.Address", "+15552223333"),
                ("MessagingBinding.ProxyAddress", "+15550001111"),
            ],
        )
        .await
        .assert_status(201);
    for (author, body) in [("alice", "hello"), ("+15552223333", "hi back")] {
        client
            .post(
                &format!("{c}/Messages"),
                &[("Author", author), ("Body", body)],
            )
            .await
            .assert_status(201);
    }
    let closed = client
        .post("/v1/Conversations", &[("FriendlyName", "done")])
        .await;
    let closed = closed.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(
            &format!("/v1/Conversations/{closed}"),
            &[("State", "closed")],
        )
        .await
        .assert_status(200);
}

#[tokio::test]
async fn an_export_loaded_back_after_a_reset_exports_the_same() {
    let client = account().await;
    populate(&client).await;
    let before = export(&client).await;
    assert_eq!(
        before["conversations"].as_array().unwrap().len(),
        2,
        "{before}"
    );
    assert_eq!(before["conversations"][0]["messages"][1]["body"], "hi back");
    assert_eq!(
        before["conversations"][0]["participants"][0]["role"],
        "moderator"
    );
    assert_eq!(before["conversations"][1]["state"], "closed");
    assert_eq!(before["users"][0]["identity"], "alice");
    assert_eq!(
        before["address_configurations"][0]["address"],
        "+15550001111"
    );

    client
        .post(&format!("/confab/Accounts/{}/Reset", client.sid), &[])
        .await
        .assert_status(204);
    assert_eq!(export(&client).await["conversations"], json!([]));
    assert_eq!(load(&client, &before).await.status, 204);
    assert_eq!(export(&client).await, before);
    // Loading replaces: the same document again gives the same data, not twice as much.
    assert_eq!(load(&client, &before).await.status, 204);
    assert_eq!(export(&client).await, before);
}

#[tokio::test]
async fn a_bad_document_changes_nothing_and_answers_a_twilio_error() {
    let client = account().await;
    populate(&client).await;
    let before = export(&client).await;

    let mut bad = before.clone();
    bad["conversations"][0]["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"author": "alice", "body": "x", "attributes": "{not json"}));
    let refused = load(&client, &bad).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body["code"].as_u64().unwrap() > 20000,
        "{}",
        refused.body
    );
    let mut taken = before.clone();
    taken["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"identity": "alice"}));
    assert_eq!(load(&client, &taken).await.status, 409);
    load(&client, &json!({"conversations": "many"}))
        .await
        .assert_error(400, 20001);
    load(&client, &json!({"channels": []}))
        .await
        .assert_error(400, 20001);
    client
        .post_raw(&path(&client), "application/json", "{")
        .await
        .assert_error(400, 20001);
    assert_eq!(export(&client).await, before, "nothing changed");

    let other = account().await;
    other.get(&path(&client)).await.assert_error(404, 20404);
    other
        .post_raw(&path(&client), "application/json", &before.to_string())
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn fixtures_load_into_the_operator_account_at_start() {
    let source = account().await;
    populate(&source).await;
    let document = export(&source).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let store = TestStore::fresh();
    let server = TestServer::start_opts(confab::server::ServeOpts {
        test_mode: true,
        fixtures: Some(file),
        ..confab::server::ServeOpts::new(&store.url())
    });
    let operator = server.operator();
    assert_eq!(export(&operator).await, document);
    server.stop();
}

/// The example document of README.md loads as it is written.
#[tokio::test]
async fn the_readme_example_loads() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("### Fixtures").unwrap()..];
    let start = section.find("```json\n").unwrap() + "```json\n".len();
    let example: Value =
        serde_json::from_str(&section[start..][..section[start..].find("```").unwrap()]).unwrap();
    let client = account().await;
    let loaded = load(&client, &example).await;
    assert_eq!(loaded.status, 204, "{}", loaded.body);
    let exported = export(&client).await;
    assert_eq!(
        exported["conversations"][0]["messages"][1]["body"],
        "hi back"
    );
    assert_eq!(exported["users"][0]["attributes"], r#"{"vip":true}"#);
}
