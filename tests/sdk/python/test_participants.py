"""Participants, ParticipantConversations and ConversationWithParticipants through the official
SDK, under both URL families (each test runs on a fresh account)."""

import json

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException


def test_participant_lifecycle(scope):
    conv = scope.conversations.create(unique_name="room")
    participants = scope.conversations("room").participants

    alice = participants.create(identity="alice", attributes='{"team":"a"}')
    assert alice.sid.startswith("MB") and len(alice.sid) == 34
    assert alice.conversation_sid == conv.sid
    assert alice.identity == "alice"
    assert alice.messaging_binding is None
    assert alice.role_sid.startswith("RL")
    assert alice.last_read_message_index is None
    assert alice.date_created is not None

    texter = participants.create(
        messaging_binding_address="+15558675310",
        messaging_binding_proxy_address="+15017122661",
    )
    assert texter.identity is None
    assert texter.messaging_binding == {
        "type": "sms",
        "address": "+15558675310",
        "proxy_address": "+15017122661",
    }

    projected = participants.create(identity="bob", messaging_binding_projected_address="+15017122662")
    assert projected.messaging_binding == {"type": "sms", "projected_address": "+15017122662"}

    by_identity = scope.conversations(conv.sid).participants("alice").fetch()
    assert by_identity.sid == alice.sid
    assert participants(alice.sid).fetch().attributes == '{"team":"a"}'

    updated = participants("alice").update(
        attributes='{"team":"b"}', last_read_message_index=4, last_read_timestamp="2024-05-06T07:08:09Z"
    )
    assert updated.attributes == '{"team":"b"}'
    assert updated.last_read_message_index == 4
    assert updated.last_read_timestamp == "2024-05-06T07:08:09Z"

    moved = participants(texter.sid).update(messaging_binding_proxy_address="+15017122663")
    assert moved.messaging_binding["proxy_address"] == "+15017122663"

    assert participants("alice").delete() is True
    with pytest.raises(TwilioRestException) as err:
        participants(alice.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)
    assert participants(texter.sid).delete() is True
    assert [p.sid for p in participants.list()] == [projected.sid]


def test_participants_stream_across_pages(scope):
    conv = scope.conversations.create()
    participants = scope.conversations(conv.sid).participants
    created = [participants.create(identity=f"user{i}").sid for i in range(12)]
    assert [p.sid for p in participants.stream(page_size=5)] == created
    assert [p.sid for p in participants.list(limit=7, page_size=3)] == created[:7]
    page = participants.page(page_size=5)
    second = page.next_page()
    assert [p.sid for p in second] == created[5:10]
    assert [p.sid for p in second.previous_page()] == created[:5]


def test_participant_errors_are_twilio_errors(scope):
    first = scope.conversations.create()
    second = scope.conversations.create()
    scope.conversations(first.sid).participants.create(identity="alice")
    scope.conversations(first.sid).participants.create(
        messaging_binding_address="+15550000001", messaging_binding_proxy_address="+15550009999"
    )
    cases = [
        (first.sid, {"identity": "alice"}, 409, 50433),
        (
            second.sid,
            {"messaging_binding_address": "+15550000001", "messaging_binding_proxy_address": "+15550009999"},
            409,
            50416,
        ),
        (second.sid, {"identity": "carol", "messaging_binding_address": "+15550000002"}, 400, 50211),
        (second.sid, {"identity": "carol", "role_sid": "RL" + "0" * 32}, 400, 50109),
    ]
    for conversation, params, status, code in cases:
        with pytest.raises(TwilioRestException) as err:
            scope.conversations(conversation).participants.create(**params)
        assert (err.value.status, err.value.code) == (status, code), params
    with pytest.raises(TwilioRestException) as err:
        scope.conversations(first.sid).participants("alice").update(messaging_binding_proxy_address="+15550001111")
    assert (err.value.status, err.value.code) == (400, 50441)
    assert len(scope.conversations(second.sid).participants.list()) == 0


def test_participant_conversations(scope):
    sids = []
    for i in range(5):
        conv = scope.conversations.create(friendly_name=f"room {i}")
        scope.conversations(conv.sid).participants.create(identity="alice")
        scope.conversations(conv.sid).participants.create(
            messaging_binding_address="+15557654321", messaging_binding_proxy_address=f"+1555000000{i}"
        )
        sids.append(conv.sid)
    scope.conversations(sids[4]).update(state="closed")

    by_identity = scope.participant_conversations.list(identity="alice")
    assert [c.conversation_sid for c in by_identity] == sids
    row = by_identity[0]
    assert row.participant_identity == "alice"
    assert row.participant_user_sid.startswith("US")
    assert row.participant_messaging_binding is None
    assert row.conversation_friendly_name == "room 0"
    assert by_identity[4].conversation_state == "closed"
    assert row.links["conversation"].endswith(f"/Conversations/{sids[0]}")

    streamed = [c.conversation_sid for c in scope.participant_conversations.stream(address="+15557654321", page_size=2)]
    assert streamed == sids
    first = scope.participant_conversations.list(address="+15557654321", limit=1)[0]
    assert first.participant_identity is None
    assert first.participant_messaging_binding["address"] == "+15557654321"
    assert first.participant_messaging_binding["proxy_address"] == "+15550000000"

    # The SDK reports a refused list page as a plain TwilioException carrying the response.
    with pytest.raises(TwilioException) as err:
        scope.participant_conversations.list(identity="alice", address="+15557654321")
    _, response = err.value.args
    assert (response.status_code, json.loads(response.text)["code"]) == (400, 50451)


def test_conversation_with_participants(scope):
    created = scope.conversation_with_participants.create(
        friendly_name="support",
        unique_name="case-1",
        participant=[
            json.dumps({"identity": "alice"}),
            json.dumps({"messaging_binding": {"address": "+15551110000", "proxy_address": "+15552220000"}}),
        ],
    )
    assert created.sid.startswith("CH")
    assert created.state == "active"
    assert created.friendly_name == "support"
    participants = scope.conversations("case-1").participants.list()
    assert [p.identity for p in participants] == ["alice", None]
    assert participants[1].messaging_binding["proxy_address"] == "+15552220000"

    before = len(scope.conversations.list())
    with pytest.raises(TwilioRestException) as err:
        scope.conversation_with_participants.create(
            unique_name="case-2",
            participant=[json.dumps({"identity": "bob"}), json.dumps({"identity": "bob"})],
        )
    assert (err.value.status, err.value.code) == (409, 50433)
    assert len(scope.conversations.list()) == before, "nothing was created"
    with pytest.raises(TwilioRestException) as err:
        scope.conversation_with_participants.create(participant=[json.dumps({"identity": f"u{i}"}) for i in range(11)])
    assert (err.value.status, err.value.code) == (400, 50426)
