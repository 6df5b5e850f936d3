-- Inbound SMS/WhatsApp messages (`POST /confab/Inbound`), each with what became of it, so that a
-- test can read a phone's whole thread beside the outbound log.
CREATE TABLE inbound_messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    sid                 TEXT NOT NULL,          -- the channel message (SM... / MM...)
    account_sid         TEXT NOT NULL,
    from_address        TEXT NOT NULL,
    to_address          TEXT NOT NULL,
    channel             TEXT NOT NULL,          -- 'sms' | 'whatsapp'
    body                TEXT,
    media               TEXT,                   -- JSON array, as the message's media or as it arrived
    outcome             TEXT NOT NULL,          -- 'appended' | 'created' | 'dropped' | 'ignored' | 'failed'
    conversation_sid    TEXT,
    participant_sid     TEXT,
    message_sid         TEXT,
    error_code          INTEGER,
    error_message       TEXT,
    -- The last receipt (outbound message) written before this one: a phone's thread puts both
    -- directions in the order they happened, even within one second of the clock.
    after_receipt       INTEGER NOT NULL,
    date_created        INTEGER NOT NULL
);
CREATE INDEX inbound_by_account ON inbound_messages(account_sid, id);
CREATE INDEX inbound_by_from ON inbound_messages(account_sid, from_address, after_receipt, id);
CREATE INDEX receipts_by_to ON receipts(to_address, id);
