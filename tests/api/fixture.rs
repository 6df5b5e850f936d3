//! One resource of every kind, for the tests that walk the whole route table (tenancy, lists):
//! in the account's default service (for the spec's `/v1/...` paths) and in a second service
//! (for its `/v1/Services/{ChatServiceSid}/...` paths), plus the account-level resources.
//! `fill` turns a spec path template into the path of these resources.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::common::Client;

/// The SIDs of one service's resources, by the SID prefix of the spec's path parameters.
#[derive(Debug, Clone)]
pub struct ServiceResources {
    pub service: String,
    /// `CH`, `IM`, `DY`, `MB`, `WH`, `RL`, `US`, `BS`, `ME` -> SID.
    pub sids: HashMap<&'static str, String>,
}

/// Everything one account has: both services' resources and the account-level ones.
#[derive(Debug, Clone)]
pub struct Resources {
    pub account: String,
    pub default: ServiceResources,
    pub second: ServiceResources,
    /// `CR` (a push credential) and `IG` (an address configuration).
    pub account_level: HashMap<&'static str, String>,
}

fn sid_of(res: &crate::common::Resp, what: &str) -> String {
    assert!(
        (200..300).contains(&res.status),
        "{what}: {} {}",
        res.status,
        res.body
    );
    res.body["sid"].as_str().unwrap().to_string()
}

