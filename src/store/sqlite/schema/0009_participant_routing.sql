-- The routing invariant (twilio-behavior.md 10.2) kept by the database, not only checked before
-- a write: where several confab nodes share one database, two of them could each find a pair
-- free and both take it.
--
-- An (address, proxy address) pair belongs to at most one conversation of the account that is
-- not closed. A participant holds its pair while its conversation is not closed: its
-- `routing_account_sid` is then its account's SID, and NULL otherwise (a chat participant, a
-- group member without proxy, a participant of a closed conversation). Closing a conversation
-- releases its participants' pairs in the same job, and a closed conversation never reopens.
-- NULLs are never equal in a unique index, so the rows that hold nothing never collide.

ALTER TABLE participants ADD COLUMN routing_account_sid TEXT;
UPDATE participants SET routing_account_sid = (
        SELECT s.account_sid FROM conversations c JOIN services s ON s.id = c.service_id
        WHERE c.id = participants.conversation_id AND c.state != 'closed')
    WHERE binding_address IS NOT NULL AND binding_proxy_address IS NOT NULL;
CREATE UNIQUE INDEX participants_routing
    ON participants(routing_account_sid, binding_address, binding_proxy_address);
-- The pair's holder is found through `participants_routing` now.
DROP INDEX participants_by_proxy;

-- A group MMS member (an address without proxy) is unique within its conversation.
CREATE UNIQUE INDEX participants_group_member ON participants(conversation_id, binding_address)
    WHERE binding_address IS NOT NULL AND binding_proxy_address IS NULL;
