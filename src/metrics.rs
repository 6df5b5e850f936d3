//! Metrics in the Prometheus text format (`GET /metrics`), through the `metrics` facade and
//! its Prometheus exporter: requests by route pattern (the route that matched, never the raw
//! path, so that SIDs do not make a series each) and status, with a latency histogram; the
//! SQLite writer's batch sizes; webhook attempts by outcome; and, read from the store at each
//! scrape, the webhook outbox's depth and the timers and receipts that are due.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::lifecycle::Backlog;

/// Requests answered, by `method`, `route` and `status`.
pub const REQUESTS: &str = "confab_http_requests_total";
/// Seconds from a request's arrival to its answer, by `method` and `route`.
pub const REQUEST_SECONDS: &str = "confab_http_request_duration_seconds";
/// Jobs in each batch the SQLite writer commits at once (group commit).
pub const WRITE_BATCH_JOBS: &str = "confab_sqlite_write_batch_jobs";
/// Webhook attempts by `outcome` (`delivered`, `retrying`, `gave_up`, `not_delivered`).
pub const WEBHOOK_ATTEMPTS: &str = "confab_webhook_attempts_total";
/// Post-action webhooks queued and not yet delivered or given up (at the scrape).
pub const OUTBOX_DEPTH: &str = "confab_webhook_outbox_depth";
/// Conversation timers due and not yet fired (at the scrape).
pub const TIMERS_DUE: &str = "confab_timers_due";
/// Receipts whose next status is due and not yet taken (at the scrape).
pub const RECEIPTS_DUE: &str = "confab_receipts_due";

/// From half a millisecond (a read) to 5 s (a pre-action webhook's timeout).
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The route a request matched, carried out on its response to the layer that counts it.
#[derive(Clone)]
struct Route(Arc<str>);

/// How often the recorder folds the histogram samples it holds into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The process's recorder, installed on first use: one per process (the metrics facade has one
/// global recorder), which every server of a test binary shares.
///
/// The exporter keeps every histogram sample (each request's latency, each write batch's size)
/// until its upkeep folds them into buckets, and only its own listener would run that
/// periodically: without it, a server that nobody scrapes holds about 16 bytes per request, for
/// ever (docs/design.md, "Metrics: samples folded every second"). So a thread of the recorder's
/// runs the upkeep.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), &LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(WRITE_BATCH_JOBS.into()), &BATCH_BUCKETS)
            })
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("confab-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .expect("spawn the metrics upkeep thread");
        handle
    })
}

/// Inside the router, after routing: notes the route that matched on the response.
pub async fn tag_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| Route(Arc::from(m.as_str())));
    let mut res = next.run(req).await;
    if let Some(route) = route {
        res.extensions_mut().insert(route);
    }
    res
}

/// Around the router: counts every answer by route (`unmatched` for a path no route takes) and
/// status, and times it.
pub async fn measure(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let res = next.run(req).await;
    let route = res
        .extensions()
        .get::<Route>()
        .map_or_else(|| "unmatched".to_string(), |r| r.0.to_string());
    let status = res.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}

/// The text of a scrape: the backlog's gauges set, then everything recorded.
pub fn render(backlog: &Backlog) -> String {
    let handle = handle();
    metrics::gauge!(OUTBOX_DEPTH).set(backlog.outbox_depth as f64);
    metrics::gauge!(TIMERS_DUE).set(backlog.timers_due as f64);
    metrics::gauge!(RECEIPTS_DUE).set(backlog.receipts_due as f64);
    handle.run_upkeep();
    handle.render()
}
