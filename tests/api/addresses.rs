//! Address Configurations (`/v1/Configuration/Addresses`, account level): create, list (Type
//! filter, pages), fetch/update/delete by IG SID and by the address itself, the `auto_creation`
//! shapes, and every validation error.

use serde_json::{Value, json};

use crate::common::{Client, ErrorCase, account, assert_date, assert_sid};
use crate::spec::assert_shape;

const LIST: &str = "/v1/Configuration/Addresses";

/// The spec's own create example, as a form.
fn webhook_example<'a>(address: &'a str, service: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Address", address),
        ("Type", "sms"),
        ("FriendlyName", "My Test Configuration"),
        ("AutoCreation.Enabled", "true"),
        ("AutoCreation.Type", "webhook"),
        ("AutoCreation.ConversationServiceSid", service),
        ("AutoCreation.WebhookUrl", "https://example.com"),
        ("AutoCreation.WebhookMethod", "post"),
        ("AutoCreation.WebhookFilters", "onParticipantAdded"),
        ("AutoCreation.WebhookFilters", "onMessageAdded"),
        ("AddressCountry", "CA"),
    ]
}

async fn create(client: &Client, form: &[(&str, &str)]) -> Value {
    let res = client.post(LIST, form).await;
    let body = res.assert_status(201).clone();
    assert_shape("CreateConfigurationAddress", 201, &body);
    body
}

