"""Fixtures: a fresh confab account per test, and the official twilio Client pointed at confab
by changing only its base URL, as a user would."""

import os

import pytest
import requests
from twilio.rest import Client

CONFAB_URL = os.environ["CONFAB_URL"]
OPERATOR = ("AC0123456789abcdef0123456789abcdef", "confab_dev_auth_token")


def new_account():
    res = requests.post(f"{CONFAB_URL}/confab/Accounts", auth=OPERATOR, data={"FriendlyName": "sdk test"})
    res.raise_for_status()
    return res.json()


def sdk_client(account_sid, secret, username=None):
    client = Client(username or account_sid, secret, account_sid)
    client.conversations.base_url = CONFAB_URL
    return client


@pytest.fixture
def account():
    return new_account()


@pytest.fixture
def client(account):
    return sdk_client(account["account_sid"], account["auth_token"])


@pytest.fixture
def conversations(client):
    """The Conversations v1 API of the default service."""
    return client.conversations.v1


@pytest.fixture
def service(client):
    """A second, non-default service: the `/v1/Services/{sid}/...` family."""
    return client.conversations.v1.services.create(friendly_name="sdk service")


@pytest.fixture(params=["default", "service"])
def scope(request, client):
    """Both URL families: the default-service shorthand and an explicit service."""
    if request.param == "default":
        return client.conversations.v1
    svc = client.conversations.v1.services.create(friendly_name="sdk service")
    return client.conversations.v1.services(svc.sid)
