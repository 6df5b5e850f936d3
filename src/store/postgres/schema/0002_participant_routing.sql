-- The routing invariant kept by the database (see the SQLite engine's
-- schema/0009_participant_routing.sql, which this mirrors): a participant holds its (address,
-- proxy address) pair in `routing_account_sid` while its conversation is not closed, NULL
-- otherwise, and no two participants hold one pair in an account. Two nodes that both find a
-- pair free and both take it are refused here, the second at its insert. NULLs are distinct in
-- a unique index, so the rows that hold nothing never collide.

ALTER TABLE participants ADD COLUMN routing_account_sid TEXT;
UPDATE participants p SET routing_account_sid = s.account_sid
    FROM conversations c JOIN services s ON s.id = c.service_id
    WHERE c.id = p.conversation_id AND c.state <> 'closed'
      AND p.binding_address IS NOT NULL AND p.binding_proxy_address IS NOT NULL;
CREATE UNIQUE INDEX participants_routing
    ON participants(routing_account_sid, binding_address, binding_proxy_address);
-- The pair's holder is found through `participants_routing` now.
DROP INDEX participants_by_proxy;

-- A group MMS member (an address without proxy) is unique within its conversation.
CREATE UNIQUE INDEX participants_group_member ON participants(conversation_id, binding_address)
    WHERE binding_address IS NOT NULL AND binding_proxy_address IS NULL;