#[tokio::test]
async fn create_fetch_update_delete_by_sid_and_by_address() {
    let client = account().await;
    let service = client.new_service("autocreated").await;
    let body = create(&client, &webhook_example("+37256123457", &service)).await;
    assert_sid(&body["sid"], "IG");
    assert_date(&body["date_created"]);
    assert_eq!(body["account_sid"], client.sid.as_str());
    assert_eq!(
        (&body["address"], &body["type"], &body["address_country"]),
        (&"+37256123457".into(), &"sms".into(), &"CA".into())
    );
    assert_eq!(
        body["auto_creation"],
        json!({
            "enabled": true,
            "type": "webhook",
            "conversation_service_sid": service,
            "webhook_url": "https://example.com",
            "webhook_method": "POST",
            "webhook_filters": ["onParticipantAdded", "onMessageAdded"],
        })
    );
    let sid = body["sid"].as_str().unwrap().to_string();
    assert_eq!(
        body["url"],
        format!("{}/v1/Configuration/Addresses/{sid}", client.base)
    );

    // `{Sid}` is the IG SID or the address, with its `+` sent encoded or as it is.
    for key in [sid.as_str(), "%2B37256123457", "+37256123457"] {
        let fetched = client.get(&format!("{LIST}/{key}")).await;
        assert_shape("FetchConfigurationAddress", 200, fetched.assert_status(200));
        assert_eq!(fetched.body, body, "fetched by {key}");
    }

    // The spec's update example: from a webhook to a Studio flow.
    let updated = client
        .post(
            &format!("{LIST}/%2B37256123457"),
            &[
                ("FriendlyName", "My Test Configuration Updated"),
                ("AutoCreation.Enabled", "false"),
                ("AutoCreation.Type", "studio"),
                (
                    "AutoCreation.StudioFlowSid",
                    "FWaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                ),
                ("AutoCreation.StudioRetryCount", "3"),
            ],
        )
        .await;
    let updated = updated.assert_status(200);
    assert_shape("UpdateConfigurationAddress", 200, updated);
    assert_eq!(updated["friendly_name"], "My Test Configuration Updated");
    assert_eq!(updated["address_country"], "CA", "fixed at creation");
    assert_eq!(
        updated["auto_creation"],
        json!({
            "enabled": false,
            "type": "studio",
            "conversation_service_sid": service,
            "studio_flow_sid": "FWaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "studio_retry_count": 3,
        })
    );
    // Back to the webhook: its settings were kept while unused.
    let back = client
        .post(
            &format!("{LIST}/{sid}"),
            &[
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.Enabled", "true"),
            ],
        )
        .await;
    assert_eq!(
        back.assert_status(200)["auto_creation"],
        body["auto_creation"]
    );

    let deleted = client.delete(&format!("{LIST}/%2B37256123457")).await;
    assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
    for key in [sid.as_str(), "%2B37256123457"] {
        client
            .get(&format!("{LIST}/{key}"))
            .await
            .assert_error(404, 20404);
        client
            .delete(&format!("{LIST}/{key}"))
            .await
            .assert_error(404, 20404);
        client
            .post(&format!("{LIST}/{key}"), &[("FriendlyName", "x")])
            .await
            .assert_error(404, 20404);
    }
    // The address is free again.
    create(&client, &[("Type", "sms"), ("Address", "+37256123457")]).await;
}

#[tokio::test]
async fn whatsapp_and_other_addresses_are_found_by_the_address_itself() {
    let client = account().await;
    for (kind, address, path_key) in [
        (
            "whatsapp",
            "whatsapp:+15005550006",
            "whatsapp%3A%2B15005550006",
        ),
        ("whatsapp", "whatsapp:+15005550007", "whatsapp:+15005550007"),
        ("email", "support@example.com", "support%40example.com"),
        (
            "apple",
            "urn:mbid:AQAAYyUbut6E4B3T9FLv5EbG",
            "urn:mbid:AQAAYyUbut6E4B3T9FLv5EbG",
        ),
    ] {
        let body = create(&client, &[("Type", kind), ("Address", address)]).await;
        let fetched = client.get(&format!("{LIST}/{path_key}")).await;
        assert_eq!(
            fetched.assert_status(200)["sid"],
            body["sid"],
            "{address} by {path_key}"
        );
    }
}

#[tokio::test]
async fn auto_creation_defaults_and_shapes() {
    let client = account().await;
    let default_service = client.default_service().await;
    let bare = create(&client, &[("Type", "SMS"), ("Address", "+15550001")]).await;
    assert_eq!(bare["type"], "sms", "the enum is read without case");
    assert_eq!(
        (&bare["friendly_name"], &bare["address_country"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        bare["auto_creation"],
        json!({"enabled": false, "type": "default"})
    );

    let webhook = create(
        &client,
        &[
            ("Type", "whatsapp"),
            ("Address", "whatsapp:+15550002"),
            ("AutoCreation.Enabled", "true"),
            ("AutoCreation.Type", "WebHook"),
            ("AutoCreation.WebhookUrl", "https://example.com/hook"),
        ],
    )
    .await;
    assert_eq!(
        webhook["auto_creation"],
        json!({
            "enabled": true,
            "type": "webhook",
            "conversation_service_sid": default_service,
            "webhook_url": "https://example.com/hook",
            "webhook_method": "POST",
            "webhook_filters": [],
        }),
        "the default service, and POST, when not named"
    );

    let studio = create(
        &client,
        &[
            ("Type", "sms"),
            ("Address", "+15550003"),
            ("AutoCreation.Type", "studio"),
            (
                "AutoCreation.StudioFlowSid",
                "FW0123456789abcdef0123456789abcdef",
            ),
            ("AutoCreation.WebhookMethod", "GET"),
        ],
    )
    .await;
    assert_eq!(
        studio["auto_creation"],
        json!({
            "enabled": false,
            "type": "studio",
            "conversation_service_sid": default_service,
            "studio_flow_sid": "FW0123456789abcdef0123456789abcdef",
            "studio_retry_count": null,
        })
    );
    let to_webhook = client
        .post(
            &format!("{LIST}/{}", studio["sid"].as_str().unwrap()),
            &[
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.WebhookUrl", "http://example.com/x"),
            ],
        )
        .await;
    assert_eq!(
        to_webhook.assert_status(200)["auto_creation"]["webhook_method"],
        "GET",
        "the method sent earlier is kept"
    );
}

#[tokio::test]
async fn conversation_service_must_be_one_of_the_accounts() {
    let client = account().await;
    let mine = client.new_service("mine").await;
    let other = account().await;
    let theirs = other.new_service("theirs").await;
    let created = create(
        &client,
        &[
            ("Type", "sms"),
            ("Address", "+15551000"),
            ("AutoCreation.Type", "webhook"),
            ("AutoCreation.WebhookUrl", "https://example.com"),
            ("AutoCreation.ConversationServiceSid", &mine),
        ],
    )
    .await;
    assert_eq!(
        created["auto_creation"]["conversation_service_sid"],
        mine.as_str()
    );
    for bad in [
        theirs.as_str(),
        "IS00000000000000000000000000000000",
        "ISnope",
    ] {
        let res = client
            .post(
                LIST,
                &[
                    ("Type", "sms"),
                    ("Address", "+15551001"),
                    ("AutoCreation.ConversationServiceSid", bad),
                ],
            )
            .await;
        res.assert_error(400, 50050);
        let res = client
            .post(
                &format!("{LIST}/+15551000"),
                &[("AutoCreation.ConversationServiceSid", bad)],
            )
            .await;
        res.assert_error(400, 50050);
    }
    let fetched = client.get(&format!("{LIST}/+15551000")).await;
    assert_eq!(fetched.body, created, "failed updates changed nothing");
    client
        .get(&format!("{LIST}/+15551001"))
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn one_configuration_per_address() {
    let client = account().await;
    create(&client, &[("Type", "sms"), ("Address", "+15552000")]).await;
    for kind in ["sms", "whatsapp"] {
        client
            .post(LIST, &[("Type", kind), ("Address", "+15552000")])
            .await
            .assert_error(409, 20409);
    }
    // Another account may configure the same address string: configurations are per account.
    let other = account().await;
    create(&other, &[("Type", "sms"), ("Address", "+15552000")]).await;
    assert_eq!(
        client.get(LIST).await.body["address_configurations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn create_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let long_name = "n".repeat(257);
    let long_url = format!("https://example.com/{}", "p".repeat(500));
    let cases: &[ErrorCase] = &[
        (&[("Address", "+15553000")], 400, 20001, "Type is required"),
        (&[("Type", "sms")], 400, 20001, "Address is required"),
        (
            &[("Type", "sms"), ("Address", "")],
            400,
            20001,
            "Address empty",
        ),
        (
            &[("Type", "fax"), ("Address", "+1")],
            400,
            20001,
            "Type outside the enum",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("FriendlyName", long_name.as_str()),
            ],
            400,
            50003,
            "friendly name over 256",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AddressCountry", "Canada"),
            ],
            400,
            20001,
            "country is ISO alpha-2",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Enabled", "yes"),
            ],
            400,
            20001,
            "Enabled is a boolean",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "flex"),
            ],
            400,
            20001,
            "AutoCreation.Type outside the enum",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.WebhookUrl", "https://example.com"),
                ("AutoCreation.WebhookMethod", "PUT"),
            ],
            400,
            50055,
            "method is get or post",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.WebhookUrl", "https://example.com"),
                ("AutoCreation.WebhookFilters", "onMessageAdded"),
                ("AutoCreation.WebhookFilters", "onUserAdded"),
            ],
            400,
            50365,
            "filters are conversation events",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.WebhookUrl", "example.com/hook"),
            ],
            400,
            50054,
            "the URL is absolute http(s)",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.WebhookUrl", long_url.as_str()),
            ],
            400,
            50372,
            "the URL is at most 512 characters",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "webhook"),
            ],
            400,
            50369,
            "a webhook needs a URL",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "studio"),
            ],
            400,
            50367,
            "a studio autocreation needs a flow",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "studio"),
                ("AutoCreation.StudioFlowSid", "FLOW-1"),
            ],
            400,
            50367,
            "the flow SID has the FW pattern",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.Type", "studio"),
                (
                    "AutoCreation.StudioFlowSid",
                    "FW0123456789abcdef0123456789abcdef",
                ),
                ("AutoCreation.StudioRetryCount", "three"),
            ],
            400,
            50065,
            "the retry count is a number",
        ),
        (
            &[
                ("Type", "sms"),
                ("Address", "+1"),
                ("AutoCreation.StudioRetryCount", "-1"),
            ],
            400,
            50065,
            "the retry count is not negative",
        ),
    ];
    client.assert_errors(LIST, cases).await;
    assert_eq!(
        client.get(LIST).await.body["address_configurations"],
        json!([]),
        "no failed create left a row"
    );
}

