//! Delivery Receipts under both prefixes: list (pages both ways, PageSize capped at 50), fetch,
//! 404s, and the message's `delivery` summary computed from them. No endpoint of this branch
//! creates receipts (outbound delivery does), so the tests write them into the store file.

use serde_json::{Value, json};

use crate::common::{assert_date, assert_sid};
use crate::messages::{SeedableServer, new_conversation, new_message};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

impl SeedableServer {
    /// Adds a receipt to the message; returns its SID.
    fn add_receipt(
        &self,
        message_sid: &str,
        status: Option<&str>,
        error_code: Option<i64>,
    ) -> String {
        let sid = format!("DY{:032x}", rand::random::<u128>());
        let channel_message = format!("SM{:032x}", rand::random::<u128>());
        let participant = format!("MB{:032x}", rand::random::<u128>());
        let date_updated = status.map(|_| 1_700_000_100i64);
        self.db
            .execute(
                "INSERT INTO receipts (sid, message_id, participant_sid, channel_message_sid, status,
                     error_code, date_created, date_updated)
                 SELECT ?1, id, ?2, ?3, ?4, ?5, 1700000000, ?6 FROM messages WHERE sid = ?7",
                rusqlite::params![sid, participant, channel_message, status, error_code, date_updated, message_sid],
            )
            .unwrap();
        sid
    }
}

#[tokio::test]
async fn receipts_are_listed_and_fetched_under_both_prefixes() {
    let seeded = SeedableServer::start();
    let client = seeded.server.new_account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[("UniqueName", "sms")]).await;
        let msg = new_message(&client, &prefix, &conv, &[("Body", "hi")]).await;
        let msg = msg["sid"].as_str().unwrap().to_string();
        let failed = seeded.add_receipt(&msg, Some("failed"), Some(30003));
        let queued = seeded.add_receipt(&msg, None, None);

        let list = format!("{prefix}/Conversations/sms/Messages/{msg}/Receipts");
        let listed = client.get(&list).await;
        let body = listed.assert_status(200);
        assert_shape(
            op(
                &prefix,
                "ListConversationMessageReceipt",
                "ListServiceConversationMessageReceipt",
            ),
            200,
            body,
        );
        assert_eq!(body["meta"]["key"], "delivery_receipts");
        let sids: Vec<&str> = body["delivery_receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, [failed.as_str(), queued.as_str()]);

        let fetched = client.get(&format!("{list}/{failed}")).await;
        let receipt = fetched.assert_status(200);
        assert_shape(
            op(
                &prefix,
                "FetchConversationMessageReceipt",
                "FetchServiceConversationMessageReceipt",
            ),
            200,
            receipt,
        );
        assert_eq!(receipt, &body["delivery_receipts"][0]);
        assert_sid(&receipt["sid"], "DY");
        assert_sid(&receipt["channel_message_sid"], "SM");
        assert_sid(&receipt["participant_sid"], "MB");
        assert_eq!(
            (&receipt["status"], &receipt["error_code"]),
            (&"failed".into(), &30003.into())
        );
        assert_eq!(
            (&receipt["conversation_sid"], &receipt["message_sid"]),
            (&conv.as_str().into(), &msg.as_str().into())
        );
        assert_date(&receipt["date_created"]);
        assert_date(&receipt["date_updated"]);
        assert_eq!(
            receipt["url"],
            format!(
                "{}{prefix}/Conversations/{conv}/Messages/{msg}/Receipts/{failed}",
                client.base
            )
        );
        if prefix != "/v1" {
            assert_eq!(
                receipt["chat_service_sid"],
                prefix.trim_start_matches("/v1/Services/")
            );
        }

        let pending = client.get(&format!("{list}/{queued}")).await;
        let pending = pending.assert_status(200);
        assert!(
            pending["status"].is_null(),
            "queued inside Twilio: no status yet"
        );
        assert!(pending["date_updated"].is_null(), "never updated");
        assert_eq!(
            pending["error_code"], 0,
            "the spec's default when there is none"
        );
    }
}

#[tokio::test]
async fn receipt_lists_page_both_ways_and_cap_page_size_at_50() {
    let seeded = SeedableServer::start();
    let client = seeded.server.new_account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let msg = new_message(&client, "/v1", &conv, &[("Body", "to many")]).await;
    let msg = msg["sid"].as_str().unwrap().to_string();
    let receipts: Vec<String> = (0..55)
        .map(|_| seeded.add_receipt(&msg, Some("delivered"), None))
        .collect();
    let list = format!("/v1/Conversations/{conv}/Messages/{msg}/Receipts");

    let clamped = client.get(&format!("{list}?PageSize=100")).await;
    assert_eq!(clamped.body["meta"]["page_size"], 50);
    assert_eq!(
        clamped.body["delivery_receipts"].as_array().unwrap().len(),
        50
    );
    let all = client
        .collect_pages(&format!("{list}?PageSize=20"), "delivery_receipts")
        .await;
    let sids: Vec<&str> = all.iter().map(|r| r["sid"].as_str().unwrap()).collect();
    assert_eq!(
        sids,
        receipts.iter().map(String::as_str).collect::<Vec<_>>()
    );

    let first = client.get(&format!("{list}?PageSize=20")).await;
    let next = first.body["meta"]["next_page_url"].as_str().unwrap();
    assert!(next.contains("PageSize=20&Page=1&PageToken=PA"), "{next}");
    let second = client.get(next).await;
    let back = second.body["meta"]["previous_page_url"].as_str().unwrap();
    assert_eq!(
        client.get(back).await.body["delivery_receipts"],
        first.body["delivery_receipts"]
    );
    client
        .get(&format!("{list}?PageToken=PAxyz"))
        .await
        .assert_error(400, 21481);
}

