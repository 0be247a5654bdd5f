//! The rows behind every [`Quota`](smartcore_domain::Quota): one row per use, with its time.
//! What fits is the domain's to say; these functions only read, forget and record uses, inside
//! the caller's transaction (which holds the lock that serialises the counting).

use crate::StoreError;
use smartcore_domain::Timestamp;
use sqlx::AnyConnection;

/// Whose uses are counted, and in which table.
#[derive(Debug, Clone, Copy)]
pub enum Counter<'a> {
    /// Setup-link sends of an organisation.
    SetupLinks { org_id: &'a str },
    /// Test alerts (one per recipient) of an organisation.
    TestAlerts { org_id: &'a str },
    /// Invitation mails (new and resent) of an administrator (a user id, or `cli`).
    InvitationMails { actor: &'a str },
    /// Resends of one invitation.
    InvitationResends { invitation_id: &'a str },
}

/// The statements of one counter's table: forget before `$2`, read after `$2`, record one
/// at `$2`, each for the key `$1`.
struct Statements {
    forget: &'static str,
    read: &'static str,
    record: &'static str,
}

macro_rules! statements {
    ($table:literal, $key:literal) => {
        Statements {
            forget: concat!(
                "DELETE FROM ",
                $table,
                " WHERE ",
                $key,
                " = $1 AND at <= $2"
            ),
            read: concat!(
                "SELECT at FROM ",
                $table,
                " WHERE ",
                $key,
                " = $1 AND at > $2 ORDER BY at"
            ),
            record: concat!("INSERT INTO ", $table, " (", $key, ", at) VALUES ($1, $2)"),
        }
    };
}

impl Counter<'_> {
    fn key(&self) -> &str {
        match *self {
            Counter::SetupLinks { org_id } | Counter::TestAlerts { org_id } => org_id,
            Counter::InvitationMails { actor } => actor,
            Counter::InvitationResends { invitation_id } => invitation_id,
        }
    }

    fn statements(&self) -> Statements {
        match self {
            Counter::SetupLinks { .. } => statements!("setup_link_sends", "org_id"),
            Counter::TestAlerts { .. } => statements!("test_alert_sends", "org_id"),
            Counter::InvitationMails { .. } => statements!("invitation_sends", "actor"),
            Counter::InvitationResends { .. } => {
                statements!("invitation_resends", "invitation_id")
            }
        }
    }
}

/// The counter's uses after `since`, oldest first; forgets the older ones.
pub async fn uses_since(
    conn: &mut AnyConnection,
    counter: Counter<'_>,
    since: Timestamp,
) -> Result<Vec<Timestamp>, StoreError> {
    let (sql, value) = (counter.statements(), counter.key());
    sqlx::query(sql.forget)
        .bind(value)
        .bind(since.unix_millis())
        .execute(&mut *conn)
        .await?;
    let rows: Vec<(i64,)> = sqlx::query_as(sql.read)
        .bind(value)
        .bind(since.unix_millis())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(at,)| Timestamp::from_unix_millis(at))
        .collect())
}

/// Records `count` uses at `at`.
pub async fn record(
    conn: &mut AnyConnection,
    counter: Counter<'_>,
    at: Timestamp,
    count: u32,
) -> Result<(), StoreError> {
    let (sql, value) = (counter.statements(), counter.key());
    for _ in 0..count {
        sqlx::query(sql.record)
            .bind(value)
            .bind(at.unix_millis())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
