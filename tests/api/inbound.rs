//! Inbound SMS and WhatsApp (`POST /confab/Inbound`, twilio-behavior.md 19.1, 17.8): each routing
//! rule (the pair's holder, autocreation by an Address Configuration, ignored), in the account's
//! default service and in a service of its own; WhatsApp addresses with and without their prefix;
//! other accounts' configurations and bindings; the webhook sequence of an autocreation, judged
//! by a real receiver (order, `Source`, no `onParticipantAdd`/`onMessageAdd`, a veto drops the
//! message); media fetched and stored, or failing cleanly; bad input; and a phone's thread in
//! `GET /confab/Outbound?Address=`.

use serde_json::Value;

use crate::common::{Client, ErrorCase, account};
use crate::receiver::{Received, Receiver};

const ADDRESSES: &str = "/v1/Configuration/Addresses";
const INBOUND: &str = "/confab/Inbound";
/// The business's number and WhatsApp sender, and a customer's phone.
const NUMBER: &str = "+15550001111";
const PHONE: &str = "+15551234567";

/// Posts a message from `from` to `to`, with more parameters, and returns the answer's body
/// (asserting 200).
async fn text(client: &Client, from: &str, to: &str, more: &[(&str, &str)]) -> Value {
    let mut form = vec![("From", from), ("To", to)];
    form.extend_from_slice(more);
    if !form.iter().any(|(k, _)| *k == "Body" || *k == "MediaUrl0") {
        form.push(("Body", "hello"));
    }
    client.post(INBOUND, &form).await.assert_status(200).clone()
}

/// An Address Configuration of the account with autocreation on, and these settings.
async fn configure(client: &Client, kind: &str, address: &str, more: &[(&str, &str)]) -> Value {
    let mut form = vec![
        ("Type", kind),
        ("Address", address),
        ("AutoCreation.Enabled", "true"),
    ];
    form.extend_from_slice(more);
    client
        .post(ADDRESSES, &form)
        .await
        .assert_status(201)
        .clone()
}

fn sid(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a SID: {value}"))
        .to_string()
}

/// The conversations of a service (`None`: the default one), by SID.
async fn conversations(client: &Client, service: Option<&str>) -> Vec<Value> {
    let path = match service {
        Some(service) => format!("/v1/Services/{service}/Conversations"),
        None => "/v1/Conversations".to_string(),
    };
    client.collect_pages(&path, "conversations").await
}

async fn messages(client: &Client, prefix: &str, conversation: &str) -> Vec<Value> {
    client
        .collect_pages(
            &format!("{prefix}/Conversations/{conversation}/Messages"),
            "messages",
        )
        .await
}

async fn inbound_log(client: &Client) -> Vec<Value> {
    client.get(INBOUND).await.assert_status(200)["messages"]
        .as_array()
        .unwrap()
        .clone()
}

/// The prefix of a service's routes.
fn prefix(service: Option<&str>) -> String {
    service.map_or("/v1".to_string(), |s| format!("/v1/Services/{s}"))
}

