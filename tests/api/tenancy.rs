//! Tenancy across the whole route table: account A makes one resource of every kind (in its
//! default service, in a second service, and at the account level), then account B calls every
//! operation of the official spec that names one of them, under both prefixes, with B's auth
//! token and with an API key of B's, and so every confab route that names one. Each answers 404
//! (20404), with a form that would be valid, so that nothing but the tenancy check can refuse
//! it; and every read of A's answers the same afterwards.

use crate::common::{Client, account};
use crate::fixture::{self, Resources};
use crate::spec::operations;

/// A form that the operation would take from the resource's owner: if B's request got past the
/// tenancy check, it would succeed (and change A's resources).
fn valid_form(method: &str, template: &str) -> Vec<(&'static str, &'static str)> {
    if method != "POST" {
        return Vec::new();
    }
    let ends = |suffix: &str| template.ends_with(suffix);
    if ends("/Conversations") || ends("/Conversations/{Sid}") {
        vec![("FriendlyName", "hijacked"), ("Attributes", r#"{"b":1}"#)]
    } else if ends("/Messages") {
        vec![("Body", "hijacked"), ("Author", "mallory")]
    } else if ends("/Messages/{Sid}") {
        vec![("Body", "hijacked")]
    } else if ends("/Participants") {
        vec![("Identity", "mallory")]
    } else if ends("/Participants/{Sid}") {
        vec![("Attributes", r#"{"hijacked":true}"#)]
    } else if ends("/Conversations/{ConversationSid}/Webhooks") {
        vec![
            ("Target", "webhook"),
            ("Configuration.Url", "https://example.com/hijacked"),
            ("Configuration.Filters", "onMessageAdded"),
        ]
    } else if ends("/Webhooks/{Sid}") {
        vec![("Configuration.Url", "https://example.com/hijacked")]
    } else if ends("/ConversationWithParticipants") {
        vec![
            ("FriendlyName", "hijacked"),
            ("Participant", r#"{"identity":"mallory"}"#),
        ]
    } else if ends("/Roles") {
        vec![
            ("FriendlyName", "hijacked"),
            ("Type", "conversation"),
            ("Permission", "sendMessage"),
        ]
    } else if ends("/Roles/{Sid}") {
        vec![
            ("Permission", "sendMessage"),
            ("Permission", "leaveConversation"),
        ]
    } else if ends("/Users") {
        vec![("Identity", "mallory")]
    } else if ends("/Users/{Sid}") || ends("/Credentials/{Sid}") || ends("/Addresses/{Sid}") {
        vec![("FriendlyName", "hijacked")]
    } else if ends("/Users/{UserSid}/Conversations/{ConversationSid}") {
        vec![("NotificationLevel", "muted")]
    } else if ends("/Configuration/Notifications") {
        vec![("NewMessage.Enabled", "true"), ("NewMessage.Template", "x")]
    } else if ends("/Configuration/Webhooks") {
        vec![("PostWebhookUrl", "https://example.com/hijacked")]
    } else if ends("/Configuration") {
        vec![("ReachabilityEnabled", "true")]
    } else {
        panic!("no valid form for POST {template}")
    }
}

/// A request of B's: method, path, form (or raw media bytes for an upload).
struct Call {
    method: &'static str,
    path: String,
    form: Vec<(&'static str, &'static str)>,
    media: bool,
}

/// Every call that names one of A's resources: the spec's operations with a path parameter,
/// and confab's own routes that name a resource (keys, receipts, push bindings, media).
fn calls(a: &Resources) -> Vec<Call> {
    let mut calls = Vec::new();
    for (method, template, _) in operations() {
        if !template.contains('{') {
            continue;
        }
        let method: &'static str = match method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            _ => "DELETE",
        };
        calls.push(Call {
            method,
            path: format!("{}{}", a.fill(&template), fixture::read_query(&template)),
            form: valid_form(method, &template),
            media: false,
        });
    }
    let confab = |method, template: &str, form| Call {
        method,
        path: a.fill(template),
        form,
        media: false,
    };
    calls.push(confab(
        "POST",
        "/confab/Accounts/{AccountSid}/Keys",
        vec![("FriendlyName", "hijacked")],
    ));
    calls.push(confab(
        "POST",
        "/confab/Accounts/{AccountSid}/Reset",
        vec![],
    ));
    calls.push(confab(
        "POST",
        "/confab/Accounts/{AccountSid}/Faults",
        vec![("Rate429", "1")],
    ));
    calls.push(confab(
        "GET",
        "/confab/Accounts/{AccountSid}/Faults",
        vec![],
    ));
    calls.push(confab(
        "DELETE",
        "/confab/Accounts/{AccountSid}/Faults",
        vec![],
    ));
    calls.push(confab(
        "GET",
        "/confab/Accounts/{AccountSid}/Fixtures",
        vec![],
    ));
    calls.push(confab(
        "POST",
        "/confab/Accounts/{AccountSid}/Fixtures",
        vec![("conversations", "[]")],
    ));
    for template in [
        "/v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}",
        "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}",
    ] {
        let receipt = a.fill(template).rsplit('/').next().unwrap().to_string();
        calls.push(Call {
            method: "POST",
            path: format!("/confab/Receipts/{receipt}"),
            form: vec![("Status", "failed"), ("ErrorCode", "30003")],
            media: false,
        });
    }
    for service in [&a.default, &a.second] {
        let is = &service.service;
        let me = &service.sids["ME"];
        calls.push(Call {
            method: "POST",
            path: format!("/confab/Services/{is}/Bindings"),
            form: vec![
                ("Identity", "mallory"),
                ("BindingType", "twilsock"),
                ("Endpoint", "mallory-phone"),
            ],
            media: false,
        });
        calls.push(Call {
            method: "POST",
            path: format!("/v1/Services/{is}/Media"),
            form: Vec::new(),
            media: true,
        });
        for path in [
            format!("/v1/Services/{is}/Media/{me}"),
            format!("/v1/Services/{is}/Media/{me}/Content"),
        ] {
            calls.push(Call {
                method: "GET",
                path,
                form: Vec::new(),
                media: false,
            });
        }
    }
    calls
}

/// Every read of A's resources (each GET of the spec, filled, and the media), for the
/// before-and-after comparison.
pub fn reads(a: &Resources) -> Vec<String> {
    let mut reads: Vec<String> = operations()
        .into_iter()
        .filter(|(method, _, _)| method == "GET")
        .map(|(_, template, _)| format!("{}{}", a.fill(&template), fixture::read_query(&template)))
        .collect();
    for service in [&a.default, &a.second] {
        let (is, me) = (&service.service, &service.sids["ME"]);
        reads.push(format!("/v1/Services/{is}/Media/{me}"));
        reads.push(format!("/v1/Services/{is}/Media/{me}/Content"));
    }
    reads.push("/confab/Outbound".into());
    reads
}

async fn send(client: &Client, call: &Call) -> crate::common::Resp {
    match call.method {
        "GET" => client.get(&call.path).await,
        "DELETE" => client.delete(&call.path).await,
        _ if call.media => {
            client
                .post_media(&call.path, "text/plain", b"mallory's")
                .await
        }
        _ => client.post(&call.path, &call.form).await,
    }
}

#[tokio::test]
async fn another_accounts_credentials_reach_none_of_its_resources() {
    let a = account().await;
    let resources = fixture::build(&a).await;
    let reads = reads(&resources);
    let before = fixture::snapshot(&a, &reads).await;
    for read in &before {
        assert_eq!(read["status"], 200, "A reads its own resources: {read}");
    }

    let b = account().await;
    let key = b
        .post(
            &format!("/confab/Accounts/{}/Keys", b.sid),
            &[("FriendlyName", "b's key")],
        )
        .await;
    let key = key.assert_status(201);
    let b_key = b.with_credentials(
        key["sid"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );

    let calls = calls(&resources);
    assert!(calls.len() > 90, "{} calls", calls.len());
    let mut failures = Vec::new();
    for (who, client) in [("B's auth token", &b), ("B's API key", &b_key)] {
        for call in &calls {
            let res = send(client, call).await;
            if res.status != 404 || res.body["code"] != 20404 {
                failures.push(format!(
                    "{who}: {} {}: {} {}",
                    call.method, call.path, res.status, res.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let after = fixture::snapshot(&a, &reads).await;
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before, after, "A's resource changed");
    }
}
