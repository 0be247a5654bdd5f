-- Issue 22: the state, role, source and kind columns accept only the texts of their enums in
-- smartcore_domain (each enum's one mapping, `column_text!`; a unit test there lists the same
-- texts). A NULL stays allowed where the column allows it.
--
-- SQLite cannot add a constraint to an existing table, and rebuilding these tables (foreign
-- keys from and to them, partial unique indexes, the member-search triggers) inside the
-- migration's transaction, where `PRAGMA foreign_keys` cannot be switched off, is the riskier
-- way. So each column gets a BEFORE INSERT and a BEFORE UPDATE OF trigger that aborts the
-- statement, as a CHECK would, with 'check failed: <table>.<column>'.

CREATE TRIGGER memberships_role_check_insert BEFORE INSERT ON memberships
WHEN NEW.role IS NULL OR NEW.role NOT IN ('admin', 'member')
BEGIN SELECT RAISE(ABORT, 'check failed: memberships.role'); END;
CREATE TRIGGER memberships_role_check_update BEFORE UPDATE OF role ON memberships
WHEN NEW.role IS NULL OR NEW.role NOT IN ('admin', 'member')
BEGIN SELECT RAISE(ABORT, 'check failed: memberships.role'); END;

CREATE TRIGGER invitations_role_check_insert BEFORE INSERT ON invitations
WHEN NEW.role IS NULL OR NEW.role NOT IN ('admin', 'member')
BEGIN SELECT RAISE(ABORT, 'check failed: invitations.role'); END;
CREATE TRIGGER invitations_role_check_update BEFORE UPDATE OF role ON invitations
WHEN NEW.role IS NULL OR NEW.role NOT IN ('admin', 'member')
BEGIN SELECT RAISE(ABORT, 'check failed: invitations.role'); END;

CREATE TRIGGER invitations_status_check_insert BEFORE INSERT ON invitations
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'accepted', 'revoked', 'expired')
BEGIN SELECT RAISE(ABORT, 'check failed: invitations.status'); END;
CREATE TRIGGER invitations_status_check_update BEFORE UPDATE OF status ON invitations
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'accepted', 'revoked', 'expired')
BEGIN SELECT RAISE(ABORT, 'check failed: invitations.status'); END;

CREATE TRIGGER it_contacts_source_check_insert BEFORE INSERT ON it_contacts
WHEN NEW.source IS NULL OR NEW.source NOT IN ('member', 'manual')
BEGIN SELECT RAISE(ABORT, 'check failed: it_contacts.source'); END;
CREATE TRIGGER it_contacts_source_check_update BEFORE UPDATE OF source ON it_contacts
WHEN NEW.source IS NULL OR NEW.source NOT IN ('member', 'manual')
BEGIN SELECT RAISE(ABORT, 'check failed: it_contacts.source'); END;

CREATE TRIGGER it_contacts_status_check_insert BEFORE INSERT ON it_contacts
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'synced', 'failed')
BEGIN SELECT RAISE(ABORT, 'check failed: it_contacts.status'); END;
CREATE TRIGGER it_contacts_status_check_update BEFORE UPDATE OF status ON it_contacts
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'synced', 'failed')
BEGIN SELECT RAISE(ABORT, 'check failed: it_contacts.status'); END;

CREATE TRIGGER identity_removals_status_check_insert BEFORE INSERT ON identity_removals
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'completed', 'cancelled', 'tombstone')
BEGIN SELECT RAISE(ABORT, 'check failed: identity_removals.status'); END;
CREATE TRIGGER identity_removals_status_check_update BEFORE UPDATE OF status ON identity_removals
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'completed', 'cancelled', 'tombstone')
BEGIN SELECT RAISE(ABORT, 'check failed: identity_removals.status'); END;

CREATE TRIGGER identity_removals_outcome_check_insert BEFORE INSERT ON identity_removals
WHEN NEW.outcome IS NOT NULL AND NEW.outcome NOT IN ('deleted', 'marked_done', 'cancelled_by_readd', 'adopted_by_readd', 'superseded', 'not_registered')
BEGIN SELECT RAISE(ABORT, 'check failed: identity_removals.outcome'); END;
CREATE TRIGGER identity_removals_outcome_check_update BEFORE UPDATE OF outcome ON identity_removals
WHEN NEW.outcome IS NOT NULL AND NEW.outcome NOT IN ('deleted', 'marked_done', 'cancelled_by_readd', 'adopted_by_readd', 'superseded', 'not_registered')
BEGIN SELECT RAISE(ABORT, 'check failed: identity_removals.outcome'); END;

