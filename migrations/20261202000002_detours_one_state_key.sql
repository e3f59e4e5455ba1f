-- no-transaction
-- A state was kept unique twice: by UNIQUE (issuer, state) in the table and by
-- detours_state_once (state), which implies it. Each login inserted into both indexes, each
-- keyed by a random value, so each wrote a page of its own to the WAL. SQLite cannot drop
-- a table's constraint, so the table is rebuilt without it, same columns in the same order
-- (SQLite's procedure for other schema changes, https://sqlite.org/lang_altertable.html).
--
-- prompts refers to detours (id): with foreign keys on, dropping the table would delete
-- every row one by one and look up each one's prompts, and no transaction may turn them off.
-- So this migration runs outside the migrator's transaction and holds its own: the keys are
-- off around it, and the rebuild fails (and rolls back) unless it kept every detour. Should
-- the process stop after its commit and before the migrator records it, running it again
-- rebuilds the same table again.
--
-- It takes 14 to 23 s per million detours on the benchmark machine (2 cores, an SSD), at
-- the first start after the upgrade; the page cache is larger while it runs.
PRAGMA foreign_keys = OFF;
PRAGMA cache_size = -262144;

BEGIN IMMEDIATE;

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

-- Every detour was kept: otherwise this insert fails, and with it the migration.
CREATE TEMP TABLE detours_rebuilt (lost INTEGER NOT NULL CHECK (lost = 0));
INSERT INTO detours_rebuilt
SELECT (SELECT count(*) FROM detours_kept) - (SELECT count(*) FROM detours);

DROP TABLE detours_kept;
DROP TABLE detours_rebuilt;

-- A state is single-use across tenants (see 20261123000002): the one unique key left.
CREATE UNIQUE INDEX detours_state_once ON detours (state);

COMMIT;

-- SQLite's defaults again, as this connection goes back to the pool.
PRAGMA cache_size = -2000;
PRAGMA foreign_keys = ON;
