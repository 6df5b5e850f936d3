//! The test harness: one real confab server per test binary (on an ephemeral port), a fresh
//! account per test, and a small HTTP client that speaks Twilio's wire format.
//!
//! The store under test is the engine that ships: a SQLite file with the default durability,
//! or, when `CONFAB_TEST_PG` names a PostgreSQL server (a URL of its maintenance database,
//! e.g. `postgres://postgres@127.0.0.1:5432/postgres`), a database of its own created there
//! for each server store ([`TestStore`]) and dropped after.
#![allow(dead_code)] // Helpers shared by the test modules; not every module uses every one.

use std::sync::OnceLock;
use std::thread::JoinHandle;

use confab::server::{DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, ServeOpts};
use serde_json::Value;
use tokio::sync::oneshot;

/// A confab server running on its own thread and runtime, so that it outlives any one test.
pub struct TestServer {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The store it owns, dropped after it stops ([`TestServer::start_fresh`]).
    store: Option<TestStore>,
}

impl TestServer {
    /// Starts a server on `db` (a file path or `:memory:`), in test mode, on 127.0.0.1:0.
    pub fn start(db: &str) -> TestServer {
        Self::start_with(db, true)
    }

    /// Starts a server, in test mode or not.
    pub fn start_with(db: &str, test_mode: bool) -> TestServer {
        Self::start_opts(ServeOpts {
            test_mode,
            ..ServeOpts::new(db)
        })
    }

    /// Starts a server with these options (its `listen` should be 127.0.0.1:0).
    pub fn start_opts(opts: ServeOpts) -> TestServer {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(opts.listen).await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                confab::server::run_with_listener(&opts, listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = ready_rx.recv().expect("server did not start");
        TestServer {
            base: format!("http://{addr}"),
            stop: Some(stop_tx),
            thread: Some(thread),
            store: None,
        }
    }

    /// Starts a server in test mode on a store of its own (moving the clock there touches no
    /// other test), which lives as long as the server.
    pub fn start_fresh() -> TestServer {
        Self::start_fresh_with(true)
    }

    /// [`TestServer::start_fresh`], in test mode or not.
    pub fn start_fresh_with(test_mode: bool) -> TestServer {
        let store = TestStore::fresh();
        let mut server = Self::start_with(&store.url(), test_mode);
        server.store = Some(store);
        server
    }

    /// Stops the server gracefully and waits until it has let go of its store.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.store.take();
    }

    /// A client authenticated as the operator account.
    pub fn operator(&self) -> Client {
        Client::new(&self.base, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)
    }

    /// A fresh, isolated account (with its own default service) on this server.
    pub async fn new_account(&self) -> Client {
        let created = self
            .operator()
            .post("/confab/Accounts", &[("FriendlyName", "test")])
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let sid = created.body["account_sid"].as_str().unwrap();
        let token = created.body["auth_token"].as_str().unwrap();
        Client::new(&self.base, sid, token)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The server shared by every test in this binary, on a store of its own.
pub fn shared() -> &'static TestServer {
    static STORE: OnceLock<TestStore> = OnceLock::new();
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| TestServer::start(&STORE.get_or_init(TestStore::fresh).url()))
}

/// A store for a test server: a SQLite file in a directory of its own, or a PostgreSQL
/// database of its own when `CONFAB_TEST_PG` is set. Gone when dropped.
pub enum TestStore {
    Sqlite(tempfile::TempDir),
    Postgres {
        admin: String,
        url: String,
        name: String,
    },
}

