//! The benchmark's load generator (`bench/run.sh` drives it): `--conns` keep-alive HTTP/1.1
//! connections, each sending one request at a time, for a fixed time (after a warm-up that is
//! not counted) or for a fixed number of requests (seeding). Every request's latency is kept, so
//! the percentiles are exact. Any answer that is not 2xx, and any broken connection, is an
//! error.
//!
//! Templates: in `--path` and `--body`, `{i}` is the request's number (0, 1, 2, ... across all
//! connections) and `{sid}` is line `i mod n` of the `--sids` file, so consecutive requests
//! spread evenly over the listed resources.
//!
//! Prints one JSON object: `requests`, `errors`, `seconds`, `rps`, `p50_ms`, `p90_ms`,
//! `p99_ms`, `p999_ms`, `max_ms`, `statuses` and `first_errors`.
//!
//! ```sh
//! cargo run --release --example loadgen -- --addr 127.0.0.1:8787 --conns 16 --duration 5 \
//!   --auth AC...:token --method POST --path '/v1/Conversations/{sid}/Messages' \
//!   --sids sids.txt --body 'Author=bench&Body=hello+{i}'
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
#[command(about = "Keep-alive HTTP/1.1 load generator with exact latency percentiles")]
struct Opts {
    /// Server address (host:port). Repeat it for several nodes of one deployment: connection
    /// `k` goes to address `k mod n`, as a round-robin balancer would spread them.
    #[arg(long, required = true)]
    addr: Vec<SocketAddr>,
    /// Concurrent keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Seconds to measure (ignored with --count).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before measuring starts (not counted in the figures).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Send exactly this many requests, then stop (seeding); no warm-up.
    #[arg(long)]
    count: Option<u64>,
    #[arg(long, default_value = "GET")]
    method: String,
    /// Path and query; `{i}` and `{sid}` are replaced per request.
    #[arg(long)]
    path: String,
    /// Form body (already URL-encoded); `{i}` and `{sid}` are replaced per request.
    #[arg(long)]
    body: Option<String>,
    /// Basic auth as `user:password`.
    #[arg(long)]
    auth: Option<String>,
    /// A file with one value per line for `{sid}`.
    #[arg(long)]
    sids: Option<String>,
    /// With --save-to: the top-level JSON field of each 2xx answer to keep (e.g. `sid`).
    #[arg(long, default_value = "sid")]
    save_field: String,
    /// Write the --save-field of every 2xx answer to this file, one per line, in request order.
    #[arg(long)]
    save_to: Option<String>,
    /// An extra request header, `Name: value` (repeatable), e.g. `X-Twilio-Webhook-Enabled: true`.
    #[arg(long)]
    header: Vec<String>,
    /// Runtime worker threads of the load generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Event streams (`GET /confab/Events`) held open during the run as `--idle-auth`'s
    /// account, on which nothing happens: what several hundred open streams cost the API.
    #[arg(long, default_value_t = 0)]
    idle_streams: usize,
    /// The account (`user:password`) of the idle streams: another than `--auth`'s.
    #[arg(long)]
    idle_auth: Option<String>,
    /// Event streams held open during the run as `--auth`'s account: each receives every event
    /// the run makes (read and counted: `stream_events` in the report).
    #[arg(long, default_value_t = 0)]
    live_streams: usize,
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    first_errors: Vec<String>,
    saved: Vec<(u64, String)>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 3 {
            self.first_errors.push(what);
        }
    }
}

struct Shared {
    opts: Opts,
    sids: Vec<String>,
    auth: Option<String>,
    next: AtomicU64,
    stop: AtomicBool,
    /// Answers that complete in [measure_from, measure_until) are counted.
    measure_from: Instant,
    measure_until: Instant,
}

fn expand(template: &str, i: u64, sids: &[String]) -> String {
    let mut out = template.replace("{i}", &i.to_string());
    if out.contains("{sid}") && !sids.is_empty() {
        out = out.replace("{sid}", &sids[(i % sids.len() as u64) as usize]);
    }
    out
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn worker(shared: Arc<Shared>, addr: SocketAddr) -> Tally {
    let mut tally = Tally::default();
    let opts = &shared.opts;
    let host = addr.to_string();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if let Some(count) = opts.count {
            if i >= count {
                break;
            }
        } else if Instant::now() >= shared.measure_until {
            break;
        }
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    tally.error(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut req = Request::builder()
            .method(opts.method.as_str())
            .uri(expand(&opts.path, i, &shared.sids))
            .header("host", &host);
        if let Some(auth) = &shared.auth {
            req = req.header("authorization", auth);
        }
        for (name, value) in opts.header.iter().filter_map(|h| h.split_once(':')) {
            req = req.header(name.trim(), value.trim());
        }
        let body = match &opts.body {
            Some(b) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Bytes::from(expand(b, i, &shared.sids))
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(body)).expect("a valid request");
        let started = Instant::now();
        let answer = async {
            s.ready().await?;
            let res = s.send_request(req).await?;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        let done = Instant::now();
        match answer {
            Ok((status, body)) => {
                *tally.statuses.entry(status).or_default() += 1;
                if !(200..300).contains(&status) {
                    let text = String::from_utf8_lossy(&body);
                    tally.error(format!(
                        "{status}: {}",
                        text.chars().take(300).collect::<String>()
                    ));
                } else if opts.save_to.is_some() {
                    match serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v.get(&opts.save_field)?.as_str().map(str::to_owned))
                    {
                        Some(v) => tally.saved.push((i, v)),
                        None => tally.error(format!("no {} in the answer", opts.save_field)),
                    }
                }
                let counted = opts.count.is_some()
                    || (started >= shared.measure_from && done < shared.measure_until);
                if counted {
                    tally
                        .latencies_ns
                        .push(done.duration_since(started).as_nanos() as u64);
                }
            }
            Err(e) => {
                tally.error(format!("request: {e}"));
                sender = None;
            }
        }
    }
    tally
}

/// The start of an SSE event's `event:` field, which every event confab writes has, once.
static EVENT_FIELD: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\nevent:"));

/// Opens an event stream as `auth` and reads it until the run stops (`stop` changes),
/// counting its events.
async fn hold_stream(
    addr: SocketAddr,
    auth: String,
    events: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut sender = connect(addr).await?;
    let req = Request::builder()
        .method("GET")
        .uri("/confab/Events")
        .header("host", addr.to_string())
        .header("authorization", auth)
        .body(Full::new(Bytes::new()))?;
    let res = sender.send_request(req).await?;
    anyhow::ensure!(res.status() == 200, "the stream answered {}", res.status());
    let mut body = res.into_body();
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => return Ok(()),
            frame = body.frame() => frame,
        };
        let Some(frame) = frame else {
            anyhow::bail!("the stream ended");
        };
        if let Ok(data) = frame?.into_data() {
            // A vectorized search: the streams' bytes (a gigabyte a second with 300 live
            // streams) are read on the machine that runs confab, and a byte-by-byte count took
            // more CPU than confab spent writing them.
            let count = EVENT_FIELD.find_iter(&data).count();
            events.fetch_add(count as u64, Ordering::Relaxed);
        }
    }
}

