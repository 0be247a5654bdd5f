-- Signing in with SSO (issue 21): how the identity provider takes our request, the
-- organisation's sign-in policy, the requests we issued, assertions already used, every
-- attempt, certificates the identity provider signed with that we do not have, and the
-- one-time hand-over from the ACS to the browser that started the sign-in.

ALTER TABLE sso_configs ADD COLUMN idp_sso_binding TEXT NOT NULL DEFAULT 'redirect'
    CHECK (idp_sso_binding IN ('redirect', 'post'));

ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password'
    CHECK (method IN ('password', 'sso'));

CREATE TABLE sso_policies (
    org_id        TEXT PRIMARY KEY REFERENCES organisations (id),
    jit_members   INTEGER NOT NULL CHECK (jit_members IN (0, 1)),
    idp_initiated INTEGER NOT NULL CHECK (idp_initiated IN (0, 1)),
    require_sso   INTEGER NOT NULL CHECK (require_sso IN (0, 1)),
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL
);

-- An AuthnRequest we sent: answered at most once, within ten minutes, by the browser whose
-- secret hashes to browser_hash.
CREATE TABLE sso_requests (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('sign_in', 'test')),
    browser_hash TEXT NOT NULL,
    return_path  TEXT,
    -- The administrator who started a test sign-in.
    requested_by TEXT,
    created_at   BIGINT NOT NULL,
    answered_at  BIGINT
);
CREATE INDEX sso_requests_created ON sso_requests (created_at);

-- Assertion IDs already used, kept until their NotOnOrAfter so that a replay is refused by
-- every instance.
CREATE TABLE sso_assertions_used (
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    assertion_id TEXT NOT NULL,
    keep_until   BIGINT NOT NULL,
    PRIMARY KEY (org_id, assertion_id)
);
CREATE INDEX sso_assertions_used_keep ON sso_assertions_used (keep_until);

CREATE TABLE sso_attempts (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organisations (id),
    at                  BIGINT NOT NULL,
    result              TEXT NOT NULL CHECK (result IN ('signed_in', 'tested', 'refused')),
    reason              TEXT,
    name_id             TEXT,
    email               TEXT,
    user_id             TEXT,
    certificate_sha256  TEXT,
    signature_algorithm TEXT,
    -- JSON: the checks as the administrator's test page lists them.
    checks              TEXT NOT NULL,
    -- JSON list of warnings: sha1, weak_key, expired_certificate.
    flags               TEXT NOT NULL
);
CREATE INDEX sso_attempts_org ON sso_attempts (org_id, id);
CREATE INDEX sso_attempts_at ON sso_attempts (at);

-- Certificates a Response was signed with that the configuration does not have (a rotation
-- at the identity provider): one notice each.
CREATE TABLE sso_unknown_certificates (
    org_id             TEXT NOT NULL REFERENCES organisations (id),
    fingerprint_sha256 TEXT NOT NULL,
    first_seen_at      BIGINT NOT NULL,
    last_seen_at       BIGINT NOT NULL,
    notified_at        BIGINT,
    PRIMARY KEY (org_id, fingerprint_sha256)
);

-- The ACS hands a verified sign-in to the browser through a same-site redirect; this is the
-- one-time ticket it carries (hashed).
CREATE TABLE sso_handovers (
    ticket_hash  TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    attempt_id   TEXT NOT NULL,
    user_id      TEXT,
    -- NULL for an IdP-initiated sign-in (no browser to bind to).
    browser_hash TEXT,
    return_path  TEXT,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX sso_handovers_expires ON sso_handovers (expires_at);

-- When the metadata was last re-fetched because of an unknown certificate.
ALTER TABLE sso_configs ADD COLUMN rotation_refetch_at BIGINT;
