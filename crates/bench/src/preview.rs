//! "Who will be mailed, when" (issue 16): `GET /reminders/upcoming` as the use case computes it
//! (access check, certificates, recipients, recorded reminders, the sweep's decision for now
//! and each coming threshold), for an organisation with 20 registered IT contacts and 5 watched
//! certificates, 2 of them inside their reminder window with reminders already sent.

use crate::{db, fixture};
use smartcore_domain::{ContactId, OrgId};
use std::time::Instant;

/// 20 registered IT contacts and 5 watched certificates, expiring in 20, 45, 90, 200 and 400
/// days: two inside the 60-day window. The pool that wrote them.
async fn seed(url: &str, org_id: &str, now: i64) -> anyhow::Result<sqlx::AnyPool> {
    let day = 86_400_000i64;
    let pool = sqlx::AnyPool::connect(url).await?;
    for c in 0..20 {
        sqlx::query(
            "INSERT INTO it_contacts (id, org_id, email, email_key, source, status, synced_at, created_at, created_by) \
             VALUES ($1, $2, $3, $3, 'manual', 'synced', $4, $4, 'usr_bench')",
        )
        .bind(ContactId::generate().as_str())
        .bind(org_id)
        .bind(format!("it{c}@preview.example"))
        .bind(now)
        .execute(&pool)
        .await?;
    }
    // Expiring in 20, 45, 90, 200 and 400 days: two inside the 60-day window.
    for (i, days) in [20i64, 45, 90, 200, 400].into_iter().enumerate() {
        let not_after = now + days * day;
        sqlx::query(
            "INSERT INTO sso_certificates (org_id, fingerprint_sha256, subject, not_before, not_after, pem, added_at, next_due_at) \
             VALUES ($1, $2, $3, $4, $5, 'bench', $4, $6)",
        )
        .bind(org_id)
        .bind(format!("{i:064x}"))
        .bind(format!("CN=cert{i}.preview.example"))
        .bind(now - 300 * day)
        .bind(not_after)
        .bind(if days <= 60 { now - 1000 } else { not_after - 60 * day })
        .execute(&pool)
        .await?;
    }
    Ok(pool)
}

pub async fn run(calls: usize) -> anyhow::Result<()> {
    println!(
        "upcoming reminders: 1 organisation, 20 registered IT contacts, 5 watched certificates, {calls} calls"
    );
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "database", "p50 µs", "p90 µs", "p99 µs", "max µs", "recipients"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let outbox = db::temp_dir("outbox");
        let outbox_dir = outbox.0.display().to_string();
        let app = db::open_with(&database.url, &[("SMARTCORE_OUTBOX_DIR", &outbox_dir)]).await?;
        let org = app.operations().create_org("Preview Bench").await?;
        let org_id = OrgId::parse(&org.id).expect("generated");
        smartcore_storage::Store::connect(&database.url)
            .await?
            .set_sso_status(&org_id, "enabled")
            .await?;
        let session =
            fixture::admin_with_session(&app, &org, "preview-admin@bench.example", "Preview Admin")
                .await?;
        let now = app.now().unix_millis();
        // The seeding pool stays open while the calls are timed.
        let _pool = seed(&database.url, &org.id, now).await?;
        let mut report = app.trust().sweep_certificates().await?;
        app.trust().deliver_queued_reminders(&mut report).await?;
        anyhow::ensure!(report.sent == 40, "{report:?}");
        let mut times = Vec::with_capacity(calls);
        let mut recipients = 0;
        for _ in 0..calls {
            let started = Instant::now();
            let upcoming = app
                .trust()
                .upcoming_reminders(&session.actor, &org.org_id())
                .await?;
            times.push(started.elapsed().as_micros());
            recipients = upcoming
                .certificates
                .iter()
                .flat_map(|c| &c.thresholds)
                .map(|t| t.recipients.len())
                .sum::<usize>();
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "{:<11} {:>8} {:>8} {:>8} {:>8} {:>12}",
            kind.label(),
            at(0.50),
            at(0.90),
            at(0.99),
            times[times.len() - 1],
            recipients
        );
    }
    Ok(())
}
