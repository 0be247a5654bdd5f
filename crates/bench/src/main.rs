//! `smartcore-bench`: measurements that print figures (README, "Benchmarks").
//!
//! Each benchmark runs against the real service code on a fresh database, SQLite and (when
//! reachable) PostgreSQL from `SMARTCORE_TEST_POSTGRES_URL`.

mod add_remove;
mod db;
mod fixture;
mod import;
mod load;
mod members;
mod metadata;
mod page;
mod preview;
mod reconfirm;
mod search;
mod sso;
mod sweep;
mod sync;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "smartcore-bench",
    about = "Benchmarks of the sign-on settings service"
)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// `smartcore member import` of a generated CSV: rows/s and peak memory, for two file sizes.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
    /// Member search through the HTTP API in organisations of 100,000 and 1,000,000 members:
    /// percentiles over the mix and per query.
    Search {
        /// Organisation sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [100_000, 1_000_000])]
        members: Vec<u64>,
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
    },
    /// Identity-side sync of 10,000 contacts against the WorkOS fake answering after 20 ms.
    Sync {
        #[arg(long, default_value_t = 10_000)]
        contacts: u64,
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
        /// Requests in flight, for the sync and as the fake's own limit.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// The certificate-expiry sweep over 1,000,000 stored certificates with 1% due.
    Sweep {
        #[arg(long, default_value_t = 1_000_000)]
        stored: u64,
        /// One certificate in this many is due.
        #[arg(long, default_value_t = 100)]
        due_every: u64,
        /// Registered IT contacts per organisation (each due certificate mails every one).
        #[arg(long, default_value_t = 1)]
        contacts: u64,
    },
    /// The re-confirmation pass over 1,000,000 Synced contacts with 1% due, and with none due.
    Reconfirm {
        #[arg(long, default_value_t = 1_000_000)]
        stored: u64,
        /// One contact in this many is due.
        #[arg(long, default_value_t = 100)]
        due_every: u64,
    },
    /// The members page at 1,000,000 members: first, middle and last page, two searches.
    Members {
        #[arg(long, default_value_t = 1_000_000)]
        members: u64,
        #[arg(long, default_value_t = 200)]
        renders: usize,
    },
    /// The Authentication page with 20 contacts: weight and server time.
    Page {
        #[arg(long, default_value_t = 200)]
        renders: usize,
    },
    /// A metadata refresh round over 10,000 organisations' URLs (local server), then the
    /// hostile-document figures beside another organisation's list-contacts.
    Metadata {
        #[arg(long, default_value_t = 10_000)]
        orgs: usize,
    },
    /// Issue 16's upcoming-reminders preview: 20 contacts, 5 certificates; p50/p90/p99.
    Preview {
        #[arg(long, default_value_t = 2_000)]
        calls: usize,
    },
    /// list-contacts under 64 concurrent connections (wrk), beside two floors served in the same run.
    Load {
        #[arg(long, default_value_t = 64)]
        connections: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// `list` (list-contacts under wrk) or `add-remove` (issue 24: each client adds a
        /// contact and removes it again, on PostgreSQL, sampling pg_stat_activity).
        #[arg(long, default_value = "list")]
        mode: String,
    },
    /// SAML sign-in: POST /saml/{org}/acs from 64 concurrent clients (sign-ins/s, p50/p99),
    /// then /sso/complete, beside `verify` alone and its cryptography alone (digest + RSA).
    Sso {
        /// Sign-ins per database, each a distinct member answering its own request.
        #[arg(long, default_value_t = 2_000)]
        sign_ins: usize,
        #[arg(long, default_value_t = 64)]
        clients: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.bench {
            Bench::Import { rows } => import::run(rows).await,
            Bench::Search { members, queries } => search::run(&members, queries).await,
            Bench::Sync {
                contacts,
                latency_ms,
                concurrency,
            } => sync::run(contacts, latency_ms, concurrency).await,
            Bench::Sweep {
                stored,
                due_every,
                contacts,
            } => sweep::run(stored, due_every, contacts).await,
            Bench::Reconfirm { stored, due_every } => reconfirm::run(stored, due_every).await,
            Bench::Page { renders } => page::run(renders).await,
            Bench::Members { members, renders } => members::run(members, renders).await,
            Bench::Metadata { orgs } => metadata::run(orgs).await,
            Bench::Preview { calls } => preview::run(calls).await,
            Bench::Load {
                connections,
                seconds,
                mode,
            } => match mode.as_str() {
                "list" => load::run(connections, seconds).await,
                "add-remove" => add_remove::run(connections as usize, seconds).await,
                other => anyhow::bail!("--mode is list or add-remove, not {other}"),
            },
            Bench::Sso { sign_ins, clients } => sso::run(sign_ins, clients).await,
        }
    })
}
