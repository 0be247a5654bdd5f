//! The re-confirmation pass (issue 16, by due time since issue 25) over 1,000,000 Synced
//! contacts, 1% of them due: the pass reads the index on `it_contacts.reconfirm_from`, so its
//! time follows the number due. Beside it, in the same run, the statement the pass used before
//! (a read of every Synced contact) on the same data, with nothing due.

use crate::db::{self, CHUNK};
use smartcore_domain::{ContactId, Timestamp};
use std::sync::LazyLock;
use std::time::Instant;

const DAY: i64 = 86_400_000;

/// A multi-row insert of [`CHUNK`] Synced contacts; only placeholders vary.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    db::chunk_insert(
        "INSERT INTO it_contacts (id, org_id, email, email_key, source, status, synced_at, created_at, created_by, reconfirm_from) VALUES ",
        "(?, ?, ?, ?, 'manual', 'synced', ?, ?, 'usr_bench', ?)",
    )
});

/// The pass's read before issue 25: every Synced contact, joined to its trust record.
const BEFORE: &str = "SELECT c.id, c.org_id, t.reconfirm_requested_at FROM it_contacts c \
     LEFT JOIN contact_trust t ON t.contact_id = c.id \
     WHERE c.status = 'synced' \
       AND COALESCE(t.confirmed_at, c.synced_at, c.created_at) <= $1 \
       AND NOT (t.reconfirm_requested_at IS NOT NULL \
                AND (t.confirmed_at IS NULL OR t.confirmed_at < t.reconfirm_requested_at)) \
     ORDER BY c.id LIMIT $2";

/// At least `stored` Synced contacts, [`CHUNK`] an insert, spread over the 100 `orgs`; one in
/// `due_every` registered 200 days ago (due), the others 10 days ago. How many were stored.
async fn insert_contacts(
    pool: &sqlx::AnyPool,
    orgs: &[String],
    stored: u64,
    due_every: u64,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let mut n = 0u64;
    while n < stored {
        let mut q = sqlx::query(INSERT.as_str());
        for _ in 0..CHUNK {
            let due = n.is_multiple_of(due_every);
            let registered = now.unix_millis() - if due { 200 * DAY } else { 10 * DAY };
            let email = format!("it{n}@reconfirm.example");
            q = q
                .bind(ContactId::generate().as_str().to_owned())
                .bind(orgs[(n % 100) as usize].clone())
                .bind(email.clone())
                .bind(email)
                .bind(registered)
                .bind(registered)
                .bind(registered);
            n += 1;
        }
        q.execute(pool).await?;
    }
    Ok(n)
}

pub async fn run(stored: u64, due_every: u64) -> anyhow::Result<()> {
    println!(
        "re-confirmation pass: {stored} Synced contacts, 1 in {due_every} due (period 180 days)"
    );
    println!(
        "{:<11} {:>10} {:>8} {:>12} {:>12} {:>14} {:>13} {:>22}",
        "database",
        "contacts",
        "due",
        "pass s",
        "µs per due",
        "empty pass ms",
        "and again ms",
        "before: empty read ms"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let app = db::open(&database.url).await?;
        let store = smartcore_storage::Store::connect(&database.url).await?;
        let now = app.now();
        let period = 180 * DAY;
        let mut orgs = Vec::new();
        for i in 0..100 {
            orgs.push(
                app.operations()
                    .create_org(&format!("Reconfirm {i}"))
                    .await?
                    .id,
            );
        }
        let pool = sqlx::AnyPool::connect(&database.url).await?;
        let started = Instant::now();
        let n = insert_contacts(&pool, &orgs, stored, due_every, now).await?;
        // Statistics, as a database in service has them (autovacuum, or SQLite's optimize).
        sqlx::query("ANALYZE").execute(&pool).await?;
        let loaded = started.elapsed().as_secs_f64();

        // The old read first (it changes nothing), with nothing due: it reads every contact.
        let started = Instant::now();
        let before: Vec<(String, String, Option<i64>)> = sqlx::query_as(BEFORE)
            .bind(now.unix_millis() - 400 * DAY)
            .bind(100i64)
            .fetch_all(&pool)
            .await?;
        let before_ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(before.is_empty());

        let due = stored.div_ceil(due_every);
        let started = Instant::now();
        let taken = store
            .take_reconfirmations(now, period, i64::try_from(due)? + 1)
            .await?;
        let pass = started.elapsed().as_secs_f64();
        anyhow::ensure!(taken.len() as u64 == due, "{} taken", taken.len());
        let started = Instant::now();
        let again = store.take_reconfirmations(now, period, 100).await?;
        let empty = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(again.is_empty(), "{} taken twice", again.len());
        let started = Instant::now();
        let idle = store.take_reconfirmations(now, period, 100).await?;
        let idle_ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(idle.is_empty(), "{} taken three times", idle.len());
        println!(
            "{:<11} {:>10} {:>8} {:>12.3} {:>12.1} {:>14.2} {:>13.2} {:>22.1}   (fixture loaded in {loaded:.1} s)",
            kind.label(),
            n,
            taken.len(),
            pass,
            pass * 1e6 / taken.len().max(1) as f64,
            empty,
            idle_ms,
            before_ms,
        );
    }
    Ok(())
}
