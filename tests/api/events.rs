//! The event stream, `GET /confab/Events`: every post-action event of the account as Server-Sent
//! Events, with the webhook's parameters as JSON; its filters, `Last-Event-ID` reconnection,
//! heartbeats, tenancy, and confab's own `confabWebhookFailed` and `confabInboundUnrouted`.

use std::time::Duration;

use serde_json::Value;

use crate::common::{Client, TestServer, TestStore, account, service_webhooks};
use crate::receiver::Receiver;

/// How long a test waits for an event that must come.
const WITHIN: Duration = Duration::from_secs(10);

/// One SSE frame: an event (its `id`, `event` and `data`), or a comment (a heartbeat).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("null")).unwrap()
    }

    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("")
    }
}

/// An open event stream, read frame by frame.
pub struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// Opens `/confab/Events?{query}` as `client`, after `last_event_id` if given.
    pub async fn open(client: &Client, query: &str, last_event_id: Option<&str>) -> Stream {
        let response = Self::request(client, query, last_event_id).await;
        assert_eq!(response.status(), 200, "the stream did not open");
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    pub async fn request(
        client: &Client,
        query: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .get(format!("{}/confab/Events?{query}", client.base))
            .basic_auth(&client.sid, Some(&client.token));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        req.send().await.expect("the stream request failed")
    }

    /// The next frame (event or comment) within `wait`; `None` if none came.
    pub async fn frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_frame(&block));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("the stream broke")
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event (heartbeats skipped); fails the test if none comes.
    pub async fn event(&mut self) -> Frame {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.frame(left).await.expect("no event came");
            if frame.comment.is_none() {
                return frame;
            }
        }
    }

    /// Asserts that no event comes within `wait` (heartbeats may).
    pub async fn quiet_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.frame(left).await {
                None => return,
                Some(frame) if frame.comment.is_some() => continue,
                Some(frame) => panic!("an event that should not be there: {frame:?}"),
            }
        }
    }
}

fn parse_frame(block: &str) -> Frame {
    let mut frame = Frame::default();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comment = Some(comment.trim().to_string());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match field {
            "id" => frame.id = Some(value),
            "event" => frame.event = Some(value),
            "data" => frame.data = Some(value),
            _ => {}
        }
    }
    frame
}

