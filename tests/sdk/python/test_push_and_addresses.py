"""Address Configurations, push Credentials and service Bindings through the official SDK.

The SDK has no call that creates a Binding (on Twilio a client SDK registers devices); bindings
are registered here through confab's extension route, then read and deleted with the SDK."""

import json

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from conftest import CONFAB_URL

SECRET_VALUES = ["BEGIN CERTIFICATE", "BEGIN RSA PRIVATE KEY", "gcm-key-value", "fcm-server-key", "rotated"]


def assert_no_secrets(instance):
    """No field the SDK parsed carries a secret (the Rust tests check the raw bodies)."""
    text = json.dumps(vars(instance), default=str)
    for secret in SECRET_VALUES:
        assert secret not in text, text
    for field in ("certificate", "private_key", "api_key", "secret"):
        assert not hasattr(instance, field)


def page_error(err):
    """A failed list page raises a plain TwilioException carrying the HTTP response."""
    response = err.value.args[1]
    return response.status_code, json.loads(response.text)["code"]


def register(account, service_sid, **form):
    res = requests.post(
        f"{CONFAB_URL}/confab/Services/{service_sid}/Bindings",
        auth=(account["account_sid"], account["auth_token"]),
        data={k: v for k, v in form.items()},
    )
    assert res.status_code == 201, res.text
    return res.json()


# --- Address Configurations -------------------------------------------------------------------


