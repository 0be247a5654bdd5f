-- Identity-provider metadata fetched from a URL and refreshed on a schedule (portable types only).
-- One row per organisation whose configuration comes from a URL; the row is the refresh job:
-- a worker claims it with a lease when `next_fetch_at` has passed (one UPDATE … WHERE due), so
-- each due time is fetched once across instances.
CREATE TABLE metadata_sources (
    org_id           TEXT PRIMARY KEY REFERENCES organisations (id),
    url              TEXT NOT NULL,
    -- SHA-256 of the last good document's bytes, and of the configuration it gave (entity ID,
    -- sign-in URL, certificate fingerprints): an unchanged document is not parsed again, and a
    -- re-signed one with the same settings is not a change.
    document_sha256  TEXT NOT NULL,
    config_sha256    TEXT NOT NULL,
    last_good_at     BIGINT NOT NULL,
    last_changed_at  BIGINT NOT NULL,
    last_attempt_at  BIGINT NOT NULL,
    -- The current failure episode: when it began, how many fetches in a row failed, the last
    -- error (code and message). NULL / 0 while the last fetch was good.
    failing_since    BIGINT,
    failures         INTEGER NOT NULL DEFAULT 0,
    last_error_code  TEXT,
    last_error       TEXT,
    -- The `failing_since` of the episode whose operational notice went out (once per episode).
    notice_sent_for  BIGINT,
    next_fetch_at    BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    created_at       BIGINT NOT NULL,
    created_by       TEXT NOT NULL
);
CREATE INDEX metadata_sources_due ON metadata_sources (next_fetch_at);
