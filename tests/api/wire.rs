//! The wire conventions every endpoint shares: auth, errors, unknown routes and methods.

use crate::common::{account, shared};

#[tokio::test]
async fn missing_or_wrong_credentials_answer_20003() {
    let client = account().await;
    let wrong = client.with_credentials(&client.sid, "not-the-token");
    wrong
        .get("/v1/Conversations")
        .await
        .assert_error(401, 20003);
    let unknown = client.with_credentials("AC00000000000000000000000000000000", "x");
    unknown
        .post("/v1/Conversations", &[])
        .await
        .assert_error(401, 20003);
}

#[tokio::test]
async fn api_keys_open_their_account() {
    let client = account().await;
    let key = client
        .post(
            &format!("/confab/Accounts/{}/Keys", client.sid),
            &[("FriendlyName", "ci")],
        )
        .await;
    let key = key.assert_status(201);
    let sid = key["sid"].as_str().unwrap();
    assert!(sid.starts_with("SK"));
    let via_key = client.with_credentials(sid, key["secret"].as_str().unwrap());
    let created = via_key
        .post("/v1/Conversations", &[("UniqueName", "by-key")])
        .await;
    created.assert_status(201);
    assert_eq!(created.body["account_sid"], client.sid.as_str());
    client
        .get("/v1/Conversations/by-key")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn only_the_operator_creates_accounts() {
    let client = account().await;
    client
        .post("/confab/Accounts", &[])
        .await
        .assert_error(403, 20403);
    shared()
        .operator()
        .post("/confab/Accounts", &[])
        .await
        .assert_status(201);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_twilio_shape() {
    let client = account().await;
    let res = client.get("/v1/Nothing/Here").await;
    assert_eq!(
        res.assert_error(404, 20404)["message"],
        "The requested resource /v1/Nothing/Here was not found"
    );
    let res = client.send_method("PUT", "/v1/Conversations").await;
    res.assert_error(405, 20004);
}

#[tokio::test]
async fn health_and_readiness_need_no_auth() {
    for path in ["/healthz", "/readyz"] {
        let res = reqwest::get(format!("{}{path}", shared().base))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_json_body_is_not_read_as_parameters() {
    let client = account().await;
    let res = client
        .post_raw(
            "/v1/Services",
            "application/json",
            r#"{"FriendlyName":"x"}"#,
        )
        .await;
    assert_eq!(
        res.assert_error(400, 20001)["message"],
        "Missing required parameter FriendlyName in the post body"
    );
}

#[tokio::test]
async fn absolute_urls_use_the_address_the_client_used() {
    let client = account().await;
    let res = reqwest::Client::new()
        .post(format!("{}/v1/Conversations", client.base))
        .basic_auth(&client.sid, Some(&client.token))
        .header("host", "confab.example:4242")
        .header("x-forwarded-proto", "https")
        .form(&[("UniqueName", "via-proxy")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://confab.example:4242/v1/Conversations/CH"),
        "{url}"
    );
}

#[tokio::test]
async fn public_url_overrides_how_the_server_names_itself() {
    let server = crate::common::TestServer::start_opts(confab::server::ServeOpts {
        public_url: Some("https://chat.example.com/".into()),
        ..confab::server::ServeOpts::new(":memory:")
    });
    let client = server.new_account().await;
    let page = client.get("/v1/Conversations?PageSize=5").await;
    assert_eq!(
        page.body["meta"]["first_page_url"],
        "https://chat.example.com/v1/Conversations?PageSize=5&Page=0"
    );
}

#[tokio::test]
async fn browsers_get_cors_headers_and_preflights_are_answered() {
    let client = account().await;
    let url = format!("{}/v1/Conversations", client.base);
    let http = reqwest::Client::new();
    let from_browser = http
        .get(&url)
        .basic_auth(&client.sid, Some(&client.token))
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(from_browser.status(), 200);
    assert_eq!(from_browser.headers()["access-control-allow-origin"], "*");

    let preflight = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight
            .headers()
            .contains_key("access-control-allow-methods")
    );

    // An SDK sends no Origin: its answers carry no CORS headers.
    let from_sdk = http
        .get(&url)
        .basic_auth(&client.sid, Some(&client.token))
        .send()
        .await
        .unwrap();
    assert_eq!(from_sdk.status(), 200);
    assert!(
        !from_sdk
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
