//! Delivery Receipts under both prefixes: list (pages both ways, PageSize capped at 50), fetch,
//! 404s, and the message's `delivery` summary computed from them. Receipts are made as a user
//! makes them: a message to a conversation with SMS participants gets one per SMS participant,
//! queued (status null); `POST /confab/Receipts/{DY...}` sets a status by hand.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use crate::common::{Client, TestServer, account, assert_date, assert_sid};
use crate::messages::{new_conversation, new_message, new_participant};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

fn sid(body: &Value) -> String {
    body["sid"].as_str().unwrap().to_string()
}

/// Adds `n` SMS participants to the conversation, each with an address and proxy address of its
/// own (a pair may be in only one open conversation of an account); returns their SIDs.
async fn sms_participants(client: &Client, prefix: &str, conv: &str, n: usize) -> Vec<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut sids = Vec::new();
    for _ in 0..n {
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let created = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Participants"),
                &[
                    ("MessagingBinding.Address", &format!("+1555{number:07}")),
                    ("MessagingBinding.ProxyAddress", "+15559990000"),
                ],
            )
            .await;
        sids.push(sid(created.assert_status(201)));
    }
    sids
}

/// The receipts of a message, as listed (first page).
async fn receipts_of(client: &Client, prefix: &str, conv: &str, msg: &str) -> Vec<Value> {
    let listed = client
        .get(&format!(
            "{prefix}/Conversations/{conv}/Messages/{msg}/Receipts"
        ))
        .await;
    listed.assert_status(200)["delivery_receipts"]
        .as_array()
        .unwrap()
        .clone()
}

/// Sets a receipt's status by hand (`POST /confab/Receipts/{DY...}`); it then stops moving.
async fn set_status(client: &Client, receipt: &str, form: &[(&str, &str)]) {
    client
        .post(&format!("/confab/Receipts/{receipt}"), form)
        .await
        .assert_status(200);
}

/// The receipt SIDs of a conversation in the order they were created, as `GET /confab/Outbound`
/// (newest first) shows them.
async fn created_order(client: &Client, conv: &str) -> Vec<String> {
    let outbound = client
        .get(&format!(
            "/confab/Outbound?ConversationSid={conv}&PageSize=100"
        ))
        .await;
    let mut sids: Vec<String> = outbound.assert_status(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receipt_sid"].as_str().unwrap().to_string())
        .collect();
    assert!(outbound.body["meta"]["next_page_url"].is_null());
    sids.reverse();
    sids
}

fn sids_of(items: &[Value]) -> Vec<String> {
    items.iter().map(sid).collect()
}

#[tokio::test]
async fn receipts_are_listed_and_fetched_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[("UniqueName", "sms")]).await;
        let mut participants = sms_participants(&client, &prefix, &conv, 2).await;
        let list_url = |msg: &str| format!("{prefix}/Conversations/sms/Messages/{msg}/Receipts");

        // Queued receipts move on within a second: read them before that second is over.
        client.start_of_a_second().await;
        let message = new_message(&client, &prefix, &conv, &[("Body", "hi")]).await;
        let msg = sid(&message);
        let listed = client.get(&list_url(&msg)).await;
        let queued = listed.assert_status(200)["delivery_receipts"][1].clone();
        let fetched = client
            .get(&format!("{}/{}", list_url(&msg), sid(&queued)))
            .await;
        assert_eq!(fetched.assert_status(200), &queued);
        assert!(
            queued["status"].is_null(),
            "queued inside Twilio: no status yet"
        );
        assert!(queued["date_updated"].is_null(), "never updated");
        assert_eq!(
            queued["error_code"], 0,
            "the spec's default when there is none"
        );
        assert_eq!(queued["date_created"], message["date_created"]);

        let failed = sid(&listed.body["delivery_receipts"][0]);
        set_status(
            &client,
            &failed,
            &[("Status", "failed"), ("ErrorCode", "30003")],
        )
        .await;
        let listed = client.get(&list_url(&msg)).await;
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
        let sids = sids_of(body["delivery_receipts"].as_array().unwrap());
        assert_eq!(sids, [failed.clone(), sid(&queued)]);
        assert_eq!(sids, created_order(&client, &conv).await, "creation order");

        let fetched = client.get(&format!("{}/{failed}", list_url(&msg))).await;
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
        assert!(receipt["date_updated"].as_str() >= receipt["date_created"].as_str());
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
        // One receipt for each SMS participant.
        let mut recipients: Vec<&str> = body["delivery_receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["participant_sid"].as_str().unwrap())
            .collect();
        recipients.sort();
        participants.sort();
        assert_eq!(recipients, participants);
    }
}

