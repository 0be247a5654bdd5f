-- Re-confirmation by due time (issue 25): the pass reads only the contacts due, through an
-- index, instead of every Synced contact.
--
-- reconfirm_from is the time a contact's re-confirmation period runs from: its last
-- confirmation, or (never confirmed) its registration. It is NULL while no request is to be
-- made: the contact is not Synced, or a request is open (made and not answered since). A
-- contact is due once reconfirm_from + SMARTCORE_RECONFIRM_DAYS has passed, so the pass reads
-- the index range reconfirm_from <= now - period. The period itself stays a setting (it may
-- change between starts and need not be the same on every instance): the stored time does not
-- depend on it. Kept by the writes that change it: the Synced mark, a confirmation, a request
-- made (the welcome's included).
ALTER TABLE it_contacts ADD COLUMN reconfirm_from BIGINT;
UPDATE it_contacts SET reconfirm_from =
    CASE WHEN EXISTS (SELECT 1 FROM contact_trust t WHERE t.contact_id = it_contacts.id
                        AND t.reconfirm_requested_at IS NOT NULL
                        AND (t.confirmed_at IS NULL OR t.confirmed_at < t.reconfirm_requested_at))
         THEN NULL
         ELSE COALESCE((SELECT t.confirmed_at FROM contact_trust t WHERE t.contact_id = it_contacts.id),
                       it_contacts.synced_at, it_contacts.created_at)
    END
WHERE status = 'synced';
CREATE INDEX it_contacts_reconfirm_due ON it_contacts (reconfirm_from) WHERE reconfirm_from IS NOT NULL;
