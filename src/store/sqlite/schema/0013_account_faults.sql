-- Faults a test asked for on one account's requests (`POST /confab/Accounts/{sid}/Faults`):
-- the share of requests answered 429 or 5xx, and latency added to each. A reset removes them.
CREATE TABLE account_faults (
    account_sid TEXT PRIMARY KEY REFERENCES accounts(sid) ON DELETE CASCADE,
    rate_429    REAL NOT NULL,
    rate_5xx    REAL NOT NULL,
    latency_ms  INTEGER NOT NULL
);

