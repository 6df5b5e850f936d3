//! Request inspection: at `RUST_LOG=debug` the log says why a request was refused 401 (no
//! header, an unknown account, a wrong token), which parameters were ignored, that a JSON body
//! came where a form was expected, and that a REST write sent no webhook for want of
//! `X-Twilio-Webhook-Enabled`; the delivery log keeps each attempt's parameters, the answer's
//! status and (the start of) its body, and a connection error's cause.

use std::process::{Command, Stdio};
use std::time::Duration;

use confab::server::{DEV_ACCOUNT_SID, DEV_AUTH_TOKEN};

use crate::common::{Client, TestServer, service_webhooks};
use crate::receiver::Receiver;

/// The binary at `RUST_LOG=debug` on a store in memory; its log (stderr) is read after a stop.
struct DebugServer {
    child: std::process::Child,
    base: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl DebugServer {
    async fn start() -> DebugServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("confab.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
            .args(["serve", "--db", ":memory:", "--test-mode"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "confab=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..500 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return DebugServer {
                    child,
                    base,
                    log,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("confab did not start");
    }

    /// Stops the server once its log lines (written in batches) are out, and answers its log.
    async fn log(mut self) -> String {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

#[tokio::test]
async fn debug_logs_say_why_a_request_did_not_do_what_was_meant() {
    let server = DebugServer::start().await;
    let http = reqwest::Client::new();
    let conversations = format!("{}/v1/Conversations", server.base);
    assert_eq!(http.get(&conversations).send().await.unwrap().status(), 401);
    let stranger = Client::new(&server.base, "ACfeedfacefeedfacefeedfacefeedface", "x");
    stranger
        .get("/v1/Conversations")
        .await
        .assert_error(401, 20003);
    let wrong = Client::new(&server.base, DEV_ACCOUNT_SID, "not the token");
    wrong
        .get("/v1/Conversations")
        .await
        .assert_error(401, 20003);
    let client = Client::new(&server.base, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN);
    client
        .post("/v1/Conversations", &[("FriendlyNmae", "typo")])
        .await
        .assert_status(201);
    client
        .post_raw(
            "/v1/Conversations",
            "application/json",
            r#"{"FriendlyName":"j"}"#,
        )
        .await
        .assert_status(201);
    let receiver = Receiver::start();
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    client
        .post("/v1/Conversations", &[])
        .await
        .assert_status(201);

    let log = server.log().await;
    for expected in [
        "401: no Basic Authorization header",
        "401: no such account or API key",
        "ACfeedfacefeedfacefeedfacefeedface",
        "401: wrong auth token or API key secret",
        "unknown parameters ignored",
        "FriendlyNmae",
        "a JSON body where a form was expected",
        "webhook not sent: the REST request had no X-Twilio-Webhook-Enabled: true",
        "onConversationAdded",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    assert!(receiver.received().is_empty());
}

/// The delivery log keeps what was sent and what came back; a refused connection its cause.
#[tokio::test]
async fn the_delivery_log_keeps_the_parameters_the_answer_and_the_cause_of_a_failure() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = Receiver::start();
    receiver.answer(&[(500, "the receiver is unhappy")]);
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    let enabled = ("X-Twilio-Webhook-Enabled", "true");
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "logged")],
            &[enabled],
        )
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onConversationAdded").await;
    let first = wait_for_log(&client, 1).await;
    let attempt = &first[0];
    assert_eq!(attempt["status"], 500, "{attempt}");
    assert_eq!(attempt["response_body"], "the receiver is unhappy");
    let sent: Vec<(String, String)> = serde_json::from_value(attempt["params"].clone()).unwrap();
    let param = |name: &str| {
        sent.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(param("EventType"), Some("onConversationAdded"));
    assert_eq!(param("FriendlyName"), Some("logged"));
    assert_eq!(param("RetryCount"), Some("0"));

    // A port nobody listens on: the attempt keeps why it failed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let service = client.default_service().await;
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[("PostWebhookUrl", &format!("http://127.0.0.1:{port}/gone"))],
        )
        .await
        .assert_status(200);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "unheard")],
            &[enabled],
        )
        .await
        .assert_status(201);
    let log = wait_for_log(&client, 2).await;
    let refused = log
        .iter()
        .find(|d| d["url"].as_str().unwrap().ends_with("/gone"))
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(refused["status"].is_null());
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("Connection refused"), "{error}");
}

/// The delivery log once it has `n` attempts, newest first.
async fn wait_for_log(client: &Client, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..300 {
        let log = client.get("/confab/Webhooks/Deliveries").await;
        let rows = log.body["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} attempts were logged");
}
