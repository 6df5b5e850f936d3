//! A webhook receiver on 127.0.0.1: records every request's form parameters, in the order they
//! arrive, and answers 200 (or, for a share of them and up to a budget, 500, so that retries are
//! exercised).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use rand::Rng;

/// One request, as it arrived.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub params: HashMap<String, String>,
    /// What the receiver answered.
    pub status: u16,
}

impl Delivery {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

struct Inner {
    received: Vec<Delivery>,
    /// The share of requests answered 500...
    failing: f64,
    /// ...until this many were (each holds its conversation's queue for a backoff of 1 s or
    /// more, so a rate alone would hold a long run's deliveries ever further behind).
    failures_left: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on its own thread and runtime (it outlives every confab it serves).
    pub fn start(failing: f64) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            received: Vec::new(),
            failing,
            failures_left: 0,
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

    /// Everything received from the `from`-th request on, in arrival order.
    pub fn received_since(&self, from: usize) -> Vec<Delivery> {
        let inner = self.inner.lock().unwrap();
        inner.received.get(from..).unwrap_or_default().to_vec()
    }
}

async fn record(State(inner): State<Arc<Mutex<Inner>>>, body: Bytes) -> StatusCode {
    let pairs: Vec<(String, String)> = serde_html_form::from_bytes(&body).unwrap_or_default();
    let mut inner = inner.lock().unwrap();
    let status = if inner.failures_left > 0 && rand::rng().random_bool(inner.failing) {
        inner.failures_left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    inner.received.push(Delivery {
        params: pairs.into_iter().collect(),
        status: status.as_u16(),
    });
    status
}
