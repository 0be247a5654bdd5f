-- Certificate-expiry reminders (D6). A certificate's next_due_at is when its next reminder
-- threshold begins; the sweep reads only due rows (an index on next_due_at), so its cost grows
-- with the number due, not the number stored. One row per (certificate, threshold, contact)
-- makes each reminder at most once across restarts and instances.
ALTER TABLE sso_certificates ADD COLUMN next_due_at BIGINT;
CREATE INDEX sso_certificates_due ON sso_certificates (next_due_at) WHERE next_due_at IS NOT NULL;

CREATE TABLE certificate_reminders (
    fingerprint_sha256 TEXT NOT NULL,
    threshold          TEXT NOT NULL,
    contact_id         TEXT NOT NULL,
    org_id             TEXT NOT NULL,
    email              TEXT NOT NULL,
    -- sending (claimed), sent, or failed (the next sweep tries again)
    status             TEXT NOT NULL,
    claimed_at         BIGINT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 1,
    sent_at            BIGINT,
    message_id         TEXT,
    last_error         TEXT,
    PRIMARY KEY (fingerprint_sha256, threshold, contact_id)
);
