-- The administrators of an organisation (the last-administrator rule, the notices, issue 25):
-- a small partial index, instead of a read of every membership of the organisation (72 ms to
-- remove a member at 1,000,000 members). The queries name the role as a literal, so the
-- planner can use it. (SQLite's migration 0026 also gives memberships a row id of their own
-- for its search index; PostgreSQL's pg_trgm index needs none.)
CREATE INDEX memberships_admins ON memberships (org_id, user_id) WHERE role = 'admin';
