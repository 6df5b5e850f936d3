//! The HTTP edge: accepting connections, and bounding what a client can hold of the server.
//!
//! confab serves HTTP/1.1 with hyper's connection builder in an accept loop of its own (not
//! `axum::serve`, which sets no timer, so no timeout of hyper's applies), with:
//!
//! - a **header timeout**: a request's head must arrive within `header_timeout` of its first
//!   byte (slowloris connections are closed);
//! - an **idle timeout**: a connection with no request in progress is closed after
//!   `idle_timeout` (and so is one whose client stops reading an answer). hyper's own header
//!   timer, which counts from when a connection starts waiting for a request, backs both up at
//!   their sum;
//! - a **body timeout**: a request's body must arrive within `body_timeout` of the handler
//!   asking for it;
//! - a **cap on open connections** (`max_connections`, lowered to fit the open-file limit):
//!   at the cap, accepting waits (new clients wait in the kernel's backlog) and connections
//!   with no request in progress are closed to make room, so the process never runs out of
//!   descriptors and idle connections cannot lock everyone out;
//! - a **budget of body bytes** held at once (`body_bytes_in_flight`): a request whose body is
//!   larger than [`SMALL_BODY`] reserves its length (at most [`MAX_BODY_BYTES`]) before it is
//!   read; when the budget is spent it waits up to [`BUDGET_WAIT`], then answers 429 (20429);
//! - **`Connection: close`** on any answer given before the request's body was read to its end
//!   (a 401, a 405, an unknown path, a refusal): hyper closes such a connection, and a client
//!   told nothing would send its next request into a closed connection;
//! - a lingering close: a connection hyper closes keeps reading (and dropping) what its client
//!   still sends for a moment ([`LINGER`]), so that the close does not reset the connection
//!   and lose the answer just written;
//! - small header buffers ([`MAX_HEADER_BYTES`], [`MAX_BUFFER_BYTES`] per connection), so that
//!   clients that never finish their headers hold little memory.
//!
//! An answer that streams (Server-Sent Events, `text/event-stream`: `GET /confab/Events`) is
//! long-lived by design: while it streams, the connection has no idle or header deadline and
//! is never evicted to make room; a write that waits longer than `idle_timeout` (a client that
//! stopped reading) closes it, and a graceful stop closes it at once (the client reconnects
//! with its `Last-Event-ID`).
//!
//! A graceful stop stops accepting, lets every connection finish the request in progress, and
//! returns once all are closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CONNECTION, RETRY_AFTER};
use axum::response::IntoResponse;
use bytes::Bytes;
use clap::Args;
use futures_util::future::{BoxFuture, Either};
use futures_util::task::AtomicWaker;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service, ServiceExt};

use crate::error::{Code, Error};

/// The largest request body any route reads: a media upload (`api::media::MAX_MEDIA_BYTES`).
/// A body of unknown length reserves this much of the budget.
pub const MAX_BODY_BYTES: usize = crate::api::media::MAX_MEDIA_BYTES;
/// Bodies up to this size are not counted against the budget (forms are a few hundred bytes,
/// and each connection's buffer holds this much anyway).
pub const SMALL_BODY: u64 = 64 * 1024;
/// How long a request waits for the body budget before it is refused with 429.
pub const BUDGET_WAIT: Duration = Duration::from_secs(1);
/// The largest request head (request line and headers); larger is answered 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's read buffer per connection (its default is about 400 KB).
pub const MAX_BUFFER_BYTES: usize = 64 * 1024;
/// At the connection cap, a connection with no request in progress is closed only once it has
/// been so for this long: one that just answered is likely to be reused at once.
pub const EVICT_AFTER: Duration = Duration::from_millis(500);

/// The limits of the edge (each a flag and an environment variable; see README's options).
#[derive(Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers, from their first byte (`10s`,
    /// `500ms`).
    #[arg(long, env = "CONFAB_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_span)]
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in progress.
    #[arg(long, env = "CONFAB_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_span)]
    pub idle_timeout: Duration,
    /// How long a request's body may take to arrive.
    #[arg(long, env = "CONFAB_BODY_TIMEOUT", default_value = "30s", value_parser = parse_span)]
    pub body_timeout: Duration,
    /// The most connections open at once (lowered at start to fit the open-file limit).
    #[arg(long, env = "CONFAB_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// The most bytes of request bodies (uploads) held at once; past it, 429.
    #[arg(long, env = "CONFAB_BODY_BYTES_IN_FLIGHT", default_value_t = 64 * 1024 * 1024)]
    pub body_bytes_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            body_bytes_in_flight: 64 * 1024 * 1024,
        }
    }
}

