//! Conversations under both prefixes: create, list (filters, order, pages), fetch by SID and by
//! unique name, update, delete, and every validation error.

use serde_json::Value;

use crate::common::{ErrorCase, account, assert_date, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

#[tokio::test]
async fn create_fetch_update_delete_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let created = client
            .post(
                &format!("{prefix}/Conversations"),
                &[
                    ("FriendlyName", "support"),
                    ("UniqueName", "t-42"),
                    ("Attributes", r#"{"topic":"billing"}"#),
                ],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(
            op(&prefix, "CreateConversation", "CreateServiceConversation"),
            201,
            body,
        );
        assert_sid(&body["sid"], "CH");
        assert_date(&body["date_created"]);
        assert_eq!(body["state"], "active");
        assert_eq!(body["attributes"], r#"{"topic":"billing"}"#);
        assert_eq!(body["timers"], serde_json::json!({}));
        let sid = body["sid"].as_str().unwrap().to_string();
        let url = body["url"].as_str().unwrap().to_string();
        assert_eq!(url, format!("{}{prefix}/Conversations/{sid}", client.base));
        assert_eq!(body["links"]["messages"], format!("{url}/Messages"));
        if prefix != "/v1" {
            assert_eq!(
                body["chat_service_sid"],
                prefix.trim_start_matches("/v1/Services/")
            );
        }

        for name in [sid.as_str(), "t-42"] {
            let fetched = client.get(&format!("{prefix}/Conversations/{name}")).await;
            assert_shape(
                op(&prefix, "FetchConversation", "FetchServiceConversation"),
                200,
                fetched.assert_status(200),
            );
            assert_eq!(fetched.body["sid"], sid.as_str());
        }

        let updated = client
            .post(
                &format!("{prefix}/Conversations/t-42"),
                &[("FriendlyName", "renamed"), ("State", "inactive")],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(
            op(&prefix, "UpdateConversation", "UpdateServiceConversation"),
            200,
            body,
        );
        assert_eq!(
            (body["friendly_name"].as_str(), body["state"].as_str()),
            (Some("renamed"), Some("inactive"))
        );
        assert_eq!(body["unique_name"], "t-42", "fields not sent are kept");

        let deleted = client
            .delete(&format!("{prefix}/Conversations/{sid}"))
            .await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        client
            .get(&format!("{prefix}/Conversations/{sid}"))
            .await
            .assert_error(404, 20404);
        client
            .delete(&format!("{prefix}/Conversations/{sid}"))
            .await
            .assert_error(404, 20404);
    }
}

#[tokio::test]
async fn services_are_isolated_from_each_other_and_from_other_accounts() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let created = client
        .post("/v1/Conversations", &[("UniqueName", "shared-name")])
        .await;
    let sid = created.body["sid"].as_str().unwrap().to_string();
    // The same unique name is free in another service.
    client
        .post(
            &format!("{}/Conversations", prefixes[1]),
            &[("UniqueName", "shared-name")],
        )
        .await
        .assert_status(201);
    client
        .get(&format!("{}/Conversations/{sid}", prefixes[1]))
        .await
        .assert_error(404, 20404);
    let other = account().await;
    other
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_error(404, 20404);
    other
        .post(
            &format!("/v1/Conversations/{sid}"),
            &[("FriendlyName", "x")],
        )
        .await
        .assert_error(404, 20404);
    other
        .delete(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_error(404, 20404);
    client
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn validation_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    client
        .post("/v1/Conversations", &[("UniqueName", "taken")])
        .await
        .assert_status(201);
    let long_name = "x".repeat(257);
    let cases: &[ErrorCase] = &[
        (
            &[("UniqueName", "taken")],
            409,
            50353,
            "duplicate unique name",
        ),
        (
            &[("Attributes", "{not json")],
            400,
            50304,
            "attributes must be JSON",
        ),
        (&[("State", "closed")], 400, 50384, "cannot start closed"),
        (&[("State", "sleeping")], 400, 50378, "unknown state"),
        (&[("State", "")], 400, 50374, "empty state"),
        (
            &[("State", "active"), ("Timers.Inactive", "PT30S")],
            400,
            50375,
            "inactive timer under a minute",
        ),
        (
            &[("State", "active"), ("Timers.Closed", "PT5M")],
            400,
            50376,
            "closed timer under ten minutes",
        ),
        (
            &[("State", "active"), ("Timers.Inactive", "soon")],
            400,
            50379,
            "bad inactive duration",
        ),
        (
            &[("State", "active"), ("Timers.Closed", "P1Y")],
            400,
            50380,
            "years are not a timer unit",
        ),
        (
            &[("Timers.Inactive", "PT5M")],
            400,
            50382,
            "timers need a state",
        ),
        (
            &[("UniqueName", "CH0123456789abcdef0123456789abcdef")],
            400,
            50390,
            "unique name like a SID",
        ),
        (
            &[("DateCreated", "yesterday")],
            400,
            50308,
            "bad DateCreated",
        ),
        (
            &[("DateUpdated", "2020-13-45")],
            400,
            50309,
            "bad DateUpdated",
        ),
        (
            &[("MessagingServiceSid", "MGnope")],
            400,
            50341,
            "bad messaging service SID",
        ),
        (
            &[("FriendlyName", long_name.as_str())],
            400,
            50003,
            "friendly name over 256",
        ),
    ];
    client.assert_errors("/v1/Conversations", cases).await;
    let all = client.get("/v1/Conversations").await;
    assert_eq!(
        all.body["conversations"].as_array().unwrap().len(),
        1,
        "no failed create left a row"
    );
}

#[tokio::test]
async fn closed_is_final() {
    let client = account().await;
    let conv = client.post("/v1/Conversations", &[]).await.body["sid"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(&format!("/v1/Conversations/{conv}"), &[("State", "closed")])
        .await
        .assert_status(200);
    for form in [[("State", "active")], [("FriendlyName", "again")]] {
        client
            .post(&format!("/v1/Conversations/{conv}"), &form)
            .await
            .assert_error(400, 50377);
    }
}

#[tokio::test]
async fn timers_are_scheduled_from_now_and_shown_as_dates() {
    let client = account().await;
    let created = client
        .post(
            "/v1/Conversations",
            &[
                ("State", "active"),
                ("Timers.Inactive", "PT1M"),
                ("Timers.Closed", "PT10M"),
            ],
        )
        .await;
    let body = created.assert_status(201);
    let created_at =
        chrono::DateTime::parse_from_rfc3339(body["date_created"].as_str().unwrap()).unwrap();
    let at = |key: &str| {
        chrono::DateTime::parse_from_rfc3339(body["timers"][key].as_str().unwrap()).unwrap()
    };
    assert_eq!((at("date_inactive") - created_at).num_seconds(), 60);
    assert_eq!((at("date_closed") - created_at).num_seconds(), 600);
}

#[tokio::test]
async fn lists_page_by_token_in_creation_order_and_filter_by_state() {
    let client = account().await;
    let mut sids = Vec::new();
    for i in 0..7 {
        let state = if i % 2 == 0 { "active" } else { "inactive" };
        let res = client
            .post(
                "/v1/Conversations",
                &[("State", state), ("FriendlyName", &format!("c{i}"))],
            )
            .await;
        sids.push(res.body["sid"].as_str().unwrap().to_string());
    }
    let first = client.get("/v1/Conversations?PageSize=3").await;
    assert_shape("ListConversation", 200, first.assert_status(200));
    let meta = &first.body["meta"];
    assert_eq!(
        (
            meta["page"].as_u64(),
            meta["page_size"].as_u64(),
            meta["key"].as_str()
        ),
        (Some(0), Some(3), Some("conversations"))
    );
    assert!(meta["previous_page_url"].is_null());
    let next = meta["next_page_url"].as_str().unwrap();
    assert!(
        next.starts_with(&client.base) && next.contains("PageSize=3&Page=1&PageToken=PA"),
        "{next}"
    );

    let all = client
        .collect_pages("/v1/Conversations?PageSize=3", "conversations")
        .await;
    let listed: Vec<&str> = all.iter().map(|c| c["sid"].as_str().unwrap()).collect();
    assert_eq!(listed, sids.iter().map(String::as_str).collect::<Vec<_>>());

    // The second page links back to the first.
    let second = client.get(next).await;
    let back = second.body["meta"]["previous_page_url"].as_str().unwrap();
    let again = client.get(back).await;
    assert_eq!(again.body["conversations"], first.body["conversations"]);

    let inactive = client
        .collect_pages(
            "/v1/Conversations?State=inactive&PageSize=2",
            "conversations",
        )
        .await;
    assert_eq!(inactive.len(), 3);
    assert!(inactive.iter().all(|c| c["state"] == "inactive"));
    let echoed = client
        .get("/v1/Conversations?State=inactive&PageSize=2")
        .await;
    assert!(
        echoed.body["meta"]["url"]
            .as_str()
            .unwrap()
            .contains("State=inactive")
    );

    client
        .get("/v1/Conversations?State=bogus")
        .await
        .assert_error(400, 50378);
    client
        .get("/v1/Conversations?PageToken=garbage")
        .await
        .assert_error(400, 21481);
}

#[tokio::test]
async fn date_range_lists_newest_first() {
    let client = account().await;
    for (name, date) in [
        ("old", "2020-01-01T10:00:00Z"),
        ("mid", "2020-06-01T10:00:00Z"),
        ("new", "2021-01-01T10:00:00Z"),
    ] {
        client
            .post(
                "/v1/Conversations",
                &[("FriendlyName", name), ("DateCreated", date)],
            )
            .await
            .assert_status(201);
    }
    let page = client
        .get("/v1/Conversations?StartDate=2020-01-01T00:00:00Z&EndDate=2020-12-31T23:59:59Z")
        .await;
    let names: Vec<&str> = page.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["friendly_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mid", "old"]);
}

/// Timer durations that overflow, go negative or are absurd (past the documented maximum of
/// 365,000 days) are refused with the timer's format code wherever a duration is read: create,
/// update, ConversationWithParticipants and the account's default timers. Nothing is written.
/// The maximum itself is a timer like any other.
#[tokio::test]
async fn timers_out_of_range_are_refused_everywhere() {
    let client = account().await;
    let out_of_range = [
        "PT9223372036854775807S",
        "P106751991167301D",
        "PT99999999999999999999S",
        "P-1D",
        "PT-60S",
        "P+1D",
        "PT+90M",
        "P365001D",
        "P365000DT1S",
    ];
    for prefix in client.prefixes().await {
        let existing = client
            .post(&format!("{prefix}/Conversations"), &[("State", "active")])
            .await;
        let existing = existing.assert_status(201).clone();
        let path = format!(
            "{prefix}/Conversations/{}",
            existing["sid"].as_str().unwrap()
        );
        for value in out_of_range {
            for (name, code) in [("Timers.Inactive", 50379), ("Timers.Closed", 50380)] {
                let form = [("State", "active"), (name, value)];
                for target in ["Conversations", "ConversationWithParticipants"] {
                    let res = client.post(&format!("{prefix}/{target}"), &form).await;
                    res.assert_error(400, code);
                    assert!(
                        res.body["message"].as_str().unwrap().contains(name),
                        "{name}={value} on {target}: {}",
                        res.body
                    );
                }
                client
                    .post(&path, &[(name, value)])
                    .await
                    .assert_error(400, code);
            }
        }
        let all = client
            .collect_pages(&format!("{prefix}/Conversations"), "conversations")
            .await;
        assert_eq!(all.len(), 1, "nothing written: {all:?}");
        assert_eq!(client.get(&path).await.body, existing, "unchanged");

        let longest = client
            .post(
                &format!("{prefix}/Conversations"),
                &[
                    ("State", "active"),
                    ("Timers.Inactive", "P365000D"),
                    ("Timers.Closed", "P365000D"),
                ],
            )
            .await;
        let timers = &longest.assert_status(201)["timers"];
        assert_date(&timers["date_inactive"]);
        assert_date(&timers["date_closed"]);
        let year = |d: &Value| d.as_str().unwrap()[..4].parse::<u32>().unwrap();
        assert!(year(&timers["date_inactive"]) > 2900, "{timers}");
    }

    let before = client.get("/v1/Configuration").await.body;
    for value in out_of_range {
        for (name, code) in [
            ("DefaultInactiveTimer", 50379),
            ("DefaultClosedTimer", 50380),
        ] {
            client
                .post("/v1/Configuration", &[(name, value)])
                .await
                .assert_error(400, code);
        }
    }
    assert_eq!(client.get("/v1/Configuration").await.body, before);
}
