-- One detour per (issuer, state): the IdP's redirect. It may show several prompts in a row.
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
    UNIQUE (issuer, state)
);

CREATE TABLE prompts (
    id               TEXT PRIMARY KEY,
    detour_id        TEXT NOT NULL REFERENCES detours (id),
    seq              INTEGER NOT NULL,
    campaign         TEXT NOT NULL,
    campaign_version INTEGER NOT NULL,
    subject          TEXT NOT NULL,
    issuer           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'skipped', 'declined', 'expired')),
    locale           TEXT NOT NULL,
    csrf_token       TEXT NOT NULL,
    browser_hash     TEXT NOT NULL,         -- SHA-256 of the browser cookie that opened it
    shown_at         INTEGER NOT NULL,
    finished_at      INTEGER,
    expires_at       INTEGER NOT NULL,
    ip               TEXT,
    user_agent       TEXT,
    UNIQUE (detour_id, seq)
);

-- The rules read a user's history by (issuer, subject); the sweep finds open prompts.
CREATE INDEX prompts_by_subject ON prompts (issuer, subject, campaign, shown_at);
CREATE INDEX prompts_open ON prompts (expires_at) WHERE status = 'pending';
CREATE INDEX prompts_by_campaign ON prompts (campaign, shown_at);

CREATE TABLE responses (
    prompt_id        TEXT PRIMARY KEY REFERENCES prompts (id),
    campaign         TEXT NOT NULL,
    campaign_version INTEGER NOT NULL,
    subject          TEXT NOT NULL,
    issuer           TEXT NOT NULL,
    outcome          TEXT NOT NULL CHECK (outcome IN ('completed', 'skipped', 'declined')),
    answers          TEXT NOT NULL,         -- JSON object of validated answers
    created_at       INTEGER NOT NULL
);
CREATE INDEX responses_by_subject ON responses (issuer, subject, created_at);

CREATE TABLE tos_acceptances (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    document    TEXT NOT NULL,
    version     TEXT NOT NULL,
    url         TEXT NOT NULL,
    prompt_id   TEXT NOT NULL REFERENCES prompts (id),
    accepted_at INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
);
CREATE INDEX tos_by_subject ON tos_acceptances (issuer, subject, document);
