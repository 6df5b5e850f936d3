//! A real webhook receiver on loopback: records every request confab sends it (method, URL,
//! headers, form parameters) and answers what the test scripted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The full URL confab requested (what it signed).
    pub url: String,
    pub signature: String,
    pub idempotency_token: String,
    pub params: Vec<(String, String)>,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn event(&self) -> &str {
        self.param("EventType").unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Scripted answers, used in order; then 200 with an empty body.
    answers: VecDeque<(u16, String)>,
    /// While set, every request is answered with this status (a target that is down).
    down: Option<u16>,
    /// How long to wait before answering (a slow target).
    delay: Duration,
    /// Requests that have arrived, answered or not.
    arrived: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 on its own thread (it outlives any one test runtime).
    pub fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = inner.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().fallback(record).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Receiver {
            base: format!("http://{addr}"),
            inner,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next requests get these answers (status, body), in order.
    pub fn answer(&self, answers: &[(u16, &str)]) {
        let mut inner = self.inner.lock().unwrap();
        inner
            .answers
            .extend(answers.iter().map(|(s, b)| (*s, b.to_string())));
    }

    /// Until `up()`, every request is answered with `status`.
    pub fn down(&self, status: u16) {
        self.inner.lock().unwrap().down = Some(status);
    }

    pub fn up(&self) {
        self.inner.lock().unwrap().down = None;
    }

    /// How many requests have arrived so far, answered or still waiting for their answer.
    pub fn arrived(&self) -> usize {
        self.inner.lock().unwrap().arrived
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits (up to 10 s) until `n` requests matching `pred` arrived, and returns them.
    pub async fn wait_for(&self, n: usize, pred: impl Fn(&Received) -> bool) -> Vec<Received> {
        for _ in 0..1000 {
            let got: Vec<Received> = self.received().into_iter().filter(|r| pred(r)).collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "waited 10 s for {n} matching webhooks; got {:#?}",
            self.received()
        );
    }

    /// Waits for `n` deliveries of `event`.
    /// Every answer from now on comes after `delay`.
    pub fn slow(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    pub async fn wait_for_event(&self, n: usize, event: &str) -> Vec<Received> {
        self.wait_for(n, |r| r.event() == event).await
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut params: Vec<(String, String)> = serde_html_form::from_bytes(&body).unwrap_or_default();
    if method == Method::GET {
        params = serde_html_form::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    }
    let delay = {
        let mut inner = inner.lock().unwrap();
        inner.arrived += 1;
        inner.delay
    };
    tokio::time::sleep(delay).await;
    let mut inner = inner.lock().unwrap();
    let (status, body) = match inner.down {
        Some(status) => (status, String::new()),
        None => inner.answers.pop_front().unwrap_or((200, String::new())),
    };
    inner.received.push(Received {
        method: method.to_string(),
        url: format!("http://{host}{uri}"),
        signature: header("x-twilio-signature"),
        idempotency_token: header("i-twilio-idempotency-token"),
        params,
        answered: status,
    });
    (StatusCode::from_u16(status).unwrap(), body)
}