/// Rule 2, then rule 1: the first message creates a conversation with the sender as an SMS
/// participant and itself as index 0; the next one joins it, as the same participant.
async fn autocreation_then_append(service: Option<&str>) {
    let client = account().await;
    let service_sid = match service {
        Some(_) => Some(client.new_service("autocreated").await),
        None => None,
    };
    let more: Vec<(&str, &str)> = service_sid
        .iter()
        .map(|s| ("AutoCreation.ConversationServiceSid", s.as_str()))
        .collect();
    configure(&client, "sms", NUMBER, &more).await;

    let created = text(&client, PHONE, NUMBER, &[("Body", "hi there")]).await;
    assert_eq!(created["outcome"], "created", "{created}");
    assert!(created["sid"].as_str().unwrap().starts_with("SM"));
    assert!(created["error"].is_null());
    let conversation = sid(&created["conversation_sid"]);
    let participant = sid(&created["participant_sid"]);
    let listed = conversations(&client, service_sid.as_deref()).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sid"], conversation.as_str());
    assert_eq!(listed[0]["state"], "active");
    let prefix = prefix(service_sid.as_deref());
    let members = client
        .collect_pages(
            &format!("{prefix}/Conversations/{conversation}/Participants"),
            "participants",
        )
        .await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["sid"], participant.as_str());
    assert!(members[0]["identity"].is_null());
    assert_eq!(members[0]["messaging_binding"]["type"], "sms");
    assert_eq!(members[0]["messaging_binding"]["address"], PHONE);
    assert_eq!(members[0]["messaging_binding"]["proxy_address"], NUMBER);

    let appended = text(&client, PHONE, NUMBER, &[("Body", "me again")]).await;
    assert_eq!(appended["outcome"], "appended", "{appended}");
    assert_eq!(appended["conversation_sid"], conversation.as_str());
    assert_eq!(appended["participant_sid"], participant.as_str());

    let said = messages(&client, &prefix, &conversation).await;
    let seen: Vec<(i64, &str, &str, &str)> = said
        .iter()
        .map(|m| {
            (
                m["index"].as_i64().unwrap(),
                m["author"].as_str().unwrap(),
                m["body"].as_str().unwrap(),
                m["participant_sid"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, PHONE, "hi there", participant.as_str()),
            (1, PHONE, "me again", participant.as_str()),
        ]
    );
    assert_eq!(said[0]["sid"], created["message_sid"]);
    assert_eq!(said[1]["sid"], appended["message_sid"]);
    // Nothing went back to the phone: it wrote both.
    let outbound = client.get("/confab/Outbound").await;
    assert_eq!(
        outbound.assert_status(200)["messages"],
        Value::Array(vec![])
    );

    let log = inbound_log(&client).await;
    let outcomes: Vec<&str> = log.iter().map(|m| m["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["appended", "created"], "newest first");
    assert_eq!(log[1]["from"], PHONE);
    assert_eq!(log[1]["to"], NUMBER);
    assert_eq!(log[1]["channel"], "sms");
    assert_eq!(log[1]["direction"], "inbound");
    assert_eq!(log[1]["body"], "hi there");
}

#[tokio::test]
async fn an_address_configuration_autocreates_in_the_default_service_then_the_pair_routes() {
    autocreation_then_append(None).await;
}

#[tokio::test]
async fn an_address_configuration_autocreates_in_its_own_service_then_the_pair_routes() {
    autocreation_then_append(Some("own")).await;
}

/// Rule 1 for a participant added through REST, in the default service or another one: its
/// message is appended as that participant's, and an inactive conversation wakes up. A closed
/// conversation holds no pair: its phone's next message goes by the other rules.
async fn a_bound_pair_routes(in_service: bool) {
    let client = account().await;
    let service = match in_service {
        true => Some(client.new_service("bound").await),
        false => None,
    };
    let prefix = prefix(service.as_deref());
    let conversation = client
        .post(
            &format!("{prefix}/Conversations"),
            &[("FriendlyName", "support")],
        )
        .await
        .assert_status(201)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let participants = format!("{prefix}/Conversations/{conversation}/Participants");
    let added = client
        .post(
            &participants,
            &[
                ("MessagingBinding.Address", PHONE),
                ("MessagingBinding.ProxyAddress", NUMBER),
            ],
        )
        .await;
    let participant = sid(&added.assert_status(201)["sid"]);
    let path = format!("{prefix}/Conversations/{conversation}");
    client
        .post(&path, &[("State", "inactive")])
        .await
        .assert_status(200);

    let got = text(&client, PHONE, NUMBER, &[("Body", "are you there?")]).await;
    assert_eq!(got["outcome"], "appended", "{got}");
    assert_eq!(got["conversation_sid"], conversation.as_str());
    assert_eq!(got["participant_sid"], participant.as_str());
    let fetched = client.get(&path).await;
    assert_eq!(fetched.assert_status(200)["state"], "active");
    let said = messages(&client, &prefix, &conversation).await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0]["author"], PHONE);
    assert_eq!(said[0]["participant_sid"], participant.as_str());

    // Another number of the account is another pair: nothing holds it, nothing configures it.
    let other = text(&client, PHONE, "+15550002222", &[]).await;
    assert_eq!(other["outcome"], "ignored", "{other}");

    client
        .post(&path, &[("State", "closed")])
        .await
        .assert_status(200);
    let after = text(&client, PHONE, NUMBER, &[]).await;
    assert_eq!(
        after["outcome"], "ignored",
        "a closed conversation holds no pair"
    );
    configure(&client, "sms", NUMBER, &[]).await;
    let created = text(&client, PHONE, NUMBER, &[]).await;
    assert_eq!(created["outcome"], "created", "{created}");
    assert_ne!(created["conversation_sid"], conversation.as_str());
    assert_eq!(messages(&client, &prefix, &conversation).await.len(), 1);
}

