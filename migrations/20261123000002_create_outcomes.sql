-- The exact consent text a user saw, stored once and referenced by its SHA-256.
CREATE TABLE consent_texts (
    sha256           TEXT PRIMARY KEY,
    text             TEXT NOT NULL,
    campaign         TEXT NOT NULL,
    campaign_version INTEGER NOT NULL,
    locale           TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

-- Append-only: a later answer for the same purpose supersedes an earlier one without
-- deleting it. The current state is the newest row per (issuer, subject, purpose).
CREATE TABLE consents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer           TEXT NOT NULL,
    subject          TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    granted          INTEGER NOT NULL CHECK (granted IN (0, 1)),
    text_sha256      TEXT NOT NULL REFERENCES consent_texts (sha256),
    text_version     TEXT NOT NULL,
    controller       TEXT NOT NULL,
    campaign         TEXT NOT NULL,
    campaign_version INTEGER NOT NULL,
    locale           TEXT NOT NULL,
    prompt_id        TEXT NOT NULL REFERENCES prompts (id),
    recorded_at      INTEGER NOT NULL,
    ip               TEXT,
    user_agent       TEXT
);
CREATE INDEX consents_current ON consents (issuer, subject, purpose, id);

-- Coupon codes: a pool row is free while subject is NULL. One code per user per campaign.
CREATE TABLE coupon_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign    TEXT NOT NULL,
    code        TEXT NOT NULL,
    issuer      TEXT,
    subject     TEXT,
    prompt_id   TEXT REFERENCES prompts (id),
    assigned_at INTEGER,
    expires_at  INTEGER,
    imported_at INTEGER NOT NULL,
    UNIQUE (campaign, code)
);
CREATE UNIQUE INDEX coupon_one_per_user ON coupon_codes (campaign, issuer, subject) WHERE subject IS NOT NULL;
CREATE INDEX coupon_free ON coupon_codes (campaign, id) WHERE subject IS NULL;

-- Work to do after an answer is committed (webhooks, profile write-back), written in the
-- same transaction so nothing is lost; a worker delivers with retries and backoff.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,          -- also the idempotency key
    kind            TEXT NOT NULL CHECK (kind IN ('webhook', 'auth0_profile')),
    target          TEXT NOT NULL,             -- URL, or the tenant issuer for auth0_profile
    payload         TEXT NOT NULL,             -- JSON
    prompt_id       TEXT REFERENCES prompts (id),
    campaign        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    delivered_at    INTEGER,
    failed_at       INTEGER,                   -- gave up after the last attempt
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Outcome claims of an answer (coupon code, exhaustion), returned in the token.
ALTER TABLE responses ADD COLUMN outcome_claims TEXT NOT NULL DEFAULT '{}';

-- Which of the tenant's secrets verified the inbound token: the return token is signed with
-- the same one, so an Action still on the previous secret during a rotation validates it.
ALTER TABLE detours ADD COLUMN secret_index INTEGER NOT NULL DEFAULT 0;

-- A state is single-use across tenants too: a token of tenant A replayed with a state that
-- tenant B issued is refused like any other reuse.
CREATE UNIQUE INDEX detours_state_once ON detours (state);
