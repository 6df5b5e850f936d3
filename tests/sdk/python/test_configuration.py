"""The configuration resources and conversation-scoped webhooks through the official SDK:
account Configuration and its Webhooks, a service's Configuration, Notifications and Webhooks,
and conversations(sid).webhooks under both URL families."""

import pytest
from twilio.base.exceptions import TwilioRestException

FLOW = "FW0123456789abcdef0123456789abcdef"


def test_account_configuration_fetch_update_and_retarget(conversations):
    config = conversations.configuration().fetch()
    default_service = config.default_chat_service_sid
    assert default_service.startswith("IS")
    assert config.default_messaging_service_sid.startswith("MG")
    assert config.default_inactive_timer is None
    assert config.links["webhooks"].endswith("/v1/Configuration/Webhooks")

    second = conversations.services.create(friendly_name="second")
    updated = conversations.configuration().update(
        default_chat_service_sid=second.sid,
        default_inactive_timer="PT5M",
        default_closed_timer="PT20M",
    )
    assert (updated.default_chat_service_sid, updated.default_inactive_timer, updated.default_closed_timer) == (
        second.sid,
        "PT5M",
        "PT20M",
    )
    assert updated.links["service"].endswith(f"/v1/Services/{second.sid}/Configuration")

    # The shorthand now acts on the second service, and new conversations get the timers.
    conv = conversations.conversations.create(friendly_name="retargeted")
    assert conv.chat_service_sid == second.sid
    assert set(conv.timers) == {"date_inactive", "date_closed"}
    assert [c.sid for c in conversations.services(second.sid).conversations.list()] == [conv.sid]

    fetched = conversations.configuration().fetch()
    assert fetched.default_chat_service_sid == second.sid
    conversations.configuration().update(default_chat_service_sid=default_service)
    assert conversations.conversations.create().chat_service_sid == default_service


def test_account_configuration_errors(conversations):
    with pytest.raises(TwilioRestException) as err:
        conversations.configuration().update(default_chat_service_sid="IS00000000000000000000000000000000")
    assert (err.value.status, err.value.code) == (400, 50050)
    with pytest.raises(TwilioRestException) as err:
        conversations.configuration().update(default_inactive_timer="PT10S")
    assert (err.value.status, err.value.code) == (400, 50375)
    with pytest.raises(TwilioRestException) as err:
        conversations.configuration().update(default_closed_timer="soon")
    assert (err.value.status, err.value.code) == (400, 50380)


def test_account_webhooks_fetch_and_update(conversations):
    empty = conversations.configuration.webhooks().fetch()
    assert (empty.method, empty.filters, empty.pre_webhook_url, empty.post_webhook_url, empty.target) == (
        "POST",
        None,
        None,
        None,
        "webhook",
    )
    updated = conversations.configuration.webhooks().update(
        method="get",
        filters=["onMessageAdded", "onConversationAdd", "onUserUpdated"],
        pre_webhook_url="https://example.com/pre",
        post_webhook_url="https://example.com/post",
        target="webhook",
    )
    assert updated.method == "GET"
    assert updated.filters == ["onMessageAdded", "onConversationAdd", "onUserUpdated"]
    assert (updated.pre_webhook_url, updated.post_webhook_url, updated.target) == (
        "https://example.com/pre",
        "https://example.com/post",
        "webhook",
    )
    assert conversations.configuration.webhooks().fetch().filters == updated.filters

    with pytest.raises(TwilioRestException) as err:
        conversations.configuration.webhooks().update(filters=["onMessageSent"])
    assert (err.value.status, err.value.code) == (400, 50054)
    with pytest.raises(TwilioRestException) as err:
        conversations.configuration.webhooks().update(method="PUT")
    assert (err.value.status, err.value.code) == (400, 50055)


def test_service_configuration_fetch_and_update(conversations, service):
    config = conversations.services(service.sid).configuration().fetch()
    assert config.chat_service_sid == service.sid
    assert config.reachability_enabled is False
    assert config.links["notifications"].endswith(f"/v1/Services/{service.sid}/Configuration/Notifications")
    creator, member = config.default_conversation_creator_role_sid, config.default_conversation_role_sid

    updated = conversations.services(service.sid).configuration().update(
        default_conversation_creator_role_sid=member,
        default_conversation_role_sid=creator,
        reachability_enabled=True,
    )
    assert (
        updated.default_conversation_creator_role_sid,
        updated.default_conversation_role_sid,
        updated.reachability_enabled,
    ) == (member, creator, True)
    assert conversations.services(service.sid).configuration().fetch().reachability_enabled is True

    with pytest.raises(TwilioRestException) as err:
        conversations.services(service.sid).configuration().update(
            default_chat_service_role_sid=creator
        )
    assert (err.value.status, err.value.code) == (400, 50105)
    with pytest.raises(TwilioRestException) as err:
        conversations.services(service.sid).configuration().update(
            default_conversation_role_sid="RL00000000000000000000000000000000"
        )
    assert (err.value.status, err.value.code) == (400, 50100)


