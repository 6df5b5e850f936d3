-- API key secrets are kept as salted hashes: they are only ever verified. `secret` is emptied
-- once a key's hash is written (confab does it at start for keys made before this migration;
-- SQLite has no SHA-256 of its own).

CREATE TABLE api_keys_hashed (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts(sid) ON DELETE CASCADE,
    secret        TEXT,            -- only until its hash is written (keys made before 0010)
    salt          TEXT,
    secret_hash   TEXT,
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL
);
INSERT INTO api_keys_hashed (sid, account_sid, secret, friendly_name, date_created)
    SELECT sid, account_sid, secret, friendly_name, date_created FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_hashed RENAME TO api_keys;
