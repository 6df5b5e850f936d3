//! `GET /metrics`: the Prometheus text format, requests counted by the route that matched (never
//! the raw path), latency histograms, the SQLite writer's batch sizes, webhook attempts by
//! outcome and the outbox's depth. Every server of this binary shares one recorder (the metrics
//! facade has one per process), so counts are compared before and after.

use crate::common::{TestServer, account, service_webhooks, shared};
use crate::receiver::Receiver;

/// The value of the sample whose line starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

async fn scrape(base: &str) -> String {
    let res = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_and_status_and_timed() {
    let client = account().await;
    let conv = client.post("/v1/Conversations", &[]).await;
    let sid = conv.assert_status(201)["sid"].as_str().unwrap().to_string();
    let ok = r#"confab_http_requests_total{method="GET",route="/v1/Conversations/{conversation}",status="200"}"#;
    let missing = r#"confab_http_requests_total{method="GET",route="/v1/Conversations/{conversation}",status="404"}"#;
    let before = scrape(&shared().base).await;
    client
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_status(200);
    client
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_status(200);
    client
        .get("/v1/Conversations/CH00000000000000000000000000000000")
        .await
        .assert_error(404, 20404);
    client.get("/v1/NoSuchThing").await.assert_error(404, 20404);
    let after = scrape(&shared().base).await;

    let grew = |series: &str| {
        sample(&after, series).unwrap_or(0.0) - sample(&before, series).unwrap_or(0.0)
    };
    assert!(grew(ok) >= 2.0, "{after}");
    assert!(grew(missing) >= 1.0, "{after}");
    assert!(
        sample(
            &after,
            r#"confab_http_requests_total{method="GET",route="unmatched",status="404"}"#
        )
        .is_some(),
        "a path no route takes is counted as unmatched"
    );
    assert!(!after.contains(&sid), "no series names a SID");
    assert!(!after.contains("NoSuchThing"), "no series names a raw path");
    let buckets = r#"confab_http_request_duration_seconds_bucket{method="GET",route="/v1/Conversations/{conversation}",le="+Inf"}"#;
    assert!(grew(buckets) >= 3.0, "{after}");
    // On PostgreSQL, other tests of this binary still run servers on SQLite files, so only the
    // presence of SQLite's batches is checked, on SQLite.
    if std::env::var("CONFAB_TEST_PG").is_err() {
        assert!(sample(&after, "confab_sqlite_write_batch_jobs_count").unwrap() >= 1.0);
    }
}

#[tokio::test]
async fn the_webhook_outbox_and_its_failures_are_measured() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = Receiver::start();
    receiver.down(503);
    service_webhooks(&client, &receiver, &["onConversationAdded"]).await;
    let retrying = r#"confab_webhook_attempts_total{outcome="retrying"}"#;
    let before = sample(&scrape(&server.base).await, retrying).unwrap_or(0.0);
    client
        .post_with_headers(
            "/v1/Conversations",
            &[("FriendlyName", "queued")],
            &[("X-Twilio-Webhook-Enabled", "true")],
        )
        .await
        .assert_status(201);
    receiver.wait_for_event(1, "onConversationAdded").await;
    let mut text = scrape(&server.base).await;
    for _ in 0..100 {
        if sample(&text, retrying).unwrap_or(0.0) > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        text = scrape(&server.base).await;
    }
    assert!(sample(&text, retrying).unwrap() > before, "{text}");
    assert_eq!(
        sample(&text, "confab_webhook_outbox_depth"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "confab_timers_due"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "confab_receipts_due"), Some(0.0), "{text}");
}
