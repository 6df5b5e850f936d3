//! Roles under both prefixes: the four seeded roles, create / list / fetch / update / delete,
//! repeated `Permission` keys, permission catalogues per type, and every validation error.

use serde_json::Value;

use crate::common::{ErrorCase, account, assert_date, assert_sid};
use crate::spec::assert_shape;

fn op(prefix: &str, plain: &'static str, scoped: &'static str) -> &'static str {
    if prefix == "/v1" { plain } else { scoped }
}

fn names(list: &[Value], field: &str) -> Vec<String> {
    list.iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_service_starts_with_the_four_chat_roles() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let list = client.get(&format!("{prefix}/Roles")).await;
        assert_shape(
            op(&prefix, "ListRole", "ListServiceRole"),
            200,
            list.assert_status(200),
        );
        let roles = list.body["roles"].as_array().unwrap();
        let seeded: Vec<(String, String)> = roles
            .iter()
            .map(|r| {
                (
                    r["friendly_name"].as_str().unwrap().to_string(),
                    r["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            seeded,
            [
                ("service admin", "service"),
                ("service user", "service"),
                ("channel admin", "conversation"),
                ("channel user", "conversation"),
            ]
            .map(|(n, t)| (n.to_string(), t.to_string()))
        );
        let service_user = &roles[1]["permissions"];
        assert_eq!(
            service_user,
            &serde_json::json!(["createConversation", "joinConversation", "editOwnUserInfo"])
        );
    }
}

#[tokio::test]
async fn create_fetch_update_delete_under_both_prefixes() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let created = client
            .post(
                &format!("{prefix}/Roles"),
                &[
                    ("FriendlyName", "Conversation Role"),
                    ("Type", "conversation"),
                    ("Permission", "sendMessage"),
                    ("Permission", "leaveConversation"),
                    ("Permission", "sendMessage"),
                ],
            )
            .await;
        let body = created.assert_status(201);
        assert_shape(op(&prefix, "CreateRole", "CreateServiceRole"), 201, body);
        assert_sid(&body["sid"], "RL");
        assert_date(&body["date_created"]);
        assert_eq!(body["type"], "conversation");
        assert_eq!(
            body["permissions"],
            serde_json::json!(["sendMessage", "leaveConversation"]),
            "repeated keys, each once, in the order sent"
        );
        let sid = body["sid"].as_str().unwrap().to_string();
        assert_eq!(body["url"], format!("{}{prefix}/Roles/{sid}", client.base));
        let service =
            client.get(&format!("{prefix}/Roles")).await.body["roles"][0]["chat_service_sid"]
                .clone();
        assert_eq!(body["chat_service_sid"], service);
        if prefix != "/v1" {
            assert_eq!(service, prefix.trim_start_matches("/v1/Services/"));
        }

        let fetched = client.get(&format!("{prefix}/Roles/{sid}")).await;
        assert_shape(
            op(&prefix, "FetchRole", "FetchServiceRole"),
            200,
            fetched.assert_status(200),
        );
        assert_eq!(fetched.body, *body);

        let updated = client
            .post(
                &format!("{prefix}/Roles/{sid}"),
                &[
                    ("Permission", "deleteOwnMessage"),
                    ("Permission", "editOwnMessage"),
                ],
            )
            .await;
        let body = updated.assert_status(200);
        assert_shape(op(&prefix, "UpdateRole", "UpdateServiceRole"), 200, body);
        assert_eq!(
            body["permissions"],
            serde_json::json!(["deleteOwnMessage", "editOwnMessage"]),
            "the update replaces the whole list"
        );
        assert_eq!(
            (body["type"].as_str(), body["friendly_name"].as_str()),
            (Some("conversation"), Some("Conversation Role"))
        );

        let deleted = client.delete(&format!("{prefix}/Roles/{sid}")).await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        for res in [
            client.get(&format!("{prefix}/Roles/{sid}")).await,
            client
                .post(
                    &format!("{prefix}/Roles/{sid}"),
                    &[("Permission", "sendMessage")],
                )
                .await,
            client.delete(&format!("{prefix}/Roles/{sid}")).await,
        ] {
            res.assert_error(404, 20404);
        }
    }
}

