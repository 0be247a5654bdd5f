-- Leases follow the work for every background claim (issue 14): a reminder being sent and a
-- welcome being sent are held by an owner (one per pass) that renews the lease while it works,
-- like the sync's rows (0015), so a sender killed mid-send loses its rows within one lease
-- (SMARTCORE_SYNC_LEASE_S) instead of ten minutes. A reminder claimed before this migration
-- has no lease_until and is taken back as before, ten minutes after claimed_at.
ALTER TABLE certificate_reminders ADD COLUMN lease_owner TEXT;
ALTER TABLE certificate_reminders ADD COLUMN lease_until BIGINT;
-- welcome_lease_until (0014) stays the lease, or after a deferred send the retry time; the
-- owner is set only while a worker holds the welcome, so releasing a lease keeps a retry time.
ALTER TABLE contact_trust ADD COLUMN welcome_lease_owner TEXT;
CREATE INDEX certificate_reminders_lease_owner ON certificate_reminders (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX contact_trust_welcome_lease_owner ON contact_trust (welcome_lease_owner) WHERE welcome_lease_owner IS NOT NULL;