/// A span of time: `250ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a span such as 500ms, 10s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(format!("'{text}': the unit is ms, s or m")),
    }
    .and_then(|span| {
        if span.is_zero() {
            Err("a span must be longer than zero".to_string())
        } else {
            Ok(span)
        }
    })
}

/// Raises the process's soft limit of open files to its hard limit, where the system allows:
/// every connection is a descriptor. Answers the (soft, hard) limits in force afterwards.
pub fn raise_open_file_limit() -> io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the one struct passed, nothing else.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        Ok((limit.rlim_cur, limit.rlim_max))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::other("not raised on this system"))
    }
}

/// The soft limit of open files, where it can be read.
fn open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the one struct passed.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        ok.then_some(limit.rlim_cur)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

impl Limits {
    /// `max_connections`, lowered to leave room under the open-file limit for everything else
    /// the process opens (the store's files, webhook requests, logs): a quarter of the limit,
    /// and at least 64 descriptors.
    pub fn connection_cap(&self) -> usize {
        let Some(files) = open_file_limit() else {
            return self.max_connections;
        };
        let files = usize::try_from(files).unwrap_or(usize::MAX);
        let reserve = (files / 4).max(64);
        self.max_connections
            .min(files.saturating_sub(reserve))
            .max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// Where a connection is in its request cycle, for its timeouts and for eviction.
struct ConnState {
    phase: AtomicU8,
    /// When the phase began, in milliseconds since [`epoch`].
    since: AtomicU64,
    /// Signals from the acceptor ([`EVICT`], [`STOP`]), and the task to wake for them.
    signals: AtomicU8,
    waker: AtomicWaker,
}

/// No request in progress, and no byte of the next one read.
const IDLE: u8 = 0;
/// Some bytes of a request's head read, the request not yet handed to the router.
const HEAD: u8 = 1;
/// A request in the router.
const BUSY: u8 = 2;
/// An answer streaming (`text/event-stream`), its head sent: `since` is its last write.
const STREAMING: u8 = 3;

/// The instant the edge's clock counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_millis()).unwrap_or(u64::MAX)
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(millis_since_epoch(Instant::now())),
            signals: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        }
    }

    fn enter(&self, phase: u8) {
        self.since
            .store(millis_since_epoch(Instant::now()), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    fn phase(&self) -> (u8, Instant) {
        let phase = self.phase.load(Ordering::Acquire);
        let since = epoch() + Duration::from_millis(self.since.load(Ordering::Relaxed));
        (phase, since)
    }

    /// Whether the connection may be closed to make room: no request in progress, for a while.
    fn evictable(&self) -> bool {
        let (phase, since) = self.phase();
        (phase == IDLE || phase == HEAD) && since.elapsed() >= EVICT_AFTER
    }

    fn streaming(&self) -> bool {
        self.phase.load(Ordering::Acquire) == STREAMING
    }
}

/// A connection's socket, with the header and idle timeouts: reads and writes that wait past
/// the deadline of the connection's phase fail with `TimedOut`, and hyper closes it.
struct Guarded {
    io: TcpStream,
    state: Arc<ConnState>,
    limits: Limits,
    timer: Pin<Box<Sleep>>,
    armed: Instant,
    /// Once hyper closes the connection: when the lingering began, and the bytes dropped.
    linger: Option<(Instant, usize)>,
}

/// How long a closing connection keeps reading what its client still sends, at most.
pub const LINGER: Duration = Duration::from_secs(2);
/// How long it waits for the client's next bytes before closing.
pub const LINGER_QUIET: Duration = Duration::from_millis(100);
/// The most bytes it reads (and drops) while lingering.
pub const LINGER_BYTES: usize = 16 * 1024 * 1024;

impl Guarded {
    fn new(io: TcpStream, state: Arc<ConnState>, limits: Limits) -> Self {
        let now = Instant::now();
        Guarded {
            io,
            state,
            limits,
            timer: Box::pin(tokio::time::sleep_until(now)),
            armed: now,
            linger: None,
        }
    }

    /// Closing: after the FIN, reads and drops what the client still sends (the rest of a body
    /// the answer did not wait for, a request sent before the client saw `Connection: close`)
    /// until it stops for [`LINGER_QUIET`], ends, or [`LINGER`] or [`LINGER_BYTES`] is reached.
    /// A socket closed with unread bytes resets the connection, and a reset can make the
    /// client's system drop the answer before the client has read it.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (began, mut dropped) = match self.linger {
            Some(linger) => linger,
            None => {
                std::task::ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
                let now = Instant::now();
                self.timer.as_mut().reset(now + LINGER_QUIET);
                (now, 0)
            }
        };
        let mut scratch = [0u8; 8192];
        let done = loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break true,
                Poll::Ready(Ok(())) => {
                    dropped += buf.filled().len();
                    if dropped >= LINGER_BYTES {
                        break true;
                    }
                    let quiet = (Instant::now() + LINGER_QUIET).min(began + LINGER);
                    self.timer.as_mut().reset(quiet);
                }
                Poll::Ready(Err(_)) => break true,
                Poll::Pending => break self.timer.as_mut().poll(cx).is_ready(),
            }
        };
        self.linger = Some((began, dropped));
        if done {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Ready once the phase's deadline has passed; registers the task to be woken then. A
    /// streaming answer has a deadline for its writes only: its client has nothing to send.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, writing: bool) -> Poll<io::Error> {
        let (phase, since) = self.state.phase();
        let (deadline, what) = match phase {
            IDLE => (since + self.limits.idle_timeout, "idle timeout"),
            HEAD => (since + self.limits.header_timeout, "header timeout"),
            STREAMING if writing => (since + self.limits.idle_timeout, "stream write timeout"),
            _ => return Poll::Pending,
        };
        if deadline != self.armed {
            self.timer.as_mut().reset(deadline);
            self.armed = deadline;
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, what)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.state.phase.load(Ordering::Acquire) == IDLE {
                    this.state.enter(HEAD);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.poll_deadline(cx, false).map(Err),
            ready => ready,
        }
    }
}

