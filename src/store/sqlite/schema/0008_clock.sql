-- The test clock's offset (milliseconds added to the system time), kept so that a restart
-- does not move the clock back behind dates it already wrote. One row.

CREATE TABLE clock (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    offset_ms INTEGER NOT NULL
);
INSERT INTO clock (id, offset_ms) VALUES (1, 0);
