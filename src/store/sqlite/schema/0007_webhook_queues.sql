-- Webhook deliveries queued by queue: one row per queue (a conversation's or a user's
-- deliveries to one URL, or a single delivery that nothing orders), holding when its head is
-- due and who has claimed it. Finding due work reads this table by its due index, so that
-- sending costs the same per event whatever waits behind the heads (before, every waiting
-- delivery was looked at to tell whether it was a head).

CREATE TABLE webhook_queues (
    id              INTEGER PRIMARY KEY,
    account_sid     TEXT NOT NULL,
    ordering_key    TEXT,             -- NULL: a queue of one delivery
    url             TEXT NOT NULL,
    next_attempt_at INTEGER NOT NULL, -- when its head is due (server clock)
    lease_holder    TEXT,             -- the process sending its head, if any
    lease_until     INTEGER,          -- until when (system clock)
    first_outbox_id INTEGER           -- only while this migration runs
);

ALTER TABLE webhook_outbox ADD COLUMN queue_id INTEGER;

-- Every queued delivery joins its queue: keyed ones share theirs, each other one gets its own.
INSERT INTO webhook_queues (account_sid, ordering_key, url, next_attempt_at, first_outbox_id)
    SELECT o.account_sid, o.ordering_key, o.url, o.next_attempt_at, o.id FROM webhook_outbox o
    WHERE o.ordering_key IS NULL OR o.id =
        (SELECT min(h.id) FROM webhook_outbox h WHERE h.ordering_key = o.ordering_key AND h.url = o.url);
UPDATE webhook_outbox SET queue_id =
    (SELECT q.id FROM webhook_queues q WHERE q.first_outbox_id = webhook_outbox.id)
    WHERE ordering_key IS NULL;
UPDATE webhook_outbox SET queue_id =
    (SELECT q.id FROM webhook_queues q WHERE q.ordering_key = webhook_outbox.ordering_key AND q.url = webhook_outbox.url)
    WHERE ordering_key IS NOT NULL;
ALTER TABLE webhook_queues DROP COLUMN first_outbox_id;

CREATE UNIQUE INDEX webhook_queues_by_key ON webhook_queues(ordering_key, url) WHERE ordering_key IS NOT NULL;
CREATE INDEX webhook_queues_due ON webhook_queues(next_attempt_at);

DROP INDEX webhook_outbox_due;
DROP INDEX webhook_outbox_in_order;
ALTER TABLE webhook_outbox DROP COLUMN next_attempt_at;
CREATE INDEX webhook_outbox_by_queue ON webhook_outbox(queue_id, id);
