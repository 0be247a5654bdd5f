-- SQLite has its trigram index since 0003 (FTS5); this number is PostgreSQL's pg_trgm index.
SELECT 1;
