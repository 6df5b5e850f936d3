//! Push credentials (`/v1/Credentials`, account level): create, list, fetch, update, delete;
//! secrets are stored but never returned; every validation error.

use serde_json::Value;

use crate::common::{ErrorCase, TestServer, account, assert_date, assert_sid};
use crate::spec::assert_shape;

const CERTIFICATE: &str =
    "-----BEGIN CERTIFICATE-----\nMIIFnTCCBIWgAwIBAgIIAjy9H849+E8w\n-----END CERTIFICATE-----";
const PRIVATE_KEY: &str =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAuyf\n-----END RSA PRIVATE KEY-----";
const API_KEY: &str = "gcm-api-key-do-not-leak";
const SECRET: &str = "fcm-server-key-do-not-leak";

/// No secret value, and no field that could carry one, appears anywhere in a response body.
#[track_caller]
pub fn assert_no_secrets(body: &Value) {
    let text = body.to_string();
    for secret in [
        "BEGIN CERTIFICATE",
        "BEGIN RSA PRIVATE KEY",
        API_KEY,
        SECRET,
        "rotated-",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    for field in [
        "\"certificate\"",
        "\"private_key\"",
        "\"api_key\"",
        "\"secret\"",
    ] {
        assert!(!text.contains(field), "{field} leaked: {text}");
    }
}

#[tokio::test]
async fn create_fetch_list_update_delete_never_return_secrets() {
    let client = account().await;
    let created = client
        .post(
            "/v1/Credentials",
            &[
                ("Type", "apn"),
                ("FriendlyName", "ios"),
                ("Certificate", CERTIFICATE),
                ("PrivateKey", PRIVATE_KEY),
                ("Sandbox", "true"),
            ],
        )
        .await;
    let body = created.assert_status(201);
    assert_shape("CreateCredential", 201, body);
    assert_no_secrets(body);
    assert_sid(&body["sid"], "CR");
    assert_date(&body["date_created"]);
    assert_eq!(body["account_sid"], client.sid.as_str());
    assert_eq!(
        (&body["type"], &body["sandbox"], &body["friendly_name"]),
        (&"apn".into(), &"True".into(), &"ios".into())
    );
    let sid = body["sid"].as_str().unwrap().to_string();
    assert_eq!(body["url"], format!("{}/v1/Credentials/{sid}", client.base));

    let fetched = client.get(&format!("/v1/Credentials/{sid}")).await;
    assert_shape("FetchCredential", 200, fetched.assert_status(200));
    assert_no_secrets(&fetched.body);
    assert_eq!(fetched.body, created.body);

    let listed = client.get("/v1/Credentials").await;
    assert_shape("ListCredential", 200, listed.assert_status(200));
    assert_no_secrets(&listed.body);
    assert_eq!(
        listed.body["credentials"],
        serde_json::json!([created.body])
    );
    assert_eq!(listed.body["meta"]["key"], "credentials");

    let updated = client
        .post(
            &format!("/v1/Credentials/{sid}"),
            &[
                ("FriendlyName", "ios prod"),
                ("Sandbox", "false"),
                ("Certificate", "rotated-certificate"),
                ("PrivateKey", "rotated-key"),
                ("Type", "APN"),
            ],
        )
        .await;
    let body = updated.assert_status(200);
    assert_shape("UpdateCredential", 200, body);
    assert_no_secrets(body);
    assert_eq!(
        (&body["friendly_name"], &body["sandbox"], &body["type"]),
        (&"ios prod".into(), &"False".into(), &"apn".into())
    );
    let renamed = client.post(&format!("/v1/Credentials/{sid}"), &[]).await;
    assert_eq!(
        renamed.assert_status(200)["friendly_name"],
        "ios prod",
        "fields not sent are kept"
    );

    let deleted = client.delete(&format!("/v1/Credentials/{sid}")).await;
    assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
    for res in [
        client.get(&format!("/v1/Credentials/{sid}")).await,
        client.delete(&format!("/v1/Credentials/{sid}")).await,
        client
            .post(&format!("/v1/Credentials/{sid}"), &[("FriendlyName", "x")])
            .await,
    ] {
        res.assert_error(404, 20404);
    }
}

#[tokio::test]
async fn every_push_type_is_accepted_in_any_case_and_sandbox_is_a_string() {
    let client = account().await;
    for (sent, kept, secret) in [
        ("GcM", "gcm", ("ApiKey", API_KEY)),
        ("FcM", "fcm", ("Secret", SECRET)),
        ("fcm", "fcm", ("Secret", SECRET)),
    ] {
        let created = client
            .post("/v1/Credentials", &[("Type", sent), secret])
            .await;
        let body = created.assert_status(201);
        assert_shape("CreateCredential", 201, body);
        assert_no_secrets(body);
        assert_eq!(
            (&body["type"], &body["sandbox"], &body["friendly_name"]),
            (&kept.into(), &"False".into(), &Value::Null)
        );
    }
    let listed = client.get("/v1/Credentials").await;
    assert_no_secrets(&listed.body);
    assert_eq!(listed.body["credentials"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn create_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let long_name = "n".repeat(65);
    let cases: &[ErrorCase] = &[
        (
            &[("FriendlyName", "no type")],
            400,
            20001,
            "Type is required",
        ),
        (&[("Type", "")], 400, 20001, "Type sent empty"),
        (&[("Type", "sms")], 400, 20001, "Type outside the enum"),
        (
            &[("Type", "apn"), ("FriendlyName", long_name.as_str())],
            400,
            50003,
            "friendly name over 64",
        ),
        (
            &[("Type", "apn"), ("Sandbox", "maybe")],
            400,
            20001,
            "Sandbox is a boolean",
        ),
    ];
    client.assert_errors("/v1/Credentials", cases).await;
    let sixty_four = "n".repeat(64);
    client
        .post(
            "/v1/Credentials",
            &[("Type", "apn"), ("FriendlyName", sixty_four.as_str())],
        )
        .await
        .assert_status(201);
    let listed = client.get("/v1/Credentials").await;
    assert_eq!(
        listed.body["credentials"].as_array().unwrap().len(),
        1,
        "no failed create left a row"
    );
}

#[tokio::test]
async fn update_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let created = client
        .post(
            "/v1/Credentials",
            &[("Type", "fcm"), ("FriendlyName", "android")],
        )
        .await;
    let sid = created.body["sid"].as_str().unwrap().to_string();
    let long_name = "n".repeat(65);
    let cases: &[ErrorCase] = &[
        (&[("Type", "apn")], 400, 20001, "the type never changes"),
        (&[("Type", "voip")], 400, 20001, "Type outside the enum"),
        (
            &[("FriendlyName", long_name.as_str())],
            400,
            50003,
            "friendly name over 64",
        ),
        (&[("Sandbox", "yes")], 400, 20001, "Sandbox is a boolean"),
    ];
    for (form, status, code, why) in cases {
        let mut form = form.to_vec();
        form.push(("Secret", "must-not-be-applied"));
        let res = client.post(&format!("/v1/Credentials/{sid}"), &form).await;
        assert_eq!(
            (res.status, res.body["code"].as_u64()),
            (*status, Some(*code)),
            "{why}: {}",
            res.body
        );
    }
    let fetched = client.get(&format!("/v1/Credentials/{sid}")).await;
    assert_eq!(fetched.body, created.body, "failed updates changed nothing");
}

#[tokio::test]
async fn unknown_malformed_and_foreign_credentials_are_404() {
    let client = account().await;
    let created = client.post("/v1/Credentials", &[("Type", "apn")]).await;
    let sid = created.body["sid"].as_str().unwrap().to_string();
    let other = account().await;
    for path in [
        "/v1/Credentials/CR00000000000000000000000000000000".to_string(),
        "/v1/Credentials/not-a-sid".to_string(),
        format!("/v1/Credentials/{sid}"),
    ] {
        other.get(&path).await.assert_error(404, 20404);
        other
            .post(&path, &[("FriendlyName", "mine now")])
            .await
            .assert_error(404, 20404);
        other.delete(&path).await.assert_error(404, 20404);
    }
    assert_eq!(
        other.get("/v1/Credentials").await.body["credentials"],
        serde_json::json!([])
    );
    let still = client.get(&format!("/v1/Credentials/{sid}")).await;
    assert_eq!(still.assert_status(200)["friendly_name"], Value::Null);
}

#[tokio::test]
async fn list_pages_in_creation_order_with_at_most_100_a_page() {
    let client = account().await;
    let mut sids = Vec::new();
    for i in 0..5 {
        let name = format!("cred {i}");
        let res = client
            .post(
                "/v1/Credentials",
                &[("Type", "fcm"), ("FriendlyName", &name)],
            )
            .await;
        sids.push(res.body["sid"].as_str().unwrap().to_string());
    }
    let first = client.get("/v1/Credentials?PageSize=2").await;
    assert_shape("ListCredential", 200, first.assert_status(200));
    assert!(first.body["meta"]["next_page_url"].is_string());
    let all = client
        .collect_pages("/v1/Credentials?PageSize=2", "credentials")
        .await;
    let listed: Vec<&str> = all.iter().map(|c| c["sid"].as_str().unwrap()).collect();
    assert_eq!(listed, sids.iter().map(String::as_str).collect::<Vec<_>>());
    let clamped = client.get("/v1/Credentials?PageSize=1000").await;
    assert_eq!(clamped.body["meta"]["page_size"], 100);
    client
        .get("/v1/Credentials?PageSize=0")
        .await
        .assert_error(400, 20001);
    client
        .get("/v1/Credentials?PageToken=bogus")
        .await
        .assert_error(400, 21481);
}

/// The secrets are really kept (for a push sender), and an update without them keeps them.
#[tokio::test]
async fn secrets_are_stored_and_kept_across_updates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let server = TestServer::start(db.to_str().unwrap());
    let client = server.new_account().await;
    let apn = client
        .post(
            "/v1/Credentials",
            &[
                ("Type", "apn"),
                ("Certificate", CERTIFICATE),
                ("PrivateKey", PRIVATE_KEY),
            ],
        )
        .await;
    let apn = apn.body["sid"].as_str().unwrap().to_string();
    let fcm = client
        .post("/v1/Credentials", &[("Type", "fcm"), ("Secret", SECRET)])
        .await;
    let fcm = fcm.body["sid"].as_str().unwrap().to_string();
    client
        .post(
            &format!("/v1/Credentials/{apn}"),
            &[("FriendlyName", "renamed")],
        )
        .await
        .assert_status(200);
    client
        .post(
            &format!("/v1/Credentials/{fcm}"),
            &[("Secret", "rotated-secret")],
        )
        .await
        .assert_status(200);
    server.stop();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let secrets = |sid: &str| -> (Option<String>, Option<String>, Option<String>) {
        conn.query_row(
            "SELECT certificate, private_key, secret FROM credentials WHERE sid = ?1",
            [sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!(
        secrets(&apn),
        (Some(CERTIFICATE.into()), Some(PRIVATE_KEY.into()), None)
    );
    assert_eq!(secrets(&fcm), (None, None, Some("rotated-secret".into())));
}