impl TestStore {
    /// A new, empty store of the engine under test.
    pub fn fresh() -> Self {
        match std::env::var("CONFAB_TEST_PG") {
            Ok(admin) if !admin.is_empty() => {
                // The run's tag lets the script that ran the suite drop what it left behind
                // (the shared server's store is never dropped: statics are not).
                let run = std::env::var("CONFAB_TEST_PG_RUN").unwrap_or_else(|_| "run".into());
                let name = format!("confab_test_{run}_{}", confab::sid::new_secret());
                pg_admin(&admin, &format!("CREATE DATABASE {name}"));
                let url = match admin.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => panic!("CONFAB_TEST_PG is not a URL with a database: {admin}"),
                };
                TestStore::Postgres { admin, url, name }
            }
            _ => TestStore::Sqlite(tempfile::tempdir().expect("a temporary directory")),
        }
    }

    /// What `--db` takes to open it.
    pub fn url(&self) -> String {
        match self {
            TestStore::Sqlite(dir) => dir.path().join("confab.db").display().to_string(),
            TestStore::Postgres { url, .. } => url.clone(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestStore::Postgres { .. })
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let TestStore::Postgres { admin, name, .. } = self {
            pg_admin(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement on the PostgreSQL server's maintenance database; a server that cannot
/// be reached fails the test, saying so (the PostgreSQL half of the suite must not pass by
/// skipping).
fn pg_admin(admin: &str, sql: &str) {
    let (admin, sql) = (admin.to_string(), sql.to_string());
    // On a thread of its own: the synchronous client runs a runtime, which a test's may not
    // hold.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap_or_else(|e| {
            panic!("CONFAB_TEST_PG={admin}: PostgreSQL cannot be reached: {e}")
        });
        client
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .join()
    .expect("the PostgreSQL admin statement ran");
}

/// A fresh account on the shared server: the namespace of one test.
pub async fn account() -> Client {
    shared().new_account().await
}

/// What the server answered.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Resp {
    /// Asserts a Twilio error body with this status and code, and returns the body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64) -> &Value {
        assert_eq!(
            (self.status, self.body["code"].as_u64()),
            (status, Some(code)),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(
            self.body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        assert!(self.body["message"].is_string());
        &self.body
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        &self.body
    }
}

/// An HTTP client with one account's Basic auth.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub sid: String,
    pub token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, sid: &str, token: &str) -> Self {
        Client {
            base: base.into(),
            sid: sid.into(),
            token: token.into(),
            http: reqwest::Client::new(),
        }
    }

    /// The same client with other credentials (to check 401s and tenant isolation).
    pub fn with_credentials(&self, sid: &str, token: &str) -> Self {
        Client {
            sid: sid.into(),
            token: token.into(),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let res = req
            .basic_auth(&self.sid, Some(&self.token))
            .send()
            .await
            .expect("request failed");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        // serde_json, with its `raw_value` feature, reads `{"$serde_json::private::RawValue":
        // "[1]"}` back as `[1]`, so a raw value written as that object would pass every check on
        // `body`; an SDK would see the object. No serde marker may reach the wire.
        assert!(
            !text.contains("$serde_json::") && !text.contains("$sonic_rs::"),
            "a serde marker leaked into the body: {text}"
        );
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp { status, body }
    }

    /// POST a form body; repeated keys are repeated pairs.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = serde_html_form::to_string(form).unwrap();
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// POST a form body; `None` when no answer came (the server went away).
    pub async fn try_post(&self, path: &str, form: &[(&str, &str)]) -> Option<Resp> {
        let res = self
            .http
            .post(self.url(path))
            .basic_auth(&self.sid, Some(&self.token))
            .form(form)
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        let body = res.json().await.ok()?;
        Some(Resp { status, body })
    }

    /// POST with extra headers (e.g. `X-Twilio-Webhook-Enabled`).
    pub async fn post_with_headers(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = serde_html_form::to_string(form).unwrap();
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(self.url(path))).await
    }

    /// The SID of this account's default service.
    pub async fn default_service(&self) -> String {
        let services = self.get("/v1/Services").await;
        services.body["services"][0]["sid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A new service of this account.
    pub async fn new_service(&self, name: &str) -> String {
        let created = self.post("/v1/Services", &[("FriendlyName", name)]).await;
        created.body["sid"].as_str().unwrap().to_string()
    }

    /// Both URL families a per-service resource lives under: the default service's shorthand
    /// `/v1`, and `/v1/Services/{IS...}` of a second, non-default service.
    pub async fn prefixes(&self) -> Vec<String> {
        let service = self.new_service("second service").await;
        vec!["/v1".to_string(), format!("/v1/Services/{service}")]
    }

    /// Follows `meta.next_page_url` from `path` to the end, collecting the `key` items.
    pub async fn collect_pages(&self, path: &str, key: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(url) = next {
            let page = self.get(&url).await;
            assert_eq!(page.status, 200, "{}", page.body);
            items.extend(page.body[key].as_array().unwrap().iter().cloned());
            next = page.body["meta"]["next_page_url"]
                .as_str()
                .map(str::to_string);
        }
        items
    }
}

/// The SID pattern of the spec: two letters and 32 hex digits.
#[track_caller]
pub fn assert_sid(value: &Value, prefix: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(
        s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{s}"
    );
}

/// ISO-8601 UTC without fractional seconds: `2015-12-16T22:18:37Z`.
#[track_caller]
pub fn assert_date(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.len() == 20 && s.ends_with('Z'),
        "{s}"
    );
}

impl Client {
    /// A request with any method and no body.
    pub async fn send_method(&self, method: &str, path: &str) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(self.http.request(method, self.url(path))).await
    }

    /// A POST with a raw body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Resp {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string());
        self.send(req).await
    }
}

