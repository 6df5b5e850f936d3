-- Post-action webhooks: a durable outbox. A row is written in the same transaction as the change
-- it reports, one per (event, target), and deleted once delivered (or given up on).

CREATE TABLE webhook_outbox (
    id               INTEGER PRIMARY KEY,
    account_sid      TEXT NOT NULL,
    conversation_sid TEXT,            -- deliveries for one conversation go out in order
    event_type       TEXT NOT NULL,   -- 'onMessageAdded', ...
    target           TEXT NOT NULL,   -- 'webhook' | 'trigger' | 'studio'
    url              TEXT NOT NULL,   -- the URL, or the Studio Flow SID for target 'studio'
    method           TEXT NOT NULL,   -- 'GET' | 'POST'
    params           TEXT NOT NULL,   -- JSON array of [name, value] pairs, the form parameters
    webhook_sid      TEXT,            -- the conversation-scoped webhook (WH...) it came from
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    date_created     INTEGER NOT NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at, id);
CREATE INDEX webhook_outbox_by_conversation ON webhook_outbox(conversation_sid, id);