#[tokio::test]
async fn update_errors_answer_twilio_codes_and_change_nothing() {
    let client = account().await;
    let created = create(
        &client,
        &[
            ("Type", "sms"),
            ("Address", "+15554000"),
            ("FriendlyName", "kept"),
        ],
    )
    .await;
    let path = format!("{LIST}/%2B15554000");
    let long_name = "n".repeat(257);
    let cases: &[ErrorCase] = &[
        (
            &[("FriendlyName", long_name.as_str())],
            400,
            50003,
            "friendly name over 256",
        ),
        (
            &[("AutoCreation.Enabled", "1")],
            400,
            20001,
            "Enabled is a boolean",
        ),
        (
            &[("AutoCreation.Type", "bot")],
            400,
            20001,
            "type outside the enum",
        ),
        (
            &[("AutoCreation.Type", "webhook")],
            400,
            50369,
            "switching to webhook needs a URL",
        ),
        (
            &[("AutoCreation.Type", "studio"), ("FriendlyName", "changed")],
            400,
            50367,
            "switching to studio needs a flow",
        ),
        (
            &[("AutoCreation.WebhookMethod", "DELETE")],
            400,
            50055,
            "method is get or post",
        ),
        (
            &[("AutoCreation.WebhookFilters", "onSomething")],
            400,
            50365,
            "filters are conversation events",
        ),
        (
            &[("AutoCreation.StudioFlowSid", "FW123")],
            400,
            50367,
            "flow SID pattern",
        ),
    ];
    client.assert_errors(&path, cases).await;
    assert_eq!(client.get(&path).await.body, created, "nothing changed");
}