impl Guarded {
    /// A streaming answer's write went through: its write deadline starts again.
    fn wrote(&self) {
        if self.state.streaming() {
            self.state.enter(STREAMING);
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.poll_deadline(cx, true).map(Err),
            ready => {
                this.wrote();
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_deadline(cx, true).map(Err),
            ready => {
                this.wrote();
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_linger(cx)
    }
}

/// The open connections, for the acceptor to signal: to make room at the cap, and to stop.
/// Locked when a connection opens or closes, and when signalling; never on a request's path.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    next: AtomicU64,
}

impl Registry {
    fn add(self: &Arc<Self>, state: Arc<ConnState>) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, state);
        Registered {
            registry: self.clone(),
            id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Signals every connection that may be closed to make room; answers how many.
    fn evict_idle(&self) -> usize {
        let open = self.lock();
        let mut asked = 0;
        for state in open.values().filter(|state| state.evictable()) {
            state.signal(EVICT);
            asked += 1;
        }
        asked
    }

    fn stop_all(&self) {
        for state in self.lock().values() {
            state.signal(STOP);
        }
    }
}

/// A connection's place in the registry, given back when the connection ends.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// Signals to a connection (bits of `ConnState::signals`).
const EVICT: u8 = 1;
const STOP: u8 = 2;
/// Its answer began to stream (a stop already asked for closes it now).
const STREAMS: u8 = 4;

impl ConnState {
    fn signal(&self, bit: u8) {
        self.signals.fetch_or(bit, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Resolves with the signals sent since it was last polled ready.
    fn signalled(&self) -> impl Future<Output = u8> + '_ {
        std::future::poll_fn(move |cx| {
            let bits = self.signals.swap(0, Ordering::AcqRel);
            if bits != 0 {
                return Poll::Ready(bits);
            }
            self.waker.register(cx.waker());
            match self.signals.swap(0, Ordering::AcqRel) {
                0 => Poll::Pending,
                bits => Poll::Ready(bits),
            }
        })
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every connection finish
/// the request in progress and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let cap = limits.connection_cap();
    tracing::debug!(cap, "connection cap");
    let slots = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry::default());
    // Each connection holds a receiver; the sender is closed once all have ended.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slot(&slots, &registry, cap) => permit,
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e, &registry).await;
                    continue;
                }
            },
        };
        let state = Arc::new(ConnState::new());
        let registered = registry.add(state.clone());
        tokio::spawn(connection(
            stream,
            (permit, registered, open_rx.clone()),
            state,
            router.clone(),
            limits,
        ));
    }
    drop(listener);
    registry.stop_all();
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// A free connection slot; at the cap, asks connections with no request in progress to close
/// (again every 100 ms) until one frees its slot.
async fn slot(slots: &Arc<Semaphore>, registry: &Registry, cap: usize) -> OwnedSemaphorePermit {
    if let Ok(permit) = slots.clone().try_acquire_owned() {
        return permit;
    }
    log_at_most_every_second(|| {
        tracing::warn!(
            cap,
            "at the connection limit: closing idle connections to make room"
        );
    });
    loop {
        registry.evict_idle();
        let wait = tokio::time::timeout(Duration::from_millis(100), slots.clone().acquire_owned());
        if let Ok(Ok(permit)) = wait.await {
            return permit;
        }
    }
}