#[tokio::test]
async fn a_service_role_takes_the_service_catalogue() {
    let client = account().await;
    let created = client
        .post(
            "/v1/Roles",
            &[
                ("FriendlyName", "moderator"),
                ("Type", "service"),
                ("Permission", "createConversation"),
                ("Permission", "removeParticipant"),
            ],
        )
        .await;
    assert_shape("CreateRole", 201, created.assert_status(201));
    assert_eq!(created.body["type"], "service");
    let sid = created.body["sid"].as_str().unwrap();
    // sendMessage is a conversation permission: a service role cannot take it.
    client
        .post(
            &format!("/v1/Roles/{sid}"),
            &[("Permission", "sendMessage")],
        )
        .await
        .assert_error(400, 50104);
    let unchanged = client.get(&format!("/v1/Roles/{sid}")).await;
    assert_eq!(
        unchanged.body["permissions"],
        serde_json::json!(["createConversation", "removeParticipant"]),
        "a failed update changes nothing"
    );
}

#[tokio::test]
async fn create_validation_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let long_name = "r".repeat(65);
    let cases: &[ErrorCase] = &[
        (
            &[("Type", "service"), ("Permission", "createConversation")],
            400,
            20001,
            "FriendlyName is required",
        ),
        (
            &[("FriendlyName", "r"), ("Permission", "createConversation")],
            400,
            20001,
            "Type is required",
        ),
        (
            &[("FriendlyName", "r"), ("Type", "service")],
            400,
            20001,
            "at least one Permission is required",
        ),
        (
            &[
                ("FriendlyName", "r"),
                ("Type", "deployment"),
                ("Permission", "createConversation"),
            ],
            400,
            50105,
            "Chat's 'deployment' is not a Conversations role type",
        ),
        (
            &[
                ("FriendlyName", "r"),
                ("Type", "service"),
                ("Permission", "createChannel"),
            ],
            400,
            50104,
            "unknown permission",
        ),
        (
            &[
                ("FriendlyName", "r"),
                ("Type", "conversation"),
                ("Permission", "sendMessage"),
                ("Permission", "createConversation"),
            ],
            400,
            50104,
            "a service permission on a conversation role",
        ),
        (
            &[
                ("FriendlyName", "r"),
                ("Type", "service"),
                ("Permission", ""),
            ],
            400,
            50104,
            "an empty permission",
        ),
        (
            &[
                ("FriendlyName", long_name.as_str()),
                ("Type", "service"),
                ("Permission", "createConversation"),
            ],
            400,
            50003,
            "friendly name over 64 characters",
        ),
    ];
    for prefix in client.prefixes().await {
        for (form, status, code, why) in cases {
            let res = client.post(&format!("{prefix}/Roles"), form).await;
            assert_eq!(
                (res.status, res.body["code"].as_u64()),
                (*status, Some(*code)),
                "{prefix} {why}: {}",
                res.body
            );
        }
        let all = client.get(&format!("{prefix}/Roles")).await;
        assert_eq!(
            all.body["roles"].as_array().unwrap().len(),
            4,
            "no failed create left a role"
        );
    }
    let name_64 = "r".repeat(64);
    client
        .post(
            "/v1/Roles",
            &[
                ("FriendlyName", name_64.as_str()),
                ("Type", "service"),
                ("Permission", "createConversation"),
            ],
        )
        .await
        .assert_status(201);
}

#[tokio::test]
async fn update_and_path_errors() {
    let client = account().await;
    let roles = client.get("/v1/Roles").await.body["roles"].clone();
    let channel_user = roles[3]["sid"].as_str().unwrap();
    let before = roles[3]["permissions"].clone();
    let cases: &[ErrorCase] = &[
        (&[], 400, 20001, "Permission is required on update"),
        (
            &[("FriendlyName", "renamed")],
            400,
            20001,
            "only Permission is updatable, and it is required",
        ),
        (
            &[("Permission", "joinConversation")],
            400,
            50104,
            "a service permission on a conversation role",
        ),
    ];
    client
        .assert_errors(&format!("/v1/Roles/{channel_user}"), cases)
        .await;
    let after = client.get(&format!("/v1/Roles/{channel_user}")).await;
    assert_eq!(after.body["permissions"], before);
    assert_eq!(after.body["friendly_name"], "channel user");

    for missing in ["RL00000000000000000000000000000000", "not-a-role-sid"] {
        client
            .get(&format!("/v1/Roles/{missing}"))
            .await
            .assert_error(404, 20404);
    }
}