#[tokio::test]
async fn receipt_lists_page_both_ways_and_cap_page_size_at_50() {
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    // A conversation has at most 50 non-chat participants (50418), so a message has at most 50
    // receipts: the cap shows in `page_size`, and the fullest list fits one capped page.
    sms_participants(&client, "/v1", &conv, 50).await;
    let msg = sid(&new_message(&client, "/v1", &conv, &[("Body", "to many")]).await);
    let receipts = created_order(&client, &conv).await;
    assert_eq!(receipts.len(), 50);
    // Fixed statuses, so that pages read at different times can be compared whole.
    for receipt in &receipts {
        set_status(&client, receipt, &[("Status", "delivered")]).await;
    }
    let list = format!("/v1/Conversations/{conv}/Messages/{msg}/Receipts");

    let clamped = client.get(&format!("{list}?PageSize=100")).await;
    assert_eq!(clamped.body["meta"]["page_size"], 50);
    assert_eq!(
        sids_of(clamped.body["delivery_receipts"].as_array().unwrap()),
        receipts
    );
    assert!(clamped.body["meta"]["next_page_url"].is_null());
    let all = client
        .collect_pages(&format!("{list}?PageSize=20"), "delivery_receipts")
        .await;
    assert_eq!(sids_of(&all), receipts);

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
    let client = account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    // Sent before anyone could receive it by SMS: no receipts.
    let other = sid(&new_message(&client, "/v1", &conv, &[("Body", "y")]).await);
    sms_participants(&client, "/v1", &conv, 1).await;
    let msg = sid(&new_message(&client, "/v1", &conv, &[("Body", "x")]).await);
    let receipt = sid(&receipts_of(&client, "/v1", &conv, &msg).await[0]);
    let other_service = client.new_service("other").await;
    let stranger = account().await;
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
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        // Sent before anyone could receive it by SMS: no receipts.
        let chat_only = sid(&new_message(&client, &prefix, &conv, &[("Body", "c")]).await);
        sms_participants(&client, &prefix, &conv, 6).await;
        let mixed = new_message(&client, &prefix, &conv, &[("Body", "a")]).await;
        assert_eq!(
            mixed["delivery"],
            json!({"total": 6, "sent": "none", "delivered": "none", "read": "none",
                   "failed": "none", "undelivered": "none"}),
            "six receipts, all queued"
        );
        let mixed = sid(&mixed);
        let all_read = sid(&new_message(&client, &prefix, &conv, &[("Body", "b")]).await);
        // The sixth receipt of `mixed` is left to move on its own (queued, then sent, then
        // delivered): it counts in the total, and whichever of those it has reached, every
        // status below stays "some".
        let statuses = ["read", "delivered", "sent", "failed", "undelivered"];
        let receipts = receipts_of(&client, &prefix, &conv, &mixed).await;
        for (receipt, status) in receipts.iter().zip(statuses) {
            set_status(&client, &sid(receipt), &[("Status", status)]).await;
        }
        for receipt in receipts_of(&client, &prefix, &conv, &all_read).await {
            set_status(&client, &sid(&receipt), &[("Status", "read")]).await;
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
        assert!(messages[0]["delivery"].is_null(), "no receipts, no summary");
        assert_eq!(messages[0]["sid"], chat_only.as_str());
        assert_eq!(messages[1]["delivery"], fetched.body["delivery"]);
        assert_eq!(
            messages[2]["delivery"],
            json!({"total": 6, "sent": "all", "delivered": "all", "read": "all",
                   "failed": "none", "undelivered": "none"})
        );

        // An update answers with the summary too.
        let updated = client
            .post(
                &format!("{prefix}/Conversations/{conv}/Messages/{all_read}"),
                &[("Body", "b2")],
            )
            .await;
        assert_eq!(
            updated.assert_status(200)["delivery"],
            messages[2]["delivery"]
        );
    }
}

