-- Lifecycle: finding due timers and due receipt transitions by index, never by scanning.

CREATE INDEX conversations_inactive_due ON conversations(date_inactive) WHERE date_inactive IS NOT NULL;
CREATE INDEX conversations_closed_due ON conversations(date_closed) WHERE date_closed IS NOT NULL;

-- What would have gone out by SMS/WhatsApp: one receipt per non-chat recipient of a message,
-- with the outbound message itself, moved through Twilio's statuses on the server's clock.
ALTER TABLE receipts ADD COLUMN to_address TEXT;
ALTER TABLE receipts ADD COLUMN from_address TEXT;
ALTER TABLE receipts ADD COLUMN channel TEXT;         -- 'sms' | 'whatsapp' | ...
ALTER TABLE receipts ADD COLUMN body TEXT;
ALTER TABLE receipts ADD COLUMN media TEXT;
ALTER TABLE receipts ADD COLUMN next_status_at INTEGER; -- when it moves to its next status, NULL when final
CREATE INDEX receipts_due ON receipts(next_status_at) WHERE next_status_at IS NOT NULL;
