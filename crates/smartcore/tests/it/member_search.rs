//! Member search finds the same members whichever way it goes: the name-ordered walk, the
//! trigram index (SQLite FTS5, PostgreSQL pg_trgm) and the per-query choice, on generated
//! members whose names and addresses carry the characters a pattern could misread.

use crate::support::TestApp;
use smartcore_app::MemberRow;
use smartcore_storage::{MemberCursor, SearchPath};

/// Names with `%`, `_`, `\`, quotes, accents and other scripts, among plain ones.
fn generated_members() -> Vec<(String, String)> {
    let odd = [
        "100% Sure",
        "under_score",
        "back\\slash",
        "Quote \"Q\" Person",
        "Zoë Ørsted",
        "Ærøskøbing Team",
        "Ⅻ Roman",
        "李 小龍",
        "O'Brien",
        "per%cent_mix\\",
    ];
    let mut members = Vec::new();
    for i in 0..400 {
        let name = match i % 10 {
            0 => format!("{} {i}", odd[(i / 10) % odd.len()]),
            1..=4 => format!("Member {i:04}"),
            5 => format!("Ada Lovelace {i}"),
            _ => format!("Grace Hopper {i}"),
        };
        let email = format!(
            "person{i}@{}.example",
            if i % 3 == 0 { "acme" } else { "import" }
        );
        members.push((name, email));
    }
    members
}

const QUERIES: &[&str] = &[
    "ada",
    "member 01",
    "MEMBER 0399",
    "import.example",
    "zz-nobody",
    "7@imp",
    "er 1",
    "a",
    "100%",
    "%",
    "_",
    "r_s",
    "\\",
    "k\\s",
    "\"q\"",
    "zoë",
    "ørs",
    "李",
    "o'b",
    "nt_m",
    "acme.ex",
    "  ada  ",
];

async fn every_path_finds_the_same_members(app: TestApp) {
    let org = app.app.create_org("Acme").await.unwrap();
    let rows = generated_members()
        .into_iter()
        .enumerate()
        .map(|(i, (name, email))| {
            Ok(MemberRow {
                line: i as u64 + 1,
                name,
                email,
                role: Some("member".into()),
            })
        });
    let report = app.app.import_members(&org, rows, |_| {}).await.unwrap();
    assert_eq!(report.written, 400, "{report:?}");
    let store = app.app.store();
    let org_id = smartcore_domain::OrgId::parse(&org.id).unwrap();
    for q in QUERIES {
        let mut found = Vec::new();
        for path in [SearchPath::Walk, SearchPath::Trigram, SearchPath::Choose] {
            // Every page, 7 at a time, so the keyset is followed on every path too.
            let mut ids = Vec::new();
            let mut after: Option<MemberCursor> = None;
            loop {
                let page = store
                    .search_members_by(path, &org_id, q, after.as_ref(), 7)
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = Some(MemberCursor::after(last));
                ids.extend(page.iter().map(|h| h.id.clone()));
            }
            found.push((path, ids));
        }
        let (_, walk) = &found[0];
        let expected = generated_members()
            .iter()
            .filter(|(name, email)| {
                format!("{} {}", name.to_lowercase(), email)
                    .contains(q.trim().to_lowercase().as_str())
            })
            .count();
        assert_eq!(walk.len(), expected, "walk for {q:?}");
        for (path, ids) in &found[1..] {
            assert_eq!(ids, walk, "{path:?} differs from the walk for {q:?}");
        }
    }
}

async fn the_sampled_choice_finds_what_the_walk_finds(app: TestApp) {
    // Enough members for PostgreSQL to keep a sample and choose by it.
    let org = app.app.create_org("Big").await.unwrap();
    let rows = (0..6_000u64).map(|i| {
        let (name, email) = &generated_members()[(i % 400) as usize];
        Ok(MemberRow {
            line: i + 1,
            name: format!("{name} {i:05}"),
            email: email.replace('@', &format!("+{i}@")),
            role: Some("member".into()),
        })
    });
    let report = app.app.import_members(&org, rows, |_| {}).await.unwrap();
    assert_eq!(report.written, 6_000, "{report:?}");
    let store = app.app.store();
    let org_id = smartcore_domain::OrgId::parse(&org.id).unwrap();
    store.sample_members_for_search(&org_id).await.unwrap();
    for q in QUERIES
        .iter()
        .chain(&["member 0399 05999", "+5999@", "hopper 1", "ada lovelace 5"])
    {
        let mut after: [Option<MemberCursor>; 2] = [None, None];
        for page in 0..3 {
            let mut pages = Vec::new();
            for (i, path) in [SearchPath::Walk, SearchPath::Choose]
                .into_iter()
                .enumerate()
            {
                let hits = store
                    .search_members_by(path, &org_id, q, after[i].as_ref(), 50)
                    .await
                    .unwrap();
                after[i] = hits.last().map(MemberCursor::after);
                pages.push(hits.into_iter().map(|h| h.id).collect::<Vec<_>>());
            }
            assert_eq!(pages[1], pages[0], "page {page} of {q:?}");
        }
    }
}
on_both_databases!(
    every_path_finds_the_same_members,
    the_sampled_choice_finds_what_the_walk_finds
);