/// An accept that failed: a connection that went away before it was accepted is nothing; out
/// of descriptors (or memory), idle connections are asked to close and accepting pauses.
async fn accept_failed(e: io::Error, registry: &Registry) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    log_at_most_every_second(|| tracing::warn!(error = %e, "accept failed; pausing"));
    registry.evict_idle();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn log_at_most_every_second(log: impl FnOnce()) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = millis_since_epoch(Instant::now());
    let last = LAST.load(Ordering::Relaxed);
    if (last == 0 || now.saturating_sub(last) >= 1000)
        && LAST
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        log();
    }
}

/// What a connection holds until it ends: its slot under the cap, its place in the registry,
/// and the receiver that keeps a graceful stop waiting for it.
type Held = (OwnedSemaphorePermit, Registered, watch::Receiver<()>);

/// One connection, until it closes, is evicted, or finishes its request after a stop.
async fn connection(
    stream: TcpStream,
    _held: Held,
    state: Arc<ConnState>,
    router: Router,
    limits: Limits,
) {
    let io = TokioIo::new(Guarded::new(stream, state.clone(), limits));
    let in_service = state.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        in_service.enter(BUSY);
        let answered = router.clone().oneshot(req.map(Body::new));
        let state = in_service.clone();
        async move {
            let response: axum::response::Response = match answered.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if !is_event_stream(&response) {
                state.enter(IDLE);
                return Ok::<_, Infallible>(response);
            }
            state.enter(STREAMING);
            state.signal(STREAMS);
            Ok(response.map(|body| Body::new(Streaming { body, state })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(MAX_BUFFER_BYTES)
        // A client may shut down its side once its request is sent (an upload, then `FIN`):
        // without this, hyper took that end of input for a closed connection and dropped the
        // answer still being made.
        .half_close(true);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            signals = state.signalled() => {
                // A stream never finishes by itself: a stop closes it now.
                if (stopping || signals & STOP != 0) && state.streaming() {
                    break;
                }
                if signals & STOP != 0 && !stopping {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                } else if signals & EVICT != 0 && !stopping && state.evictable() {
                    // Polled just before, hyper holds no complete request: none is lost.
                    tracing::debug!("idle connection closed to make room");
                    break;
                }
            }
        }
    }
}

/// Whether an answer streams (Server-Sent Events).
fn is_event_stream(response: &axum::response::Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
}

/// A streaming answer's body: the connection is back to idle once it has ended (or gone).
struct Streaming {
    body: Body,
    state: Arc<ConnState>,
}

impl HttpBody for Streaming {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.state.enter(IDLE);
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// The router's outermost layer: the body budget, the body timeout, and `Connection: close` on
/// answers given before the body was read to its end.
#[derive(Clone)]
pub struct BodyGuardLayer {
    budget: Arc<Semaphore>,
    budget_bytes: usize,
    timeout: Duration,
}

impl BodyGuardLayer {
    pub fn new(limits: &Limits) -> Self {
        // A tokio semaphore holds at most `usize::MAX >> 3` permits.
        let budget_bytes = limits.body_bytes_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        BodyGuardLayer {
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
            timeout: limits.body_timeout,
        }
    }
}

impl<S> Layer<S> for BodyGuardLayer {
    type Service = BodyGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyGuard {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct BodyGuard<S> {
    inner: S,
    layer: BodyGuardLayer,
}

impl<S> Service<Request> for BodyGuard<S>
where
    S: Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Self::Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // Requests without a body (every GET an SDK sends) pass untouched.
        if req.body().is_end_stream() {
            return Either::Left(self.inner.call(req));
        }
        // The clone is the one made ready above; `self.inner` is left for the next call.
        let inner = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, inner);
        let layer = self.layer.clone();
        Either::Right(Box::pin(layer.guard(inner, req)))
    }
}

impl BodyGuardLayer {
    async fn guard<S>(self, inner: S, req: Request) -> Result<axum::response::Response, Infallible>
    where
        S: Service<Request, Response = axum::response::Response, Error = Infallible>,
    {
        let hint = req.body().size_hint();
        let length = hint.exact().unwrap_or(u64::MAX);
        let mut permit = None;
        if length > SMALL_BODY {
            let bytes = usize::try_from(length)
                .unwrap_or(usize::MAX)
                .min(MAX_BODY_BYTES)
                .min(self.budget_bytes);
            // `bytes` is at most MAX_BODY_BYTES, which fits a u32.
            let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
            let waited =
                tokio::time::timeout(BUDGET_WAIT, self.budget.clone().acquire_many_owned(bytes));
            match waited.await {
                Ok(Ok(granted)) => permit = Some(granted),
                _ => {
                    log_at_most_every_second(|| {
                        tracing::warn!(
                            budget = self.budget_bytes,
                            "request bodies over the budget of bytes in flight: answering 429"
                        );
                    });
                    let mut refused = Error::with(
                        Code::TooManyRequests,
                        "too many request bodies in flight; retry later",
                    )
                    .into_response();
                    let headers = refused.headers_mut();
                    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
                    headers.insert(CONNECTION, HeaderValue::from_static("close"));
                    return Ok(refused);
                }
            }
        }
        let read_to_end = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.timeout;
        let req = req.map(|body| {
            Body::new(Tracked {
                inner: body,
                read_to_end: read_to_end.clone(),
                deadline,
                timer: None,
            })
        });
        let mut response = inner.oneshot(req).await?;
        drop(permit);
        if !read_to_end.load(Ordering::Acquire) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(response)
    }
}

/// A request body that records whether it was read to its end, and fails once its deadline
/// has passed while waiting for the client.
struct Tracked {
    inner: Body,
    read_to_end: Arc<AtomicBool>,
    deadline: Instant,
    /// Made only when a read has to wait: most bodies arrive with their headers.
    timer: Option<Pin<Box<Sleep>>>,
}

/// A body that did not arrive within `--body-timeout`.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.read_to_end.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
                    Poll::Pending => Poll::Pending,
                }
            }
            frame => frame,
        }
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.read_to_end.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error reading a body is its length limit (as opposed to the client going away
/// or the body timeout).
pub fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_written() {
        assert_eq!(parse_span("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_span("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_span("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_span("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "0s", "-1s", "1h", "1.5s", "ten"] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }

    /// The flags' defaults are `Limits::default()`.
    #[test]
    fn flag_defaults_are_the_defaults() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            limits: Limits,
        }
        let parsed = <Flags as clap::Parser>::try_parse_from(["confab"]).unwrap();
        assert_eq!(parsed.limits, Limits::default());
    }

    #[test]
    fn the_connection_cap_leaves_room_under_the_open_file_limit() {
        let limits = Limits {
            max_connections: usize::MAX,
            ..Limits::default()
        };
        if let Some(files) = open_file_limit() {
            let files = usize::try_from(files).unwrap_or(usize::MAX);
            assert!(limits.connection_cap() <= files.saturating_sub(64).max(1));
        }
        let small = Limits {
            max_connections: 3,
            ..Limits::default()
        };
        assert_eq!(small.connection_cap(), 3);
    }
}