#[tokio::test]
async fn a_pair_held_in_the_default_service_routes_to_its_holder() {
    a_bound_pair_routes(false).await;
}

#[tokio::test]
async fn a_pair_held_in_another_service_routes_to_its_holder() {
    a_bound_pair_routes(true).await;
}

#[tokio::test]
async fn a_whatsapp_configuration_matches_with_or_without_its_prefix() {
    let client = account().await;
    configure(&client, "whatsapp", NUMBER, &[]).await;
    configure(&client, "whatsapp", "whatsapp:+15550003333", &[]).await;
    for to in ["whatsapp:+15550001111", "whatsapp:+15550003333"] {
        let from = "whatsapp:+15551234567";
        let got = text(&client, from, to, &[]).await;
        assert_eq!(got["outcome"], "created", "{to}: {got}");
        assert!(got["sid"].as_str().unwrap().starts_with("MM"), "{got}");
        let conversation = sid(&got["conversation_sid"]);
        let members = client
            .collect_pages(
                &format!("/v1/Conversations/{conversation}/Participants"),
                "participants",
            )
            .await;
        let binding = &members[0]["messaging_binding"];
        assert_eq!(binding["type"], "whatsapp");
        assert_eq!(
            (&binding["address"], &binding["proxy_address"]),
            (&from.into(), &to.into())
        );
        let again = text(&client, from, to, &[]).await;
        assert_eq!(again["outcome"], "appended");
        assert_eq!(again["conversation_sid"], conversation.as_str());
    }
    // A WhatsApp configuration takes no SMS, and an SMS one no WhatsApp.
    let sms = text(&client, PHONE, NUMBER, &[]).await;
    assert_eq!(sms["outcome"], "ignored");
    configure(&client, "sms", "+15550004444", &[]).await;
    let got = text(
        &client,
        "whatsapp:+15551234567",
        "whatsapp:+15550004444",
        &[],
    )
    .await;
    assert_eq!(got["outcome"], "ignored");
}

#[tokio::test]
async fn without_an_enabled_configuration_a_message_is_ignored_and_changes_nothing() {
    let client = account().await;
    let got = text(&client, PHONE, NUMBER, &[("Body", "anyone?")]).await;
    assert_eq!(got["outcome"], "ignored");
    for key in ["conversation_sid", "participant_sid", "message_sid"] {
        assert!(got[key].is_null(), "{key}: {got}");
    }
    client
        .post(
            ADDRESSES,
            &[
                ("Type", "sms"),
                ("Address", NUMBER),
                ("AutoCreation.Enabled", "false"),
            ],
        )
        .await
        .assert_status(201);
    let got = text(&client, PHONE, NUMBER, &[]).await;
    assert_eq!(got["outcome"], "ignored", "autocreation is off");
    assert!(conversations(&client, None).await.is_empty());
    // The ignored message is kept, with what an event about it would need.
    let log = inbound_log(&client).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["outcome"], "ignored");
    assert_eq!(log[1]["body"], "anyone?");
    assert_eq!(log[0]["sid"], got["sid"]);
    assert!(log[1]["date_created"].is_string());
}

#[tokio::test]
async fn another_accounts_configurations_and_bindings_never_apply() {
    let (owner, stranger) = (account().await, account().await);
    configure(&owner, "sms", NUMBER, &[]).await;
    let created = text(&owner, PHONE, NUMBER, &[]).await;
    assert_eq!(created["outcome"], "created");
    let got = text(&stranger, PHONE, NUMBER, &[]).await;
    assert_eq!(got["outcome"], "ignored", "{got}");
    assert!(conversations(&stranger, None).await.is_empty());
    assert_eq!(inbound_log(&owner).await.len(), 1);
    assert_eq!(inbound_log(&stranger).await.len(), 1);
}

