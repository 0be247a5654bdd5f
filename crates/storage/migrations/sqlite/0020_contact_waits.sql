-- Issue 24: a registration that would exceed the identity side's limit of 20 while a removal
-- there is still pending waits for that removal (`waiting_for`: its id) instead of failing for
-- good; completing the removal makes it due at once.
ALTER TABLE it_contacts ADD COLUMN waiting_for TEXT;

-- Contacts that failed for good on that limit before this version try once more: each either
-- registers (the removal it collided with is done), waits for a removal still pending, or fails
-- again when the identity side is genuinely full.
UPDATE it_contacts SET status = 'pending', status_detail = NULL, sync_attempts = 0, next_sync_at = 0
 WHERE status = 'failed'
   AND (status_detail LIKE '%it_contact_limit_reached%'
        OR status_detail LIKE '%maximum number of IT contacts%');
