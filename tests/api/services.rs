//! Services: create, list, fetch, delete with everything inside, and the default service.

use crate::common::{account, assert_sid};
use crate::spec::assert_shape;

#[tokio::test]
async fn an_account_starts_with_one_default_service() {
    let client = account().await;
    let list = client.get("/v1/Services").await;
    assert_shape("ListService", 200, list.assert_status(200));
    assert_eq!(list.body["services"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_fetch_list_delete() {
    let client = account().await;
    let created = client
        .post("/v1/Services", &[("FriendlyName", "support")])
        .await;
    assert_shape("CreateService", 201, created.assert_status(201));
    assert_sid(&created.body["sid"], "IS");
    let sid = created.body["sid"].as_str().unwrap();
    let fetched = client.get(&format!("/v1/Services/{sid}")).await;
    assert_shape("FetchService", 200, fetched.assert_status(200));
    assert_eq!(fetched.body["friendly_name"], "support");
    assert_eq!(
        fetched.body["links"]["conversations"],
        format!("{}/v1/Services/{sid}/Conversations", client.base)
    );

    let conv = client
        .post(
            &format!("/v1/Services/{sid}/Conversations"),
            &[("UniqueName", "inside")],
        )
        .await;
    conv.assert_status(201);
    client
        .delete(&format!("/v1/Services/{sid}"))
        .await
        .assert_status(204);
    client
        .get(&format!("/v1/Services/{sid}"))
        .await
        .assert_error(404, 20404);
    client
        .get(&format!("/v1/Services/{sid}/Conversations/inside"))
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn errors() {
    let client = account().await;
    client
        .post("/v1/Services", &[])
        .await
        .assert_error(400, 20001);
    client
        .get("/v1/Services/IS00000000000000000000000000000000")
        .await
        .assert_error(404, 20404);
    let other = account().await;
    let sid = client.new_service("mine").await;
    other
        .get(&format!("/v1/Services/{sid}"))
        .await
        .assert_error(404, 20404);
    other
        .delete(&format!("/v1/Services/{sid}"))
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn deleting_the_default_service_moves_the_default() {
    let client = account().await;
    let default = client.default_service().await;
    client
        .delete(&format!("/v1/Services/{default}"))
        .await
        .assert_status(204);
    let created = client.post("/v1/Conversations", &[]).await;
    created.assert_status(201);
    assert_ne!(created.body["chat_service_sid"], default.as_str());
}