#[tokio::test]
async fn bad_input_is_a_twilio_error_that_changes_nothing() {
    let client = account().await;
    configure(&client, "sms", NUMBER, &[]).await;
    let cases: &[ErrorCase] = &[
        (&[("To", NUMBER), ("Body", "x")], 400, 20001, "no From"),
        (&[("From", PHONE), ("Body", "x")], 400, 20001, "no To"),
        (
            &[("From", "+1 555"), ("To", NUMBER), ("Body", "x")],
            400,
            50407,
            "From malformed",
        ),
        (
            &[("From", PHONE), ("To", "number"), ("Body", "x")],
            400,
            50408,
            "To malformed",
        ),
        (
            &[("From", PHONE), ("To", PHONE), ("Body", "x")],
            400,
            50409,
            "From is To",
        ),
        (
            &[
                ("From", PHONE),
                ("To", "whatsapp:+15550001111"),
                ("Body", "x"),
            ],
            400,
            50414,
            "two channels",
        ),
        (
            &[
                ("From", "messenger:123"),
                ("To", "messenger:456"),
                ("Body", "x"),
            ],
            400,
            50407,
            "not SMS nor WhatsApp",
        ),
        (
            &[("From", PHONE), ("To", NUMBER)],
            400,
            50503,
            "neither body nor media",
        ),
        (
            &[
                ("From", PHONE),
                ("To", NUMBER),
                ("Body", "x"),
                ("NumMedia", "11"),
            ],
            400,
            20001,
            "more than ten media",
        ),
        (
            &[("From", PHONE), ("To", NUMBER), ("NumMedia", "1")],
            400,
            20001,
            "NumMedia without its URL",
        ),
        (
            &[
                ("From", PHONE),
                ("To", NUMBER),
                ("Body", "x"),
                ("MessageSid", "IM123"),
            ],
            400,
            20001,
            "MessageSid malformed",
        ),
    ];
    client.assert_errors(INBOUND, cases).await;
    let long = "x".repeat(1601);
    client
        .post(INBOUND, &[("From", PHONE), ("To", NUMBER), ("Body", &long)])
        .await
        .assert_error(400, 50504);
    assert!(inbound_log(&client).await.is_empty());
    assert!(conversations(&client, None).await.is_empty());
    // Without credentials, nothing at all.
    let anonymous = Client::new(&client.base, &client.sid, "wrong");
    let res = anonymous
        .post(INBOUND, &[("From", PHONE), ("To", NUMBER), ("Body", "x")])
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
}

/// Points a service's webhooks at the receiver: pre-action to `/pre`, post-action to `/post`.
async fn webhooks_of(client: &Client, service: &str, receiver: &Receiver, filters: &[&str]) {
    let (pre, post) = (receiver.url("/pre"), receiver.url("/post"));
    let mut form = vec![
        ("PreWebhookUrl", pre.as_str()),
        ("PostWebhookUrl", post.as_str()),
        ("Method", "POST"),
    ];
    form.extend(filters.iter().map(|f| ("Filters", *f)));
    client
        .post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &form,
        )
        .await
        .assert_status(200);
}

const EVERY_ADD: &[&str] = &[
    "onConversationAdd",
    "onConversationAdded",
    "onParticipantAdd",
    "onParticipantAdded",
    "onMessageAdd",
    "onMessageAdded",
    "onConversationStateUpdated",
];

/// What reached `/post` (the service's post-action target), in order.
fn posted(receiver: &Receiver) -> Vec<Received> {
    let post = receiver.url("/post");
    receiver
        .received()
        .into_iter()
        .filter(|r| r.url == post)
        .collect()
}

