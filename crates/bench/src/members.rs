//! The members page (Settings → Organisation → Members, issue 12) in an organisation of
//! `members` members: server time of the HTML page, p50/p99 over `renders` requests each, for
//! the first page, a page from the middle and the last page of the name order (keyset cursors,
//! so the depth should not matter), and two searches; then the removal of members spread
//! over the name order through the API, one at a time.

use crate::search::percentile;
use crate::{db, fixture};
use std::time::Instant;

/// (name, id) of the first member the picker's search finds for `name`.
async fn found_member(
    client: &reqwest::Client,
    fixture: &crate::fixture::Fixture,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let body: serde_json::Value = client
        .get(format!(
            "{}/api/v1/orgs/{}/members",
            fixture.base_url, fixture.org_id
        ))
        .query(&[("q", name), ("limit", "1")])
        .bearer_auth(&fixture.token)
        .send()
        .await?
        .json()
        .await?;
    let first = &body["members"][0];
    let (Some(found), Some(id)) = (first["name"].as_str(), first["id"].as_str()) else {
        anyhow::bail!("no member named {name:?}: {body}");
    };
    Ok((found.to_owned(), id.to_owned()))
}

/// A cursor that continues after the member named `name` (a cursor is the base64url of the
/// sort name and user id).
async fn cursor_after(
    client: &reqwest::Client,
    fixture: &crate::fixture::Fixture,
    name: &str,
) -> anyhow::Result<String> {
    use base64::Engine;
    let (found, id) = found_member(client, fixture, name).await?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}\n{id}", found.to_lowercase())))
}

pub async fn run(members: u64, renders: usize) -> anyhow::Result<()> {
    println!("members page (HTML, 50 a page): {members} members, {renders} renders each");
    println!(
        "{:<11} {:<26} {:>9} {:>9} {:>9}",
        "database", "page", "p50 ms", "p99 ms", "max ms"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let started = Instant::now();
        let fixture = crate::fixture::Fixture::build(&database.url, members).await?;
        eprintln!(
            "{}: {members} members imported in {:.1} s",
            kind.label(),
            started.elapsed().as_secs_f64()
        );
        let app = &fixture.app;
        let org = app.operations().find_org(&fixture.org_id).await?;
        let session =
            fixture::admin_with_session(app, &org, "members-admin@bench.example", "Members Admin")
                .await?;
        let cookie = format!("smartcore_session={}", session.token);
        let client = reqwest::Client::new();
        let middle = cursor_after(&client, &fixture, &format!("member {:06}", members / 2)).await?;
        let last = cursor_after(
            &client,
            &fixture,
            &format!("member {:06}", members.saturating_sub(30)),
        )
        .await?;
        let page = format!(
            "{}/orgs/{}/settings/members",
            fixture.base_url, fixture.org_id
        );
        let cases: [(&str, Vec<(&str, String)>); 5] = [
            ("first page", vec![]),
            ("middle page (cursor)", vec![("after", middle)]),
            ("last page (cursor)", vec![("after", last)]),
            (
                "search \"member 0999\"",
                vec![("q", "member 0999".to_owned())],
            ),
            ("search \"zz-nobody\"", vec![("q", "zz-nobody".to_owned())]),
        ];
        for (label, query) in cases {
            let mut times = Vec::with_capacity(renders);
            for _ in 0..renders.max(1) {
                let started = Instant::now();
                let r = client
                    .get(&page)
                    .query(&query)
                    .header("cookie", &cookie)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "{label}: {}", r.status());
                let html = r.text().await?;
                anyhow::ensure!(html.contains("<h1>Members</h1>"), "{label}: not the page");
                times.push(started.elapsed().as_micros());
            }
            times.sort_unstable();
            println!(
                "{:<11} {:<26} {:>9.2} {:>9.2} {:>9.2}",
                kind.label(),
                label,
                percentile(&times, 50.0),
                percentile(&times, 99.0),
                percentile(&times, 100.0)
            );
        }
        // Removals: `renders / 10` members (at least one) spread over the name order.
        let removals = (renders / 10).max(1) as u64;
        let mut times = Vec::with_capacity(removals as usize);
        for i in 0..removals {
            let name = format!("member {:06}", i * (members / removals) + 1);
            let (_, id) = found_member(&client, &fixture, &name).await?;
            let started = Instant::now();
            let r = client
                .delete(format!(
                    "{}/api/v1/orgs/{}/members/{id}",
                    fixture.base_url, fixture.org_id
                ))
                .bearer_auth(&fixture.token)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "removing {name}: {}", r.status());
            times.push(started.elapsed().as_micros());
            let gone = found_member(&client, &fixture, &name).await;
            anyhow::ensure!(gone.is_err(), "{name} is still found after its removal");
        }
        times.sort_unstable();
        println!(
            "{:<11} {:<26} {:>9.2} {:>9.2} {:>9.2}",
            kind.label(),
            format!("remove a member (x{removals})"),
            percentile(&times, 50.0),
            percentile(&times, 99.0),
            percentile(&times, 100.0)
        );
        fixture.stop();
    }
    Ok(())
}