#[tokio::test]
async fn roles_are_isolated_between_services_and_accounts() {
    let client = account().await;
    let prefixes = client.prefixes().await;
    let created = client
        .post(
            "/v1/Roles",
            &[
                ("FriendlyName", "mine"),
                ("Type", "service"),
                ("Permission", "createConversation"),
            ],
        )
        .await;
    let sid = created.body["sid"].as_str().unwrap().to_string();
    client
        .get(&format!("{}/Roles/{sid}", prefixes[1]))
        .await
        .assert_error(404, 20404);
    let other = account().await;
    other
        .get(&format!("/v1/Roles/{sid}"))
        .await
        .assert_error(404, 20404);
    other
        .post(
            &format!("/v1/Roles/{sid}"),
            &[("Permission", "joinConversation")],
        )
        .await
        .assert_error(404, 20404);
    other
        .delete(&format!("/v1/Roles/{sid}"))
        .await
        .assert_error(404, 20404);
    client
        .get(&format!("/v1/Roles/{sid}"))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_role_still_assigned_is_not_deleted() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let roles = client.get(&format!("{prefix}/Roles")).await.body["roles"].clone();
        // service user, channel admin, channel user: the service configuration's defaults.
        for default in 1..4 {
            let sid = roles[default]["sid"].as_str().unwrap();
            client
                .delete(&format!("{prefix}/Roles/{sid}"))
                .await
                .assert_error(409, 20409);
        }
        let custom = client
            .post(
                &format!("{prefix}/Roles"),
                &[
                    ("FriendlyName", "vip"),
                    ("Type", "service"),
                    ("Permission", "createConversation"),
                ],
            )
            .await;
        let custom = custom.body["sid"].as_str().unwrap().to_string();
        client
            .post(
                &format!("{prefix}/Users"),
                &[("Identity", "vip-user"), ("RoleSid", custom.as_str())],
            )
            .await
            .assert_status(201);
        client
            .delete(&format!("{prefix}/Roles/{custom}"))
            .await
            .assert_error(409, 20409);
        let service_admin = roles[0]["sid"].as_str().unwrap();
        client
            .post(
                &format!("{prefix}/Users/vip-user"),
                &[("RoleSid", service_admin)],
            )
            .await
            .assert_status(200);
        client
            .delete(&format!("{prefix}/Roles/{custom}"))
            .await
            .assert_status(204);
    }
}

#[tokio::test]
async fn lists_page_by_token_and_clamp_the_page_size_to_50() {
    let client = account().await;
    for prefix in client.prefixes().await {
        let mut created = names(
            client.get(&format!("{prefix}/Roles")).await.body["roles"]
                .as_array()
                .unwrap(),
            "sid",
        );
        for i in 0..3 {
            let res = client
                .post(
                    &format!("{prefix}/Roles"),
                    &[
                        ("FriendlyName", format!("r{i}").as_str()),
                        ("Type", "conversation"),
                        ("Permission", "sendMessage"),
                    ],
                )
                .await;
            created.push(res.body["sid"].as_str().unwrap().to_string());
        }
        let first = client.get(&format!("{prefix}/Roles?PageSize=3")).await;
        assert_shape(
            op(&prefix, "ListRole", "ListServiceRole"),
            200,
            first.assert_status(200),
        );
        assert_eq!(first.body["meta"]["key"], "roles");
        assert!(
            first.body["meta"]["next_page_url"]
                .as_str()
                .unwrap()
                .contains("PageSize=3&Page=1&PageToken=PA")
        );
        let all = client
            .collect_pages(&format!("{prefix}/Roles?PageSize=3"), "roles")
            .await;
        assert_eq!(names(&all, "sid"), created);
        let clamped = client.get(&format!("{prefix}/Roles?PageSize=1000")).await;
        assert_eq!(clamped.body["meta"]["page_size"], 50);
        client
            .get(&format!("{prefix}/Roles?PageToken=nonsense"))
            .await
            .assert_error(400, 21481);
    }
}
