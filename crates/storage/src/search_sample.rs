//! PostgreSQL: how member search chooses, per query, between the pg_trgm index and the
//! name-ordered walk.
//!
//! Neither way is quick for every query among a million members. The walk fills the first page
//! at once when many members match near the start of the alphabet, and reads every member when
//! few match. The trigram index finds rare matches, but a query's *common* trigrams ("mem",
//! "ber" in "member 09999") each stand for most of the members, and reading their posting
//! lists costs tens of milliseconds before the rare ones narrow anything down.
//!
//! So each large organisation keeps a sample of its members' search texts in memory (about
//! [`SAMPLE_ROWS`], taken with `TABLESAMPLE SYSTEM`, refreshed in the background after
//! [`SAMPLE_TTL`]). From it a query gets two estimates: how many members contain the whole
//! query (the walk's cost is how far it must read to fill a page), and how many contain each
//! of the query's trigrams. The trigram path then asks the index for the one or two *rarest*
//! trigrams only (`search_text LIKE '%099%'`), and checks the whole query on the few rows they
//! give. The cheaper of the two plans, by [`choose`], is run.
//!
//! A trigram here is three consecutive letters or digits inside one word of the query, which
//! pg_trgm indexes for any text containing the query; a `LIKE '%abc%'` pattern extracts exactly
//! that trigram, unpadded. Whatever is chosen, the statement also tests the whole query, so a
//! choice can only be slow, never wrong.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// About this many search texts are sampled per organisation.
pub(crate) const SAMPLE_ROWS: f64 = 10_000.0;

/// A sample is refreshed (in the background, the old one still used) after this long.
pub(crate) const SAMPLE_TTL: Duration = Duration::from_secs(600);

/// At most this many organisations keep a sample (the least recently refreshed goes first).
pub(crate) const SAMPLED_ORGS: usize = 64;

/// Below this many members the walk reads the whole organisation quickly: no sample is kept.
pub(crate) const SMALL_ORG: f64 = 5_000.0;

/// Relative costs per row, measured on PostgreSQL 15 (release build, 2 cores, 1,000,000
/// members): reading one entry of a trigram's posting list, checking one candidate row the
/// index gave (heap fetch, substring test, sort), and one step of the name-ordered walk.
const POSTING_COST: f64 = 0.02;
const CANDIDATE_COST: f64 = 2.0;
const WALK_COST: f64 = 0.3;

type Trigram = [char; 3];

/// The trigrams pg_trgm indexes inside the words of `text`, each once.
fn trigrams(text: &str) -> Vec<Trigram> {
    let mut found = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = word.chars().collect();
        for w in chars.windows(3) {
            let t = [w[0], w[1], w[2]];
            if !found.contains(&t) {
                found.push(t);
            }
        }
    }
    found
}

/// What is known of one organisation's search texts.
pub(crate) struct SearchSample {
    /// The sampled search texts (lower-case, as stored).
    texts: Vec<String>,
    /// How many of them contain each trigram.
    containing: HashMap<Trigram, u32>,
    /// The organisation's members, estimated from the sample's share of the table.
    members: f64,
}

/// The plan for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The name-ordered walk with a substring test.
    Walk,
    /// The trigram index for these (one or two) `LIKE` patterns, then the substring test.
    Trigrams(Vec<String>),
}

impl SearchSample {
    pub(crate) fn new(texts: Vec<String>, members: f64) -> Self {
        let mut containing: HashMap<Trigram, u32> = HashMap::new();
        for text in &texts {
            for t in trigrams(text) {
                *containing.entry(t).or_default() += 1;
            }
        }
        SearchSample {
            texts,
            containing,
            members,
        }
    }

    /// The share of members whose search text passes `test`, from the sample; never zero, so
    /// that a query no sampled member matches still counts as rare rather than free.
    fn share(&self, test: impl Fn(&str) -> bool) -> f64 {
        let n = self.texts.len().max(1) as f64;
        let hits = self.texts.iter().filter(|t| test(t)).count() as f64;
        (hits + 0.5) / (n + 1.0)
    }

    fn trigram_share(&self, t: &Trigram) -> f64 {
        let n = self.texts.len().max(1) as f64;
        (f64::from(self.containing.get(t).copied().unwrap_or(0)) + 0.5) / (n + 1.0)
    }
}