#[tokio::test]
async fn autocreation_fires_the_documented_webhooks_in_order_with_the_channel_as_source() {
    let client = account().await;
    let service = client.new_service("webhooked").await;
    let receiver = Receiver::start();
    webhooks_of(&client, &service, &receiver, EVERY_ADD).await;
    let scoped = receiver.url("/scoped");
    configure(
        &client,
        "whatsapp",
        NUMBER,
        &[
            ("AutoCreation.ConversationServiceSid", &service),
            ("AutoCreation.Type", "webhook"),
            ("AutoCreation.WebhookUrl", &scoped),
            ("AutoCreation.WebhookFilters", "onMessageAdded"),
        ],
    )
    .await;
    receiver.answer(&[(200, r#"{"friendly_name":"Named by the hook"}"#)]);
    let from = "whatsapp:+15551234567";
    let got = text(&client, from, "whatsapp:+15550001111", &[("Body", "hola")]).await;
    assert_eq!(got["outcome"], "created", "{got}");
    let conversation = sid(&got["conversation_sid"]);

    let pre = &receiver.wait_for_event(1, "onConversationAdd").await[0];
    assert_eq!(pre.url, receiver.url("/pre"));
    assert_eq!(pre.param("Source"), Some("WHATSAPP"));
    assert_eq!(pre.param("ChatServiceSid"), Some(service.as_str()));
    assert_eq!(pre.param("MessagingBinding.Address"), Some(from));
    assert_eq!(
        pre.param("MessagingBinding.ProxyAddress"),
        Some("whatsapp:+15550001111")
    );
    assert_eq!(pre.param("MessageBody"), Some("hola"));
    assert_eq!(pre.param("ConversationSid"), None, "it does not exist yet");

    receiver.wait_for_event(1, "onMessageAdded").await;
    receiver
        .wait_for(2, |r| r.event() == "onMessageAdded")
        .await;
    let events: Vec<String> = posted(&receiver)
        .iter()
        .map(|r| r.event().to_string())
        .collect();
    assert_eq!(
        events,
        [
            "onConversationAdded",
            "onParticipantAdded",
            "onMessageAdded"
        ],
        "17.8's order; no pre-action participant or message event"
    );
    let every: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.event().to_string())
        .collect();
    for absent in ["onParticipantAdd", "onMessageAdd"] {
        assert!(
            !every.iter().any(|e| e == absent),
            "{absent} fired: {every:?}"
        );
    }
    for event in posted(&receiver) {
        assert_eq!(event.param("Source"), Some("WHATSAPP"), "{event:#?}");
        assert_eq!(event.param("ConversationSid"), Some(conversation.as_str()));
    }
    let added = &posted(&receiver)[0];
    assert_eq!(added.param("FriendlyName"), Some("Named by the hook"));
    let participant = &posted(&receiver)[1];
    assert_eq!(participant.param("MessagingBinding.Type"), Some("WHATSAPP"));
    assert_eq!(
        participant.param("ParticipantSid"),
        got["participant_sid"].as_str()
    );
    let message = &posted(&receiver)[2];
    assert_eq!(message.param("Body"), Some("hola"));
    assert_eq!(message.param("Author"), Some(from));
    assert_eq!(message.param("Index"), Some("0"));
    // The configuration's scoped webhook got the first message too.
    let scoped_got: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| r.url == scoped)
        .collect();
    assert_eq!(scoped_got.len(), 1, "{scoped_got:#?}");
    assert_eq!(scoped_got[0].event(), "onMessageAdded");
    assert_eq!(scoped_got[0].param("Source"), Some("WHATSAPP"));
    assert_eq!(scoped_got[0].param("WebhookType"), Some("webhook"));
    let fetched = client
        .get(&format!(
            "/v1/Services/{service}/Conversations/{conversation}"
        ))
        .await;
    assert_eq!(
        fetched.assert_status(200)["friendly_name"],
        "Named by the hook"
    );
    let attached = client
        .get(&format!(
            "/v1/Services/{service}/Conversations/{conversation}/Webhooks"
        ))
        .await;
    let attached = &attached.assert_status(200)["webhooks"];
    assert_eq!(attached.as_array().unwrap().len(), 1);
    assert_eq!(attached[0]["target"], "webhook");
    assert_eq!(attached[0]["configuration"]["url"], scoped.as_str());

    // The next message is appended: onMessageAdded only, still from WhatsApp.
    let again = text(&client, from, "whatsapp:+15550001111", &[("Body", "otra")]).await;
    assert_eq!(again["outcome"], "appended");
    receiver
        .wait_for(4, |r| r.event() == "onMessageAdded")
        .await;
    let events: Vec<String> = posted(&receiver)
        .iter()
        .map(|r| r.event().to_string())
        .collect();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(posted(&receiver)[3].param("Source"), Some("WHATSAPP"));
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|r| r.event() == "onConversationAdd")
            .count(),
        1
    );
}