/// A phone number no other fixture of this test binary uses.
fn phone() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("+1666{:07}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Builds one of everything in `service` (reached through `prefix`).
async fn service_resources(
    client: &Client,
    prefix: &str,
    service: &str,
    credential: &str,
) -> ServiceResources {
    let mut sids = HashMap::new();
    let conv = client
        .post(
            &format!("{prefix}/Conversations"),
            &[("FriendlyName", "tenant-a"), ("Attributes", r#"{"a":1}"#)],
        )
        .await;
    let conv = sid_of(&conv, "conversation");
    let user = client
        .post(&format!("{prefix}/Users"), &[("Identity", "alice")])
        .await;
    sids.insert("US", sid_of(&user, "user"));
    let participant = client
        .post(
            &format!("{prefix}/Conversations/{conv}/Participants"),
            &[("Identity", "alice")],
        )
        .await;
    sids.insert("MB", sid_of(&participant, "participant"));
    let (address, proxy) = (phone(), phone());
    let sms = client
        .post(
            &format!("{prefix}/Conversations/{conv}/Participants"),
            &[
                ("MessagingBinding.Address", &address),
                ("MessagingBinding.ProxyAddress", &proxy),
            ],
        )
        .await;
    sid_of(&sms, "SMS participant");
    let message = client
        .post(
            &format!("{prefix}/Conversations/{conv}/Messages"),
            &[("Body", "hello"), ("Author", "alice")],
        )
        .await;
    let message = sid_of(&message, "message");
    let receipts = client
        .get(&format!(
            "{prefix}/Conversations/{conv}/Messages/{message}/Receipts"
        ))
        .await;
    let receipt = receipts.assert_status(200)["delivery_receipts"][0]["sid"]
        .as_str()
        .expect("the SMS participant's receipt")
        .to_string();
    // A receipt set by hand stops moving, so that the resources stay as they are.
    client
        .post(
            &format!("/confab/Receipts/{receipt}"),
            &[("Status", "read")],
        )
        .await
        .assert_status(200);
    let webhook = client
        .post(
            &format!("{prefix}/Conversations/{conv}/Webhooks"),
            &[
                ("Target", "webhook"),
                ("Configuration.Url", "http://127.0.0.1:9/a"),
                ("Configuration.Filters", "onMessageAdded"),
            ],
        )
        .await;
    sids.insert("WH", sid_of(&webhook, "conversation webhook"));
    let role = client
        .post(
            &format!("{prefix}/Roles"),
            &[
                ("FriendlyName", "tenant-a role"),
                ("Type", "conversation"),
                ("Permission", "sendMessage"),
            ],
        )
        .await;
    sids.insert("RL", sid_of(&role, "role"));
    let binding = client
        .post(
            &format!("/confab/Services/{service}/Bindings"),
            &[
                ("Identity", "alice"),
                ("BindingType", "apn"),
                ("Endpoint", "alice-phone"),
                ("CredentialSid", credential),
            ],
        )
        .await;
    sids.insert("BS", sid_of(&binding, "binding"));
    let media = client
        .post_media(
            &format!("/v1/Services/{service}/Media"),
            "text/plain",
            b"a's",
        )
        .await;
    sids.insert("ME", sid_of(&media, "media"));
    sids.insert("CH", conv);
    sids.insert("IM", message);
    sids.insert("DY", receipt);
    ServiceResources {
        service: service.to_string(),
        sids,
    }
}

/// One of everything for `client`'s account.
pub async fn build(client: &Client) -> Resources {
    let credential = client
        .post(
            "/v1/Credentials",
            &[("Type", "apn"), ("Secret", "s3cret"), ("FriendlyName", "a")],
        )
        .await;
    let credential = sid_of(&credential, "credential");
    let address = client
        .post(
            "/v1/Configuration/Addresses",
            &[
                ("Type", "sms"),
                ("Address", &phone()),
                ("FriendlyName", "a"),
            ],
        )
        .await;
    let address = sid_of(&address, "address configuration");
    let default_sid = client.default_service().await;
    let second_sid = client.new_service("tenant-a second").await;
    let default = service_resources(client, "/v1", &default_sid, &credential).await;
    let second = service_resources(
        client,
        &format!("/v1/Services/{second_sid}"),
        &second_sid,
        &credential,
    )
    .await;
    Resources {
        account: client.sid.clone(),
        default,
        second,
        account_level: HashMap::from([("CR", credential), ("IG", address)]),
    }
}

impl Resources {
    /// The spec's path template with every parameter filled by these resources: a path under
    /// `/v1/Services/{ChatServiceSid}` names the second service, any other the default one.
    pub fn fill(&self, template: &str) -> String {
        let scoped = template.starts_with("/v1/Services/{");
        let service = if scoped { &self.second } else { &self.default };
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            let name = &rest[start + 1..end];
            let prefix = match name {
                "ChatServiceSid" => "IS",
                "ConversationSid" => "CH",
                "MessageSid" => "IM",
                "UserSid" => "US",
                _ => match out.rsplit('/').nth(1).unwrap_or("") {
                    "Services" => "IS",
                    "Conversations" => "CH",
                    "Messages" => "IM",
                    "Participants" => "MB",
                    "Webhooks" => "WH",
                    "Receipts" => "DY",
                    "Roles" => "RL",
                    "Users" => "US",
                    "Credentials" => "CR",
                    "Bindings" => "BS",
                    "Addresses" => "IG",
                    "Media" => "ME",
                    "Accounts" => "AC",
                    other => panic!("no SID prefix for {name} after {other}"),
                },
            };
            let sid = match prefix {
                "IS" => service.service.clone(),
                "AC" => self.account.clone(),
                "CR" | "IG" => self.account_level[prefix].clone(),
                _ => service.sids[prefix].clone(),
            };
            out.push_str(&sid);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// A path's query for a read that needs one (`ParticipantConversations` needs an identity).
pub fn read_query(template: &str) -> &'static str {
    if template.ends_with("/ParticipantConversations") {
        "?Identity=alice"
    } else {
        ""
    }
}

/// Every GET this account can make on its resources, answered: the state to compare after.
pub async fn snapshot(client: &Client, reads: &[String]) -> Vec<Value> {
    let mut all = Vec::new();
    for path in reads {
        let res = client.get(path).await;
        all.push(serde_json::json!({"path": path, "status": res.status, "body": res.body}));
    }
    all
}
