//! The running server: its shared state, its router with the layers every request passes
//! through, and serving with graceful shutdown (the connections themselves: `edge`).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::http::{Request, Response};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use futures_util::future::Either;
use tokio::net::TcpListener;
use tower::{Layer, Service};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{self, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::auth::Credentials;
use crate::edge::{BodyGuardLayer, Limits};
use crate::error::{Code, Error};
use crate::store::Store;

/// What every handler can reach, behind one `Arc`: axum clones the state (and the route holding
/// it) for every request, and with a field-by-field clone that was ten reference counts
/// incremented and decremented per request, on cache lines both worker threads write.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state itself (see [`AppState`]).
pub struct Shared {
    pub store: Store,
    pub credentials: Arc<Credentials>,
    /// `--public-url`: how the server names itself in absolute URLs, when not from `Host`.
    pub public_url: Option<Arc<str>>,
    /// The account given on the command line: it may create more accounts.
    pub operator_account: Arc<str>,
    /// Test mode allows the extension routes that bend reality (moving the clock).
    pub test_mode: bool,
    /// The client for pre-action webhooks.
    pub http: reqwest::Client,
    /// The edge's limits (timeouts, connections, bytes of bodies in flight).
    pub limits: Limits,
    /// How often an idle event stream sends a heartbeat (`--events-heartbeat`).
    pub events_heartbeat: std::time::Duration,
}

impl Shared {
    /// The account the request's Basic auth opens. A username this process has not seen may
    /// have been added to the store by another process (`confab account create`), so a miss
    /// looks there once before refusing.
    pub async fn authenticate(&self, headers: &axum::http::HeaderMap) -> Result<String, Error> {
        /// How many times a credential is read while accounts are being deleted, before the
        /// request is refused (each deletion on any node forgets every credential).
        const READS_PAST_DELETIONS: usize = 3;
        if let Some(account) = self.credentials.authenticate(headers) {
            return Ok(account);
        }
        let Some(username) = crate::auth::basic_username(headers) else {
            tracing::debug!("401: no Basic Authorization header");
            return Err(Error::new(Code::Unauthenticated));
        };
        // A credential read while an account was deleted may be that account's: it is read
        // again, after the deletion.
        let mut current = None;
        for _ in 0..READS_PAST_DELETIONS {
            let generation = self.credentials.generation();
            let stored =
                crate::domain::accounts::find_credential(&self.store, username.clone()).await?;
            let Some(credential) = stored else {
                tracing::debug!(%username, "401: no such account or API key");
                return Err(Error::new(Code::Unauthenticated));
            };
            if self.credentials.add_read_at(credential.clone(), generation) {
                current = Some(credential);
                break;
            }
        }
        let Some(credential) = current else {
            tracing::debug!(%username, "401: accounts were deleted each time its key was read");
            return Err(Error::new(Code::Unauthenticated));
        };
        crate::auth::opens(&credential, headers).ok_or_else(|| {
            tracing::debug!(%username, "401: wrong auth token or API key secret");
            Error::new(Code::Unauthenticated)
        })
    }
}

pub fn router(state: AppState) -> Router {
    let body_guard = BodyGuardLayer::new(&state.limits);
    crate::api::routes::router()
        // Inside the route's tag, so that an injected fault is counted under its route.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::api::faults::inject,
        ))
        .route_layer(middleware::from_fn(crate::metrics::tag_route))
        .layer(middleware::from_fn(crate::api::error::name_the_path))
        .layer(middleware::from_fn(crate::metrics::measure))
        .layer(middleware::from_fn(log_request))
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
        .layer(BrowserCors)
        .layer(CatchPanicLayer::custom(|_| {
            Error::internal("handler panicked").into_response()
        }))
        // Outermost, so that it sees every answer (a panic's too): see `edge`.
        .layer(body_guard)
        .with_state(state)
}

/// tower-http's permissive CORS, for the requests that browsers make: those carry `Origin`
/// (preflights included). The SDKs' requests never do, and skip it: building its headers and
/// adding them to every answer was about 15% of a conversation fetch's CPU in the benchmark.
#[derive(Clone, Copy)]
struct BrowserCors;

impl<S: Clone> Layer<S> for BrowserCors {
    type Service = BrowserCorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BrowserCorsService { inner }
    }
}

#[derive(Clone)]
struct BrowserCorsService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for BrowserCorsService<S>
where
    S: Service<Request<B>, Response = Response<B>> + Clone,
    B: Default,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Either<cors::ResponseFuture<S::Future>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.headers().contains_key(ORIGIN) {
            // The clone is the one made ready above; `self.inner` is left for the next call.
            let inner = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, inner);
            Either::Left(CorsLayer::permissive().layer(inner).call(req))
        } else {
            Either::Right(self.inner.call(req))
        }
    }
}

/// One log line per request at `info`: method, path (never the query, which may carry
/// identities), status and latency, written by `logging::answered`.
///
/// Not tower-http's span per request with its two events: those were 8.5% of a conversation
/// fetch's CPU in the benchmark's profile.
async fn log_request(req: axum::extract::Request, next: Next) -> axum::response::Response {
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    // A `Uri` clone shares its bytes: no copy of the path per request.
    let uri = req.uri().clone();
    let res = next.run(req).await;
    let latency_us = started.elapsed().as_micros() as u64;
    crate::logging::answered(&method, uri.path(), res.status().as_u16(), latency_us);
    res
}

/// Serves until `shutdown` resolves, then finishes the requests in flight (`edge::serve`: the
/// accept loop, with the connection cap and the timeouts of `state.limits`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    crate::edge::serve(listener, router(state), limits, shutdown).await
}
