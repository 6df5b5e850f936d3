//! A webhook receiver on 127.0.0.1: records every request's path, form parameters,
//! idempotency token and when it began and ended, in the order they were answered, and answers
//! 200 (or, for a share of them and up to a budget, 500, so that retries are exercised), after
//! holding each for a while if asked to (so that deliveries are in flight when a node dies).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use rand::Rng;

/// One request, as it arrived.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The URL's path: which target it was sent to.
    pub path: String,
    pub params: HashMap<String, String>,
    /// `I-Twilio-Idempotency-Token`: one per queued event, the same on every attempt.
    pub token: String,
    /// What the receiver answered.
    pub status: u16,
    /// When the request had arrived (its body read), and when its answer went back.
    pub began: Instant,
    pub ended: Instant,
    /// When it had arrived, in milliseconds since the epoch (the system clock, which confab's
    /// webhook leases run on).
    pub arrived_unix_ms: i64,
}

impl Delivery {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

struct Inner {
    received: Vec<Delivery>,
    /// Requests being held now.
    in_flight: usize,
    /// The share of requests answered 500...
    failing: f64,
    /// ...until this many were (each holds its conversation's queue for a backoff of 1 s or
    /// more, so a rate alone would hold a long run's deliveries ever further behind).
    failures_left: usize,
    /// How long each request is held before it is answered, in milliseconds.
    hold_ms: Range<u64>,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on its own thread and runtime (it outlives every confab it serves).
    pub fn start(failing: f64) -> Receiver {
        Receiver::holding(failing, 0..1)
    }

    /// A receiver that holds each request for a time drawn from `hold_ms` before answering.
    pub fn holding(failing: f64, hold_ms: Range<u64>) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            received: Vec::new(),
            in_flight: 0,
            failing,
            failures_left: 0,
            hold_ms,
        }));
        let state = inner.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().fallback(record).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().expect("receiver did not start");
        Receiver {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Lets the receiver answer up to `n` more requests 500.
    pub fn allow_failures(&self, n: usize) {
        self.inner.lock().unwrap().failures_left = n;
    }

    /// From now on, holds each request for a time drawn from `hold_ms`.
    pub fn set_hold(&self, hold_ms: Range<u64>) {
        self.inner.lock().unwrap().hold_ms = hold_ms;
    }

    /// Requests being held now (arrived, not yet answered).
    pub fn in_flight(&self) -> usize {
        self.inner.lock().unwrap().in_flight
    }

    /// Everything received from the `from`-th request on, in arrival order.
    pub fn received_since(&self, from: usize) -> Vec<Delivery> {
        let inner = self.inner.lock().unwrap();
        inner.received.get(from..).unwrap_or_default().to_vec()
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let began = Instant::now();
    let arrived_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let pairs: Vec<(String, String)> = serde_html_form::from_bytes(&body).unwrap_or_default();
    let hold = {
        let mut inner = inner.lock().unwrap();
        inner.in_flight += 1;
        rand::rng().random_range(inner.hold_ms.clone())
    };
    if hold > 0 {
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    let mut inner = inner.lock().unwrap();
    inner.in_flight -= 1;
    let status = if inner.failures_left > 0 && rand::rng().random_bool(inner.failing) {
        inner.failures_left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let token = headers
        .get("i-twilio-idempotency-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    inner.received.push(Delivery {
        path: uri.path().to_string(),
        params: pairs.into_iter().collect(),
        token,
        status: status.as_u16(),
        began,
        ended: Instant::now(),
        arrived_unix_ms,
    });
    status
}
