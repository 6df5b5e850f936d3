//! Push bindings: registration through confab's extension (`POST /confab/Services/{sid}/Bindings`),
//! then the REST operations under `/v1/Services/{sid}/Bindings` (list with repeated filters,
//! fetch, delete), in the default service and in a second one; the cascade on service delete.

use serde_json::{Value, json};

use crate::common::{Client, ErrorCase, TestServer, account, assert_date, assert_sid};
use crate::spec::assert_shape;

async fn credential(client: &Client, kind: &str) -> String {
    let res = client
        .post("/v1/Credentials", &[("Type", kind), ("Secret", "s3cret")])
        .await;
    res.assert_status(201)["sid"].as_str().unwrap().to_string()
}

async fn register(client: &Client, service: &str, form: &[(&str, &str)]) -> Value {
    let res = client
        .post(&format!("/confab/Services/{service}/Bindings"), form)
        .await;
    let body = res.assert_status(201).clone();
    // The registration answers the binding in the REST resource's own shape.
    assert_shape("FetchServiceBinding", 200, &body);
    body
}

/// The account's default service and a second one: bindings live under `/v1/Services/{sid}`.
async fn services(client: &Client) -> Vec<String> {
    vec![
        client.default_service().await,
        client.new_service("push").await,
    ]
}

fn sids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|b| b["sid"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn register_fetch_list_delete_in_both_services() {
    let client = account().await;
    let apn = credential(&client, "apn").await;
    for service in services(&client).await {
        let body = register(
            &client,
            &service,
            &[
                ("Identity", "alice"),
                ("BindingType", "apn"),
                ("Endpoint", "alice-iphone"),
                ("Address", "device-token-1"),
                ("CredentialSid", &apn),
                ("MessageTypes", "new_message"),
                ("MessageTypes", "added_to_conversation"),
            ],
        )
        .await;
        assert_sid(&body["sid"], "BS");
        assert_date(&body["date_created"]);
        assert_eq!(
            (
                &body["account_sid"],
                &body["chat_service_sid"],
                &body["credential_sid"]
            ),
            (
                &client.sid.as_str().into(),
                &service.as_str().into(),
                &apn.as_str().into()
            )
        );
        assert_eq!(
            (&body["identity"], &body["endpoint"], &body["binding_type"]),
            (&"alice".into(), &"alice-iphone".into(), &"apn".into())
        );
        assert_eq!(
            body["message_types"],
            json!(["new_message", "added_to_conversation"])
        );
        let sid = body["sid"].as_str().unwrap().to_string();
        let url = format!("{}/v1/Services/{service}/Bindings/{sid}", client.base);
        assert_eq!(body["url"], url.as_str());
        assert!(!body.to_string().contains("device-token-1"), "{body}");

        let fetched = client.get(&url).await;
        assert_shape("FetchServiceBinding", 200, fetched.assert_status(200));
        assert_eq!(fetched.body, body);

        let listed = client
            .get(&format!("/v1/Services/{service}/Bindings"))
            .await;
        assert_shape("ListServiceBinding", 200, listed.assert_status(200));
        assert_eq!(listed.body["bindings"], json!([body]));
        assert_eq!(listed.body["meta"]["key"], "bindings");

        let deleted = client.delete(&url).await;
        assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
        client.get(&url).await.assert_error(404, 20404);
        client.delete(&url).await.assert_error(404, 20404);
        assert_eq!(
            client
                .get(&format!("/v1/Services/{service}/Bindings"))
                .await
                .body["bindings"],
            json!([])
        );
    }
}

#[tokio::test]
async fn list_filters_repeat_and_combine() {
    let client = account().await;
    let service = client.new_service("filters").await;
    let apn = credential(&client, "apn").await;
    let fcm = credential(&client, "fcm").await;
    let gcm = credential(&client, "gcm").await;
    let mut made = Vec::new();
    for (identity, kind, cred) in [
        ("alice", "apn", Some(&apn)),
        ("alice", "fcm", Some(&fcm)),
        ("bob", "gcm", Some(&gcm)),
        ("bob", "twilsock", None),
        ("carol", "fcm", Some(&fcm)),
        ("carol", "apn", Some(&apn)),
    ] {
        let endpoint = format!("{identity}-{kind}");
        let mut form = vec![
            ("Identity", identity),
            ("BindingType", kind),
            ("Endpoint", endpoint.as_str()),
        ];
        if let Some(cred) = cred {
            form.push(("CredentialSid", cred.as_str()));
        }
        let body = register(&client, &service, &form).await;
        made.push((identity, kind, body["sid"].as_str().unwrap().to_string()));
    }
    let expect = |keep: &dyn Fn(&str, &str) -> bool| -> Vec<String> {
        made.iter()
            .filter(|(i, k, _)| keep(i, k))
            .map(|(_, _, s)| s.clone())
            .collect()
    };
    let list = format!("/v1/Services/{service}/Bindings");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("", expect(&|_, _| true)),
        ("BindingType=apn", expect(&|_, k| k == "apn")),
        (
            "BindingType=apn&BindingType=fcm",
            expect(&|_, k| k == "apn" || k == "fcm"),
        ),
        ("Identity=bob", expect(&|i, _| i == "bob")),
        (
            "Identity=alice&Identity=carol",
            expect(&|i, _| i == "alice" || i == "carol"),
        ),
        (
            "BindingType=fcm&BindingType=twilsock&Identity=alice&Identity=bob",
            expect(&|i, k| (i == "alice" || i == "bob") && (k == "fcm" || k == "twilsock")),
        ),
        ("Identity=nobody", vec![]),
    ];
    for (query, expected) in cases {
        let res = client.get(&format!("{list}?{query}")).await;
        assert_shape("ListServiceBinding", 200, res.assert_status(200));
        let got = res.body["bindings"].as_array().unwrap().clone();
        assert_eq!(sids(&got), expected, "{query}");
        // Paging one at a time keeps the filters in every page URL.
        let paged = client
            .collect_pages(&format!("{list}?{query}&PageSize=1"), "bindings")
            .await;
        assert_eq!(sids(&paged), expected, "{query}, one a page");
    }
    let page = client
        .get(&format!(
            "{list}?BindingType=apn&BindingType=fcm&Identity=carol&PageSize=1"
        ))
        .await;
    let next = page.body["meta"]["next_page_url"].as_str().unwrap();
    assert!(
        next.contains(
            "BindingType=apn&BindingType=fcm&Identity=carol&PageSize=1&Page=1&PageToken=PA"
        ),
        "{next}"
    );
    assert_eq!(
        client.get(&format!("{list}?PageSize=1000")).await.body["meta"]["page_size"],
        100
    );
}

