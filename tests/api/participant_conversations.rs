//! ParticipantConversations under both prefixes: by identity and by address, every state,
//! pages that follow the index, the combined fields, and the lookup errors.

use serde_json::{Value, json};

use crate::common::{Client, account, assert_date, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str) -> &'static str {
    if prefix == "/v1" {
        "ListParticipantConversation"
    } else {
        "ListServiceParticipantConversation"
    }
}

async fn new_conversation(client: &Client, prefix: &str, form: &[(&str, &str)]) -> Value {
    let res = client.post(&format!("{prefix}/Conversations"), form).await;
    res.assert_status(201);
    res.body
}

async fn add(client: &Client, prefix: &str, conversation: &str, form: &[(&str, &str)]) -> Value {
    let res = client
        .post(
            &format!("{prefix}/Conversations/{conversation}/Participants"),
            form,
        )
        .await;
    res.assert_status(201);
    res.body
}

#[tokio::test]
async fn by_identity_in_every_state_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let mut expected = Vec::new();
        for (i, state) in ["active", "inactive", "active"].iter().enumerate() {
            let conv = new_conversation(
                &client,
                &prefix,
                &[
                    ("FriendlyName", &format!("room {i}")),
                    ("UniqueName", &format!("room-{i}")),
                    ("State", state),
                    ("Attributes", r#"{"n":1}"#),
                ],
            )
            .await;
            let sid = conv["sid"].as_str().unwrap().to_string();
            let participant = add(&client, &prefix, &sid, &[("Identity", "alice")]).await;
            add(&client, &prefix, &sid, &[("Identity", "bob")]).await;
            expected.push((conv, participant));
        }
        // Closed conversations are listed too.
        let closed = expected[2].0["sid"].as_str().unwrap().to_string();
        client
            .post(
                &format!("{prefix}/Conversations/{closed}"),
                &[("State", "closed")],
            )
            .await
            .assert_status(200);
        // A conversation without alice is not listed.
        let without = new_conversation(&client, &prefix, &[]).await;
        add(
            &client,
            &prefix,
            without["sid"].as_str().unwrap(),
            &[("Identity", "bob")],
        )
        .await;

        let page = client
            .get(&format!("{prefix}/ParticipantConversations?Identity=alice"))
            .await;
        let body = page.assert_status(200);
        assert_shape(op(&prefix), 200, body);
        let rows = body["conversations"].as_array().unwrap();
        assert_eq!(rows.len(), 3, "{body}");
        let user_sid = &rows[0]["participant_user_sid"];
        assert_sid(user_sid, "US");
        for (row, (conv, participant)) in rows.iter().zip(&expected) {
            let conv_sid = conv["sid"].as_str().unwrap();
            assert_eq!(row["account_sid"], client.sid.as_str());
            assert_eq!(row["chat_service_sid"], conv["chat_service_sid"]);
            assert_eq!(row["conversation_sid"], conv["sid"]);
            assert_eq!(row["participant_sid"], participant["sid"]);
            assert_eq!(row["participant_identity"], "alice");
            assert_eq!(
                &row["participant_user_sid"], user_sid,
                "one User per identity"
            );
            assert_eq!(row["participant_messaging_binding"], Value::Null);
            assert_eq!(row["conversation_friendly_name"], conv["friendly_name"]);
            assert_eq!(row["conversation_unique_name"], conv["unique_name"]);
            assert_eq!(row["conversation_attributes"], r#"{"n":1}"#);
            assert_eq!(row["conversation_timers"], json!({}));
            assert_date(&row["conversation_date_created"]);
            assert_eq!(row["conversation_date_created"], conv["date_created"]);
            assert_eq!(
                row["links"]["conversation"],
                format!("{}{prefix}/Conversations/{conv_sid}", client.base)
            );
            assert_eq!(row["links"]["participant"], participant["url"]);
        }
        let states: Vec<&str> = rows
            .iter()
            .map(|r| r["conversation_state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["active", "inactive", "closed"]);
        let meta = &body["meta"];
        assert_eq!(meta["key"], "conversations");
        assert_eq!(
            meta["first_page_url"],
            format!(
                "{}{prefix}/ParticipantConversations?Identity=alice&PageSize=50&Page=0",
                client.base
            )
        );
    }
}

#[tokio::test]
async fn by_address_across_pages() {
    let client = account().await;
    for (n, prefix) in client.prefixes().await.into_iter().enumerate() {
        let address = "+15557654321";
        let mut expected = Vec::new();
        for i in 0..5 {
            let conv = new_conversation(&client, &prefix, &[]).await;
            let sid = conv["sid"].as_str().unwrap().to_string();
            // Each conversation needs its own proxy: a pair lives in one open conversation.
            let proxy = format!("+1555000{n}{i:03}");
            let participant = add(
                &client,
                &prefix,
                &sid,
                &[
                    ("MessagingBinding.Address", address),
                    ("MessagingBinding.ProxyAddress", &proxy),
                ],
            )
            .await;
            add(&client, &prefix, &sid, &[("Identity", "agent")]).await;
            expected.push((sid, participant["sid"].clone(), proxy));
        }
        let other = new_conversation(&client, &prefix, &[]).await;
        add(
            &client,
            &prefix,
            other["sid"].as_str().unwrap(),
            &[("MessagingBinding.Address", "+15550000000")],
        )
        .await;

        let path = format!("{prefix}/ParticipantConversations?Address=%2B15557654321&PageSize=2");
        let first = client.get(&path).await;
        let body = first.assert_status(200);
        assert_shape(op(&prefix), 200, body);
        let meta = &body["meta"];
        assert_eq!(meta["page_size"], 2);
        let next = meta["next_page_url"].as_str().unwrap();
        assert!(
            next.starts_with(&format!(
                "{}{prefix}/ParticipantConversations?Address=%2B15557654321&PageSize=2&Page=1&PageToken=PA",
                client.base
            )),
            "{next}"
        );
        let row = &body["conversations"][0];
        assert_eq!(
            row["participant_messaging_binding"],
            json!({
                "type": "sms",
                "address": address,
                "proxy_address": expected[0].2,
                "projected_address": null,
                "name": null,
                "level": null,
            })
        );
        assert_eq!(row["participant_identity"], Value::Null);
        assert_eq!(row["participant_user_sid"], Value::Null);

        let all = client.collect_pages(&path, "conversations").await;
        let listed: Vec<(&Value, &Value)> = all
            .iter()
            .map(|r| (&r["conversation_sid"], &r["participant_sid"]))
            .collect();
        let want: Vec<(Value, Value)> = expected
            .iter()
            .map(|(c, p, _)| (Value::from(c.as_str()), p.clone()))
            .collect();
        assert_eq!(
            listed,
            want.iter().map(|(c, p)| (c, p)).collect::<Vec<_>>(),
            "every conversation once, in creation order"
        );

        // The second page leads back to the first.
        let second = client.get(next).await;
        let back = second.body["meta"]["previous_page_url"].as_str().unwrap();
        assert_eq!(
            client.get(back).await.body["conversations"],
            body["conversations"]
        );
        let clamped = client
            .get(&format!(
                "{prefix}/ParticipantConversations?Address=%2B15557654321&PageSize=1000"
            ))
            .await;
        assert_eq!(clamped.body["meta"]["page_size"], 50, "PageSize max is 50");
    }
}

#[tokio::test]
async fn lookups_stay_inside_their_service_and_account() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let conv = new_conversation(&client, &prefixes[1], &[]).await;
    add(
        &client,
        &prefixes[1],
        conv["sid"].as_str().unwrap(),
        &[("Identity", "alice")],
    )
    .await;
    let count = |c: &Client, path: String| {
        let c = c.clone();
        async move {
            c.get(&path).await.assert_status(200)["conversations"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        count(
            &client,
            format!("{}/ParticipantConversations?Identity=alice", prefixes[1])
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &client,
            "/v1/ParticipantConversations?Identity=alice".into()
        )
        .await,
        0
    );
    let empty = client
        .get("/v1/ParticipantConversations?Identity=alice")
        .await;
    assert_shape("ListParticipantConversation", 200, &empty.body);
    let stranger = account().await;
    assert_eq!(
        count(
            &stranger,
            "/v1/ParticipantConversations?Identity=alice".into()
        )
        .await,
        0
    );
    stranger
        .get(&format!(
            "{}/ParticipantConversations?Identity=alice",
            prefixes[1]
        ))
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn exactly_one_lookup_parameter() {
    let client = account().await;
    for prefix in client.prefixes().await {
        for (query, status, code) in [
            ("Identity=alice&Address=%2B15551234567", 400, 50451),
            ("", 400, 20001),
            ("PageSize=10", 400, 20001),
            ("Identity=alice&PageToken=bogus", 400, 21481),
            ("Identity=alice&PageSize=0", 400, 20001),
        ] {
            client
                .get(&format!("{prefix}/ParticipantConversations?{query}"))
                .await
                .assert_error(status, code);
        }
    }
}

/// An identity takes part in at most 1000 conversations that are not closed (50214); its list
/// pages through all of them by the index.
#[tokio::test]
async fn an_identity_in_a_thousand_conversations() {
    let client = account().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let client = client.clone();
        tasks.spawn(async move {
            client
                .post(
                    "/v1/ConversationWithParticipants",
                    &[("Participant", r#"{"identity":"busy"}"#)],
                )
                .await
                .body["sid"]
                .as_str()
                .map(str::to_string)
        });
    }
    let sids: Vec<String> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(sids.len(), 1000);

    let extra = new_conversation(&client, "/v1", &[]).await;
    let extra = extra["sid"].as_str().unwrap();
    let path = format!("/v1/Conversations/{extra}/Participants");
    client
        .post(&path, &[("Identity", "busy")])
        .await
        .assert_error(400, 50214);
    client
        .post(
            &format!("/v1/Conversations/{}", sids[0]),
            &[("State", "closed")],
        )
        .await
        .assert_status(200);
    client
        .post(&path, &[("Identity", "busy")])
        .await
        .assert_status(201);

    let listed = client
        .collect_pages(
            "/v1/ParticipantConversations?Identity=busy",
            "conversations",
        )
        .await;
    assert_eq!(listed.len(), 1001, "closed conversations are listed too");
    let mut unique: Vec<&str> = listed
        .iter()
        .map(|r| r["conversation_sid"].as_str().unwrap())
        .collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 1001);
}
