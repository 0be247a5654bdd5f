-- Alerts the contacts can trust (issue 16): what each IT contact has been told and has said.
--
-- One row per contact, removed with it. The welcome is claimed in the transaction that marks
-- the contact Synced (the row is inserted there, once), and sent by whichever worker then
-- takes it with a lease; a contact Synced at once by a re-add (D2) gets no row from that path,
-- so no second welcome. Times are Unix milliseconds.
CREATE TABLE contact_trust (
    contact_id                  TEXT PRIMARY KEY REFERENCES it_contacts (id) ON DELETE CASCADE,
    org_id                      TEXT NOT NULL,
    -- The welcome: claimed when first Synced, sent (or refused for good) at welcome_sent_at.
    welcome_claimed_at          BIGINT,
    welcome_sent_at             BIGINT,
    welcome_lease_until         BIGINT,
    -- "Not me / no longer responsible": when the contact said so, and when the
    -- administrators were told (once per flag).
    not_responsible_at          BIGINT,
    not_responsible_notified_at BIGINT,
    -- Re-confirmation: the last "yes, still me", the last request, and when the
    -- administrators were told that a request went unanswered for 30 days.
    confirmed_at                BIGINT,
    reconfirm_requested_at      BIGINT,
    unconfirmed_notified_at     BIGINT,
    -- When the administrators were told that mail to the contact was rejected (once per
    -- rejection: a later accepted message clears it_contacts.mail_rejected_at).
    rejection_notified_at       BIGINT,
    -- The last test alert and what the mail server did with it (sent, deferred, rejected).
    test_alert_at               BIGINT,
    test_alert_status           TEXT,
    test_alert_error            TEXT
);
CREATE INDEX contact_trust_by_org ON contact_trust (org_id);
CREATE INDEX contact_trust_welcomes ON contact_trust (welcome_sent_at, welcome_claimed_at);

-- Test alerts sent, for the limit of 5 per organisation per hour.
CREATE TABLE test_alert_sends (
    org_id TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX test_alert_sends_by_org ON test_alert_sends (org_id, at);

-- The preview of upcoming reminders reads an organisation's recorded reminders.
CREATE INDEX certificate_reminders_by_org ON certificate_reminders (org_id, fingerprint_sha256);

-- The trust pass looks for contacts whose mail is being rejected.
CREATE INDEX it_contacts_mail_rejected ON it_contacts (mail_rejected_at) WHERE mail_rejected_at IS NOT NULL;
