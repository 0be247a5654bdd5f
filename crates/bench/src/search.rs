//! Member search through the HTTP API (the picker's request) in an organisation of `members`
//! members: latency percentiles over `queries` sequential requests of assorted queries.

use crate::db;
use std::time::Instant;

pub fn percentile(sorted_micros: &[u128], p: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted_micros.len() as f64 - 1.0)).round() as usize;
    sorted_micros[rank.min(sorted_micros.len() - 1)] as f64 / 1000.0
}

pub async fn run(members: u64, queries: usize) -> anyhow::Result<()> {
    println!("member search over HTTP: {members} members, {queries} queries each");
    println!(
        "{:<11} {:>9} {:>9} {:>9} {:>9}",
        "database", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let fixture = crate::load::Fixture::build(&database.url, members).await?;
        let client = reqwest::Client::new();
        let words = [
            "ada",
            "member 04",
            "MEMBER 09999",
            "import.example",
            "zz-nobody",
            "7@imp",
            "er 1",
            "a",
        ];
        let mut samples = Vec::with_capacity(queries);
        for i in 0..queries {
            let q = words[i % words.len()];
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
            samples.push(started.elapsed().as_micros());
        }
        samples.sort_unstable();
        println!(
            "{:<11} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            kind.label(),
            percentile(&samples, 50.0),
            percentile(&samples, 90.0),
            percentile(&samples, 99.0),
            percentile(&samples, 100.0)
        );
        fixture.stop();
    }
    Ok(())
}
