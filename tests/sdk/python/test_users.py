"""Users and User Conversations through the official SDK, under both URL families."""

import pytest
import requests
from twilio.base.exceptions import TwilioRestException


def role_sid(scope, name):
    return next(r.sid for r in scope.roles.list() if r.friendly_name == name)


def test_create_fetch_update_delete(scope):
    user = scope.users.create(identity="alice@example.com", friendly_name="Alice", attributes='{"team":"a"}')
    assert user.sid.startswith("US") and len(user.sid) == 34
    assert user.identity == "alice@example.com"
    assert user.role_sid == role_sid(scope, "service user")
    assert (user.is_online, user.is_notifiable) == (None, None)

    for ref in (user.sid, "alice@example.com"):
        fetched = scope.users(ref).fetch()
        assert (fetched.sid, fetched.friendly_name, fetched.attributes) == (user.sid, "Alice", '{"team":"a"}')

    admin = role_sid(scope, "service admin")
    updated = scope.users("alice@example.com").update(friendly_name="Alice B", role_sid=admin)
    assert (updated.friendly_name, updated.role_sid, updated.attributes) == ("Alice B", admin, '{"team":"a"}')

    assert scope.users(user.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        scope.users("alice@example.com").fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


def test_identities_with_spaces_and_case(scope):
    upper = scope.users.create(identity="Bob Smith")
    lower = scope.users.create(identity="bob smith")
    assert scope.users("Bob Smith").fetch().sid == upper.sid
    assert scope.users("bob smith").fetch().sid == lower.sid


def test_errors(scope):
    scope.users.create(identity="taken")
    cases = [
        ({"identity": "taken"}, 409, 50201),
        ({"identity": "x" * 257}, 400, 50207),
        ({"identity": "US0123456789abcdef0123456789abcdef"}, 400, 50206),
        ({"identity": "u", "attributes": "{nope"}, 400, 50304),
        ({"identity": "u", "role_sid": role_sid(scope, "channel user")}, 400, 50100),
    ]
    for kwargs, status, code in cases:
        with pytest.raises(TwilioRestException) as err:
            scope.users.create(**kwargs)
        assert (err.value.status, err.value.code) == (status, code), kwargs
    assert [u.identity for u in scope.users.list()] == ["taken"]


def test_webhook_header_is_accepted(scope):
    user = scope.users.create(identity="hooked", x_twilio_webhook_enabled="true")
    assert scope.users(user.sid).update(friendly_name="H", x_twilio_webhook_enabled="true").friendly_name == "H"
    assert scope.users(user.sid).delete(x_twilio_webhook_enabled="true") is True


def test_stream_follows_pages(scope):
    created = [scope.users.create(identity=f"user-{i}").sid for i in range(12)]
    assert [u.sid for u in scope.users.stream(page_size=5)] == created
    assert [u.sid for u in scope.users.list(limit=7, page_size=3)] == created[:7]
    page = scope.users.page(page_size=5)
    second = page.next_page()
    assert [u.sid for u in second] == created[5:10]
    assert [u.sid for u in second.previous_page()] == created[:5]
    assert all(u.is_online is None for u in scope.users.list())


@pytest.fixture
def participants_built(account):
    """User Conversations need chat participants, which CreateParticipant (built on another
    branch) adds: until it answers, these tests are skipped, and they run once it does."""
    from conftest import CONFAB_URL

    probe = requests.post(
        f"{CONFAB_URL}/v1/Conversations/CH00000000000000000000000000000000/Participants",
        auth=(account["account_sid"], account["auth_token"]),
        data={"Identity": "probe"},
    )
    if probe.status_code == 501:
        pytest.skip("CreateParticipant is not built on this branch yet")


def test_user_conversations(scope, participants_built):
    user = scope.users.create(identity="agent 7")
    convs = [scope.conversations.create(friendly_name=f"c{i}") for i in range(5)]
    participants = [scope.conversations(c.sid).participants.create(identity="agent 7") for c in convs]
    scope.conversations.create(friendly_name="not mine")

    mine = scope.users("agent 7").user_conversations
    assert [uc.conversation_sid for uc in mine.stream(page_size=2)] == [c.sid for c in convs]
    assert [uc.conversation_sid for uc in mine.list(limit=3, page_size=2)] == [c.sid for c in convs[:3]]

    fetched = scope.users(user.sid).user_conversations(convs[0].sid).fetch()
    assert (fetched.participant_sid, fetched.user_sid) == (participants[0].sid, user.sid)
    assert (fetched.notification_level, fetched.unread_messages_count) == ("default", None)
    assert fetched.friendly_name == "c0"

    updated = mine(convs[0].sid).update(notification_level="muted", last_read_message_index=0)
    assert (updated.notification_level, updated.last_read_message_index, updated.unread_messages_count) == (
        "muted",
        0,
        0,
    )
    with pytest.raises(TwilioRestException) as err:
        mine(convs[0].sid).update(notification_level="loud")
    assert (err.value.status, err.value.code) == (400, 50210)

    assert mine(convs[1].sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        mine(convs[1].sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)
    assert len(mine.list()) == 4