impl Client {
    /// The same credentials against another server (after a restart, on a new port).
    pub fn on(&self, base: &str) -> Self {
        Client {
            base: base.into(),
            ..self.clone()
        }
    }
}

/// A form body as pairs.
pub type Form<'a> = &'a [(&'a str, &'a str)];
/// One row of an error table: the form, the expected status and code, and why it must fail.
pub type ErrorCase<'a> = (Form<'a>, u16, u64, &'a str);

impl Client {
    /// DELETE with extra headers.
    pub async fn delete_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.http.delete(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }
}

/// Points the default service's webhooks (`POST /v1/Services/{IS}/Configuration/Webhooks`) at
/// the receiver: pre-action to `/pre`, post-action to `/post`, by POST, for these events.
pub async fn service_webhooks(
    client: &Client,
    receiver: &crate::receiver::Receiver,
    filters: &[&str],
) {
    let service = client.default_service().await;
    let mut form = vec![
        ("PreWebhookUrl", receiver.url("/pre")),
        ("PostWebhookUrl", receiver.url("/post")),
        ("Method", "POST".to_string()),
    ];
    form.extend(filters.iter().map(|f| ("Filters", f.to_string())));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &form,
        )
        .await
        .assert_status(200);
}

impl TestServer {
    /// Moves this server's clock forward (`POST /confab/Clock`, test mode). Only on a server of
    /// the test's own: the shared server's clock belongs to every test.
    pub async fn advance(&self, by: &str) {
        self.operator()
            .post("/confab/Clock", &[("Advance", by)])
            .await
            .assert_status(200);
    }
}

impl Client {
    /// Waits until the server's clock begins a new second. Receipts are queued (status null)
    /// until the second after the one they were created in, so a receipt created right after this
    /// stays queued for almost a second: long enough to read it without racing the scheduler.
    pub async fn start_of_a_second(&self) {
        let now = |r: Resp| r.body["now"].as_str().unwrap().to_string();
        let start = now(self.get("/confab/Clock").await);
        for _ in 0..400 {
            if now(self.get("/confab/Clock").await) != start {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the server's clock stood still for 2 s");
    }
}

impl Client {
    /// POSTs each case's form to `path` and asserts its Twilio error (status, code and the
    /// whole error body); `why` names the case in a failure.
    pub async fn assert_errors(&self, path: &str, cases: &[ErrorCase<'_>]) {
        for (form, status, code, why) in cases {
            let res = self.post(path, form).await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{why}: {}",
                res.body
            );
            res.assert_error(*status, *code);
        }
    }
}

impl Client {
    /// A POST of raw bytes as a form body (bytes that need not be UTF-8).
    pub async fn post_bytes(&self, path: &str, body: &[u8]) -> Resp {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec());
        self.send(req).await
    }
}

/// One HTTP/1.1 exchange on a raw TCP connection, for what an HTTP client library hides:
/// requests written in pieces, reuse of a connection, and the answer's raw head.
pub mod raw {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// The host and port of a base URL (`http://127.0.0.1:1234`).
    pub fn addr(base: &str) -> String {
        base.trim_start_matches("http://").to_string()
    }

    /// A response read off the wire: its status line, lower-cased headers and body.
    #[derive(Debug)]
    pub struct RawResponse {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl RawResponse {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Reads one response (head, then a `Content-Length` body) from `stream`, keeping bytes
    /// read past it in `buf`. `None` if the connection ends first or nothing comes in `wait`.
    pub async fn read_response(
        stream: &mut TcpStream,
        buf: &mut Vec<u8>,
        wait: Duration,
    ) -> Option<RawResponse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let mut lines = head.split("\r\n");
                let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let body = buf[end + 4..end + 4 + length].to_vec();
                    buf.drain(..end + 4 + length);
                    return Some(RawResponse {
                        status,
                        headers,
                        body,
                    });
                }
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
            match read {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Writes `bytes`; `false` if the connection is gone.
    pub async fn write(stream: &mut TcpStream, bytes: &[u8]) -> bool {
        stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok()
    }

    /// `Authorization: Basic ...` for these credentials.
    pub fn basic(sid: &str, token: &str) -> String {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"));
        format!("Basic {encoded}")
    }
}

impl Client {
    /// A POST of raw bytes with their content type (a media upload).
    pub async fn post_media(&self, path: &str, content_type: &str, bytes: &[u8]) -> Resp {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(bytes.to_vec());
        self.send(req).await
    }
}
