"""Conversations through the official SDK, under both URL families."""

import pytest
from twilio.base.exceptions import TwilioRestException


def test_create_fetch_update_delete(scope):
    conv = scope.conversations.create(friendly_name="support", unique_name="t-42", attributes='{"a":1}')
    assert conv.sid.startswith("CH") and len(conv.sid) == 34
    assert conv.state == "active"
    assert conv.friendly_name == "support"
    assert conv.date_created is not None
    assert conv.bindings == {}

    fetched = scope.conversations("t-42").fetch()
    assert fetched.sid == conv.sid
    assert fetched.attributes == '{"a":1}'

    updated = scope.conversations(conv.sid).update(friendly_name="renamed", state="inactive")
    assert (updated.friendly_name, updated.state) == ("renamed", "inactive")

    assert scope.conversations(conv.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        scope.conversations(conv.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


def test_email_bindings_come_back_as_an_object(scope):
    conv = scope.conversations.create(
        bindings_email_address="team@example.com", bindings_email_name="Team"
    )
    expected = {"email": {"address": "team@example.com", "name": "Team"}}
    assert conv.bindings == expected
    assert scope.conversations(conv.sid).fetch().bindings == expected


def test_duplicate_unique_name_is_a_twilio_error(scope):
    scope.conversations.create(unique_name="dup")
    with pytest.raises(TwilioRestException) as err:
        scope.conversations.create(unique_name="dup")
    assert (err.value.status, err.value.code) == (409, 50353)


def test_stream_follows_pages(scope):
    created = [scope.conversations.create(friendly_name=f"c{i}").sid for i in range(12)]
    streamed = [c.sid for c in scope.conversations.stream(page_size=5)]
    assert streamed == created
    listed = [c.sid for c in scope.conversations.list(limit=7, page_size=3)]
    assert listed == created[:7]
    page = scope.conversations.page(page_size=5)
    second = page.next_page()
    assert [c.sid for c in second] == created[5:10]
    assert [c.sid for c in second.previous_page()] == created[:5]


def test_state_filter(scope):
    scope.conversations.create(state="inactive")
    scope.conversations.create(state="active")
    assert [c.state for c in scope.conversations.list(state="inactive")] == ["inactive"]


def test_bad_credentials(account):
    from conftest import sdk_client

    bad = sdk_client(account["account_sid"], "wrong")
    with pytest.raises(TwilioRestException) as err:
        bad.conversations.v1.conversations.create(friendly_name="nope")
    assert (err.value.status, err.value.code) == (401, 20003)
