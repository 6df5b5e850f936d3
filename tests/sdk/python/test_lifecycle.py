"""Lifecycle through the official SDK: timers on a moved clock, read horizons and unread counts,
delivery receipts for SMS participants. The server runs in --test-mode (tests/sdk/run.sh)."""

import time

import pytest
import requests
from conftest import CONFAB_URL, OPERATOR


def advance(duration):
    res = requests.post(f"{CONFAB_URL}/confab/Clock", auth=OPERATOR, data={"Advance": duration})
    res.raise_for_status()


def eventually(fetch, predicate, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fetch()
        if predicate(value):
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s: {value}")


def test_timers_move_a_conversation_on_the_clock(conversations):
    conv = conversations.conversations.create(state="active", timers_inactive="PT1M", timers_closed="PT10M")
    assert conv.timers["date_inactive"] and conv.timers["date_closed"]
    advance("PT61S")
    inactive = eventually(lambda: conversations.conversations(conv.sid).fetch(), lambda c: c.state == "inactive")
    assert "date_inactive" not in inactive.timers
    advance("PT10M")
    eventually(lambda: conversations.conversations(conv.sid).fetch(), lambda c: c.state == "closed")


def test_read_horizon_and_unread_count(conversations):
    conv = conversations.conversations.create()
    conversations.conversations(conv.sid).participants.create(identity="reader")
    for i in range(4):
        conversations.conversations(conv.sid).messages.create(body=f"m{i}")
    user_conv = conversations.users("reader").user_conversations(conv.sid)
    assert user_conv.fetch().unread_messages_count is None
    conversations.conversations(conv.sid).participants("reader").update(last_read_message_index=1)
    fetched = user_conv.fetch()
    assert (fetched.last_read_message_index, fetched.unread_messages_count) == (1, 2)
    user_conv.update(last_read_message_index=3)
    assert conversations.conversations(conv.sid).participants("reader").fetch().last_read_message_index == 3
    assert user_conv.fetch().unread_messages_count == 0


def test_receipts_for_an_sms_participant(conversations):
    conv = conversations.conversations.create()
    sms = conversations.conversations(conv.sid).participants.create(
        messaging_binding_address="+15551119999", messaging_binding_proxy_address="+15552228888"
    )
    message = conversations.conversations(conv.sid).messages.create(author="system", body="to a phone")
    assert message.delivery["total"] == 1
    receipts = conversations.conversations(conv.sid).messages(message.sid).delivery_receipts
    advance("PT2S")
    advance("PT2S")
    delivered = eventually(lambda: receipts.list(), lambda rs: rs and rs[0].status == "delivered")
    assert delivered[0].participant_sid == sms.sid
    assert receipts(delivered[0].sid).fetch().status == "delivered"
    fetched = conversations.conversations(conv.sid).messages(message.sid).fetch()
    assert fetched.delivery["delivered"] == "all"