def test_service_notifications_round_trip(conversations, service):
    notifications = conversations.services(service.sid).configuration.notifications()
    initial = notifications.fetch()
    assert initial.chat_service_sid == service.sid
    assert initial.log_enabled is False
    assert initial.new_message["enabled"] is False
    assert "${MESSAGE}" in initial.new_message["template"]
    assert initial.added_to_conversation["enabled"] is False

    updated = notifications.update(
        log_enabled=True,
        new_message_enabled=True,
        new_message_template="${PARTICIPANT}: ${MESSAGE}",
        new_message_sound="ring",
        new_message_badge_count_enabled=True,
        new_message_with_media_enabled=True,
        new_message_with_media_template="${MEDIA_COUNT} files",
        added_to_conversation_enabled=True,
        added_to_conversation_template="added",
        added_to_conversation_sound="chime",
        removed_from_conversation_enabled=True,
        removed_from_conversation_template="removed",
        removed_from_conversation_sound="bell",
    )
    assert updated.log_enabled is True
    assert updated.new_message == {
        "enabled": True,
        "template": "${PARTICIPANT}: ${MESSAGE}",
        "sound": "ring",
        "badge_count_enabled": True,
        "with_media": {"enabled": True, "template": "${MEDIA_COUNT} files"},
    }
    assert updated.added_to_conversation == {"enabled": True, "template": "added", "sound": "chime"}
    assert updated.removed_from_conversation == {"enabled": True, "template": "removed", "sound": "bell"}
    assert notifications.fetch().new_message == updated.new_message


def test_service_webhooks_fetch_and_update(conversations, service):
    webhooks = conversations.services(service.sid).configuration.webhooks()
    empty = webhooks.fetch()
    assert (empty.chat_service_sid, empty.pre_webhook_url, empty.filters, empty.method) == (
        service.sid,
        None,
        None,
        None,
    )
    updated = webhooks.update(
        pre_webhook_url="https://www.example.com/pre",
        post_webhook_url="https://www.example.com/post",
        filters=["onMessageRemoved", "onParticipantAdd"],
        method="POST",
    )
    assert (updated.pre_webhook_url, updated.post_webhook_url, updated.method) == (
        "https://www.example.com/pre",
        "https://www.example.com/post",
        "POST",
    )
    assert webhooks.fetch().filters == ["onMessageRemoved", "onParticipantAdd"]
    with pytest.raises(TwilioRestException) as err:
        webhooks.update(post_webhook_url="not a url")
    assert (err.value.status, err.value.code) == (400, 50054)


def test_conversation_webhooks_create_list_fetch_update_delete(scope):
    conv = scope.conversations.create(friendly_name="hooks")
    hooks = scope.conversations(conv.sid).webhooks

    webhook = hooks.create(
        target="webhook",
        configuration_url="https://example.com/hook",
        configuration_method="GET",
        configuration_filters=["onMessageAdded", "onParticipantAdded"],
    )
    assert webhook.sid.startswith("WH") and webhook.conversation_sid == conv.sid
    assert webhook.target == "webhook"
    assert webhook.configuration == {
        "url": "https://example.com/hook",
        "method": "get",
        "filters": ["onMessageAdded", "onParticipantAdded"],
    }
    trigger = hooks.create(
        target="trigger",
        configuration_url="https://example.com/bot",
        configuration_triggers=["help", "agent"],
    )
    assert trigger.configuration["triggers"] == ["help", "agent"]
    studio = hooks.create(target="studio", configuration_flow_sid=FLOW, configuration_replay_after=3)
    assert studio.configuration == {"flow_sid": FLOW, "replay_after": 3}
    created = [webhook.sid, trigger.sid, studio.sid]
    for _ in range(2):
        created.append(hooks.create(target="studio", configuration_flow_sid=FLOW).sid)

    # Five webhooks over three pages of two.
    assert [w.sid for w in hooks.stream(page_size=2)] == created
    assert [w.sid for w in hooks.list(limit=3, page_size=2)] == created[:3]
    with pytest.raises(TwilioRestException) as err:
        hooks.create(target="studio", configuration_flow_sid=FLOW)
    assert (err.value.status, err.value.code) == (400, 50361)

    assert hooks(webhook.sid).fetch().configuration == webhook.configuration
    updated = hooks(webhook.sid).update(
        configuration_url="https://example.com/other",
        configuration_filters=["onConversationRemoved"],
        configuration_method="post",
    )
    assert updated.configuration == {
        "url": "https://example.com/other",
        "method": "post",
        "filters": ["onConversationRemoved"],
    }

    assert hooks(webhook.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        hooks(webhook.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)
    assert [w.sid for w in hooks.list()] == created[1:]


def test_conversation_webhook_errors(scope):
    hooks = scope.conversations(scope.conversations.create().sid).webhooks
    cases = [
        (dict(target="webhook", configuration_filters=["onMessageAdded"]), 50369),
        (dict(target="webhook", configuration_url="https://example.com"), 50370),
        (dict(target="trigger", configuration_url="https://example.com"), 50371),
        (dict(target="studio"), 50367),
        (dict(target="bot"), 50364),
        (dict(target="webhook", configuration_url="https://example.com", configuration_filters=["onMessageAdd"]), 50365),
        (dict(target="trigger", configuration_url="https://example.com", configuration_triggers=list("abcdef")), 50362),
        (dict(target="webhook", configuration_url="https://example.com/" + "x" * 500, configuration_filters=["onMessageAdded"]), 50372),
    ]
    for params, code in cases:
        with pytest.raises(TwilioRestException) as err:
            hooks.create(**params)
        assert (err.value.status, err.value.code) == (400, code), params
    assert hooks.list() == []
