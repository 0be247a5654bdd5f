//! Member search through the HTTP API (the picker's request: 20 ranked results and the count up
//! to 1,000) in an organisation of `members` members: latency percentiles over `queries`
//! sequential requests of assorted queries, and per query the plan the search took and the rows
//! its statements returned (a walk's rows read show as how far it walked).

use crate::db;
use std::time::Instant;

pub fn percentile(sorted_micros: &[u128], p: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted_micros.len() as f64 - 1.0)).round() as usize;
    sorted_micros[rank.min(sorted_micros.len() - 1)] as f64 / 1000.0
}

/// The picker's queries: common and rare, early and late in name order, none at all.
pub(crate) const WORDS: [&str; 8] = [
    "ada",
    "member 04",
    "MEMBER 09999",
    "import.example",
    "zz-nobody",
    "7@imp",
    "er 1",
    "a",
];

/// How many of the fixture's `members` members `query` matches (their search text is the
/// lower-case name and address, as the service stores it).
fn matching(members: u64, query: &str) -> u64 {
    let needle = query.trim().to_lowercase();
    (0..members)
        .filter(|i| format!("member {i:06} member{i}@import.example").contains(&needle))
        .count() as u64
}

pub async fn run(sizes: &[u64], queries: usize) -> anyhow::Result<()> {
    println!("member search over HTTP: {queries} sequential queries per database and size");
    for &members in sizes {
        let matches: Vec<u64> = WORDS.iter().map(|q| matching(members, q)).collect();
        for kind in db::kinds().await {
            let database = db::fresh(kind).await?;
            let building = Instant::now();
            let fixture = crate::fixture::Fixture::build(&database.url, members).await?;
            let built = building.elapsed().as_secs_f64();
            let client = reqwest::Client::new();
            let mut samples = Vec::with_capacity(queries);
            let mut by_query: Vec<Vec<u128>> = vec![Vec::new(); WORDS.len()];
            for i in 0..queries {
                let q = WORDS[i % WORDS.len()];
                let started = Instant::now();
                let r = client
                    .get(format!(
                        "{}/api/v1/orgs/{}/members",
                        fixture.base_url, fixture.org_id
                    ))
                    .query(&[("q", q)])
                    .bearer_auth(&fixture.token)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "search failed: {}", r.status());
                let _ = r.bytes().await?;
                let took = started.elapsed().as_micros();
                samples.push(took);
                by_query[i % WORDS.len()].push(took);
            }
            samples.sort_unstable();
            println!();
            println!(
                "{} at {members} members: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                kind.label(),
                percentile(&samples, 50.0),
                percentile(&samples, 90.0),
                percentile(&samples, 99.0),
                percentile(&samples, 100.0)
            );
            println!(
                "  (the fixture's import through Operations::import_members: {members} members in {built:.1} s, {:.0} rows/s)",
                members as f64 / built
            );
            println!(
                "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>6}  plan",
                "query", "matches", "p50 ms", "p99 ms", "max ms", "rows"
            );
            let org = smartcore_domain::OrgId::parse(&fixture.org_id)
                .ok_or_else(|| anyhow::anyhow!("the fixture's organisation id"))?;
            for (i, mut times) in by_query.into_iter().enumerate() {
                times.sort_unstable();
                // The same search once more, through the store, for its plan.
                let answer = fixture
                    .store
                    .search_members(&org, WORDS[i], 20, smartcore_app::SEARCH_COUNT_CAP)
                    .await?;
                println!(
                    "  {:<16} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>6}  {} (total {}{})",
                    format!("{:?}", WORDS[i]),
                    matches[i],
                    percentile(&times, 50.0),
                    percentile(&times, 99.0),
                    percentile(&times, 100.0),
                    answer.rows,
                    answer.plan.join("; "),
                    answer.total,
                    if answer.more { ", more" } else { "" }
                );
            }
            fixture.stop();
        }
    }
    Ok(())
}