CREATE TRIGGER domains_status_check_insert BEFORE INSERT ON domains
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'verified', 'failed')
BEGIN SELECT RAISE(ABORT, 'check failed: domains.status'); END;
CREATE TRIGGER domains_status_check_update BEFORE UPDATE OF status ON domains
WHEN NEW.status IS NULL OR NEW.status NOT IN ('pending', 'verified', 'failed')
BEGIN SELECT RAISE(ABORT, 'check failed: domains.status'); END;

CREATE TRIGGER organisations_sso_status_check_insert BEFORE INSERT ON organisations
WHEN NEW.sso_status IS NULL OR NEW.sso_status NOT IN ('not_configured', 'configured', 'enabled')
BEGIN SELECT RAISE(ABORT, 'check failed: organisations.sso_status'); END;
CREATE TRIGGER organisations_sso_status_check_update BEFORE UPDATE OF sso_status ON organisations
WHEN NEW.sso_status IS NULL OR NEW.sso_status NOT IN ('not_configured', 'configured', 'enabled')
BEGIN SELECT RAISE(ABORT, 'check failed: organisations.sso_status'); END;

CREATE TRIGGER certificate_reminders_status_check_insert BEFORE INSERT ON certificate_reminders
WHEN NEW.status IS NULL OR NEW.status NOT IN ('queued', 'sending', 'failed', 'sent', 'rejected', 'cancelled')
BEGIN SELECT RAISE(ABORT, 'check failed: certificate_reminders.status'); END;
CREATE TRIGGER certificate_reminders_status_check_update BEFORE UPDATE OF status ON certificate_reminders
WHEN NEW.status IS NULL OR NEW.status NOT IN ('queued', 'sending', 'failed', 'sent', 'rejected', 'cancelled')
BEGIN SELECT RAISE(ABORT, 'check failed: certificate_reminders.status'); END;

CREATE TRIGGER mail_deliveries_kind_check_insert BEFORE INSERT ON mail_deliveries
WHEN NEW.kind IS NULL OR NEW.kind NOT IN ('certificate_reminder', 'certificate_renewed', 'calendar_cancelled', 'metadata_failing', 'setup_link', 'invitation', 'admin_notice', 'welcome', 'reconfirmation', 'test_alert')
BEGIN SELECT RAISE(ABORT, 'check failed: mail_deliveries.kind'); END;
CREATE TRIGGER mail_deliveries_kind_check_update BEFORE UPDATE OF kind ON mail_deliveries
WHEN NEW.kind IS NULL OR NEW.kind NOT IN ('certificate_reminder', 'certificate_renewed', 'calendar_cancelled', 'metadata_failing', 'setup_link', 'invitation', 'admin_notice', 'welcome', 'reconfirmation', 'test_alert')
BEGIN SELECT RAISE(ABORT, 'check failed: mail_deliveries.kind'); END;

CREATE TRIGGER mail_deliveries_status_check_insert BEFORE INSERT ON mail_deliveries
WHEN NEW.status IS NULL OR NEW.status NOT IN ('sent', 'deferred', 'rejected')
BEGIN SELECT RAISE(ABORT, 'check failed: mail_deliveries.status'); END;
CREATE TRIGGER mail_deliveries_status_check_update BEFORE UPDATE OF status ON mail_deliveries
WHEN NEW.status IS NULL OR NEW.status NOT IN ('sent', 'deferred', 'rejected')
BEGIN SELECT RAISE(ABORT, 'check failed: mail_deliveries.status'); END;

CREATE TRIGGER contact_trust_test_alert_status_check_insert BEFORE INSERT ON contact_trust
WHEN NEW.test_alert_status IS NOT NULL AND NEW.test_alert_status NOT IN ('sent', 'deferred', 'rejected')
BEGIN SELECT RAISE(ABORT, 'check failed: contact_trust.test_alert_status'); END;
CREATE TRIGGER contact_trust_test_alert_status_check_update BEFORE UPDATE OF test_alert_status ON contact_trust
WHEN NEW.test_alert_status IS NOT NULL AND NEW.test_alert_status NOT IN ('sent', 'deferred', 'rejected')
BEGIN SELECT RAISE(ABORT, 'check failed: contact_trust.test_alert_status'); END;
