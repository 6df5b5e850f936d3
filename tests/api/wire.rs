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

/// Parameters whose percent-decoded bytes are not UTF-8 (invalid bytes, a raw byte, an overlong
/// sequence, a surrogate, latin1 text) are refused with a Twilio 400, in a form body and in a
/// query string, and change nothing: read lossily, `%FF%FE` and `%FF%FD` were one identity.
#[tokio::test]
async fn parameters_that_are_not_utf8_are_refused() {
    let client = account().await;
    let bodies: &[&[u8]] = &[
        b"Identity=%FF%FE",
        b"Identity=%FF%FD",
        b"Identity=%FF%FE%FD",
        b"Identity=\xff",
        b"Identity=%C0%AF",
        b"Identity=%ED%A0%80",
        b"Identity=caf\xe9",
        b"Identity=ok&FriendlyName=%E9t%E9",
        b"Ident%FFity=x",
    ];
    for body in bodies {
        let res = client.post_bytes("/v1/Users", body).await;
        let message = res.assert_error(400, 20001)["message"].as_str().unwrap();
        assert!(message.contains("UTF-8"), "{message}");
    }
    let users = client.collect_pages("/v1/Users", "users").await;
    assert!(users.is_empty(), "nothing written: {users:?}");

    let conversation = client.post("/v1/Conversations", &[]).await;
    let sid = conversation.assert_status(201)["sid"].as_str().unwrap();
    let messages = format!("/v1/Conversations/{sid}/Messages");
    client
        .post_bytes(&messages, b"Body=%FF%FE%FD")
        .await
        .assert_error(400, 20001);
    assert!(client.collect_pages(&messages, "messages").await.is_empty());

    for query in [
        "/v1/Users?PageSize=%FF",
        "/v1/ParticipantConversations?Identity=%FF%FE",
        "/v1/Conversations?State=%C0%AF",
        "/v1/Conversations?St%FFate=active",
    ] {
        let res = client.get(query).await;
        let message = res.assert_error(400, 20001)["message"].as_str().unwrap();
        assert!(message.contains("UTF-8"), "{query}: {message}");
    }
    // UTF-8 itself, percent-encoded or raw, is text as ever.
    let res = client.post_bytes(
        "/v1/Users",
        "Identity=caf%C3%A9&FriendlyName=Zoë".as_bytes(),
    );
    assert_eq!(res.await.assert_status(201)["friendly_name"], "Zoë");
    assert_eq!(
        client.get("/v1/Users/caf%C3%A9").await.assert_status(200)["identity"],
        "café"
    );
}

/// Every 401 carries the Basic challenge, with Twilio's realm: clients that wait for it
/// before sending credentials would otherwise never send them.
#[tokio::test]
async fn unauthenticated_answers_carry_the_basic_challenge() {
    let client = account().await;
    let http = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/v1/Conversations".to_string()),
        ("POST", "/v1/Conversations".to_string()),
        ("GET", "/v1/Services/IS00000000000000000000000000000000/Media/ME00000000000000000000000000000000".to_string()),
        ("GET", "/confab/Clock".to_string()),
        ("POST", format!("/confab/Accounts/{}/Keys", client.sid)),
    ] {
        for auth in [None, Some((client.sid.as_str(), "wrong"))] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = http.request(method.clone(), format!("{}{path}", client.base));
            if let Some((user, pass)) = auth {
                req = req.basic_auth(user, Some(pass));
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path}");
            assert_eq!(
                res.headers()["www-authenticate"],
                "Basic realm=\"Twilio API\"",
                "{method} {path}"
            );
        }
    }
}

/// A script that says it is one (`X-Requested-With: XMLHttpRequest`, as the web console does)
/// gets its 401 without the challenge, so that the browser running it does not ask its user for
/// a password; the answer is otherwise the same.
#[tokio::test]
async fn a_script_gets_its_401_without_the_challenge() {
    let client = account().await;
    let http = reqwest::Client::new();
    for (header, challenged) in [
        (None, true),
        (Some("XMLHttpRequest"), false),
        (Some("xmlhttprequest"), false),
        (Some("fetch"), true),
    ] {
        let mut req = http
            .get(format!("{}/v1/Conversations", client.base))
            .basic_auth(&client.sid, Some("wrong"));
        if let Some(value) = header {
            req = req.header("X-Requested-With", value);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{header:?}");
        assert_eq!(
            res.headers().contains_key("www-authenticate"),
            challenged,
            "{header:?}"
        );
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], 20003, "{header:?}");
    }
}

/// An answer given before the request's body arrived (a 401, a 405, an unknown path) leaves
/// the connection usable for the next request, or says `Connection: close` so that the client
/// does not reuse it. Headers, a pause, then the body and a second request on the same
/// connection: the second request is answered unless the first answer said close.
#[tokio::test]
async fn an_answer_before_the_body_leaves_the_connection_usable_or_closes_it() {
    use crate::common::raw;
    use std::time::Duration;

    let client = account().await;
    let good = raw::basic(&client.sid, &client.token);
    let bad = raw::basic(&client.sid, "wrong");
    let body = "FriendlyName=late-body";
    for (method, path, auth, status) in [
        ("POST", "/v1/Conversations", &bad, 401),
        ("PUT", "/v1/Conversations", &good, 405),
        ("POST", "/v1/Nothing/Here", &good, 404),
        (
            "POST",
            "/v1/Services/IS00000000000000000000000000000000/Media",
            &bad,
            401,
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(raw::addr(&client.base))
            .await
            .unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: confab\r\nAuthorization: {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        assert!(raw::write(&mut stream, head.as_bytes()).await);
        let mut buf = Vec::new();
        let first = raw::read_response(&mut stream, &mut buf, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{method} {path}: no answer before the body"));
        assert_eq!(first.status, status, "{method} {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = "GET /healthz HTTP/1.1\r\nHost: confab\r\n\r\n";
        let sent = raw::write(&mut stream, format!("{body}{next}").as_bytes()).await;
        let second = if sent {
            raw::read_response(&mut stream, &mut buf, Duration::from_secs(5)).await
        } else {
            None
        };
        let closes = first
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        assert!(
            closes || second.as_ref().is_some_and(|r| r.status == 200),
            "{method} {path}: the first answer kept the connection ({:?}) and the second \
             request got {second:?}",
            first.headers
        );
    }
}
