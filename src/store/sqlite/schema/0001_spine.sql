-- The spine: accounts, services and everything inside a service.
--
-- Conventions:
-- - `id INTEGER PRIMARY KEY` is the internal key; it only grows, so it is also creation order
--   and the keyset for lists sorted "by creation". `sid` is the public name.
-- - Dates are whole seconds since the epoch (Twilio's precision).
-- - JSON-in-string fields (`attributes`) are stored verbatim as the client sent them.
-- - Children are deleted with their parents (ON DELETE CASCADE; foreign_keys is on).

CREATE TABLE accounts (
    sid           TEXT PRIMARY KEY,
    auth_token    TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts(sid) ON DELETE CASCADE,
    secret        TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL
);

-- /v1/Configuration: one row per account.
CREATE TABLE account_configurations (
    account_sid                   TEXT PRIMARY KEY REFERENCES accounts(sid) ON DELETE CASCADE,
    default_chat_service_sid      TEXT,
    default_messaging_service_sid TEXT,
    default_inactive_timer        TEXT,
    default_closed_timer          TEXT
);

-- /v1/Configuration/Webhooks: one row per account.
CREATE TABLE account_webhooks (
    account_sid      TEXT PRIMARY KEY REFERENCES accounts(sid) ON DELETE CASCADE,
    method           TEXT,
    filters          TEXT,     -- JSON array of event names
    pre_webhook_url  TEXT,
    post_webhook_url TEXT,
    target           TEXT
);

CREATE TABLE services (
    id            INTEGER PRIMARY KEY,
    sid           TEXT NOT NULL UNIQUE,
    account_sid   TEXT NOT NULL REFERENCES accounts(sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
);
CREATE INDEX services_by_account ON services(account_sid, id);

-- /v1/Services/{sid}/Configuration: one row per service.
CREATE TABLE service_configurations (
    service_id                            INTEGER PRIMARY KEY REFERENCES services(id) ON DELETE CASCADE,
    default_conversation_creator_role_sid TEXT,
    default_conversation_role_sid         TEXT,
    default_chat_service_role_sid         TEXT,
    reachability_enabled                  INTEGER NOT NULL DEFAULT 0
);

-- /v1/Services/{sid}/Configuration/Notifications: the whole wire object, as JSON.
CREATE TABLE service_notifications (
    service_id INTEGER PRIMARY KEY REFERENCES services(id) ON DELETE CASCADE,
    settings   TEXT NOT NULL
);

-- /v1/Services/{sid}/Configuration/Webhooks: one row per service.
CREATE TABLE service_webhooks (
    service_id       INTEGER PRIMARY KEY REFERENCES services(id) ON DELETE CASCADE,
    method           TEXT,
    filters          TEXT,     -- JSON array of event names
    pre_webhook_url  TEXT,
    post_webhook_url TEXT
);

CREATE TABLE roles (
    id            INTEGER PRIMARY KEY,
    sid           TEXT NOT NULL UNIQUE,
    service_id    INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    type          TEXT NOT NULL,   -- 'service' | 'conversation'
    permissions   TEXT NOT NULL,   -- JSON array
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
);
CREATE INDEX roles_by_service ON roles(service_id, id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    sid           TEXT NOT NULL UNIQUE,
    service_id    INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    identity      TEXT NOT NULL,
    friendly_name TEXT,
    attributes    TEXT NOT NULL,
    role_sid      TEXT,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL,
    UNIQUE (service_id, identity)
);
CREATE INDEX users_by_service ON users(service_id, id);

CREATE TABLE conversations (
    id                    INTEGER PRIMARY KEY,
    sid                   TEXT NOT NULL UNIQUE,
    service_id            INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    unique_name           TEXT,
    friendly_name         TEXT,
    attributes            TEXT NOT NULL,
    messaging_service_sid TEXT,
    state                 TEXT NOT NULL,
    timer_inactive        INTEGER,   -- seconds, NULL when unset
    timer_closed          INTEGER,   -- seconds, NULL when unset
    date_inactive         INTEGER,   -- when the inactive timer fires, NULL when not scheduled
    date_closed           INTEGER,   -- when the closed timer fires, NULL when not scheduled
    bindings              TEXT,      -- JSON object (Bindings.Email.*), NULL when unset
    created_by            TEXT,
    next_message_index    INTEGER NOT NULL DEFAULT 0,
    date_created          INTEGER NOT NULL,
    date_updated          INTEGER NOT NULL,
    UNIQUE (service_id, unique_name)
);
CREATE INDEX conversations_by_service ON conversations(service_id, id);
CREATE INDEX conversations_by_date ON conversations(service_id, date_created, id);
CREATE INDEX conversations_by_state ON conversations(service_id, state, id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    sid             TEXT NOT NULL UNIQUE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    author          TEXT,
    body            TEXT,
    media           TEXT,      -- JSON array of {sid, size, content_type, filename}, NULL when none
                               -- (the wire shape, written once: media is immutable)
    attributes      TEXT NOT NULL,
    participant_sid TEXT,
    content_sid     TEXT,
    content_variables TEXT,
    subject         TEXT,
    date_created    INTEGER NOT NULL,
    date_updated    INTEGER NOT NULL,
    UNIQUE (conversation_id, idx)   -- also the keyset of the message list, in both orders
);

CREATE TABLE participants (
    id                       INTEGER PRIMARY KEY,
    sid                      TEXT NOT NULL UNIQUE,
    conversation_id          INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    service_id               INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    identity                 TEXT,
    user_sid                 TEXT,
    attributes               TEXT NOT NULL,
    role_sid                 TEXT,
    binding_type             TEXT,      -- 'sms' | 'whatsapp' | ... ; NULL for chat participants
    binding_address          TEXT,
    binding_proxy_address    TEXT,
    binding_projected_address TEXT,
    binding_name             TEXT,
    binding_level            TEXT,
    last_read_message_index  INTEGER,
    last_read_timestamp      TEXT,      -- as on the wire: ISO-8601 UTC, whole seconds (wire::time::format_date)
    notification_level       TEXT NOT NULL DEFAULT 'default',
    date_created             INTEGER NOT NULL,
    date_updated             INTEGER NOT NULL,
    UNIQUE (conversation_id, identity)
);
CREATE INDEX participants_by_conversation ON participants(conversation_id, id);
CREATE INDEX participants_by_identity ON participants(service_id, identity, conversation_id);
CREATE INDEX participants_by_address ON participants(service_id, binding_address, conversation_id);
-- The routing invariant (one non-closed conversation per address/proxy pair, 50416).
CREATE INDEX participants_by_proxy ON participants(binding_address, binding_proxy_address);

CREATE TABLE receipts (
    id                  INTEGER PRIMARY KEY,
    sid                 TEXT NOT NULL UNIQUE,
    message_id          INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    participant_sid     TEXT,
    channel_message_sid TEXT,
    status              TEXT,
    error_code          INTEGER,
    date_created        INTEGER NOT NULL,
    date_updated        INTEGER
);
CREATE INDEX receipts_by_message ON receipts(message_id, id);

CREATE TABLE conversation_webhooks (
    id              INTEGER PRIMARY KEY,
    sid             TEXT NOT NULL UNIQUE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    target          TEXT NOT NULL,   -- 'webhook' | 'trigger' | 'studio'
    url             TEXT,
    method          TEXT,
    filters         TEXT,            -- JSON array
    triggers        TEXT,            -- JSON array
    flow_sid        TEXT,
    replay_after    INTEGER,
    date_created    INTEGER NOT NULL,
    date_updated    INTEGER NOT NULL
);
CREATE INDEX conversation_webhooks_by_conversation ON conversation_webhooks(conversation_id, id);

CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    sid           TEXT NOT NULL UNIQUE,
    account_sid   TEXT NOT NULL REFERENCES accounts(sid) ON DELETE CASCADE,
    friendly_name TEXT,
    type          TEXT NOT NULL,     -- 'apn' | 'gcm' | 'fcm'
    sandbox       INTEGER NOT NULL DEFAULT 0,
    certificate   TEXT,              -- secrets: stored, never returned
    private_key   TEXT,
    api_key       TEXT,
    secret        TEXT,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
);
CREATE INDEX credentials_by_account ON credentials(account_sid, id);

-- Push bindings. `credential_sid` is a plain SID, not a foreign key: deleting a credential leaves
-- its bindings as they are (store/credentials.rs says why).
CREATE TABLE bindings (
    id             INTEGER PRIMARY KEY,
    sid            TEXT NOT NULL UNIQUE,
    service_id     INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    credential_sid TEXT,              -- NULL for 'twilsock'
    endpoint       TEXT NOT NULL,
    address        TEXT,              -- the device's push token, when registered with one
    identity       TEXT NOT NULL,
    binding_type   TEXT NOT NULL,    -- 'apn' | 'gcm' | 'fcm' | 'twilsock'
    message_types  TEXT NOT NULL,    -- JSON array
    date_created   INTEGER NOT NULL,
    date_updated   INTEGER NOT NULL,
    -- One binding per service, identity, device and channel (a new registration replaces it).
    UNIQUE (service_id, identity, endpoint, binding_type)
);
CREATE INDEX bindings_by_service ON bindings(service_id, id);

CREATE TABLE address_configurations (
    id                       INTEGER PRIMARY KEY,
    sid                      TEXT NOT NULL UNIQUE,
    account_sid              TEXT NOT NULL REFERENCES accounts(sid) ON DELETE CASCADE,
    type                     TEXT NOT NULL,   -- 'sms' | 'whatsapp' | ... (lower case)
    address                  TEXT NOT NULL,
    friendly_name            TEXT,
    address_country          TEXT,
    -- AutoCreation.*: what an inbound message to this address creates.
    auto_enabled             INTEGER NOT NULL,
    auto_type                TEXT NOT NULL,   -- 'webhook' | 'studio' | 'default'
    auto_service_sid         TEXT NOT NULL,   -- IS...: where autocreated conversations go
    auto_webhook_url         TEXT,
    auto_webhook_method      TEXT,            -- 'GET' | 'POST'
    auto_webhook_filters     TEXT,            -- JSON array of event names
    auto_studio_flow_sid     TEXT,
    auto_studio_retry_count  INTEGER,
    date_created             INTEGER NOT NULL,
    date_updated             INTEGER NOT NULL,
    UNIQUE (account_sid, address)
);
CREATE INDEX address_configurations_by_account ON address_configurations(account_sid, id);
CREATE INDEX address_configurations_by_type ON address_configurations(account_sid, type, id);

-- Media Content Service uploads (ME...): the bytes and what they are, until their message is
-- deleted. `message_id` is NULL until a message attaches the media; one message per media.
CREATE TABLE media (
    id            INTEGER PRIMARY KEY,
    sid           TEXT NOT NULL UNIQUE,
    service_id    INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    message_id    INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    content_type  TEXT NOT NULL,
    filename      TEXT,
    size          INTEGER NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL,
    content       BLOB NOT NULL   -- last, so that reading the metadata skips the bytes
);
CREATE INDEX media_by_message ON media(message_id);
CREATE INDEX media_by_service ON media(service_id);
CREATE INDEX media_unattached ON media(date_created) WHERE message_id IS NULL;