#[tokio::test]
async fn list_and_path_errors() {
    let client = account().await;
    let service = client.new_service("errors").await;
    let list = format!("/v1/Services/{service}/Bindings");
    client
        .get(&format!("{list}?BindingType=sms"))
        .await
        .assert_error(400, 50209);
    client
        .get(&format!("{list}?BindingType=apn&BindingType=voip"))
        .await
        .assert_error(400, 50209);
    client
        .get(&format!("{list}?PageSize=0"))
        .await
        .assert_error(400, 20001);
    client
        .get(&format!("{list}?PageToken=XY1"))
        .await
        .assert_error(400, 21481);
    client
        .get("/v1/Services/IS00000000000000000000000000000000/Bindings")
        .await
        .assert_error(404, 20404);
    for path in [
        format!("{list}/BS00000000000000000000000000000000"),
        format!("{list}/not-a-binding"),
    ] {
        client.get(&path).await.assert_error(404, 20404);
        client.delete(&path).await.assert_error(404, 20404);
    }
}

#[tokio::test]
async fn bindings_are_isolated_between_services_and_accounts() {
    let client = account().await;
    let fcm = credential(&client, "fcm").await;
    let [first, second] = [
        client.new_service("one").await,
        client.new_service("two").await,
    ];
    let body = register(
        &client,
        &first,
        &[
            ("Identity", "dana"),
            ("BindingType", "fcm"),
            ("Endpoint", "dana-pixel"),
            ("CredentialSid", &fcm),
        ],
    )
    .await;
    let sid = body["sid"].as_str().unwrap();
    let elsewhere = format!("/v1/Services/{second}/Bindings/{sid}");
    client.get(&elsewhere).await.assert_error(404, 20404);
    client.delete(&elsewhere).await.assert_error(404, 20404);
    assert_eq!(
        client
            .get(&format!("/v1/Services/{second}/Bindings"))
            .await
            .body["bindings"],
        json!([])
    );

    let other = account().await;
    let own = format!("/v1/Services/{first}/Bindings/{sid}");
    other.get(&own).await.assert_error(404, 20404);
    other.delete(&own).await.assert_error(404, 20404);
    other
        .get(&format!("/v1/Services/{first}/Bindings"))
        .await
        .assert_error(404, 20404);
    other
        .post(
            &format!("/confab/Services/{first}/Bindings"),
            &[
                ("Identity", "x"),
                ("BindingType", "twilsock"),
                ("Endpoint", "e"),
            ],
        )
        .await
        .assert_error(404, 20404);
    client.get(&own).await.assert_status(200);
}

