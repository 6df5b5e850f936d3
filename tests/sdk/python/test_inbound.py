"""A phone on the other end, through the official SDK: the Address Configuration is made with the
SDK, the customer's SMS is posted to confab's own `/confab/Inbound` with plain HTTP (as a carrier
would deliver it), the conversation it creates is read and answered with the SDK, the answer is
in `/confab/Outbound`, and the webhooks of the autocreation pass the official RequestValidator."""

import requests
from twilio.request_validator import RequestValidator

from conftest import CONFAB_URL
from test_webhooks import receiver  # noqa: F401  (the loopback receiver fixture of the webhook tests)

NUMBER = "+15550001111"
PHONE = "+15551234567"


def text(account, body, frm=PHONE, to=NUMBER):
    res = requests.post(
        f"{CONFAB_URL}/confab/Inbound",
        auth=(account["account_sid"], account["auth_token"]),
        data={"From": frm, "To": to, "Body": body},
    )
    assert res.status_code == 200, res.text
    return res.json()


def test_inbound_sms_round_trip_through_the_sdk(client, account, receiver):  # noqa: F811
    v1 = client.conversations.v1
    service_sid = v1.services.list()[0].sid
    v1.services(service_sid).configuration.webhooks().update(
        pre_webhook_url=f"{receiver.base}/pre",
        post_webhook_url=f"{receiver.base}/post",
        filters=["onConversationAdd", "onConversationAdded", "onParticipantAdded", "onMessageAdded"],
        method="POST",
    )
    config = v1.address_configurations.create(
        type="sms",
        address=NUMBER,
        auto_creation_enabled=True,
        auto_creation_type="webhook",
        auto_creation_webhook_url=f"{receiver.base}/scoped",
        auto_creation_webhook_filters=["onMessageAdded"],
    )
    assert config.auto_creation["enabled"] is True

    created = text(account, "my order is late")
    assert created["outcome"] == "created", created
    conversation = v1.conversations(created["conversation_sid"])
    assert conversation.fetch().state == "active"
    (customer,) = conversation.participants.list()
    assert customer.sid == created["participant_sid"]
    assert customer.messaging_binding == {"type": "sms", "address": PHONE, "proxy_address": NUMBER}
    (first,) = conversation.messages.list()
    assert (first.index, first.author, first.body) == (0, PHONE, "my order is late")
    assert first.participant_sid == customer.sid

    # The agent answers through the SDK; the answer goes out to the phone.
    conversation.messages.create(author="agent", body="Sorry! It ships today.")
    thread = requests.get(
        f"{CONFAB_URL}/confab/Outbound",
        params={"Address": PHONE},
        auth=(account["account_sid"], account["auth_token"]),
    ).json()["messages"]
    assert [(m["direction"], m["body"]) for m in thread] == [
        ("inbound", "my order is late"),
        ("outbound", "Sorry! It ships today."),
    ]
    assert (thread[1]["to"], thread[1]["from"]) == (PHONE, NUMBER)

    # The customer writes again: appended to the same conversation.
    again = text(account, "thanks")
    assert again["outcome"] == "appended"
    assert again["conversation_sid"] == created["conversation_sid"]
    assert [m.body for m in conversation.messages.list()][-1] == "thanks"

    # 17.8's webhooks, each signed for this account, with the channel as their Source.
    validator = RequestValidator(account["auth_token"])
    pre = receiver.wait_for("onConversationAdd")[0]
    assert pre["url"].endswith("/pre")
    assert pre["params"]["MessagingBinding.Address"] == PHONE
    assert pre["params"]["MessageBody"] == "my order is late"
    assert validator.validate(pre["url"], pre["params"], pre["signature"])
    added = receiver.wait_for("onMessageAdded", n=4)
    for hook in added:
        assert hook["params"]["Source"] == "SMS"
        assert validator.validate(hook["url"], hook["params"], hook["signature"])
        assert not RequestValidator("wrong token").validate(hook["url"], hook["params"], hook["signature"])
    assert sorted(h["url"].rsplit("/", 1)[1] for h in added) == ["post", "post", "scoped", "scoped"]
    events = [r["params"]["EventType"] for r in receiver.received if r["url"].endswith("/post")]
    assert events[:3] == ["onConversationAdded", "onParticipantAdded", "onMessageAdded"]


def test_a_message_nothing_routes_is_ignored(account):
    got = text(account, "hello?", to="+15550009999")
    assert got["outcome"] == "ignored"
    assert got["conversation_sid"] is None
    log = requests.get(
        f"{CONFAB_URL}/confab/Inbound",
        auth=(account["account_sid"], account["auth_token"]),
    ).json()["messages"]
    assert [(m["outcome"], m["body"]) for m in log] == [("ignored", "hello?")]
