-- Domains an organisation claims (verified by a DNS TXT record) and its SAML configuration
-- with every signing certificate (what certificate-expiry alerts watch).

CREATE TABLE domains (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    domain          TEXT NOT NULL,
    status          TEXT NOT NULL,
    challenge_token TEXT NOT NULL,
    status_detail   TEXT,
    checks          INTEGER NOT NULL DEFAULT 0,
    -- When the background re-check should look again; NULL unless pending.
    next_check_at   BIGINT,
    verified_at     BIGINT,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL
);
CREATE UNIQUE INDEX domains_org_domain ON domains (org_id, domain);
-- One organisation per verified domain.
CREATE UNIQUE INDEX domains_verified_once ON domains (domain) WHERE status = 'verified';
CREATE INDEX domains_check_due ON domains (next_check_at) WHERE next_check_at IS NOT NULL;

CREATE TABLE sso_configs (
    org_id        TEXT PRIMARY KEY REFERENCES organisations (id),
    idp_entity_id TEXT NOT NULL,
    idp_sso_url   TEXT NOT NULL,
    source        TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL
);

CREATE TABLE sso_certificates (
    org_id             TEXT NOT NULL REFERENCES organisations (id),
    fingerprint_sha256 TEXT NOT NULL,
    subject            TEXT NOT NULL,
    not_before         BIGINT NOT NULL,
    not_after          BIGINT NOT NULL,
    pem                TEXT NOT NULL,
    added_at           BIGINT NOT NULL,
    -- Set when a new configuration no longer lists it.
    replaced_at        BIGINT,
    PRIMARY KEY (org_id, fingerprint_sha256)
);
CREATE INDEX sso_certificates_current ON sso_certificates (org_id, not_after) WHERE replaced_at IS NULL;