#[tokio::test]
async fn receipt_paths_that_name_nothing_are_404() {
    let seeded = SeedableServer::start();
    let client = seeded.server.new_account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    let msg = new_message(&client, "/v1", &conv, &[("Body", "x")]).await;
    let msg = msg["sid"].as_str().unwrap().to_string();
    let other = new_message(&client, "/v1", &conv, &[("Body", "y")]).await;
    let other = other["sid"].as_str().unwrap().to_string();
    let receipt = seeded.add_receipt(&msg, Some("sent"), None);
    let other_service = client.new_service("other").await;
    let stranger = seeded.server.new_account().await;
    let paths = [
        format!("/v1/Conversations/{conv}/Messages/IM00000000000000000000000000000000/Receipts"),
        format!("/v1/Conversations/{conv}/Messages/0/Receipts"),
        format!("/v1/Conversations/nope/Messages/{msg}/Receipts"),
        format!(
            "/v1/Conversations/{conv}/Messages/{msg}/Receipts/DY00000000000000000000000000000000"
        ),
        format!("/v1/Conversations/{conv}/Messages/{msg}/Receipts/nope"),
        format!("/v1/Conversations/{conv}/Messages/{other}/Receipts/{receipt}"),
        format!("/v1/Services/{other_service}/Conversations/{conv}/Messages/{msg}/Receipts"),
    ];
    for path in &paths {
        let res = client.get(path).await;
        assert_eq!(
            (res.status, &res.body["code"]),
            (404, &json!(20404)),
            "{path}"
        );
    }
    stranger
        .get(&format!(
            "/v1/Conversations/{conv}/Messages/{msg}/Receipts/{receipt}"
        ))
        .await
        .assert_error(404, 20404);
    client
        .get(&format!(
            "/v1/Conversations/{conv}/Messages/{msg}/Receipts/{receipt}"
        ))
        .await
        .assert_status(200);
    // A message without receipts lists none.
    let empty = client
        .get(&format!(
            "/v1/Conversations/{conv}/Messages/{other}/Receipts"
        ))
        .await;
    assert_eq!(empty.assert_status(200)["delivery_receipts"], json!([]));
}

#[tokio::test]
async fn the_delivery_summary_counts_the_receipts() {
    let seeded = SeedableServer::start();
    let client = seeded.server.new_account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let sid_of = |v: &Value| v["sid"].as_str().unwrap().to_string();
        let mixed = sid_of(&new_message(&client, &prefix, &conv, &[("Body", "a")]).await);
        let all_read = sid_of(&new_message(&client, &prefix, &conv, &[("Body", "b")]).await);
        let chat_only = sid_of(&new_message(&client, &prefix, &conv, &[("Body", "c")]).await);
        for status in [
            Some("read"),
            Some("delivered"),
            Some("sent"),
            Some("failed"),
            Some("undelivered"),
            None,
        ] {
            seeded.add_receipt(&mixed, status, None);
        }
        for _ in 0..2 {
            seeded.add_receipt(&all_read, Some("read"), None);
        }

        let fetched = client
            .get(&format!("{prefix}/Conversations/{conv}/Messages/{mixed}"))
            .await;
        assert_shape(
            op(
                &prefix,
                "FetchConversationMessage",
                "FetchServiceConversationMessage",
            ),
            200,
            fetched.assert_status(200),
        );
        // Statuses are cumulative: read implies delivered implies sent.
        assert_eq!(
            fetched.body["delivery"],
            json!({"total": 6, "sent": "some", "delivered": "some", "read": "some",
                   "failed": "some", "undelivered": "some"})
        );
        let listed = client
            .get(&format!("{prefix}/Conversations/{conv}/Messages"))
            .await;
        let messages = listed.body["messages"].as_array().unwrap();
        assert_eq!(messages[0]["delivery"], fetched.body["delivery"]);
        assert_eq!(
            messages[1]["delivery"],
            json!({"total": 2, "sent": "all", "delivered": "all", "read": "all",
                   "failed": "none", "undelivered": "none"})
        );
        assert!(messages[2]["delivery"].is_null(), "no receipts, no summary");
        assert_eq!(messages[2]["sid"], chat_only.as_str());

        // An update answers with the summary too; a delete takes the receipts with it.
        let updated = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{all_read}"),
                &[("Body", "b2")],
            )
            .await;
        assert_eq!(
            updated.assert_status(200)["delivery"],
            messages[1]["delivery"]
        );
        client
            .delete(&format!(
                "{prefix}/Conversations/{conv}/Messages/{all_read}"
            ))
            .await
            .assert_status(204);
        let orphans: i64 = seeded
            .db
            .query_row(
                "SELECT count(*) FROM receipts WHERE message_id NOT IN (SELECT id FROM messages)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "the receipts went with their message");
    }
}
