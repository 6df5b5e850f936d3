-- The delivery log keeps what each attempt sent and what came back (as SQLite's 0015): the
-- parameters (a JSON array of [name, value] pairs, in the order sent), the X-Twilio-Signature,
-- and the start of the answer's body. Attempts logged before this have none (NULL).

ALTER TABLE webhook_deliveries ADD COLUMN params TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN signature TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN response_body TEXT;
