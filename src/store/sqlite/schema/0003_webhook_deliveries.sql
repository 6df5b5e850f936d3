-- The delivery log: one row per attempt to deliver a webhook (post-action from the outbox, or
-- pre-action inline), for operators to read through GET /confab/Webhooks/Deliveries.

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    account_sid      TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    kind             TEXT NOT NULL,   -- 'post' | 'pre'
    target           TEXT NOT NULL,   -- 'webhook' | 'trigger' | 'studio'
    url              TEXT NOT NULL,
    method           TEXT NOT NULL,
    webhook_sid      TEXT,
    conversation_sid TEXT,
    attempt          INTEGER NOT NULL, -- RetryCount sent with this attempt
    status           INTEGER,          -- the target's HTTP status, NULL when none came back
    outcome          TEXT NOT NULL,    -- 'delivered' | 'retrying' | 'gave_up' | 'rejected' | 'not_delivered'
    error            TEXT,
    latency_ms       INTEGER,
    date_created     INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_account ON webhook_deliveries(account_sid, id);
