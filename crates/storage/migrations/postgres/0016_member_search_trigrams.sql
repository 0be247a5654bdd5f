-- PostgreSQL: a pg_trgm index over memberships.search_text, so that the member picker finds a
-- rare substring among a million members without walking them all. pg_trgm is a trusted
-- extension (PostgreSQL 13+): the database's owner may create it. Where the server does not
-- permit it (an older server, a managed service without it, too few privileges), the
-- migration still succeeds without the index; the service notices and keeps the name-ordered
-- walk, with one warning in its log.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS memberships_search_trgm ON memberships USING gin (search_text gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported OR undefined_object THEN
    RAISE WARNING 'pg_trgm is not available (%): member search walks the members in name order', SQLERRM;
END
$$;
