//! Fault injection (`/confab/Accounts/{AC}/Faults`, test mode): a share of one account's `/v1`
//! requests answered 429 (20429) or 500 (20500), latency added; confab's own routes and other
//! accounts untouched; cleared by `DELETE` and by a reset.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Client, account, shared};

fn faults_path(client: &Client) -> String {
    format!("/confab/Accounts/{}/Faults", client.sid)
}

#[tokio::test]
async fn every_request_can_be_made_to_fail_with_429_or_500() {
    let a = account().await;
    let b = account().await;
    let path = faults_path(&a);
    let set = a.post(&path, &[("Rate429", "1")]).await;
    assert_eq!(
        set.assert_status(200),
        &json!({"rate_429": 1.0, "rate_5xx": 0.0, "latency_ms": 0})
    );
    let refused = a.get("/v1/Conversations").await;
    assert_eq!(
        refused.assert_error(429, 20429)["message"],
        "Too Many Requests"
    );
    a.post("/v1/Conversations", &[])
        .await
        .assert_error(429, 20429);
    b.get("/v1/Conversations").await.assert_status(200);
    a.get(&path).await.assert_status(200);

    shared()
        .operator()
        .post(&path, &[("Rate5xx", "1")])
        .await
        .assert_status(200);
    a.get("/v1/Conversations").await.assert_error(500, 20500);

    assert_eq!(a.delete(&path).await.status, 204);
    a.get("/v1/Conversations").await.assert_status(200);
    assert_eq!(
        a.get(&path).await.body,
        json!({"rate_429": 0.0, "rate_5xx": 0.0, "latency_ms": 0})
    );
}

#[tokio::test]
async fn a_share_of_requests_fails_and_latency_is_added() {
    let a = account().await;
    a.post(&faults_path(&a), &[("Rate429", "0.5")])
        .await
        .assert_status(200);
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(a.get("/v1/Conversations").await.status);
    }
    assert!(
        statuses.contains(&429) && statuses.contains(&200),
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 429 || *s == 200));

    a.post(&faults_path(&a), &[("LatencyMs", "300")])
        .await
        .assert_status(200);
    let started = Instant::now();
    a.get("/v1/Conversations").await.assert_status(200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn bad_faults_change_nothing_and_a_reset_clears_them() {
    let a = account().await;
    let b = account().await;
    let path = faults_path(&a);
    a.post(&path, &[("LatencyMs", "5")])
        .await
        .assert_status(200);
    for form in [
        &[("Rate429", "2")][..],
        &[("Rate429", "-0.1")],
        &[("Rate5xx", "lots")],
        &[("Rate429", "0.6"), ("Rate5xx", "0.6")],
        &[("LatencyMs", "-1")],
        &[("LatencyMs", "600000")],
    ] {
        a.post(&path, form).await.assert_error(400, 20001);
    }
    b.post(&path, &[("Rate429", "1")])
        .await
        .assert_error(404, 20404);
    b.get(&path).await.assert_error(404, 20404);
    assert_eq!(a.get(&path).await.body["latency_ms"], 5);

    a.post(&path, &[("Rate429", "1")]).await.assert_status(200);
    a.post(&format!("/confab/Accounts/{}/Reset", a.sid), &[])
        .await
        .assert_status(204);
    a.get("/v1/Conversations").await.assert_status(200);
    assert_eq!(a.get(&path).await.body["rate_429"], 0.0);
}
