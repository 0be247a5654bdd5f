-- One row that /readyz writes to, through the same transaction path as every other write,
-- to learn whether the database takes a write now.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL
);
INSERT INTO readiness_probe (id, checked_at) VALUES (1, 0);
