-- The event stream (`GET /confab/Events`; docs/design.md, "The event stream"): every event,
-- recorded in the transaction that makes its change, kept for a bounded time and count.
--
-- A sequence's numbers are not commit order: a transaction may take id 10, and commit after
-- another took 11 and committed. So an event is ordered by the transaction that wrote it
-- (`txid`, its 64-bit id, epoch included) and then by `id`, and a stream only reads events
-- whose transaction is older than the oldest one still running (the snapshot's xmin): every
-- transaction below it has ended, so no event can ever appear behind one already read.

CREATE TABLE stream_events (
    id               BIGSERIAL PRIMARY KEY,
    txid             BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    account_sid      TEXT NOT NULL,
    conversation_sid TEXT,
    name             TEXT NOT NULL,
    data             TEXT NOT NULL,
    -- Seconds since the epoch on the database's clock (retention ignores the test clock).
    recorded_at      BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp())::bigint)
);
CREATE INDEX stream_events_in_order ON stream_events (txid, id);
CREATE INDEX stream_events_by_account ON stream_events (account_sid, txid, id);
CREATE INDEX stream_events_by_age ON stream_events (recorded_at);
