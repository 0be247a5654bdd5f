-- Organisations, people, memberships, sessions, API tokens, IT contacts, identity-side removals
-- and the audit log. Portable types only (see README "Storage"): TEXT ids, BIGINT Unix
-- milliseconds, INTEGER 0/1 flags, TEXT JSON.

CREATE TABLE organisations (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    identity_org_id  TEXT,
    sso_status       TEXT NOT NULL DEFAULT 'not_configured',
    -- Bumped by every change of the contact list; the UPDATE is the per-organisation lock.
    contacts_version BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX organisations_name ON organisations (name);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT,
    is_staff      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL,
    -- Lower-cased "name email", for the member picker's substring search.
    search_text TEXT NOT NULL,
    sort_name   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_name ON memberships (org_id, sort_name, user_id);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX api_tokens_token_hash ON api_tokens (token_hash);

CREATE TABLE login_failures (
    email_key TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX login_failures_by_email ON login_failures (email_key, at);

CREATE TABLE it_contacts (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organisations (id),
    email               TEXT NOT NULL,
    email_key           TEXT NOT NULL,
    name                TEXT,
    source              TEXT NOT NULL,
    member_id           TEXT REFERENCES users (id),
    status              TEXT NOT NULL,
    status_detail       TEXT,
    identity_contact_id TEXT,
    synced_at           BIGINT,
    sync_attempts       INTEGER NOT NULL DEFAULT 0,
    -- When the background sync should next try; NULL unless the contact is pending.
    next_sync_at        BIGINT,
    lease_owner         TEXT,
    lease_until         BIGINT,
    created_at          BIGINT NOT NULL,
    created_by          TEXT NOT NULL
);
CREATE UNIQUE INDEX it_contacts_org_email ON it_contacts (org_id, email_key);
CREATE INDEX it_contacts_by_org ON it_contacts (org_id, id);
CREATE INDEX it_contacts_sync_due ON it_contacts (next_sync_at) WHERE next_sync_at IS NOT NULL;

CREATE TABLE identity_removals (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organisations (id),
    contact_id          TEXT NOT NULL,
    email               TEXT NOT NULL,
    email_key           TEXT NOT NULL,
    identity_org_id     TEXT,
    identity_contact_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    requested_at        BIGINT NOT NULL,
    requested_by        TEXT NOT NULL,
    completed_at        BIGINT,
    completed_by        TEXT,
    outcome             TEXT,
    -- 1 when the removal completes without the operations team (SMARTCORE_IDENTITY_AUTO_REMOVE).
    automatic           INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT,
    last_error          TEXT,
    lease_owner         TEXT,
    lease_until         BIGINT
);
CREATE UNIQUE INDEX identity_removals_one_pending ON identity_removals (org_id, email_key) WHERE status = 'pending';
CREATE INDEX identity_removals_by_status ON identity_removals (status, requested_at);

CREATE TABLE audit_events (
    id      TEXT PRIMARY KEY,
    org_id  TEXT,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_by_org ON audit_events (org_id, id);