async fn conversation(client: &Client, name: &str) -> String {
    let created = client
        .post("/v1/Conversations", &[("FriendlyName", name)])
        .await;
    created.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A conversation made while a stream watched (the stream is closed after), and the id of its
/// `onConversationAdded`: where a stream resumes to get what came after.
async fn conversation_seen(client: &Client, name: &str) -> (String, Option<String>) {
    let mut stream = Stream::open(client, "", None).await;
    let ch = conversation(client, name).await;
    let added = stream.event().await;
    assert_eq!(added.name(), "onConversationAdded");
    (ch, added.id)
}

async fn message(client: &Client, conversation: &str, body: &str) -> String {
    let posted = client
        .post(
            &format!("/v1/Conversations/{conversation}/Messages"),
            &[("Body", body), ("Author", "ana")],
        )
        .await;
    posted.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn every_change_arrives_with_its_webhooks_parameters_without_asking_for_webhooks() {
    let client = account().await;
    let mut stream = Stream::open(&client, "", None).await;
    let ch = conversation(&client, "watched").await;
    let added = stream.event().await;
    assert_eq!(added.name(), "onConversationAdded");
    let data = added.json();
    assert_eq!(data["EventType"], "onConversationAdded");
    assert_eq!(data["AccountSid"], client.sid);
    assert_eq!(data["ConversationSid"], ch);
    assert_eq!(data["FriendlyName"], "watched");
    assert_eq!(data["State"], "active");
    assert_eq!(data["Source"], "API");
    assert!(added.id.is_some());

    let im = message(&client, &ch, "hello").await;
    let message_added = stream.event().await;
    assert_eq!(message_added.name(), "onMessageAdded");
    let data = message_added.json();
    assert_eq!(
        (
            &data["MessageSid"],
            &data["Body"],
            &data["Author"],
            &data["Index"]
        ),
        (
            &Value::from(im),
            &Value::from("hello"),
            &Value::from("ana"),
            &Value::from("0")
        )
    );
    client
        .post(&format!("/v1/Conversations/{ch}"), &[("State", "closed")])
        .await
        .assert_status(200);
    let names = [stream.event().await, stream.event().await].map(|f| f.name().to_string());
    assert!(
        names.contains(&"onConversationUpdated".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"onConversationStateUpdated".to_string()),
        "{names:?}"
    );
}

/// A busy stream writes what came meanwhile together (`api/events.rs`, `PACE`): a burst of
/// posts arrives once each, in order, whatever the chunks it was cut into.
#[tokio::test]
async fn a_burst_arrives_once_each_in_order() {
    let client = account().await;
    let ch = conversation(&client, "burst").await;
    let mut stream = Stream::open(&client, &format!("ConversationSid={ch}"), None).await;
    let posts = (0..40).map(|n| {
        let (client, ch) = (client.clone(), ch.clone());
        tokio::spawn(async move { message(&client, &ch, &format!("m{n}")).await })
    });
    for post in posts.collect::<Vec<_>>() {
        post.await.unwrap();
    }
    let mut indexes = Vec::new();
    for _ in 0..40 {
        let event = stream.event().await;
        assert_eq!(event.name(), "onMessageAdded");
        indexes.push(
            event.json()["Index"]
                .as_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(indexes, (0..40).collect::<Vec<_>>());
    stream.quiet_for(Duration::from_millis(300)).await;
}

/// A stream far behind writes its backlog in pieces (`api/events.rs`, `MAX_WRITE`): an event
/// that does not fit in one write opens the next, and none is lost, cut or repeated.
#[tokio::test]
async fn a_backlog_larger_than_one_write_arrives_whole_and_in_order() {
    let client = account().await;
    let (ch, seen) = conversation_seen(&client, "backlog").await;
    // 60 messages of 1,000 characters: about four writes' worth.
    let mut sent = Vec::new();
    for n in 0..60 {
        let body = format!("{n:04}{}", "x".repeat(996));
        sent.push(message(&client, &ch, &body).await);
    }
    let mut resumed = Stream::open(&client, "EventType=onMessageAdded", seen.as_deref()).await;
    let mut got = Vec::new();
    for n in 0..60 {
        let event = resumed.event().await;
        assert_eq!(
            event.json()["Body"].as_str().unwrap().len(),
            1000,
            "event {n}"
        );
        got.push(event.json()["MessageSid"].as_str().unwrap().to_string());
    }
    assert_eq!(got, sent);
    resumed.quiet_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_conversation_filter_keeps_one_conversations_events() {
    let client = account().await;
    let (one, other) = (
        conversation(&client, "one").await,
        conversation(&client, "two").await,
    );
    let mut stream = Stream::open(&client, &format!("ConversationSid={one}"), None).await;
    message(&client, &other, "not this one").await;
    let im = message(&client, &one, "this one").await;
    let got = stream.event().await;
    assert_eq!(got.name(), "onMessageAdded");
    assert_eq!(got.json()["MessageSid"], im);
    assert_eq!(got.json()["ConversationSid"], one);
    // A user's events belong to no conversation.
    client
        .post("/v1/Users", &[("Identity", "zoe")])
        .await
        .assert_status(201);
    stream.quiet_for(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn the_event_type_filter_is_repeatable_and_refuses_unknown_names() {
    let client = account().await;
    let mut stream = Stream::open(
        &client,
        "EventType=onUserAdded&EventType=onMessageAdded",
        None,
    )
    .await;
    let ch = conversation(&client, "typed").await;
    message(&client, &ch, "kept").await;
    client
        .post("/v1/Users", &[("Identity", "kim")])
        .await
        .assert_status(201);
    let names = [stream.event().await, stream.event().await].map(|f| f.name().to_string());
    assert_eq!(names, ["onMessageAdded", "onUserAdded"]);
    stream.quiet_for(Duration::from_millis(300)).await;

    // Pre-action events never reach a stream; names are case-sensitive, as Twilio spells them.
    for bad in ["onMessageAdd", "onmessageadded", "onSomething"] {
        let refused = Stream::request(&client, &format!("EventType={bad}"), None).await;
        assert_eq!(refused.status(), 400, "{bad}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["code"], 20001, "{body}");
        assert!(body["message"].as_str().unwrap().contains(bad), "{body}");
    }
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_gets_what_it_missed_in_order() {
    let client = account().await;
    let (ch, seen) = conversation_seen(&client, "resumed").await;
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(message(&client, &ch, &format!("missed {n}")).await);
    }
    let mut resumed = Stream::open(&client, "", seen.as_deref()).await;
    let mut got = Vec::new();
    let mut last_id = None;
    for _ in 0..5 {
        let event = resumed.event().await;
        assert_eq!(event.name(), "onMessageAdded");
        got.push(event.json()["MessageSid"].as_str().unwrap().to_string());
        last_id = event.id;
    }
    assert_eq!(got, sent);
    // Live again after the catching up, and nothing twice.
    let live = message(&client, &ch, "live").await;
    assert_eq!(resumed.event().await.json()["MessageSid"], live);
    resumed.quiet_for(Duration::from_millis(300)).await;

    // From the last one: only what came after it.
    let mut again = Stream::open(&client, "", last_id.as_deref()).await;
    assert_eq!(again.event().await.json()["MessageSid"], live);
    again.quiet_for(Duration::from_millis(300)).await;

    // Filters apply to what is caught up too.
    let mut filtered = Stream::open(&client, "EventType=onConversationAdded", Some("0")).await;
    assert_eq!(filtered.event().await.json()["ConversationSid"], ch);
    filtered.quiet_for(Duration::from_millis(300)).await;

    let refused = Stream::request(&client, "", Some("not-an-id")).await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn one_account_never_sees_anothers_events() {
    let (mine, theirs) = (account().await, account().await);
    let mut stream = Stream::open(&mine, "", None).await;
    let their_ch = conversation(&theirs, "theirs").await;
    message(&theirs, &their_ch, "private").await;
    // Not even by naming their conversation, nor by catching up from the beginning.
    let mut named = Stream::open(&mine, &format!("ConversationSid={their_ch}"), Some("0")).await;
    let mine_ch = conversation(&mine, "mine").await;
    let got = stream.event().await;
    assert_eq!(got.json()["ConversationSid"], mine_ch);
    assert_eq!(got.json()["AccountSid"], mine.sid);
    named.quiet_for(Duration::from_millis(500)).await;
    stream.quiet_for(Duration::from_millis(300)).await;

    let wrong = mine.with_credentials(&mine.sid, "not the token");
    assert_eq!(Stream::request(&wrong, "", None).await.status(), 401);
}

#[tokio::test]
async fn an_api_key_opens_its_accounts_stream() {
    let client = account().await;
    let key = client
        .post(&format!("/confab/Accounts/{}/Keys", client.sid), &[])
        .await;
    let key = key.assert_status(201);
    let as_key = client.with_credentials(
        key["sid"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    let mut stream = Stream::open(&as_key, "", None).await;
    let ch = conversation(&client, "keyed").await;
    assert_eq!(stream.event().await.json()["ConversationSid"], ch);
}

#[tokio::test]
async fn a_failed_webhook_delivery_is_confabs_own_event() {
    let client = account().await;
    let receiver = Receiver::start();
    receiver.down(500);
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    let mut stream = Stream::open(&client, "EventType=confabWebhookFailed", None).await;
    let created = client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "unlucky")],
            &[("X-Twilio-Webhook-Enabled", "true")],
        )
        .await;
    let ch = created.assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = stream.event().await;
    assert_eq!(failed.name(), "confabWebhookFailed");
    let data = failed.json();
    assert_eq!(data["EventType"], "confabWebhookFailed");
    assert_eq!(data["WebhookEventType"], "onConversationAdded");
    assert_eq!(data["WebhookKind"], "post");
    assert_eq!(data["ConversationSid"], ch);
    assert_eq!(data["Url"], receiver.url("/post"));
    assert_eq!(data["StatusCode"], "500");
    assert_eq!(data["Outcome"], "retrying");
    assert_eq!(data["RetryCount"], "0");
}

#[tokio::test]
async fn an_inbound_message_that_reaches_no_conversation_is_confabs_own_event() {
    let client = account().await;
    let mut stream = Stream::open(&client, "EventType=confabInboundUnrouted", None).await;
    let answer = client
        .post(
            "/confab/Inbound",
            &[
                ("From", "+15550007001"),
                ("To", "+15550007002"),
                ("Body", "anyone?"),
            ],
        )
        .await;
    assert_eq!(answer.assert_status(200)["outcome"], "ignored");
    let unrouted = stream.event().await;
    assert_eq!(unrouted.name(), "confabInboundUnrouted");
    let data = unrouted.json();
    assert_eq!(data["Outcome"], "ignored");
    assert_eq!(data["From"], "+15550007001");
    assert_eq!(data["To"], "+15550007002");
    assert_eq!(data["Body"], "anyone?");
    assert_eq!(data["MessageSid"], answer.body["sid"]);
}

#[tokio::test]
async fn heartbeats_keep_a_quiet_stream_open_past_the_idle_timeout() {
    let store = TestStore::fresh();
    let mut opts = confab::server::ServeOpts::new(&store.url());
    opts.events_heartbeat = Duration::from_millis(200);
    opts.limits.idle_timeout = Duration::from_secs(1);
    let server = TestServer::start_opts(opts);
    let client = server.operator();
    let mut stream = Stream::open(&client, "", None).await;
    let mut heartbeats = 0;
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < quiet_until {
        let frame = stream
            .frame(Duration::from_secs(1))
            .await
            .expect("a heartbeat");
        assert_eq!(frame.comment.as_deref(), Some("heartbeat"), "{frame:?}");
        heartbeats += 1;
    }
    assert!(heartbeats >= 8, "{heartbeats} heartbeats in 2.5 s");
    // Still open, past twice the idle timeout, and events still come.
    let ch = conversation(&client, "after the quiet").await;
    assert_eq!(stream.event().await.json()["ConversationSid"], ch);
    drop(stream);
    server.stop();
}

#[tokio::test]
async fn a_stop_closes_open_streams_at_once() {
    let server = TestServer::start_fresh();
    let client = server.operator();
    let mut stream = Stream::open(&client, "", None).await;
    let ch = conversation(&client, "before the stop").await;
    assert_eq!(stream.event().await.json()["ConversationSid"], ch);
    // A stream never ends by itself: the graceful stop must not wait for it.
    let stopped = tokio::task::spawn_blocking(move || server.stop());
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stopped with a stream open")
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.response.chunk()).await;
    assert!(
        matches!(ended, Ok(Ok(None)) | Ok(Err(_))),
        "the stream is still open: {ended:?}"
    );
}
