//! Counts for the operations team's `/metrics`: how much work is waiting, read from the
//! database at scrape time, so every instance reports the same numbers.

use crate::{Store, StoreError};
use smartcore_domain::{ReminderStatus, RemovalStatus};

/// Rows by state, as `(state, count)` pairs; states with no rows are absent.
#[derive(Debug, Default, Clone)]
pub struct WorkCounts {
    /// IT contacts by status (`pending`, `synced`, `failed`).
    pub contacts: Vec<(String, i64)>,
    /// Identity-side removals waiting (automatic ones and those for the operations team).
    pub removals_waiting: i64,
    /// Certificate reminders not yet out, by state (`queued`, `sending`, `failed`).
    pub reminders: Vec<(String, i64)>,
}

impl Store {
    /// The counts behind the work gauges of `/metrics`: three small aggregate queries.
    pub async fn work_counts(&self) -> Result<WorkCounts, StoreError> {
        let contacts = sqlx::query_as(
            "SELECT status, COUNT(*) FROM it_contacts GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let (removals_waiting,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM identity_removals WHERE status = $1")
                .bind(RemovalStatus::Pending.as_str())
                .fetch_one(&self.pool)
                .await?;
        let reminders = sqlx::query_as(
            "SELECT status, COUNT(*) FROM certificate_reminders \
             WHERE status IN ($1, $2, $3) GROUP BY status ORDER BY status",
        )
        .bind(ReminderStatus::Queued.as_str())
        .bind(ReminderStatus::Sending.as_str())
        .bind(ReminderStatus::Failed.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(WorkCounts {
            contacts,
            removals_waiting,
            reminders,
        })
    }
}
