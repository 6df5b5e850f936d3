//! The operator's accounts (`GET /confab/Accounts`, `DELETE /confab/Accounts/{AC}`) and an
//! account's reset (`POST /confab/Accounts/{AC}/Reset`): everything the account holds is gone
//! in one call, it has one fresh default service with the default roles, its credentials still
//! open it, and no other account is touched.

use serde_json::Value;

use crate::common::{Client, account, shared};
use crate::fixture;
use crate::receiver::Receiver;

/// The items of a list answer.
fn items(res: &crate::common::Resp, key: &str) -> Vec<Value> {
    res.assert_status(200)[key].as_array().unwrap().clone()
}

/// A role list without its SIDs, service and dates: what the roles are.
async fn roles(client: &Client) -> Vec<Value> {
    let mut roles: Vec<Value> = items(&client.get("/v1/Roles").await, "roles")
        .into_iter()
        .map(|r| serde_json::json!([r["friendly_name"], r["type"], r["permissions"]]))
        .collect();
    roles.sort_by_key(|r| r.to_string());
    roles
}

#[tokio::test]
async fn a_reset_leaves_the_account_as_new_and_every_other_account_as_it_was() {
    let a = account().await;
    let resources = fixture::build(&a).await;
    let receiver = Receiver::start();
    crate::common::service_webhooks(&a, &receiver, &["onConversationAdded"]).await;
    a.post(
        "/v1/Configuration/Webhooks",
        &[("PostWebhookUrl", &receiver.url("/a"))],
    )
    .await
    .assert_status(200);
    a.post_with_headers(
        "/v1/Conversations",
        &[("FriendlyName", "hooked")],
        &[("X-Twilio-Webhook-Enabled", "true")],
    )
    .await
    .assert_status(201);
    receiver.wait_for_event(1, "onConversationAdded").await;
    a.post(
        "/confab/Inbound",
        &[
            ("From", "+15550008001"),
            ("To", "+15550008002"),
            ("Body", "hi"),
        ],
    )
    .await
    .assert_status(200);
    let key = a
        .post(&format!("/confab/Accounts/{}/Keys", a.sid), &[])
        .await;
    let key = key.assert_status(201);
    let a_key = a.with_credentials(
        key["sid"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    let b = account().await;
    let b_resources = fixture::build(&b).await;
    let b_reads: Vec<String> = crate::tenancy::reads(&b_resources);
    let b_before = fixture::snapshot(&b, &b_reads).await;
    let old_service = a.default_service().await;

    b.post(&format!("/confab/Accounts/{}/Reset", a.sid), &[])
        .await
        .assert_error(404, 20404);
    a.post(&format!("/confab/Accounts/{}/Reset", a.sid), &[])
        .await
        .assert_status(204);

    let services = items(&a.get("/v1/Services").await, "services");
    assert_eq!(services.len(), 1, "{services:?}");
    let fresh = a.default_service().await;
    assert_ne!(fresh, old_service);
    assert_eq!(services[0]["sid"], fresh.as_str());
    for (path, key) in [
        ("/v1/Conversations", "conversations"),
        ("/v1/Users", "users"),
        ("/v1/Credentials", "credentials"),
        ("/v1/Configuration/Addresses", "address_configurations"),
        ("/confab/Outbound", "messages"),
        ("/confab/Inbound", "messages"),
        ("/confab/Webhooks/Deliveries", "deliveries"),
    ] {
        assert_eq!(
            items(&a.get(path).await, key),
            Vec::<Value>::new(),
            "{path}"
        );
    }
    for gone in [
        format!("/v1/Conversations/{}", resources.default.sids["CH"]),
        format!("/v1/Services/{old_service}"),
        format!("/v1/Credentials/{}", resources.account_level["CR"]),
    ] {
        a.get(&gone).await.assert_error(404, 20404);
    }
    let webhooks = a.get("/v1/Configuration/Webhooks").await;
    assert!(
        webhooks.assert_status(200)["post_webhook_url"].is_null(),
        "{}",
        webhooks.body
    );
    let configuration = a.get("/v1/Configuration").await;
    assert_eq!(
        configuration.assert_status(200)["default_chat_service_sid"],
        fresh.as_str()
    );
    assert_eq!(
        roles(&a).await,
        roles(&account().await).await,
        "the default roles"
    );
    a_key.get("/v1/Conversations").await.assert_status(200);
    // What the account makes after a reset works as on a new account.
    a.post("/v1/Conversations", &[("UniqueName", "again")])
        .await
        .assert_status(201);

    assert_eq!(
        fixture::snapshot(&b, &b_reads).await,
        b_before,
        "B untouched"
    );
}

#[tokio::test]
async fn the_operator_resets_lists_and_deletes_accounts() {
    let server = shared();
    let operator = server.operator();
    let a = account().await;
    a.post("/v1/Conversations", &[]).await.assert_status(201);
    operator
        .post(&format!("/confab/Accounts/{}/Reset", a.sid), &[])
        .await
        .assert_status(204);
    assert_eq!(
        items(&a.get("/v1/Conversations").await, "conversations").len(),
        0
    );

    a.get("/confab/Accounts").await.assert_error(403, 20403);
    let listed = operator
        .collect_pages("/confab/Accounts?PageSize=50", "accounts")
        .await;
    let entry = listed
        .iter()
        .find(|e| e["account_sid"] == a.sid.as_str())
        .expect("the new account is listed");
    assert_eq!(entry["friendly_name"], "test");
    assert!(entry["date_created"].is_string());
    assert!(entry.get("auth_token").is_none(), "no secrets in the list");

    let path = format!("/confab/Accounts/{}", a.sid);
    a.delete(&path).await.assert_error(403, 20403);
    operator
        .delete(&format!("/confab/Accounts/{}", operator.sid))
        .await
        .assert_error(403, 20403);
    assert_eq!(operator.delete(&path).await.status, 204);
    a.get("/v1/Conversations").await.assert_error(401, 20003);
    operator.delete(&path).await.assert_error(404, 20404);
    let listed = operator.collect_pages("/confab/Accounts", "accounts").await;
    assert!(listed.iter().all(|e| e["account_sid"] != a.sid.as_str()));
    operator
        .post(&format!("/confab/Accounts/{}/Reset", a.sid), &[])
        .await
        .assert_error(404, 20404);
}