#[tokio::test]
async fn registering_again_refreshes_the_same_binding() {
    let client = account().await;
    let service = client.new_service("again").await;
    let first_cred = credential(&client, "apn").await;
    let second_cred = credential(&client, "apn").await;
    let first = register(
        &client,
        &service,
        &[
            ("Identity", "erin"),
            ("BindingType", "apn"),
            ("Endpoint", "erin-ipad"),
            ("CredentialSid", &first_cred),
        ],
    )
    .await;
    assert_eq!(
        first["message_types"],
        json!([
            "new_message",
            "added_to_conversation",
            "removed_from_conversation"
        ]),
        "all three message types by default"
    );
    let again = client
        .post(
            &format!("/confab/Services/{service}/Bindings"),
            &[
                ("Identity", "erin"),
                ("BindingType", "apn"),
                ("Endpoint", "erin-ipad"),
                ("CredentialSid", &second_cred),
                ("MessageTypes", "removed_from_conversation"),
            ],
        )
        .await;
    let again = again.assert_status(200);
    assert_shape("FetchServiceBinding", 200, again);
    assert_eq!(again["sid"], first["sid"], "the same binding, refreshed");
    assert_eq!(again["date_created"], first["date_created"]);
    assert_eq!(again["credential_sid"], second_cred.as_str());
    assert_eq!(again["message_types"], json!(["removed_from_conversation"]));

    // Another channel on the same device, or another identity, is another binding.
    let twilsock = register(
        &client,
        &service,
        &[
            ("Identity", "erin"),
            ("BindingType", "twilsock"),
            ("Endpoint", "erin-ipad"),
        ],
    )
    .await;
    assert_eq!(twilsock["credential_sid"], Value::Null);
    let other_identity = register(
        &client,
        &service,
        &[
            ("Identity", "frank"),
            ("BindingType", "apn"),
            ("Endpoint", "erin-ipad"),
            ("CredentialSid", &first_cred),
        ],
    )
    .await;
    let listed = client
        .get(&format!("/v1/Services/{service}/Bindings"))
        .await;
    let listed = listed.body["bindings"].as_array().unwrap().clone();
    assert_eq!(
        sids(&listed),
        vec![
            first["sid"].as_str().unwrap(),
            twilsock["sid"].as_str().unwrap(),
            other_identity["sid"].as_str().unwrap()
        ]
    );
}