#[tokio::test]
async fn an_on_conversation_add_veto_drops_the_message_and_creates_nothing() {
    let client = account().await;
    let receiver = Receiver::start();
    let service = client.default_service().await;
    webhooks_of(&client, &service, &receiver, EVERY_ADD).await;
    configure(&client, "sms", NUMBER, &[]).await;
    receiver.answer(&[(403, "no")]);
    let got = text(&client, PHONE, NUMBER, &[("Body", "spam")]).await;
    assert_eq!(got["outcome"], "dropped", "{got}");
    assert_eq!(got["error"]["code"], 50056);
    for key in ["conversation_sid", "participant_sid", "message_sid"] {
        assert!(got[key].is_null(), "{key}: {got}");
    }
    let pre = &receiver.wait_for_event(1, "onConversationAdd").await[0];
    assert_eq!(pre.param("Source"), Some("SMS"));
    assert!(conversations(&client, None).await.is_empty());
    let log = inbound_log(&client).await;
    assert_eq!(log[0]["outcome"], "dropped");
    assert_eq!(log[0]["error_code"], 50056);
    // Nothing was queued: give the delivery worker a moment to prove it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(posted(&receiver).is_empty(), "{:#?}", posted(&receiver));

    // The next message, not vetoed, creates the conversation.
    let got = text(&client, PHONE, NUMBER, &[("Body", "real")]).await;
    assert_eq!(got["outcome"], "created");
    receiver.wait_for_event(1, "onMessageAdded").await;
}

#[tokio::test]
async fn a_studio_autocreation_attaches_a_studio_webhook() {
    let client = account().await;
    configure(
        &client,
        "sms",
        NUMBER,
        &[
            ("AutoCreation.Type", "studio"),
            (
                "AutoCreation.StudioFlowSid",
                "FW0123456789abcdef0123456789abcdef",
            ),
        ],
    )
    .await;
    let got = text(&client, PHONE, NUMBER, &[]).await;
    assert_eq!(got["outcome"], "created");
    let conversation = sid(&got["conversation_sid"]);
    let attached = client
        .get(&format!("/v1/Conversations/{conversation}/Webhooks"))
        .await;
    let attached = &attached.assert_status(200)["webhooks"];
    assert_eq!(attached.as_array().unwrap().len(), 1, "{attached}");
    assert_eq!(attached[0]["target"], "studio");
    assert_eq!(
        attached[0]["configuration"]["flow_sid"],
        "FW0123456789abcdef0123456789abcdef"
    );
    // Its delivery of the first message is logged as not delivered, as Studio targets' are
    // (once the delivery worker got to it).
    let studio = studio_delivery(&client).await;
    assert_eq!(studio["event_type"], "onMessageAdded", "{studio}");
    assert_eq!(studio["outcome"], "not_delivered", "{studio}");
}

/// The first delivery to a Studio target in the account's log, waited for (up to 10 s).
async fn studio_delivery(client: &Client) -> Value {
    for _ in 0..1000 {
        let log = client.get("/confab/Webhooks/Deliveries").await;
        let found = log.body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["target"] == "studio")
            .cloned();
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no Studio delivery was logged in 10 s");
}

#[tokio::test]
async fn media_is_fetched_and_stored_with_the_message() {
    let client = account().await;
    configure(&client, "sms", NUMBER, &[]).await;
    let media = Receiver::start();
    media.answer(&[(200, "PNGBYTES"), (200, "second")]);
    let (first, second) = (media.url("/a.png"), media.url("/b.txt"));
    let got = text(
        &client,
        PHONE,
        NUMBER,
        &[
            ("Body", "look"),
            ("NumMedia", "2"),
            ("MediaUrl0", &first),
            ("MediaContentType0", "image/png"),
            ("MediaUrl1", &second),
        ],
    )
    .await;
    assert_eq!(got["outcome"], "created", "{got}");
    let conversation = sid(&got["conversation_sid"]);
    let said = &messages(&client, "/v1", &conversation).await[0];
    let items = said["media"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{said}");
    assert_eq!(items[0]["content_type"], "image/png");
    assert_eq!(items[0]["size"], 8);
    assert_eq!(
        items[1]["content_type"], "text/plain",
        "from the answer's header"
    );
    let service = client.default_service().await;
    let media_sid = sid(&items[0]["sid"]);
    let fetched = client
        .get(&format!("/v1/Services/{service}/Media/{media_sid}"))
        .await;
    assert_eq!(fetched.assert_status(200)["message_sid"], said["sid"]);
    let log = inbound_log(&client).await;
    assert_eq!(log[0]["media"], said["media"]);
}

#[tokio::test]
async fn media_that_cannot_be_fetched_fails_the_message_and_stores_nothing() {
    let client = account().await;
    configure(&client, "sms", NUMBER, &[]).await;
    let media = Receiver::start();
    media.answer(&[(200, "fine"), (404, "gone")]);
    let (good, gone) = (media.url("/ok.png"), media.url("/gone.png"));
    let res = client
        .post(
            INBOUND,
            &[
                ("From", PHONE),
                ("To", NUMBER),
                ("MediaUrl0", good.as_str()),
                ("MediaUrl1", gone.as_str()),
            ],
        )
        .await;
    let body = res.assert_error(400, 11200);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&gone) && message.contains("404"),
        "{message}"
    );
    assert!(conversations(&client, None).await.is_empty());
    let log = inbound_log(&client).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "failed");
    assert_eq!(log[0]["error_code"], 11200);
    assert_eq!(log[0]["media"][1]["url"], gone.as_str());
    // A URL that is not http(s) is never fetched.
    client
        .post(
            INBOUND,
            &[
                ("From", PHONE),
                ("To", NUMBER),
                ("MediaUrl0", "file:///etc/passwd"),
            ],
        )
        .await
        .assert_error(400, 11200);
    // Nothing half-done: the next message creates the conversation with index 0.
    let got = text(&client, PHONE, NUMBER, &[]).await;
    assert_eq!(got["outcome"], "created");
    let said = messages(&client, "/v1", &sid(&got["conversation_sid"])).await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0]["index"], 0);
}

