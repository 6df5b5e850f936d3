"""Webhooks through the official SDK: actions taken with `x_twilio_webhook_enabled="true"` reach a
real receiver, and the official RequestValidator accepts confab's X-Twilio-Signature."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator


class Receiver:
    """A webhook target on loopback that records what it receives and answers as scripted."""

    def __init__(self):
        self.received = []
        self.answers = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_any(self, body):
                host = self.headers["Host"]
                receiver.received.append(
                    {
                        "method": self.command,
                        "url": f"http://{host}{self.path}",
                        "signature": self.headers.get("X-Twilio-Signature"),
                        "params": dict(parse_qsl(body, keep_blank_values=True)),
                    }
                )
                status, text = receiver.answers.pop(0) if receiver.answers else (200, "")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(text.encode())

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                self.handle_any(self.rfile.read(length).decode())

            def do_GET(self):
                self.handle_any(self.path.partition("?")[2])

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, event, n=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [r for r in self.received if r["params"].get("EventType") == event]
            if len(got) >= n:
                return got
            time.sleep(0.01)
        raise AssertionError(f"no {event} within {timeout}s: {self.received}")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def configure(client, receiver, filters, method="POST"):
    v1 = client.conversations.v1
    service_sid = v1.services.list()[0].sid
    v1.services(service_sid).configuration.webhooks().update(
        pre_webhook_url=f"{receiver.base}/pre",
        post_webhook_url=f"{receiver.base}/post",
        filters=filters,
        method=method,
    )


def test_post_action_webhook_passes_the_official_validator(client, account, receiver):
    configure(client, receiver, ["onConversationAdded"])
    conv = client.conversations.v1.conversations.create(friendly_name="hooked", x_twilio_webhook_enabled="true")
    got = receiver.wait_for("onConversationAdded")[0]
    assert got["params"]["ConversationSid"] == conv.sid
    validator = RequestValidator(account["auth_token"])
    assert validator.validate(got["url"], got["params"], got["signature"])
    assert not RequestValidator("wrong token").validate(got["url"], got["params"], got["signature"])


def test_get_webhook_passes_the_official_validator(client, account, receiver):
    configure(client, receiver, ["onConversationAdded"], method="GET")
    client.conversations.v1.conversations.create(friendly_name="by get", x_twilio_webhook_enabled="true")
    got = receiver.wait_for("onConversationAdded")[0]
    assert got["method"] == "GET"
    assert RequestValidator(account["auth_token"]).validate(got["url"], {}, got["signature"])
    assert got["params"]["FriendlyName"] == "by get"


def test_without_the_header_nothing_fires(client, receiver):
    configure(client, receiver, ["onConversationAdded"])
    client.conversations.v1.conversations.create(friendly_name="quiet")
    client.conversations.v1.conversations.create(friendly_name="marker", x_twilio_webhook_enabled="true")
    got = receiver.wait_for("onConversationAdded")
    assert [r["params"]["FriendlyName"] for r in got] == ["marker"]


def test_pre_action_veto_and_modification(client, receiver):
    configure(client, receiver, ["onConversationAdd"])
    receiver.answers.append((403, ""))
    with pytest.raises(TwilioRestException) as err:
        client.conversations.v1.conversations.create(unique_name="vetoed", x_twilio_webhook_enabled="true")
    assert err.value.code == 50056
    receiver.answers.append((200, json.dumps({"friendly_name": "from the hook"})))
    conv = client.conversations.v1.conversations.create(friendly_name="mine", x_twilio_webhook_enabled="true")
    assert conv.friendly_name == "from the hook"


def test_message_and_participant_events_pass_the_official_validator(client, account, receiver):
    configure(
        client,
        receiver,
        ["onParticipantAdd", "onParticipantAdded", "onMessageAdd", "onMessageAdded"],
    )
    conv = client.conversations.v1.conversations.create(friendly_name="validated")
    participant = client.conversations.v1.conversations(conv.sid).participants.create(
        identity="alice", attributes=json.dumps({"seat": "1A"}), x_twilio_webhook_enabled="true"
    )
    message = client.conversations.v1.conversations(conv.sid).messages.create(
        author="alice",
        body="héllo & goodbye = 100%",
        attributes=json.dumps({"tags": ["a", "b"]}),
        x_twilio_webhook_enabled="true",
    )
    validator = RequestValidator(account["auth_token"])
    for event, path in [
        ("onParticipantAdd", "/pre"),
        ("onParticipantAdded", "/post"),
        ("onMessageAdd", "/pre"),
        ("onMessageAdded", "/post"),
    ]:
        got = receiver.wait_for(event)[0]
        assert got["url"] == f"{receiver.base}{path}"
        assert got["params"]["ConversationSid"] == conv.sid
        assert validator.validate(got["url"], got["params"], got["signature"]), event
    added = receiver.wait_for("onParticipantAdded")[0]["params"]
    assert added["ParticipantSid"] == participant.sid
    assert json.loads(added["Attributes"]) == {"seat": "1A"}
    sent = receiver.wait_for("onMessageAdded")[0]["params"]
    assert (sent["MessageSid"], sent["Body"], sent["ParticipantSid"]) == (
        message.sid,
        "héllo & goodbye = 100%",
        participant.sid,
    )


def test_message_pre_action_veto_and_modification(client, receiver):
    configure(client, receiver, ["onMessageAdd"])
    conv = client.conversations.v1.conversations.create()
    messages = client.conversations.v1.conversations(conv.sid).messages
    receiver.answers.append((500, ""))
    with pytest.raises(TwilioRestException) as err:
        messages.create(body="vetoed", x_twilio_webhook_enabled="true")
    assert err.value.code == 50056
    assert messages.list() == []
    receiver.answers.append((200, json.dumps({"body": "from the hook"})))
    sent = messages.create(body="mine", x_twilio_webhook_enabled="true")
    assert sent.body == "from the hook"
