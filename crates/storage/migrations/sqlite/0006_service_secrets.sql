-- Per-installation secrets, generated once and shared by every instance (the key that signs
-- setup links).
CREATE TABLE service_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
