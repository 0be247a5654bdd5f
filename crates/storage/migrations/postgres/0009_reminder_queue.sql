-- The sweep queues reminders (status 'queued'); delivery takes the due ones from here, and a
-- temporary failure puts one back ('failed' with next_attempt_at). 'cancelled': its contact
-- was removed before it went out.
CREATE INDEX certificate_reminders_queue ON certificate_reminders (status, next_attempt_at);