#[tokio::test]
async fn list_filters_by_type_and_pages_at_most_50() {
    let client = account().await;
    let mut sms = Vec::new();
    for i in 0..5 {
        let address = format!("+1555500{i}");
        let body = create(&client, &[("Type", "sms"), ("Address", &address)]).await;
        sms.push(body["sid"].as_str().unwrap().to_string());
        create(
            &client,
            &[
                ("Type", "whatsapp"),
                ("Address", &format!("whatsapp:{address}")),
            ],
        )
        .await;
    }
    let all = client.get(LIST).await;
    assert_shape("ListConfigurationAddress", 200, all.assert_status(200));
    assert_eq!(
        all.body["address_configurations"].as_array().unwrap().len(),
        10
    );
    assert_eq!(all.body["meta"]["key"], "address_configurations");

    let first = client.get(&format!("{LIST}?Type=sms&PageSize=2")).await;
    assert_shape("ListConfigurationAddress", 200, first.assert_status(200));
    let next = first.body["meta"]["next_page_url"].as_str().unwrap();
    assert!(
        next.contains("Type=sms&PageSize=2&Page=1&PageToken=PA"),
        "{next}"
    );
    let pages = client
        .collect_pages(
            &format!("{LIST}?Type=sms&PageSize=2"),
            "address_configurations",
        )
        .await;
    let listed: Vec<&str> = pages.iter().map(|a| a["sid"].as_str().unwrap()).collect();
    assert_eq!(listed, sms.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(pages.iter().all(|a| a["type"] == "sms"));

    let upper = client.get(&format!("{LIST}?Type=WHATSAPP")).await;
    let upper = upper.assert_status(200)["address_configurations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(upper.len(), 5);
    assert!(upper.iter().all(|a| a["type"] == "whatsapp"));
    assert_eq!(
        client.get(&format!("{LIST}?Type=email")).await.body["address_configurations"],
        json!([])
    );
    assert_eq!(
        client.get(&format!("{LIST}?PageSize=500")).await.body["meta"]["page_size"],
        50
    );
    for bad in ["?Type=fax", "?PageSize=0", "?PageToken=nope"] {
        let res = client.get(&format!("{LIST}{bad}")).await;
        assert_eq!(res.status, 400, "{bad}: {}", res.body);
    }
}

#[tokio::test]
async fn other_accounts_see_nothing() {
    let client = account().await;
    let created = create(&client, &[("Type", "sms"), ("Address", "+15556000")]).await;
    let sid = created["sid"].as_str().unwrap();
    let other = account().await;
    assert_eq!(
        other.get(LIST).await.body["address_configurations"],
        json!([])
    );
    for key in [sid, "%2B15556000", "IG00000000000000000000000000000000"] {
        let path = format!("{LIST}/{key}");
        other.get(&path).await.assert_error(404, 20404);
        other
            .post(&path, &[("FriendlyName", "mine")])
            .await
            .assert_error(404, 20404);
        other.delete(&path).await.assert_error(404, 20404);
    }
    assert_eq!(client.get(&format!("{LIST}/{sid}")).await.body, created);
}
