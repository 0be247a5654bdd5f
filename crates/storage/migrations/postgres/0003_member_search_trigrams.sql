-- PostgreSQL: nothing yet. The member picker scans the (org_id, sort_name) index; a pg_trgm
-- GIN index would need the extension, which not every managed PostgreSQL allows.
SELECT 1;