/// The cheaper plan for `needle` (trimmed, lower-case) and a page of `limit`.
pub(crate) fn choose(sample: &SearchSample, needle: &str, limit: i64) -> Plan {
    let members = sample.members.max(1.0);
    let matching = sample.share(|t| t.contains(needle));
    // The walk reads until the page is full, or everything.
    let walk = (limit.max(1) as f64 / matching).min(members) * WALK_COST;

    let mut candidates: Vec<(f64, Trigram)> = trigrams(needle)
        .into_iter()
        .map(|t| (sample.trigram_share(&t), t))
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = (walk, Plan::Walk);
    for take in 1..=candidates.len().min(2) {
        let chosen: Vec<Trigram> = candidates[..take].iter().map(|(_, t)| *t).collect();
        let postings: f64 = candidates[..take].iter().map(|(s, _)| s * members).sum();
        let rows = sample.share(|text| {
            let have = trigrams(text);
            chosen.iter().all(|t| have.contains(t))
        }) * members;
        let cost = postings * POSTING_COST + rows * CANDIDATE_COST;
        if cost < best.0 {
            let patterns = chosen.iter().map(like_trigram).collect();
            best = (cost, Plan::Trigrams(patterns));
        }
    }
    best.1
}

/// The `LIKE` patterns of `needle`'s two rarest trigrams by the sample (without one, its
/// first two): what the trigram path asks the index for when told to take it.
pub(crate) fn rarest_trigrams(known: &Known, needle: &str) -> Vec<String> {
    let mut found = trigrams(needle);
    if let Known::Sampled(sample) = known {
        found.sort_by(|a, b| sample.trigram_share(a).total_cmp(&sample.trigram_share(b)));
    }
    found.truncate(2);
    found.iter().map(like_trigram).collect()
}

fn like_trigram(t: &Trigram) -> String {
    format!("%{}%", t.iter().collect::<String>())
}

/// The samples of the organisations searched lately, shared by a store's clones.
#[derive(Default, Clone)]
pub(crate) struct Samples {
    inner: Arc<std::sync::Mutex<HashMap<String, Entry>>>,
}

/// What is known of an organisation's size and texts.
#[derive(Clone)]
pub(crate) enum Known {
    /// Not looked at yet (or forgotten after an import).
    Unknown,
    /// Fewer than [`SMALL_ORG`] members: the walk is always quick.
    Small,
    Sampled(Arc<SearchSample>),
}

struct Entry {
    known: Known,
    taken_at: Instant,
    refreshing: bool,
    /// The last attempt failed: the next search tries again.
    failed: bool,
}

/// What [`Samples::lookup`] found for an organisation.
pub(crate) struct Lookup {
    pub known: Known,
    /// The caller should take a (new) sample now: none yet, or this one is old. Only one
    /// caller at a time is told so.
    pub refresh: bool,
}

impl Samples {
    pub(crate) fn lookup(&self, org_id: &str) -> Lookup {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if !map.contains_key(org_id)
            && map.len() >= SAMPLED_ORGS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.taken_at)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let e = map.entry(org_id.to_owned()).or_insert_with(|| Entry {
            known: Known::Unknown,
            taken_at: now,
            refreshing: false,
            failed: true,
        });
        let refresh = !e.refreshing
            && (e.failed
                || matches!(e.known, Known::Unknown)
                || now.duration_since(e.taken_at) >= SAMPLE_TTL);
        e.refreshing |= refresh;
        Lookup {
            known: e.known.clone(),
            refresh,
        }
    }

    /// Stores what a refresh found (`Err`: it failed, and the next search tries again).
    pub(crate) fn finish(&self, org_id: &str, outcome: Result<Known, ()>) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = map.get_mut(org_id) else { return };
        e.refreshing = false;
        match outcome {
            Ok(known) => {
                e.known = known;
                e.taken_at = Instant::now();
                e.failed = false;
            }
            Err(()) => e.failed = true,
        }
    }

    /// Forgets what is known of `org_id` (its members changed in bulk).
    pub(crate) fn forget(&self, org_id: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(org_id) {
            e.known = Known::Unknown;
        }
    }
}

impl crate::Store {
    /// Takes member search's sample of `org_id` now, which is otherwise taken in the background
    /// on the organisation's first search (and refreshed every ten minutes): for tests and
    /// benchmarks that want the steady state at once. Nothing to do on SQLite.
    pub async fn sample_members_for_search(
        &self,
        org_id: &smartcore_domain::OrgId,
    ) -> Result<(), crate::StoreError> {
        if self.dialect != crate::Dialect::Postgres {
            return Ok(());
        }
        let known = self.take_search_sample(org_id.as_str()).await?;
        self.search_samples.lookup(org_id.as_str());
        self.search_samples.finish(org_id.as_str(), Ok(known));
        Ok(())
    }

