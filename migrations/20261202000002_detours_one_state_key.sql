-- A state was kept unique twice: by UNIQUE (issuer, state) in the table and by
-- detours_state_once (state), which implies it. Each login inserted into both indexes, each
-- keyed by a random value, so each wrote a page of its own to the WAL. SQLite cannot drop
-- a table's constraint, so the table is rebuilt without it, same columns in the same order.
--
-- prompts refers to detours (id). Within this migration's transaction the foreign keys are
-- checked at its commit (defer_foreign_keys ends with the transaction): dropping the table
-- counts each prompt as orphaned, putting each detour back counts it found again, and the
-- commit fails unless every prompt has its detour.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE detours_kept AS SELECT * FROM detours;

DROP TABLE detours;

CREATE TABLE detours (
    id            TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    state         TEXT NOT NULL,
    subject       TEXT NOT NULL,
    claims        TEXT NOT NULL,            -- the verified inbound claims (JSON), never the token
    continue_url  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,         -- milliseconds since the epoch, UTC
    expires_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    result        TEXT,                     -- the return token's claims (JSON) once finished
    browser_hash  TEXT NOT NULL,            -- SHA-256 of the browser cookie that started it
    ip            TEXT,
    user_agent    TEXT,
    -- Which of the tenant's secrets verified the inbound token (see 20261123000002).
    secret_index  INTEGER NOT NULL DEFAULT 0
);

INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at, expires_at,
                     finished_at, result, browser_hash, ip, user_agent, secret_index)
SELECT id, issuer, state, subject, claims, continue_url, created_at, expires_at,
       finished_at, result, browser_hash, ip, user_agent, secret_index
FROM detours_kept
ORDER BY rowid;

DROP TABLE detours_kept;

-- A state is single-use across tenants (see 20261123000002): the one unique key left.
CREATE UNIQUE INDEX detours_state_once ON detours (state);