#[tokio::test]
async fn registration_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let service = client.new_service("bad registrations").await;
    let apn = credential(&client, "apn").await;
    let gcm = credential(&client, "gcm").await;
    let other = account().await;
    let foreign = credential(&other, "apn").await;
    let long_identity = "i".repeat(257);
    let cases: &[ErrorCase] = &[
        (
            &[("BindingType", "twilsock"), ("Endpoint", "e")],
            400,
            20001,
            "Identity is required",
        ),
        (
            &[("Identity", "a"), ("Endpoint", "e")],
            400,
            20001,
            "BindingType is required",
        ),
        (
            &[("Identity", "a"), ("BindingType", "twilsock")],
            400,
            20001,
            "Endpoint is required",
        ),
        (
            &[("Identity", "a"), ("BindingType", "sms"), ("Endpoint", "e")],
            400,
            50209,
            "binding type outside the enum",
        ),
        (
            &[
                ("Identity", long_identity.as_str()),
                ("BindingType", "twilsock"),
                ("Endpoint", "e"),
            ],
            400,
            50207,
            "identity over 256",
        ),
        (
            &[("Identity", "a"), ("BindingType", "apn"), ("Endpoint", "e")],
            400,
            52004,
            "a push binding needs a credential",
        ),
        (
            &[
                ("Identity", "a"),
                ("BindingType", "apn"),
                ("Endpoint", "e"),
                ("CredentialSid", "CR00000000000000000000000000000000"),
            ],
            400,
            52002,
            "unknown credential",
        ),
        (
            &[
                ("Identity", "a"),
                ("BindingType", "apn"),
                ("Endpoint", "e"),
                ("CredentialSid", "not-a-credential"),
            ],
            400,
            52002,
            "malformed credential SID",
        ),
        (
            &[
                ("Identity", "a"),
                ("BindingType", "apn"),
                ("Endpoint", "e"),
                ("CredentialSid", gcm.as_str()),
            ],
            400,
            52002,
            "a gcm credential cannot send to apn",
        ),
        (
            &[
                ("Identity", "a"),
                ("BindingType", "apn"),
                ("Endpoint", "e"),
                ("CredentialSid", foreign.as_str()),
            ],
            400,
            52002,
            "another account's credential",
        ),
        (
            &[
                ("Identity", "a"),
                ("BindingType", "twilsock"),
                ("Endpoint", "e"),
                ("CredentialSid", apn.as_str()),
            ],
            400,
            52002,
            "twilsock uses no credential",
        ),
        (
            &[
                ("Identity", "a"),
                ("BindingType", "apn"),
                ("Endpoint", "e"),
                ("CredentialSid", apn.as_str()),
                ("MessageTypes", "new_message"),
                ("MessageTypes", "typing"),
            ],
            400,
            20001,
            "message types are the three push events",
        ),
    ];
    client
        .assert_errors(&format!("/confab/Services/{service}/Bindings"), cases)
        .await;
    assert_eq!(
        client
            .get(&format!("/v1/Services/{service}/Bindings"))
            .await
            .body["bindings"],
        json!([]),
        "no failed registration left a row"
    );
    client
        .post(
            "/confab/Services/IS00000000000000000000000000000000/Bindings",
            &[
                ("Identity", "a"),
                ("BindingType", "twilsock"),
                ("Endpoint", "e"),
            ],
        )
        .await
        .assert_error(404, 20404);
    client
        .with_credentials(&client.sid, "wrong token")
        .post(
            &format!("/confab/Services/{service}/Bindings"),
            &[
                ("Identity", "a"),
                ("BindingType", "twilsock"),
                ("Endpoint", "e"),
            ],
        )
        .await
        .assert_error(401, 20003);
}

/// Deleting a credential leaves the bindings that use it (see store/credentials.rs).
#[tokio::test]
async fn deleting_a_credential_keeps_its_bindings() {
    let client = account().await;
    let service = client.new_service("orphans").await;
    let fcm = credential(&client, "fcm").await;
    let body = register(
        &client,
        &service,
        &[
            ("Identity", "gus"),
            ("BindingType", "fcm"),
            ("Endpoint", "gus-phone"),
            ("CredentialSid", &fcm),
        ],
    )
    .await;
    client
        .delete(&format!("/v1/Credentials/{fcm}"))
        .await
        .assert_status(204);
    let fetched = client.get(body["url"].as_str().unwrap()).await;
    assert_eq!(fetched.assert_status(200), &body);
    assert_eq!(fetched.body["credential_sid"], fcm.as_str());
}

/// Deleting a service deletes its bindings (ON DELETE CASCADE), and only its own.
#[tokio::test]
async fn deleting_a_service_deletes_its_bindings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let server = TestServer::start(db.to_str().unwrap());
    let client = server.new_account().await;
    let doomed = client.new_service("doomed").await;
    let kept = client.new_service("kept").await;
    for service in [&doomed, &kept] {
        for identity in ["hal", "ida"] {
            register(
                &client,
                service,
                &[
                    ("Identity", identity),
                    ("BindingType", "twilsock"),
                    ("Endpoint", "browser"),
                ],
            )
            .await;
        }
    }
    client
        .delete(&format!("/v1/Services/{doomed}"))
        .await
        .assert_status(204);
    client
        .get(&format!("/v1/Services/{doomed}/Bindings"))
        .await
        .assert_error(404, 20404);
    assert_eq!(
        client
            .get(&format!("/v1/Services/{kept}/Bindings"))
            .await
            .body["bindings"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |service: &str| -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM bindings b JOIN services s ON s.id = b.service_id WHERE s.sid = ?1",
            [service],
            |r| r.get(0),
        )
        .unwrap()
    };
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM bindings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (count(&kept), total),
        (2, 2),
        "the doomed service's bindings are gone"
    );
}