    /// What member search should know of `org_id` now: small, or a fresh sample of its texts.
    pub(crate) async fn take_search_sample(&self, org_id: &str) -> Result<Known, sqlx::Error> {
        let (few,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT 1 FROM memberships WHERE org_id = $1 LIMIT $2) f",
        )
        .bind(org_id)
        .bind(SMALL_ORG as i64)
        .fetch_one(&self.pool)
        .await?;
        if (few as f64) < SMALL_ORG {
            return Ok(Known::Small);
        }
        // The table's rows: the planner's count, or (never analysed yet, right after a bulk
        // import) its size at a cautious 50 rows a page.
        let (rows, pages): (f64, f64) = sqlx::query_as(
            "SELECT GREATEST(reltuples, 0)::float8, (pg_relation_size(oid) / 8192)::float8 \
             FROM pg_class WHERE oid = 'memberships'::regclass",
        )
        .fetch_one(&self.pool)
        .await?;
        let rows = rows.max(pages * 50.0).max(1.0);
        let mut percent = (100.0 * SAMPLE_ROWS / rows).clamp(0.01, 100.0);
        loop {
            let texts: Vec<(String,)> = sqlx::query_as(
                "SELECT search_text FROM memberships TABLESAMPLE SYSTEM ($1::float4) WHERE org_id = $2",
            )
            .bind(percent)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
            let got = texts.len() as f64;
            // Too few of this organisation's rows (it is a small part of the table): a larger
            // share of the table, once or twice.
            if got < SAMPLE_ROWS / 4.0 && percent < 100.0 {
                percent = (percent * SAMPLE_ROWS / got.max(1.0)).min(100.0);
                continue;
            }
            let members = (got * 100.0 / percent).max(few as f64);
            let texts = texts.into_iter().map(|(t,)| t).collect();
            return Ok(Known::Sampled(Arc::new(SearchSample::new(texts, members))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members like the benchmark's: "member 012345 member12345@import.example".
    fn bench_like(n: usize) -> SearchSample {
        let texts = (0..n)
            .map(|i| format!("member {i:06} member{i}@import.example"))
            .collect();
        SearchSample::new(texts, 1_000_000.0)
    }

    #[test]
    fn trigrams_are_taken_inside_words_only() {
        let t = trigrams("er 1 ab abc@x-yz");
        assert_eq!(t, vec![['a', 'b', 'c']]);
        assert_eq!(trigrams("zoë"), vec![['z', 'o', 'ë']]);
        assert_eq!(trigrams("aaaa").len(), 1, "each trigram once");
    }

    #[test]
    fn a_rare_number_goes_to_its_rarest_trigrams_and_common_words_walk() {
        // Every 100th member of a million: rows 0, 100, 200 … as a sample.
        let texts = (0..10_000)
            .map(|i| format!("member {:06} member{}@import.example", i * 100, i * 100))
            .collect();
        let sample = SearchSample::new(texts, 1_000_000.0);
        match choose(&sample, "member 09999", 50) {
            Plan::Trigrams(p) => {
                assert!(!p.iter().any(|p| p == "%mem%" || p == "%ber%"), "{p:?}");
            }
            Plan::Walk => panic!("a rare number must use the index"),
        }
        assert_eq!(choose(&sample, "import.example", 50), Plan::Walk);
        assert_eq!(choose(&sample, "er 1", 50), Plan::Walk);
        assert!(matches!(
            choose(&sample, "zz-nobody", 50),
            Plan::Trigrams(_)
        ));
    }

    #[test]
    fn a_query_without_trigrams_walks() {
        let sample = bench_like(1000);
        assert_eq!(choose(&sample, "7@", 50), Plan::Walk);
    }

    #[test]
    fn samples_are_refreshed_once_at_a_time() {
        let samples = Samples::default();
        assert!(samples.lookup("o").refresh);
        assert!(!samples.lookup("o").refresh, "a refresh is under way");
        samples.finish("o", Ok(Known::Sampled(Arc::new(bench_like(10)))));
        let l = samples.lookup("o");
        assert!(matches!(l.known, Known::Sampled(_)) && !l.refresh);
        samples.forget("o");
        let l = samples.lookup("o");
        assert!(
            matches!(l.known, Known::Unknown) && l.refresh,
            "forgotten: sampled again"
        );
        samples.finish("o", Err(()));
        assert!(
            samples.lookup("o").refresh,
            "a failed refresh is tried again"
        );
        samples.finish("o", Ok(Known::Small));
        assert!(!samples.lookup("o").refresh, "known small for a while");
    }
}
