-- Token lifecycle, disabled users and abuse limits (portable types only).

-- API tokens get a name, an optional expiry and when they were last used (updated at most once
-- a minute). A revoked token's row is deleted; the audit log keeps what happened.
ALTER TABLE api_tokens ADD COLUMN name TEXT NOT NULL DEFAULT 'API token';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);

-- A disabled user cannot sign in; their sessions and tokens were ended when disabled.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- Failed sign-ins are counted per (address, client) and per client. `client` is the client's
-- network address ('' when unknown); `id` lets an attempt under way find its own row.
ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE login_failures ADD COLUMN id TEXT;
CREATE INDEX login_failures_by_pair ON login_failures (email_key, client, at);
CREATE INDEX login_failures_by_client ON login_failures (client, at);
CREATE INDEX login_failures_by_id ON login_failures (id);

-- Every request to send setup links, for the per-organisation limit.
CREATE TABLE setup_link_sends (
    org_id TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX setup_link_sends_by_org ON setup_link_sends (org_id, at);
