-- Mail delivery, recorded per recipient. Every message the service sends (certificate
-- reminders, renewed notices, setup links) leaves one row per attempt here: what was sent to
-- whom, and whether the mail server accepted it, deferred it (retried with backoff) or
-- rejected it for good. A rejection is also kept on the contact, where administrators see it,
-- until a later message to that contact is accepted.
CREATE TABLE mail_deliveries (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    contact_id   TEXT,
    email        TEXT NOT NULL,
    -- certificate_reminder, certificate_renewed or setup_link
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    -- sent, deferred (a temporary failure: retried) or rejected (permanent)
    status       TEXT NOT NULL,
    message_id   TEXT,
    error        TEXT,
    attempted_at BIGINT NOT NULL
);
CREATE INDEX mail_deliveries_by_org ON mail_deliveries (org_id, id);

ALTER TABLE it_contacts ADD COLUMN mail_rejected_at BIGINT;
ALTER TABLE it_contacts ADD COLUMN mail_rejected_reason TEXT;

-- A reminder whose send failed temporarily waits until next_attempt_at (exponential backoff)
-- before a sweep claims it again; a rejected one (status 'rejected') is never retried.
ALTER TABLE certificate_reminders ADD COLUMN next_attempt_at BIGINT;
