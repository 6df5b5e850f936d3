#!/usr/bin/env python3
"""Seeds a running confab for schemathesis and writes its configuration.

    seed.py BASE_URL ACCOUNT_SID AUTH_TOKEN SPEC CONFIG_OUT

Creates one resource of every kind (in the default service, a second service, and at the
account level), then writes a schemathesis.toml that fills each operation's path parameters
with them, so that generated requests reach real resources instead of 404s. DELETE operations
keep generated SIDs (404s): a real one would be gone after the first case.
"""

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

base, sid, token, spec_path, out = sys.argv[1:6]
auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


def call(method, path, form=None, body=None, content_type=None):
    data = body
    headers = {"Authorization": auth}
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seeding {method} {path}: {e.code} {e.read().decode()}")


def service_resources(prefix, service, credential, number):
    conv = call("POST", f"{prefix}/Conversations", [("FriendlyName", "seed"), ("State", "active")])["sid"]
    user = call("POST", f"{prefix}/Users", [("Identity", "alice")])["sid"]
    participant = call("POST", f"{prefix}/Conversations/{conv}/Participants", [("Identity", "alice")])["sid"]
    call(
        "POST",
        f"{prefix}/Conversations/{conv}/Participants",
        [("MessagingBinding.Address", f"+1777000{number:04}"), ("MessagingBinding.ProxyAddress", f"+1777999{number:04}")],
    )
    message = call("POST", f"{prefix}/Conversations/{conv}/Messages", [("Body", "hello"), ("Author", "alice")])["sid"]
    receipts = call("GET", f"{prefix}/Conversations/{conv}/Messages/{message}/Receipts")
    webhook = call(
        "POST",
        f"{prefix}/Conversations/{conv}/Webhooks",
        [("Target", "webhook"), ("Configuration.Url", "http://127.0.0.1:9/hook"), ("Configuration.Filters", "onMessageAdded")],
    )["sid"]
    role = call(
        "POST", f"{prefix}/Roles", [("FriendlyName", "seed"), ("Type", "conversation"), ("Permission", "sendMessage")]
    )["sid"]
    binding = call(
        "POST",
        f"/confab/Services/{service}/Bindings",
        [("Identity", "alice"), ("BindingType", "apn"), ("Endpoint", "seed"), ("CredentialSid", credential)],
    )["sid"]
    return {
        "IS": service,
        "CH": conv,
        "US": user,
        "MB": participant,
        "IM": message,
        "DY": receipts["delivery_receipts"][0]["sid"],
        "WH": webhook,
        "RL": role,
        "BS": binding,
    }


credential = call("POST", "/v1/Credentials", [("Type", "apn"), ("Secret", "s3cret")])["sid"]
address = call("POST", "/v1/Configuration/Addresses", [("Type", "sms"), ("Address", "+17770009999")])["sid"]
default_service = call("GET", "/v1/Services")["services"][0]["sid"]
second_service = call("POST", "/v1/Services", [("FriendlyName", "second")])["sid"]
by_service = {
    False: service_resources("/v1", default_service, credential, 1),
    True: service_resources(f"/v1/Services/{second_service}", second_service, credential, 2),
}
account_level = {"CR": credential, "IG": address}

AFTER = {
    "Services": "IS",
    "Conversations": "CH",
    "Messages": "IM",
    "Participants": "MB",
    "Webhooks": "WH",
    "Receipts": "DY",
    "Roles": "RL",
    "Users": "US",
    "Credentials": "CR",
    "Bindings": "BS",
    "Addresses": "IG",
}
NAMED = {"ChatServiceSid": "IS", "ConversationSid": "CH", "MessageSid": "IM", "UserSid": "US"}


def parameters(path):
    """The path's parameters, filled with the seeded resources."""
    resources = {**by_service[path.startswith("/v1/Services/{")], **account_level}
    segments = path.strip("/").split("/")
    filled = {}
    for i, segment in enumerate(segments):
        if segment.startswith("{"):
            name = segment[1:-1]
            filled[name] = resources[NAMED.get(name) or AFTER[segments[i - 1]]]
    return filled


spec = json.load(open(spec_path))
settings = {}
for path, item in sorted(spec["paths"].items()):
    for method in ("get", "post"):
        if method in item and "{" in path:
            values = ", ".join(f'{k} = "{v}"' for k, v in parameters(path).items())
            settings.setdefault(item[method]["operationId"], []).append(f"parameters = {{ {values} }}")

# The official spec contradicts itself here: its schema for a service's webhook configuration
# allows only GET or POST as `method` (not nullable), while its own `fetchEmpty` example of the
# same response, a service with no webhook URL, shows `"method": null`, which confab answers.
# Only the response-schema check is left out, for these two operations alone.
for op in ("FetchServiceWebhookConfiguration", "UpdateServiceWebhookConfiguration"):
    settings.setdefault(op, []).append("checks.response_schema_conformance.enabled = false")

lines = ["# Written by tests/fuzz/seed.py for one run: each operation's path parameters name seeded", "# resources.", ""]
for op, entries in settings.items():
    lines += ["[[operations]]", f'include-operation-id = "{op}"', *entries, ""]
open(out, "w").write("\n".join(lines))
