"""Services through the official SDK."""

import pytest
from twilio.base.exceptions import TwilioRestException


def test_service_lifecycle(client):
    v1 = client.conversations.v1
    svc = v1.services.create(friendly_name="support")
    assert svc.sid.startswith("IS")
    assert v1.services(svc.sid).fetch().friendly_name == "support"
    assert svc.sid in [s.sid for s in v1.services.stream()]
    v1.services(svc.sid).conversations.create(unique_name="inside")
    assert v1.services(svc.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        v1.services(svc.sid).fetch()
    assert err.value.status == 404