#[tokio::test]
async fn a_phones_thread_holds_both_directions_oldest_first() {
    let client = account().await;
    configure(&client, "sms", NUMBER, &[]).await;
    let got = text(&client, PHONE, NUMBER, &[("Body", "one")]).await;
    let conversation = sid(&got["conversation_sid"]);
    let reply = |body: &'static str| {
        let client = client.clone();
        let path = format!("/v1/Conversations/{conversation}/Messages");
        async move {
            client
                .post(&path, &[("Author", "agent"), ("Body", body)])
                .await
                .assert_status(201);
        }
    };
    reply("two").await;
    text(&client, PHONE, NUMBER, &[("Body", "three")]).await;
    reply("four").await;
    text(&client, "+15557654321", NUMBER, &[("Body", "someone else")]).await;

    let thread = client
        .collect_pages(
            "/confab/Outbound?Address=%2B15551234567&PageSize=1",
            "messages",
        )
        .await;
    let seen: Vec<(&str, &str)> = thread
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("inbound", "one"),
            ("outbound", "two"),
            ("inbound", "three"),
            ("outbound", "four"),
        ]
    );
    assert_eq!(thread[1]["to"], PHONE);
    assert_eq!(thread[1]["from"], NUMBER);
    assert_eq!(thread[2]["outcome"], "appended");
    // Without Address, the outbound log as it was: newest first, only what went out.
    let out = client.get("/confab/Outbound").await;
    let bodies: Vec<&str> = out.assert_status(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["four", "two"]);
    // `Inbound?Address=` is what that phone sent.
    let sent = client.get("/confab/Inbound?Address=%2B15551234567").await;
    assert_eq!(
        sent.assert_status(200)["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    client
        .get(&format!(
            "/confab/Outbound?Address=%2B15551234567&ConversationSid={conversation}"
        ))
        .await
        .assert_error(400, 20001);
}

#[tokio::test]
async fn media_over_five_megabytes_or_slower_than_five_seconds_is_refused() {
    let client = account().await;
    configure(&client, "sms", NUMBER, &[]).await;
    let big = Receiver::start();
    let over = "x".repeat(5 * 1024 * 1024 + 1);
    big.answer(&[(200, over.as_str())]);
    let url = big.url("/big.bin");
    let res = client
        .post(
            INBOUND,
            &[("From", PHONE), ("To", NUMBER), ("MediaUrl0", &url)],
        )
        .await;
    let message = res.assert_error(400, 11200)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("larger than 5242880 bytes"), "{message}");

    let slow = Receiver::start();
    slow.slow(std::time::Duration::from_secs(7));
    let url = slow.url("/slow.png");
    let started = std::time::Instant::now();
    let res = client
        .post(
            INBOUND,
            &[("From", PHONE), ("To", NUMBER), ("MediaUrl0", &url)],
        )
        .await;
    res.assert_error(400, 11200);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(4) && waited < std::time::Duration::from_secs(7),
        "gave up after {waited:?}"
    );
    let log = inbound_log(&client).await;
    let outcomes: Vec<&str> = log.iter().map(|m| m["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["failed", "failed"]);
    assert!(conversations(&client, None).await.is_empty());
}
