-- Issue 22: the state, role, source and kind columns accept only the texts of their enums in
-- smartcore_domain (each enum's one mapping, `column_text!`; a unit test there lists the same
-- texts). A NULL stays allowed where the column allows it.

ALTER TABLE memberships ADD CONSTRAINT memberships_role_check CHECK (role IN ('admin', 'member'));
ALTER TABLE invitations ADD CONSTRAINT invitations_role_check CHECK (role IN ('admin', 'member'));
ALTER TABLE invitations ADD CONSTRAINT invitations_status_check CHECK (status IN ('pending', 'accepted', 'revoked', 'expired'));
ALTER TABLE it_contacts ADD CONSTRAINT it_contacts_source_check CHECK (source IN ('member', 'manual'));
ALTER TABLE it_contacts ADD CONSTRAINT it_contacts_status_check CHECK (status IN ('pending', 'synced', 'failed'));
ALTER TABLE identity_removals ADD CONSTRAINT identity_removals_status_check CHECK (status IN ('pending', 'completed', 'cancelled', 'tombstone'));
ALTER TABLE identity_removals ADD CONSTRAINT identity_removals_outcome_check CHECK (outcome IS NULL OR outcome IN ('deleted', 'marked_done', 'cancelled_by_readd', 'adopted_by_readd', 'superseded', 'not_registered'));
ALTER TABLE domains ADD CONSTRAINT domains_status_check CHECK (status IN ('pending', 'verified', 'failed'));
ALTER TABLE organisations ADD CONSTRAINT organisations_sso_status_check CHECK (sso_status IN ('not_configured', 'configured', 'enabled'));
ALTER TABLE certificate_reminders ADD CONSTRAINT certificate_reminders_status_check CHECK (status IN ('queued', 'sending', 'failed', 'sent', 'rejected', 'cancelled'));
ALTER TABLE mail_deliveries ADD CONSTRAINT mail_deliveries_kind_check CHECK (kind IN ('certificate_reminder', 'certificate_renewed', 'calendar_cancelled', 'metadata_failing', 'setup_link', 'invitation', 'admin_notice', 'welcome', 'reconfirmation', 'test_alert'));
ALTER TABLE mail_deliveries ADD CONSTRAINT mail_deliveries_status_check CHECK (status IN ('sent', 'deferred', 'rejected'));
ALTER TABLE contact_trust ADD CONSTRAINT contact_trust_test_alert_status_check CHECK (test_alert_status IS NULL OR test_alert_status IN ('sent', 'deferred', 'rejected'));
