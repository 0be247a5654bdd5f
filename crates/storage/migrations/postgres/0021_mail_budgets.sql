-- Issue 24: mail budgets.
-- The last welcome claimed per organisation and address: at most one per 7 days, however often
-- the address is removed and added again.
CREATE TABLE welcome_budget (
    org_id      TEXT NOT NULL,
    email_key   TEXT NOT NULL,
    welcomed_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, email_key)
);

-- Every IT contact added, for the per-organisation limit (100 an hour).
CREATE TABLE contact_additions (
    org_id TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX contact_additions_by_org ON contact_additions (org_id, at);

-- Every resend of an invitation, for the per-invitation limit (3 a day).
CREATE TABLE invitation_resends (
    invitation_id TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX invitation_resends_by_invitation ON invitation_resends (invitation_id, at);
