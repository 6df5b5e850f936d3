//! Users under both prefixes: create / list / fetch / update / delete, addressing by SID or by
//! (URL-encoded, case-sensitive) identity, the default role, reachability fields, and every
//! validation error.

use serde_json::Value;

use crate::common::{Client, ErrorCase, account, assert_date, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

/// Percent-encodes an identity for a path segment, as the SDKs do.
fn encoded(identity: &str) -> String {
    identity
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The SID of the role with this friendly name in the service of `prefix`.
async fn role(client: &Client, prefix: &str, name: &str) -> String {
    let roles = client.get(&format!("{prefix}/Roles")).await;
    roles.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["friendly_name"] == name)
        .unwrap_or_else(|| panic!("no role {name}"))["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn create_fetch_update_delete_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let created = client
            .post(
                &format!("{prefix}/Users"),
                &[
                    ("Identity", "admin"),
                    ("FriendlyName", "name"),
                    ("Attributes", r#"{ "duty": "tech" }"#),
                ],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(op(&prefix, "CreateUser", "CreateServiceUser"), 201, body);
        assert_sid(&body["sid"], "US");
        assert_date(&body["date_created"]);
        assert_eq!(body["identity"], "admin");
        assert_eq!(body["attributes"], r#"{ "duty": "tech" }"#);
        assert_eq!(
            body["role_sid"],
            role(&client, &prefix, "service user").await.as_str(),
            "the service's default_chat_service_role_sid"
        );
        assert_eq!(
            (&body["is_online"], &body["is_notifiable"]),
            (&Value::Null, &Value::Null),
            "reachability is off on a new service"
        );
        let sid = body["sid"].as_str().unwrap().to_string();
        let url = format!("{}{prefix}/Users/{sid}", client.base);
        assert_eq!(body["url"], url.as_str());
        assert_eq!(
            body["links"],
            serde_json::json!({"user_conversations": format!("{url}/Conversations")})
        );
        let service =
            client.get(&format!("{prefix}/Roles")).await.body["roles"][0]["chat_service_sid"]
                .clone();
        assert_eq!(body["chat_service_sid"], service);

        for name in [sid.as_str(), "admin"] {
            let fetched = client.get(&format!("{prefix}/Users/{name}")).await;
            assert_shape(
                op(&prefix, "FetchUser", "FetchServiceUser"),
                200,
                fetched.assert_status(200),
            );
            assert_eq!(fetched.body, *body);
        }

        let admin_role = role(&client, &prefix, "service admin").await;
        let updated = client
            .post(
                &format!("{prefix}/Users/admin"),
                &[
                    ("FriendlyName", "new name"),
                    ("RoleSid", admin_role.as_str()),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(op(&prefix, "UpdateUser", "UpdateServiceUser"), 200, body);
        assert_eq!(body["friendly_name"], "new name");
        assert_eq!(body["role_sid"], admin_role.as_str());
        assert_eq!(
            body["attributes"], r#"{ "duty": "tech" }"#,
            "fields not sent are kept"
        );
        assert_eq!(body["identity"], "admin");

        let deleted = client.delete(&format!("{prefix}/Users/{sid}")).await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        for res in [
            client.get(&format!("{prefix}/Users/{sid}")).await,
            client.get(&format!("{prefix}/Users/admin")).await,
            client
                .post(&format!("{prefix}/Users/admin"), &[("FriendlyName", "x")])
                .await,
            client.delete(&format!("{prefix}/Users/admin")).await,
        ] {
            res.assert_error(404, 20404);
        }
        // The identity is free again.
        client
            .post(&format!("{prefix}/Users"), &[("Identity", "admin")])
            .await
            .assert_status(201);
    }
}

#[tokio::test]
async fn identities_are_case_sensitive_and_url_encoded_in_paths() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let identities = [
            "alice@example.com",
            "Bob Smith",
            "bob smith",
            "ümlaut+plus&amp=eq?q#h",
            "slash/inside",
        ];
        let mut sids = Vec::new();
        for identity in identities {
            let res = client
                .post(&format!("{prefix}/Users"), &[("Identity", identity)])
                .await;
            assert_eq!(res.assert_status(201)["identity"], identity);
            sids.push(res.body["sid"].as_str().unwrap().to_string());
        }
        for (identity, sid) in identities.iter().zip(&sids) {
            let path = format!("{prefix}/Users/{}", encoded(identity));
            let fetched = client.get(&path).await;
            assert_eq!(
                fetched.assert_status(200)["sid"],
                sid.as_str(),
                "{identity}"
            );
            let updated = client
                .post(&path, &[("Attributes", r#"{"seen":true}"#)])
                .await;
            assert_eq!(updated.assert_status(200)["identity"], *identity);
        }
        client
            .get(&format!("{prefix}/Users/BOB%20SMITH"))
            .await
            .assert_error(404, 20404);
        client
            .delete(&format!("{prefix}/Users/{}", encoded("alice@example.com")))
            .await
            .assert_status(204);
        let left: Vec<String> = client
            .collect_pages(&format!("{prefix}/Users"), "users")
            .await
            .iter()
            .map(|u| u["identity"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(left, &identities[1..]);
    }
}

#[tokio::test]
async fn validation_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let other_service_role = role(&client, &prefixes[1], "service admin").await;
    let long_identity = "i".repeat(257);
    let long_attributes = format!(r#"{{"a":"{}"}}"#, "x".repeat(16 * 1024));
    for prefix in &prefixes {
        client
            .post(&format!("{prefix}/Users"), &[("Identity", "taken")])
            .await
            .assert_status(201);
        let conversation_role = role(&client, prefix, "channel user").await;
        let foreign_role = if prefix == "/v1" {
            other_service_role.clone()
        } else {
            role(&client, "/v1", "service admin").await
        };
        let cases: &[ErrorCase] = &[
            (&[], 400, 20001, "Identity is required"),
            (&[("Identity", "")], 400, 20001, "an empty Identity is none"),
            (&[("Identity", "taken")], 409, 50201, "duplicate identity"),
            (
                &[("Identity", long_identity.as_str())],
                400,
                50207,
                "identity over 256 characters",
            ),
            (
                &[("Identity", "US0123456789abcdef0123456789abcdef")],
                400,
                50206,
                "identity shaped like a user SID",
            ),
            (
                &[("Identity", "u"), ("Attributes", "{not json")],
                400,
                50304,
                "attributes must be JSON",
            ),
            (
                &[("Identity", "u"), ("Attributes", long_attributes.as_str())],
                400,
                50303,
                "attributes over 16 KB",
            ),
            (
                &[("Identity", "u"), ("RoleSid", "RLnope")],
                400,
                50100,
                "malformed RoleSid",
            ),
            (
                &[
                    ("Identity", "u"),
                    ("RoleSid", "RL00000000000000000000000000000000"),
                ],
                400,
                50100,
                "unknown RoleSid",
            ),
            (
                &[("Identity", "u"), ("RoleSid", conversation_role.as_str())],
                400,
                50100,
                "a conversation role cannot be a user's role",
            ),
            (
                &[("Identity", "u"), ("RoleSid", foreign_role.as_str())],
                400,
                50100,
                "a role of another service",
            ),
        ];
        for (form, status, code, why) in cases {
            let res = client.post(&format!("{prefix}/Users"), form).await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{prefix} {why}: {}",
                res.body
            );
        }
        let update_cases: &[ErrorCase] = &[
            (
                &[("Attributes", "[")],
                400,
                50304,
                "attributes must be JSON",
            ),
            (
                &[
                    ("FriendlyName", "x"),
                    ("RoleSid", conversation_role.as_str()),
                ],
                400,
                50100,
                "a conversation role cannot be a user's role",
            ),
            (
                &[("RoleSid", "RL00000000000000000000000000000000")],
                400,
                50100,
                "unknown RoleSid",
            ),
        ];
        for (form, status, code, why) in update_cases {
            let res = client.post(&format!("{prefix}/Users/taken"), form).await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{prefix} update {why}: {}",
                res.body
            );
        }
        let users = client.get(&format!("{prefix}/Users")).await;
        let users = users.body["users"].as_array().unwrap();
        assert_eq!(users.len(), 1, "no failed create left a user");
        assert_eq!(
            users[0]["friendly_name"],
            Value::Null,
            "no failed update changed it"
        );
    }
    let name_256 = "i".repeat(256);
    client
        .post("/v1/Users", &[("Identity", name_256.as_str())])
        .await
        .assert_status(201);
}

#[tokio::test]
async fn lists_page_by_token_and_show_no_reachability() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let mut created = Vec::new();
        for i in 0..5 {
            let res = client
                .post(
                    &format!("{prefix}/Users"),
                    &[("Identity", &format!("u{i}"))],
                )
                .await;
            created.push(res.body["sid"].as_str().unwrap().to_string());
        }
        let first = client.get(&format!("{prefix}/Users?PageSize=2")).await;
        assert_shape(
            op(&prefix, "ListUser", "ListServiceUser"),
            200,
            first.assert_status(200),
        );
        assert_eq!(first.body["meta"]["key"], "users");
        assert_eq!(
            first.body["meta"]["first_page_url"],
            format!("{}{prefix}/Users?PageSize=2&Page=0", client.base)
        );
        let all = client
            .collect_pages(&format!("{prefix}/Users?PageSize=2"), "users")
            .await;
        let listed: Vec<&str> = all.iter().map(|u| u["sid"].as_str().unwrap()).collect();
        assert_eq!(listed, created);
        assert!(
            all.iter()
                .all(|u| u["is_online"].is_null() && u["is_notifiable"].is_null())
        );
        let second = client
            .get(first.body["meta"]["next_page_url"].as_str().unwrap())
            .await;
        let back = client
            .get(second.body["meta"]["previous_page_url"].as_str().unwrap())
            .await;
        assert_eq!(back.body["users"], first.body["users"]);
        let clamped = client.get(&format!("{prefix}/Users?PageSize=51")).await;
        assert_eq!(clamped.body["meta"]["page_size"], 50);
    }
}

#[tokio::test]
async fn users_are_isolated_between_services_and_accounts() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let created = client.post("/v1/Users", &[("Identity", "alice")]).await;
    let sid = created.body["sid"].as_str().unwrap().to_string();
    // The same identity is free in another service.
    client
        .post(&format!("{}/Users", prefixes[1]), &[("Identity", "alice")])
        .await
        .assert_status(201);
    client
        .get(&format!("{}/Users/{sid}", prefixes[1]))
        .await
        .assert_error(404, 20404);
    let other = account().await;
    for res in [
        other.get(&format!("/v1/Users/{sid}")).await,
        other
            .post(&format!("/v1/Users/{sid}"), &[("FriendlyName", "x")])
            .await,
        other.delete(&format!("/v1/Users/{sid}")).await,
        other.get("/v1/Users/alice").await,
    ] {
        res.assert_error(404, 20404);
    }
    client
        .get(&format!("/v1/Users/{sid}"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_webhook_header_is_accepted_on_every_write() {
    // What is queued is checked in the store's unit tests; here, that the header changes
    // nothing in the answers.
    let client = account().await;
    let hook = [("X-Twilio-Webhook-Enabled", "true")];
    let created = client
        .post_with_headers("/v1/Users", &[("Identity", "hooked")], &hook)
        .await;
    assert_shape("CreateUser", 201, created.assert_status(201));
    let updated = client
        .post_with_headers("/v1/Users/hooked", &[("FriendlyName", "H")], &hook)
        .await;
    assert_shape("UpdateUser", 200, updated.assert_status(200));
}

/// Deleting a user takes its participants out of every conversation of the service, and only
/// that service.
#[tokio::test]
async fn deleting_a_user_removes_its_participants() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let mut conversations = Vec::new();
    for prefix in &prefixes {
        for _ in 0..2 {
            let conv = client.post(&format!("{prefix}/Conversations"), &[]).await;
            let conv = conv.body["sid"].as_str().unwrap().to_string();
            for identity in ["alice", "bob"] {
                client
                    .post(
                        &format!("{prefix}/Conversations/{conv}/Participants"),
                        &[("Identity", identity)],
                    )
                    .await
                    .assert_status(201);
            }
            conversations.push((prefix.clone(), conv));
        }
    }
    client.delete("/v1/Users/alice").await.assert_status(204);
    for (prefix, conv) in &conversations {
        let alice_there = client
            .get(&format!("{prefix}/Conversations/{conv}/Participants/alice"))
            .await;
        if prefix == "/v1" {
            alice_there.assert_error(404, 20404);
        } else {
            alice_there.assert_status(200);
        }
        client
            .get(&format!("{prefix}/Conversations/{conv}/Participants/bob"))
            .await
            .assert_status(200);
    }
    let bob = client.get("/v1/Users/bob/Conversations").await;
    assert_eq!(bob.body["conversations"].as_array().unwrap().len(), 2);
}
