-- Issue 24: a budget per recipient across every kind of mail we send (reminders exempt):
-- at most 20 in a day-long window that starts with the first mail counted. One row per address
-- (lower-cased), taken with one conditional upsert, so instances sending at once cannot
-- overshoot it.
CREATE TABLE mail_budgets (
    email_key    TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    sent         BIGINT NOT NULL
);
