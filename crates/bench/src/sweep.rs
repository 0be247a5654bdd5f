//! The certificate-expiry sweep over 1,000,000 stored certificates, 1% of them due: the sweep
//! reads only due rows (an index on next_due_at), so its time follows the number due. Each of
//! the 100 organisations has one registered IT contact, so every due certificate sends one
//! reminder, written to an outbox directory of this run (and counted there).

use crate::db::{self, CHUNK};
use smartcore_domain::{ContactId, OrgId, Timestamp};
use std::sync::LazyLock;
use std::time::Instant;

/// A multi-row insert of [`CHUNK`] certificates; only placeholders vary.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    db::chunk_insert(
        "INSERT INTO sso_certificates (org_id, fingerprint_sha256, subject, not_before, not_after, pem, added_at, next_due_at) VALUES ",
        "(?, ?, ?, ?, ?, 'bench', ?, ?)",
    )
});

/// `contacts` registered IT contacts in each of `orgs`.
async fn insert_contacts(
    pool: &sqlx::AnyPool,
    orgs: &[String],
    contacts: u64,
    now: Timestamp,
) -> anyhow::Result<()> {
    for (o, org) in orgs.iter().enumerate() {
        for c in 0..contacts {
            let email = format!("it{o}-{c}@sweep.example");
            sqlx::query(
                "INSERT INTO it_contacts (id, org_id, email, email_key, source, status, synced_at, created_at, created_by) \
                 VALUES ($1, $2, $3, $3, 'manual', 'synced', $4, $4, 'usr_bench')",
            )
            .bind(ContactId::generate().as_str())
            .bind(org)
            .bind(email)
            .bind(now.unix_millis())
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// At least `stored` certificates, [`CHUNK`] an insert, spread over the 100 `orgs`; one in
/// `due_every` expiring in 59 days and due now, the others in 400 days. How many were stored.
async fn insert_certificates(
    pool: &sqlx::AnyPool,
    orgs: &[String],
    stored: u64,
    due_every: u64,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let day = 86_400_000i64;
    let mut n = 0u64;
    while n < stored {
        let mut q = sqlx::query(INSERT.as_str());
        for _ in 0..CHUNK {
            let due = n.is_multiple_of(due_every);
            // Added and next due at the same time.
            let due_at = if due {
                now.unix_millis() - 1000
            } else {
                now.unix_millis() + 340 * day
            };
            q = q
                .bind(orgs[(n % 100) as usize].clone())
                .bind(format!("{n:064x}"))
                .bind(format!("CN=cert{n}.bench.example"))
                .bind(now.unix_millis() - 300 * day)
                .bind(now.unix_millis() + if due { 59 * day } else { 400 * day })
                .bind(due_at)
                .bind(due_at);
            n += 1;
        }
        q.execute(pool).await?;
    }
    Ok(n)
}

pub async fn run(stored: u64, due_every: u64, contacts: u64) -> anyhow::Result<()> {
    println!(
        "certificate sweep: {stored} certificates stored, 1 in {due_every} due, 100 organisations with {contacts} registered IT contact(s) each"
    );
    println!(
        "{:<11} {:>10} {:>8} {:>8} {:>14} {:>12} {:>16}",
        "database", "stored", "due", "mails", "sweep seconds", "µs per due", "empty sweep ms"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let outbox = db::temp_dir("outbox");
        let outbox_dir = outbox.0.display().to_string();
        let app = db::open_with(&database.url, &[("SMARTCORE_OUTBOX_DIR", &outbox_dir)]).await?;
        let now = app.now();
        let store = smartcore_storage::Store::connect(&database.url).await?;
        let mut orgs = Vec::new();
        for i in 0..100 {
            let org = app.operations().create_org(&format!("Sweep {i}")).await?;
            let id = OrgId::parse(&org.id).expect("generated");
            store.set_sso_status(&id, "enabled").await?;
            orgs.push(org.id);
        }
        let pool = sqlx::AnyPool::connect(&database.url).await?;
        insert_contacts(&pool, &orgs, contacts, now).await?;
        let started = Instant::now();
        let n = insert_certificates(&pool, &orgs, stored, due_every, now).await?;
        // Statistics, as a database in service has them (autovacuum, or SQLite's optimize).
        sqlx::query("ANALYZE").execute(&pool).await?;
        let loaded = started.elapsed().as_secs_f64();
        // The round as the worker runs it, each step timed: the sweep queues what is due,
        // delivery sends it, a second sweep moves the schedules on.
        let started = Instant::now();
        let mut report = app.trust().sweep_certificates().await?;
        let sweep = started.elapsed().as_secs_f64();
        let started = Instant::now();
        app.trust().deliver_queued_reminders(&mut report).await?;
        let delivery = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let settle = app.trust().sweep_certificates().await?;
        let settled = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            report.certificates as u64 == stored.div_ceil(due_every),
            "{report:?}"
        );
        let started = Instant::now();
        let again = app.trust().sweep_certificates().await?;
        let empty = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(again.certificates == 0, "{again:?}");
        let mails = std::fs::read_dir(&outbox.0)?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
            .count();
        anyhow::ensure!(
            mails == report.sent && report.sent as u64 == report.certificates as u64 * contacts,
            "{mails} files for {report:?}"
        );
        println!(
            "{:<11} {:>10} {:>8} {:>8} {:>14.3} {:>12.0} {:>16.2}   (then delivery {delivery:.3} s, settling sweep {settled:.3} s over {} certificates; fixture loaded in {loaded:.1} s)",
            kind.label(),
            n,
            report.certificates,
            mails,
            sweep,
            sweep * 1e6 / report.certificates.max(1) as f64,
            empty,
            settle.certificates,
        );
    }
    Ok(())
}
