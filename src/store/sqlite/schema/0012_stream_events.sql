-- The event stream (`GET /confab/Events`; docs/design.md, "The event stream"): every event,
-- recorded in the job that makes its change, kept for a bounded time and count so that a stream
-- that reconnects with `Last-Event-ID` gets what it missed. AUTOINCREMENT: an id is never
-- given twice, even once every event has been pruned, so that an old `Last-Event-ID` never
-- names a newer event. One writer: the id order is the commit order.

CREATE TABLE stream_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_sid      TEXT NOT NULL,
    conversation_sid TEXT,
    name             TEXT NOT NULL,
    data             TEXT NOT NULL,
    -- Seconds since the epoch on the system's clock (retention ignores the test clock).
    recorded_at      INTEGER NOT NULL DEFAULT (unixepoch())
);
-- A stream that reconnects reads its account's events after its id. No index on
-- `recorded_at`: one writer stamps rows in id order, so the old ones are the first ids, found
-- by the rowid (one less index to write per message).
CREATE INDEX stream_events_by_account ON stream_events (account_sid, id);