/// The streams asked for, opened before the load starts: `(idle, live)` as (auth, count).
fn open_streams(
    opts: &Opts,
    live_auth: Option<&String>,
    events: &Arc<AtomicU64>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    let basic = |a: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(a)
        )
    };
    let mut wanted = Vec::new();
    if opts.idle_streams > 0 {
        let auth = opts
            .idle_auth
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--idle-streams needs --idle-auth"))?;
        wanted.extend(std::iter::repeat_n(basic(auth), opts.idle_streams));
    }
    if opts.live_streams > 0 {
        let auth = live_auth.ok_or_else(|| anyhow::anyhow!("--live-streams needs --auth"))?;
        wanted.extend(std::iter::repeat_n(auth.clone(), opts.live_streams));
    }
    // Spread over the nodes as the requests are.
    Ok(wanted
        .into_iter()
        .enumerate()
        .map(|(k, auth)| {
            let addr = opts.addr[k % opts.addr.len()];
            tokio::spawn(hold_stream(addr, auth, events.clone(), stop.clone()))
        })
        .collect())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()?
        .block_on(run(opts))
}

async fn run(opts: Opts) -> anyhow::Result<()> {
    let sids = match &opts.sids {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if (opts.path.contains("{sid}") || opts.body.as_deref().unwrap_or("").contains("{sid}"))
        && sids.is_empty()
    {
        anyhow::bail!("the templates use {{sid}} but --sids gave no values");
    }
    let auth = opts.auth.as_ref().map(|a| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(a)
        )
    });
    let stream_events = Arc::new(AtomicU64::new(0));
    let (streams_stop, stop_streams) = tokio::sync::watch::channel(false);
    let streams = open_streams(&opts, auth.as_ref(), &stream_events, &stop_streams)?;
    if !streams.is_empty() {
        // Let them connect before the load starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let start = Instant::now();
    let (measure_from, measure_until) = match opts.count {
        Some(_) => (start, start + Duration::from_secs(365 * 24 * 3600)),
        None => {
            let from = start + Duration::from_secs_f64(opts.warmup);
            (from, from + Duration::from_secs_f64(opts.duration))
        }
    };
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        sids,
        auth,
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        measure_from,
        measure_until,
    });
    let workers: Vec<_> = (0..opts.conns.max(1))
        .map(|k| {
            let addr = shared.opts.addr[k % shared.opts.addr.len()];
            tokio::spawn(worker(shared.clone(), addr))
        })
        .collect();
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.latencies_ns.extend(t.latencies_ns);
        all.errors += t.errors;
        for (k, v) in t.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        for e in t.first_errors {
            if all.first_errors.len() < 3 {
                all.first_errors.push(e);
            }
        }
        all.saved.extend(t.saved);
    }
    let seconds = match opts.count {
        Some(_) => start.elapsed().as_secs_f64(),
        None => opts.duration,
    };
    let _ = streams_stop.send(true);
    let mut stream_errors = Vec::new();
    let open_streams = streams.len();
    for stream in streams {
        if let Err(e) = stream.await? {
            stream_errors.push(e.to_string());
        }
    }
    for e in stream_errors.iter().take(3) {
        if all.first_errors.len() < 3 {
            all.first_errors.push(format!("stream: {e}"));
        }
    }
    all.errors += stream_errors.len() as u64;
    if let Some(path) = &opts.save_to {
        all.saved.sort_by_key(|(i, _)| *i);
        let lines: Vec<&str> = all.saved.iter().map(|(_, v)| v.as_str()).collect();
        std::fs::write(path, lines.join("\n") + "\n")?;
    }
    let mut lat = all.latencies_ns;
    lat.sort_unstable();
    let requests = lat.len() as u64;
    let report = json!({
        "requests": requests,
        "errors": all.errors,
        "seconds": seconds,
        "rps": requests as f64 / seconds,
        "p50_ms": percentile(&lat, 50.0),
        "p90_ms": percentile(&lat, 90.0),
        "p99_ms": percentile(&lat, 99.0),
        "p999_ms": percentile(&lat, 99.9),
        "max_ms": lat.last().map_or(0.0, |&n| n as f64 / 1e6),
        "statuses": all.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "first_errors": all.first_errors,
        "streams": open_streams,
        "stream_events": stream_events.load(Ordering::Relaxed),
    });
    println!("{report}");
    Ok(())
}
