-- Invitations to join an organisation (issue 12), portable types only.
--
-- An invitation names an address and a role. Its link's secret is never stored: every link
-- sent for it (the first and each resend) keeps only its SHA-256 in invitation_links, and
-- invitations.token_hash is the current one. An older link of a resent invitation is known,
-- so it answers 410 "replaced" rather than 404 like a tampered one.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    email       TEXT NOT NULL,
    email_key   TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    -- pending, accepted, revoked or expired (an expired one is marked when the address is
    -- invited again).
    status      TEXT NOT NULL,
    finished_at BIGINT,
    accepted_by TEXT
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (org_id, email_key) WHERE status = 'pending';
CREATE INDEX invitations_by_org ON invitations (org_id, status, id);

CREATE TABLE invitation_links (
    token_hash    TEXT PRIMARY KEY,
    invitation_id TEXT NOT NULL REFERENCES invitations (id),
    created_at    BIGINT NOT NULL
);

-- Every invitation mail sent (new or resent), for the per-administrator limit.
CREATE TABLE invitation_sends (
    actor TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX invitation_sends_by_actor ON invitation_sends (actor, at);
