-- Deliveries go out in order per (ordering key, target URL): the key is the conversation's SID
-- for conversation events and the user's SID for user events, so each target sees one
-- conversation's (or one user's) events in the order they happened, and a slow or failing
-- target holds up only its own queue, not the other targets of the same conversation.

ALTER TABLE webhook_outbox ADD COLUMN ordering_key TEXT;
UPDATE webhook_outbox SET ordering_key = conversation_sid;
DROP INDEX webhook_outbox_by_conversation;
CREATE INDEX webhook_outbox_in_order ON webhook_outbox(ordering_key, url, id);