/// One look at the conversation's participants finds both whom a message is from and whom it
/// goes out to: the participant whose identity is the author, and every SMS participant except
/// the one whose address is the author.
#[tokio::test]
async fn a_message_goes_out_to_every_sms_participant_but_its_author() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let conv = new_conversation(&client, &prefix, &[]).await;
        let alice = new_participant(&client, &prefix, &conv, "alice").await;
        let sms = sms_participants(&client, &prefix, &conv, 3).await;
        let first = client
            .get(&format!(
                "{prefix}/Conversations/{conv}/Participants/{}",
                sms[0]
            ))
            .await;
        let first_address = first.assert_status(200)["messaging_binding"]["address"]
            .as_str()
            .unwrap()
            .to_string();
        let recipients = |msg: Value| {
            let (client, prefix, conv) = (&client, &prefix, &conv);
            async move {
                let receipts = receipts_of(client, prefix, conv, &sid(&msg)).await;
                let mut to: Vec<String> = receipts
                    .iter()
                    .map(|r| r["participant_sid"].as_str().unwrap().to_string())
                    .collect();
                to.sort();
                (msg, to)
            }
        };
        let mut everyone = sms.clone();
        everyone.sort();

        let (by_alice, to) = recipients(
            new_message(
                &client,
                &prefix,
                &conv,
                &[("Author", "alice"), ("Body", "hi")],
            )
            .await,
        )
        .await;
        assert_eq!(by_alice["participant_sid"], alice.as_str());
        assert_eq!(by_alice["delivery"]["total"], 3);
        assert_eq!(to, everyone);

        let (by_sms, to) = recipients(
            new_message(
                &client,
                &prefix,
                &conv,
                &[("Author", &first_address), ("Body", "yo")],
            )
            .await,
        )
        .await;
        assert_eq!(by_sms["delivery"]["total"], 2);
        let mut others = sms[1..].to_vec();
        others.sort();
        assert_eq!(to, others, "the author's own address gets no receipt");
    }
}

/// A deleted message's receipts leave the store with it. No endpoint can show a receipt whose
/// message is gone (every receipt route and `/confab/Outbound` go through the message), so the
/// last check reads the store file, after the server has stopped.
#[tokio::test]
async fn deleting_a_message_deletes_its_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let server = TestServer::start(db.to_str().unwrap());
    let client = server.new_account().await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    sms_participants(&client, "/v1", &conv, 2).await;
    let doomed = sid(&new_message(&client, "/v1", &conv, &[("Body", "doomed")]).await);
    let kept = sid(&new_message(&client, "/v1", &conv, &[("Body", "kept")]).await);
    assert_eq!(created_order(&client, &conv).await.len(), 4);
    let kept_receipts = sids_of(&receipts_of(&client, "/v1", &conv, &kept).await);

    client
        .delete(&format!("/v1/Conversations/{conv}/Messages/{doomed}"))
        .await
        .assert_status(204);
    client
        .get(&format!(
            "/v1/Conversations/{conv}/Messages/{doomed}/Receipts"
        ))
        .await
        .assert_error(404, 20404);
    assert_eq!(created_order(&client, &conv).await, kept_receipts);
    server.stop();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT sid FROM receipts ORDER BY id")
        .unwrap();
    let stored: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        stored, kept_receipts,
        "the doomed message's receipts are gone"
    );
}

/// One move of the clock walks a receipt through every status it takes on its own before it
/// answers, each at its own time (a second apart), with `onDeliveryUpdated` sent for each.
#[tokio::test]
async fn one_move_of_the_clock_walks_a_receipt_to_delivered() {
    let server = TestServer::start_fresh();
    let client = server.new_account().await;
    let receiver = crate::receiver::Receiver::start();
    crate::common::service_webhooks(&client, &receiver, &["onDeliveryUpdated"]).await;
    let conv = new_conversation(&client, "/v1", &[]).await;
    sms_participants(&client, "/v1", &conv, 1).await;
    let msg = sid(&new_message(&client, "/v1", &conv, &[("Body", "walk")]).await);

    server.advance("PT1H").await;

    let receipts = receipts_of(&client, "/v1", &conv, &msg).await;
    assert_eq!(receipts[0]["status"], "delivered", "{receipts:?}");
    let at = |date: &str| {
        chrono::DateTime::parse_from_rfc3339(date)
            .unwrap()
            .timestamp()
    };
    let created = at(receipts[0]["date_created"].as_str().unwrap());
    let updates: Vec<(String, i64)> = receiver
        .received()
        .iter()
        .map(|r| {
            (
                r.param("Status").unwrap().to_string(),
                at(r.param("DateUpdated").unwrap()) - created,
            )
        })
        .collect();
    assert_eq!(
        updates.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["sent", "delivered"]
    );
    // Each status when it fell due (a second after the one before; a busy machine may have
    // taken a little longer in real time before the move), not when the move ended.
    for (step, (status, after)) in updates.iter().enumerate() {
        let due = step as i64 + 1;
        assert!(
            (due..60).contains(after),
            "{status} {after} s after the receipt was made, not {due} s"
        );
    }
    assert!(updates[0].1 < updates[1].1, "{updates:?}");
}
