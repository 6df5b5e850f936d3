"""Roles through the official SDK, under both URL families: repeated `permission` values,
create/list/stream/fetch/update/delete, and Twilio's error codes."""

import pytest
from twilio.base.exceptions import TwilioRestException

SEEDED = [
    ("service admin", "service"),
    ("service user", "service"),
    ("channel admin", "conversation"),
    ("channel user", "conversation"),
]


def test_a_service_starts_with_the_four_chat_roles(scope):
    assert [(r.friendly_name, r.type) for r in scope.roles.list()] == SEEDED


def test_create_fetch_update_delete(scope):
    role = scope.roles.create(
        friendly_name="Conversation Role",
        type="conversation",
        permission=["sendMessage", "leaveConversation"],
    )
    assert role.sid.startswith("RL") and len(role.sid) == 34
    assert role.type == "conversation"
    assert role.permissions == ["sendMessage", "leaveConversation"]
    assert role.date_created is not None

    fetched = scope.roles(role.sid).fetch()
    assert (fetched.friendly_name, fetched.permissions) == ("Conversation Role", role.permissions)

    updated = scope.roles(role.sid).update(permission=["deleteOwnMessage", "editOwnMessage"])
    assert updated.permissions == ["deleteOwnMessage", "editOwnMessage"]
    assert updated.type == "conversation"
    # The instance's own update, with a single permission.
    assert fetched.update(permission=["sendMessage"]).permissions == ["sendMessage"]

    assert scope.roles(role.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        scope.roles(role.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"type": "deployment", "permission": ["createConversation"]}, 50105),
        ({"type": "service", "permission": ["createChannel"]}, 50104),
        ({"type": "conversation", "permission": ["sendMessage", "createConversation"]}, 50104),
    ],
)
def test_create_errors(scope, kwargs, code):
    with pytest.raises(TwilioRestException) as err:
        scope.roles.create(friendly_name="bad", **kwargs)
    assert (err.value.status, err.value.code) == (400, code)
    assert len(scope.roles.list()) == len(SEEDED)


def test_update_checks_the_roles_own_type(scope):
    role = scope.roles.create(friendly_name="svc", type="service", permission=["createConversation"])
    with pytest.raises(TwilioRestException) as err:
        scope.roles(role.sid).update(permission=["sendMessage"])
    assert (err.value.status, err.value.code) == (400, 50104)
    assert scope.roles(role.sid).fetch().permissions == ["createConversation"]


def test_a_default_role_is_not_deleted(scope):
    service_user = scope.roles.list()[1]
    with pytest.raises(TwilioRestException) as err:
        scope.roles(service_user.sid).delete()
    assert (err.value.status, err.value.code) == (409, 20409)


def test_stream_follows_pages(scope):
    seeded = [r.sid for r in scope.roles.list()]
    created = [
        scope.roles.create(friendly_name=f"r{i}", type="service", permission=["joinConversation"]).sid
        for i in range(7)
    ]
    everything = seeded + created
    assert [r.sid for r in scope.roles.stream(page_size=3)] == everything
    assert [r.sid for r in scope.roles.list(limit=5, page_size=2)] == everything[:5]
    page = scope.roles.page(page_size=4)
    second = page.next_page()
    assert [r.sid for r in second] == everything[4:8]
    assert [r.sid for r in second.previous_page()] == everything[:4]