def test_address_configuration_lifecycle(conversations, service):
    created = conversations.address_configurations.create(
        type="sms",
        address="+37256123457",
        friendly_name="My Test Configuration",
        auto_creation_enabled=True,
        auto_creation_type="webhook",
        auto_creation_conversation_service_sid=service.sid,
        auto_creation_webhook_url="https://example.com",
        auto_creation_webhook_method="post",
        auto_creation_webhook_filters=["onParticipantAdded", "onMessageAdded"],
        address_country="CA",
    )
    assert created.sid.startswith("IG") and len(created.sid) == 34
    assert (created.type, created.address, created.address_country) == ("sms", "+37256123457", "CA")
    assert created.auto_creation == {
        "enabled": True,
        "type": "webhook",
        "conversation_service_sid": service.sid,
        "webhook_url": "https://example.com",
        "webhook_method": "POST",
        "webhook_filters": ["onParticipantAdded", "onMessageAdded"],
    }
    assert created.date_created is not None

    # By SID and by the address itself (the SDK puts the `+` in the path as it is).
    for key in (created.sid, "+37256123457"):
        fetched = conversations.address_configurations(key).fetch()
        assert fetched.sid == created.sid
        assert fetched.friendly_name == "My Test Configuration"

    updated = conversations.address_configurations("+37256123457").update(
        friendly_name="Updated",
        auto_creation_enabled=False,
        auto_creation_type="studio",
        auto_creation_studio_flow_sid="FWaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        auto_creation_studio_retry_count=3,
    )
    assert updated.friendly_name == "Updated"
    assert updated.auto_creation == {
        "enabled": False,
        "type": "studio",
        "conversation_service_sid": service.sid,
        "studio_flow_sid": "FWaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "studio_retry_count": 3,
    }

    assert conversations.address_configurations("+37256123457").delete() is True
    with pytest.raises(TwilioRestException) as err:
        conversations.address_configurations(created.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


def test_address_configuration_whatsapp_address_and_errors(conversations):
    created = conversations.address_configurations.create(type="whatsapp", address="whatsapp:+15005550006")
    assert created.auto_creation == {"enabled": False, "type": "default"}
    assert conversations.address_configurations("whatsapp:+15005550006").fetch().sid == created.sid

    with pytest.raises(TwilioRestException) as err:
        conversations.address_configurations.create(type="whatsapp", address="whatsapp:+15005550006")
    assert (err.value.status, err.value.code) == (409, 20409)
    with pytest.raises(TwilioRestException) as err:
        conversations.address_configurations.create(type="fax", address="+15005550001")
    assert (err.value.status, err.value.code) == (400, 20001)
    with pytest.raises(TwilioRestException) as err:
        conversations.address_configurations(created.sid).update(auto_creation_webhook_method="put")
    assert (err.value.status, err.value.code) == (400, 50055)


def test_address_configurations_list_and_stream_by_type(conversations):
    sms = [
        conversations.address_configurations.create(type="sms", address=f"+1500555100{i}").sid for i in range(7)
    ]
    whatsapp = conversations.address_configurations.create(type="whatsapp", address="whatsapp:+15005551000").sid
    streamed = [a.sid for a in conversations.address_configurations.stream(type="sms", page_size=3)]
    assert streamed == sms
    assert [a.sid for a in conversations.address_configurations.list(type="whatsapp")] == [whatsapp]
    assert [a.sid for a in conversations.address_configurations.list(limit=4, page_size=2)] == sms[:4]
    page = conversations.address_configurations.page(page_size=3)
    assert [a.sid for a in page.next_page()] == sms[3:6]


# --- Credentials ------------------------------------------------------------------------------


def test_credential_lifecycle_never_returns_secrets(conversations):
    created = conversations.credentials.create(
        type="apn",
        friendly_name="ios",
        certificate="-----BEGIN CERTIFICATE-----\nMIIF\n-----END CERTIFICATE-----",
        private_key="-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        sandbox=True,
    )
    assert created.sid.startswith("CR")
    assert (created.type, created.sandbox, created.friendly_name) == ("apn", "True", "ios")
    assert_no_secrets(created)

    fetched = conversations.credentials(created.sid).fetch()
    assert (fetched.sid, fetched.sandbox) == (created.sid, "True")
    assert_no_secrets(fetched)

    updated = conversations.credentials(created.sid).update(
        friendly_name="ios prod", sandbox=False, certificate="rotated cert", private_key="rotated key"
    )
    assert (updated.friendly_name, updated.sandbox, updated.type) == ("ios prod", "False", "apn")
    assert_no_secrets(updated)

    for c in conversations.credentials.list():
        assert_no_secrets(c)

    assert conversations.credentials(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        conversations.credentials(created.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


def test_credentials_of_every_type_stream_in_order(conversations):
    made = []
    for i in range(5):
        made.append(conversations.credentials.create(type="gcm", api_key="gcm-key-value", friendly_name=f"g{i}").sid)
        made.append(conversations.credentials.create(type="fcm", secret="fcm-server-key", friendly_name=f"f{i}").sid)
    streamed = list(conversations.credentials.stream(page_size=3))
    assert [c.sid for c in streamed] == made
    assert {c.type for c in streamed} == {"gcm", "fcm"}
    assert {c.sandbox for c in streamed} == {"False"}
    for c in streamed:
        assert_no_secrets(c)
    with pytest.raises(TwilioRestException) as err:
        conversations.credentials.create(type="apn", friendly_name="x" * 65)
    assert (err.value.status, err.value.code) == (400, 50003)


# --- Bindings ---------------------------------------------------------------------------------


def test_bindings_list_stream_filters_fetch_delete(account, conversations, service):
    apn = conversations.credentials.create(type="apn").sid
    fcm = conversations.credentials.create(type="fcm").sid
    made = []
    for identity in ("alice", "bob", "carol"):
        made.append(
            register(account, service.sid, Identity=identity, BindingType="apn", Endpoint=f"{identity}-ios", CredentialSid=apn)
        )
        made.append(
            register(account, service.sid, Identity=identity, BindingType="fcm", Endpoint=f"{identity}-android", CredentialSid=fcm)
        )
        made.append(register(account, service.sid, Identity=identity, BindingType="twilsock", Endpoint=f"{identity}-web"))
    bindings = conversations.services(service.sid).bindings

    streamed = [b.sid for b in bindings.stream(page_size=4)]
    assert streamed == [b["sid"] for b in made]

    push_only = list(bindings.stream(binding_type=["apn", "fcm"], page_size=2))
    assert [b.sid for b in push_only] == [b["sid"] for b in made if b["binding_type"] in ("apn", "fcm")]

    some = bindings.list(identity=["alice", "carol"], binding_type=["twilsock"])
    assert [(b.identity, b.binding_type) for b in some] == [("alice", "twilsock"), ("carol", "twilsock")]
    assert bindings.list(identity=["nobody"]) == []

    first = made[0]
    fetched = bindings(first["sid"]).fetch()
    assert (fetched.sid, fetched.identity, fetched.endpoint) == (first["sid"], "alice", "alice-ios")
    assert (fetched.binding_type, fetched.credential_sid, fetched.chat_service_sid) == ("apn", apn, service.sid)
    assert fetched.message_types == ["new_message", "added_to_conversation", "removed_from_conversation"]

    assert bindings(first["sid"]).delete() is True
    with pytest.raises(TwilioRestException) as err:
        bindings(first["sid"]).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)
    with pytest.raises(TwilioException) as err:
        bindings.list(binding_type=["sms"])
    assert page_error(err) == (400, 50209)


def test_bindings_go_with_their_service(account, client):
    v1 = client.conversations.v1
    svc = v1.services.create(friendly_name="short-lived")
    register(account, svc.sid, Identity="dana", BindingType="twilsock", Endpoint="dana-web")
    assert len(v1.services(svc.sid).bindings.list()) == 1
    assert v1.services(svc.sid).delete() is True
    with pytest.raises(TwilioException) as err:
        v1.services(svc.sid).bindings.list()
    assert page_error(err) == (404, 20404)
