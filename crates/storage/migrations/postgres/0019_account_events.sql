-- Issue 24: a user's own account events (API tokens created and revoked, disabled, enabled)
-- are kept for them (`subject_user_id`, with `org_id` NULL) and copied into the audit log of
-- each organisation they are a member of (`org_id` set, same subject), for its administrators.
ALTER TABLE audit_events ADD COLUMN subject_user_id TEXT;
CREATE INDEX audit_events_by_subject ON audit_events (subject_user_id, id);

-- Earlier events of this kind name their user: in the details (tokens) or as the target.
UPDATE audit_events SET subject_user_id = (details::json ->> 'user_id')
 WHERE org_id IS NULL AND action IN ('api_token.created', 'api_token.revoked');
UPDATE audit_events SET subject_user_id = target
 WHERE org_id IS NULL AND action IN ('user.disabled', 'user.enabled');
