"""Conversation Messages (and their receipts) through the official SDK, under both URL families."""

import pytest
from twilio.base.exceptions import TwilioRestException


def test_create_fetch_update_delete(scope):
    conv = scope.conversations.create(unique_name="room")
    msg = scope.conversations("room").messages.create(author="alice", body="hello", attributes='{"a":1}')
    assert msg.sid.startswith("IM") and len(msg.sid) == 34
    assert (msg.index, msg.author, msg.body, msg.attributes) == (0, "alice", "hello", '{"a":1}')
    assert msg.conversation_sid == conv.sid
    assert msg.media is None and msg.delivery is None and msg.participant_sid is None
    assert msg.date_created is not None and msg.date_updated == msg.date_created
    assert msg.links["delivery_receipts"].endswith(f"/Messages/{msg.sid}/Receipts")

    system = conv.messages.create(body="from nobody")
    assert (system.author, system.index) == ("system", 1)

    fetched = scope.conversations(conv.sid).messages(msg.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.index) == (msg.sid, "hello", 0)

    updated = scope.conversations(conv.sid).messages(msg.sid).update(body="edited", author="bob")
    assert (updated.body, updated.author, updated.attributes) == ("edited", "bob", '{"a":1}')
    assert scope.conversations(conv.sid).messages(msg.sid).fetch().body == "edited"

    assert scope.conversations(conv.sid).messages(msg.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        scope.conversations(conv.sid).messages(msg.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)

    # The index of a deleted message is never handed out again.
    assert conv.messages.create(body="after").index == 2


def test_stream_follows_pages_in_both_orders(scope):
    conv = scope.conversations.create()
    created = [conv.messages.create(body=f"m{i}").sid for i in range(12)]

    streamed = [m.sid for m in conv.messages.stream(page_size=5)]
    assert streamed == created
    newest_first = [m.sid for m in conv.messages.stream(order="desc", page_size=5)]
    assert newest_first == list(reversed(created))
    listed = [m.sid for m in conv.messages.list(limit=7, page_size=3)]
    assert listed == created[:7]
    assert [m.index for m in conv.messages.list(order="desc", limit=2)] == [11, 10]

    page = conv.messages.page(page_size=5)
    second = page.next_page()
    assert [m.sid for m in second] == created[5:10]
    assert [m.sid for m in second.previous_page()] == created[:5]


def test_validation_errors_are_twilio_errors(scope):
    conv = scope.conversations.create()
    with pytest.raises(TwilioRestException) as err:
        conv.messages.create(author="alice")
    assert (err.value.status, err.value.code) == (400, 50503)
    with pytest.raises(TwilioRestException) as err:
        conv.messages.create(body="x" * 1601)
    assert (err.value.status, err.value.code) == (400, 50504)
    with pytest.raises(TwilioRestException) as err:
        conv.messages.create(media_sid="ME0123456789abcdef0123456789abcdef")
    assert (err.value.status, err.value.code) == (400, 50507)
    assert conv.messages.list() == []


def test_closed_conversation_refuses_messages(scope):
    conv = scope.conversations.create()
    conv.update(state="closed")
    with pytest.raises(TwilioRestException) as err:
        conv.messages.create(body="too late")
    assert (err.value.status, err.value.code) == (400, 50377)


def test_receipts_of_a_chat_message_are_empty(scope):
    conv = scope.conversations.create()
    msg = conv.messages.create(body="hi")
    assert scope.conversations(conv.sid).messages(msg.sid).delivery_receipts.list() == []
    with pytest.raises(TwilioRestException) as err:
        scope.conversations(conv.sid).messages(msg.sid).delivery_receipts("DY00000000000000000000000000000000").fetch()
    assert (err.value.status, err.value.code) == (404, 20404)
