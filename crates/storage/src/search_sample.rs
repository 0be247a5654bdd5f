//! How member search chooses, per query, between the trigram index and the name-ordered walk.
//!
//! Neither way is quick for every query among a million members. The walk fills the first page
//! at once when many members match near the start of the alphabet, and reads every member when
//! few match or when the matches sort late ("er 1" matches a tenth of the benchmark's members,
//! all after the first hundred thousand). The trigram index finds rare matches, but a query's
//! *common* trigrams ("mem", "ber" in "member 09999") each stand for most of the members, and
//! reading their posting lists (position lists too, for SQLite's phrase match) costs tens of
//! milliseconds before the rare ones narrow anything down.
//!
//! So each large organisation keeps a sample of its members in memory, in name order (about
//! [`SAMPLE_ROWS`]; PostgreSQL takes it with `TABLESAMPLE SYSTEM`, SQLite with a random filter
//! over the covering index; refreshed in the background after [`SAMPLE_TTL`] and after an
//! import). From it a query gets two estimates: how far the walk must read to fill the page
//! from where it starts (the sample's matches in name order say where they are, early or
//! late), and how many members contain each of the query's trigrams. The trigram path then
//! asks the index for the one or two *rarest* trigrams only (`LIKE '%099%'` on PostgreSQL,
//! `MATCH '"099" AND "999"'` on SQLite), and tests the whole query on the rows they give. The
//! cheaper plan, by [`choose`], is run.
//!
//! On PostgreSQL a trigram is three consecutive letters or digits inside one word of the query,
//! which pg_trgm indexes for any text containing the query, and a `LIKE '%abc%'` pattern
//! extracts exactly that trigram, unpadded. SQLite's trigram tokenizer indexes every three
//! consecutive characters, spaces and punctuation included. Whatever is chosen, the statement
//! also tests the whole query, so a choice can only be slow, never wrong.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// About this many search texts are sampled per organisation.
pub(crate) const SAMPLE_ROWS: f64 = 10_000.0;

/// A sample is refreshed (in the background, the old one still used) after this long.
pub(crate) const SAMPLE_TTL: Duration = Duration::from_secs(600);

/// At most this many organisations keep a sample (the least recently refreshed goes first).
pub(crate) const SAMPLED_ORGS: usize = 16;

/// Below this many members the walk reads the whole organisation quickly: no sample is kept.
pub(crate) const SMALL_ORG: f64 = 5_000.0;

/// Relative costs per row, measured on PostgreSQL 15 (release build, 2 cores, 1,000,000
/// members): reading one entry of a trigram's posting list, checking one candidate row the
/// index gave (heap fetch, substring test, sort), and one step of the name-ordered walk.
const POSTING_COST: f64 = 0.02;
const CANDIDATE_COST: f64 = 2.0;
const WALK_COST: f64 = 0.3;

/// SQLite, in microseconds, measured at 1,000,000 members: one step of the walk (0.25), and
/// one member found by an FTS5 phrase query (5: the join to the membership and the sort). The
/// phrase's own cost is the rarest trigram's, as FTS5 skips through the common ones' doclists:
/// "member 09999" takes 1–2 ms, where "099" alone (3,999 candidates to check) takes 22 ms.
const SQLITE_WALK_US: f64 = 0.25;
const SQLITE_MATCH_US: f64 = 5.0;

/// A walk reading more members than this is slow enough to ask the planner instead, when the
/// sample has nothing better.
const FAR_WALK: f64 = 5_000.0;

type Trigram = [char; 3];

/// Which trigrams a database's index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigrams {
    /// pg_trgm: inside words of letters and digits.
    Words,
    /// SQLite FTS5's trigram tokenizer: every three consecutive characters.
    Windows,
}

impl Trigrams {
    /// The trigrams of `text`, each once.
    fn of(self, text: &str) -> Vec<Trigram> {
        let mut found = Vec::new();
        let mut add = |chars: &[char]| {
            for w in chars.windows(3) {
                let t = [w[0], w[1], w[2]];
                if !found.contains(&t) {
                    found.push(t);
                }
            }
        };
        match self {
            Trigrams::Words => {
                for word in text.split(|c: char| !c.is_alphanumeric()) {
                    add(&word.chars().collect::<Vec<_>>());
                }
            }
            Trigrams::Windows => add(&text.chars().collect::<Vec<_>>()),
        }
        found
    }
}

/// How pg_trgm is asked for the rows holding all of `chosen`: one `LIKE` pattern each.
fn like_patterns(chosen: &[Trigram]) -> Vec<String> {
    chosen
        .iter()
        .map(|t| format!("%{}%", t.iter().collect::<String>()))
        .collect()
}

/// What is known of one organisation's search texts.
pub(crate) struct SearchSample {
    kind: Trigrams,
    /// The sampled members' `(sort_name, user_id)`, in name order.
    keys: Vec<(String, String)>,
    /// Their search texts (lower-case, as stored), in the same order.
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
    /// The trigram index asked this way (PostgreSQL: one or two `LIKE` patterns; SQLite: the
    /// FTS5 phrase of the whole query), then the substring test.
    Trigrams(Vec<String>),
    /// PostgreSQL, a query without a trigram inside a word ("er 1") that the walk would read
    /// far for: the whole query as a `LIKE`, for the planner, which also knows pg_trgm's
    /// trigrams at word edges ("er ", "  1").
    WholeQuery,
}

impl SearchSample {
    /// A sample of `(sort_name, user_id, search_text)` rows in name order, standing for
    /// `members` members.
    pub(crate) fn new(kind: Trigrams, rows: Vec<(String, String, String)>, members: f64) -> Self {
        let mut containing: HashMap<Trigram, u32> = HashMap::new();
        let mut keys = Vec::with_capacity(rows.len());
        let mut texts = Vec::with_capacity(rows.len());
        for (sort_name, user_id, text) in rows {
            for t in kind.of(&text) {
                *containing.entry(t).or_default() += 1;
            }
            keys.push((sort_name, user_id));
            texts.push(text);
        }
        SearchSample {
            kind,
            keys,
            texts,
            containing,
            members,
        }
    }

    /// How many members the walk reads to fill a page of `limit` from `after` on.
    fn walk_reads(&self, needle: &str, after: (&str, &str), limit: i64) -> f64 {
        let n = self.texts.len().max(1) as f64;
        let per_sampled = self.members.max(1.0) / n;
        let from = self
            .keys
            .partition_point(|(s, u)| (s.as_str(), u.as_str()) <= after);
        // The page is full once the walk has passed this many of the sample's matches.
        let wanted = ((limit.max(1) as f64) / per_sampled).ceil().max(1.0) as usize;
        let needle = memchr::memmem::Finder::new(needle);
        let mut found = 0;
        for (i, text) in self.texts.iter().enumerate().skip(from) {
            if needle.find(text.as_bytes()).is_some() {
                found += 1;
                if found == wanted {
                    return (i + 1 - from) as f64 * per_sampled;
                }
            }
        }
        // Not enough matches in the sample: the walk reads on to the end.
        (self.texts.len() - from).max(1) as f64 * per_sampled
    }

    fn trigram_share(&self, t: &Trigram) -> f64 {
        let n = self.texts.len().max(1) as f64;
        (f64::from(self.containing.get(t).copied().unwrap_or(0)) + 0.5) / (n + 1.0)
    }
}

/// The cheaper plan for `needle` (trimmed, lower-case) and a page of `limit` after `after`
/// (`("", "")` for the first page).
pub(crate) fn choose(sample: &SearchSample, needle: &str, after: (&str, &str), limit: i64) -> Plan {
    let members = sample.members.max(1.0);
    if sample.kind == Trigrams::Windows {
        // SQLite: the walk, or FTS5's phrase query for the whole query.
        let walk = sample.walk_reads(needle, after, limit) * SQLITE_WALK_US;
        let finder = memchr::memmem::Finder::new(needle);
        let n = sample.texts.len().max(1) as f64;
        let hits = sample
            .texts
            .iter()
            .filter(|t| finder.find(t.as_bytes()).is_some())
            .count();
        let phrase = (hits as f64 + 0.5) / (n + 1.0) * members * SQLITE_MATCH_US;
        return if phrase < walk {
            Plan::Trigrams(vec![format!("\"{}\"", needle.replace('"', "\"\""))])
        } else {
            Plan::Walk
        };
    }
    let walk = sample.walk_reads(needle, after, limit) * WALK_COST;
    let mut candidates: Vec<(f64, Trigram)> = sample
        .kind
        .of(needle)
        .into_iter()
        .map(|t| (sample.trigram_share(&t), t))
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = (walk, Plan::Walk);
    if candidates.is_empty() {
        return if sample.kind == Trigrams::Words && walk > FAR_WALK * WALK_COST {
            Plan::WholeQuery
        } else {
            best.1
        };
    }
    // How many sampled texts hold the rarest trigram, and the two rarest: one pass, the
    // second test only where the first passed. (A text holds a trigram exactly when it
    // contains its three characters: pg_trgm's are letters and digits, so inside one word.)
    let text = |t: &Trigram| t.iter().collect::<String>();
    let first = text(&candidates[0].1);
    let second = candidates.get(1).map(|c| text(&c.1));
    let first = memchr::memmem::Finder::new(&first);
    let second = second.as_deref().map(memchr::memmem::Finder::new);
    let (mut one, mut both) = (0u32, 0u32);
    for t in &sample.texts {
        if first.find(t.as_bytes()).is_some() {
            one += 1;
            if second
                .as_ref()
                .is_some_and(|f| f.find(t.as_bytes()).is_some())
            {
                both += 1;
            }
        }
    }
    let n = sample.texts.len().max(1) as f64;
    for (take, holding) in [(1, one), (2, both)] {
        if take > candidates.len() {
            break;
        }
        let postings: f64 = candidates[..take].iter().map(|(s, _)| s * members).sum();
        let rows = (f64::from(holding) + 0.5) / (n + 1.0) * members;
        let cost = postings * POSTING_COST + rows * CANDIDATE_COST;
        if cost < best.0 {
            let chosen: Vec<Trigram> = candidates[..take].iter().map(|(_, t)| *t).collect();
            best = (cost, Plan::Trigrams(like_patterns(&chosen)));
        }
    }
    best.1
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
    /// benchmarks that want the steady state at once.
    pub async fn sample_members_for_search(
        &self,
        org_id: &smartcore_domain::OrgId,
    ) -> Result<(), crate::StoreError> {
        let known = self.take_search_sample(org_id.as_str()).await?;
        self.search_samples.lookup(org_id.as_str());
        self.search_samples.finish(org_id.as_str(), Ok(known));
        Ok(())
    }

    /// What member search should know of `org_id` now: small, or a fresh sample of it.
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
        let (rows, members) = match self.dialect {
            crate::Dialect::Sqlite => {
                // A random filter over the covering index, in name order: one read of it.
                let (members,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE org_id = $1")
                        .bind(org_id)
                        .fetch_one(&self.pool)
                        .await?;
                let every = ((members as f64) / SAMPLE_ROWS).ceil().max(1.0) as i64;
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT sort_name, user_id, search_text FROM memberships \
                     WHERE org_id = $1 AND random() % $2 = 0 ORDER BY sort_name, user_id",
                )
                .bind(org_id)
                .bind(every)
                .fetch_all(&self.pool)
                .await?;
                (rows, members as f64)
            }
            crate::Dialect::Postgres => {
                // The table's rows: the planner's count, or (never analysed yet) its size at
                // a cautious 50 rows a page. Pages are sampled, not read whole.
                let (rows, pages): (f64, f64) = sqlx::query_as(
                    "SELECT GREATEST(reltuples, 0)::float8, (pg_relation_size(oid) / 8192)::float8 \
                     FROM pg_class WHERE oid = 'memberships'::regclass",
                )
                .fetch_one(&self.pool)
                .await?;
                let table = rows.max(pages * 50.0).max(1.0);
                let mut percent = (100.0 * SAMPLE_ROWS / table).clamp(0.01, 100.0);
                loop {
                    let rows: Vec<(String, String, String)> = sqlx::query_as(
                        "SELECT sort_name, user_id, search_text FROM memberships \
                         TABLESAMPLE SYSTEM ($1::float4) WHERE org_id = $2 ORDER BY sort_name, user_id",
                    )
                    .bind(percent)
                    .bind(org_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let got = rows.len() as f64;
                    // Too few of this organisation's rows (it is a small part of the table):
                    // a larger share of the table, once or twice.
                    if got < SAMPLE_ROWS / 4.0 && percent < 100.0 {
                        percent = (percent * SAMPLE_ROWS / got.max(1.0)).min(100.0);
                        continue;
                    }
                    break (rows, (got * 100.0 / percent).max(few as f64));
                }
            }
        };
        let kind = match self.dialect {
            crate::Dialect::Sqlite => Trigrams::Windows,
            crate::Dialect::Postgres => Trigrams::Words,
        };
        Ok(Known::Sampled(Arc::new(SearchSample::new(
            kind, rows, members,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 100th of a million members like the benchmark's, in name order:
    /// "member 012300 member12300@import.example".
    fn bench_like(kind: Trigrams) -> SearchSample {
        let rows = (0..10_000)
            .map(|i| {
                let n = i * 100;
                (
                    format!("member {n:06}"),
                    format!("user_{n:08}"),
                    format!("member {n:06} member{n}@import.example"),
                )
            })
            .collect();
        SearchSample::new(kind, rows, 1_000_000.0)
    }

    const FIRST: (&str, &str) = ("", "");

    #[test]
    fn trigrams_are_taken_as_each_index_holds_them() {
        assert_eq!(
            Trigrams::Words.of("er 1 ab abc@x-yz"),
            vec![['a', 'b', 'c']]
        );
        assert_eq!(Trigrams::Words.of("zoë"), vec![['z', 'o', 'ë']]);
        assert_eq!(Trigrams::Words.of("aaaa").len(), 1, "each trigram once");
        assert_eq!(
            Trigrams::Windows.of("er 1"),
            vec![['e', 'r', ' '], ['r', ' ', '1']]
        );
        assert_eq!(
            like_patterns(&[['0', '9', '9'], ['9', '9', '9']]),
            vec!["%099%", "%999%"]
        );
    }

    #[test]
    fn a_rare_number_goes_to_its_rarest_trigrams_and_common_words_walk() {
        for kind in [Trigrams::Words, Trigrams::Windows] {
            let sample = bench_like(kind);
            match choose(&sample, "member 09999", FIRST, 50) {
                // pg_trgm: the rare trigrams only.
                Plan::Trigrams(p) if kind == Trigrams::Words => {
                    assert!(
                        !p.iter().any(|p| p.contains("mem") || p.contains("ber")),
                        "{p:?}"
                    );
                }
                // FTS5: the phrase, which skips through the common trigrams by itself.
                Plan::Trigrams(p) => assert_eq!(p, ["\"member 09999\""]),
                other => panic!("{kind:?}: a rare number must use the index, not {other:?}"),
            }
            assert_eq!(
                choose(&sample, "import.example", FIRST, 50),
                Plan::Walk,
                "{kind:?}"
            );
            assert_eq!(
                choose(&sample, "member 0", FIRST, 50),
                Plan::Walk,
                "{kind:?}"
            );
            assert!(
                matches!(choose(&sample, "zz-nobody", FIRST, 50), Plan::Trigrams(_)),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn the_walk_is_costed_from_where_the_matches_are_in_name_order() {
        let sample = bench_like(Trigrams::Windows);
        // "er 1": a tenth of the members, all after the first hundred thousand.
        let late = sample.walk_reads("er 1", FIRST, 50);
        assert!((100_000.0..=101_000.0).contains(&late), "{late}");
        // From a cursor among them, the page fills at once.
        let there = sample.walk_reads("er 1", ("member 150000", "user_00150000"), 50);
        assert!(there <= 1_000.0, "{there}");
        // Nothing matches: the whole organisation.
        assert_eq!(sample.walk_reads("zz-nobody", FIRST, 50), 1_000_000.0);
    }

    #[test]
    fn a_query_without_trigrams_walks_unless_the_walk_is_far() {
        // "0@" is in every sampled address: the page fills at once.
        assert_eq!(
            choose(&bench_like(Trigrams::Words), "0@", FIRST, 50),
            Plan::Walk
        );
        assert_eq!(
            choose(&bench_like(Trigrams::Windows), "0@i", FIRST, 50),
            Plan::Walk
        );
        // "er 1" sorts late, and pg_trgm has trigrams for it only at word edges: the planner.
        assert_eq!(
            choose(&bench_like(Trigrams::Words), "er 1", FIRST, 50),
            Plan::WholeQuery
        );
    }

    #[test]
    fn samples_are_refreshed_once_at_a_time() {
        let samples = Samples::default();
        assert!(samples.lookup("o").refresh);
        assert!(!samples.lookup("o").refresh, "a refresh is under way");
        samples.finish(
            "o",
            Ok(Known::Sampled(Arc::new(bench_like(Trigrams::Words)))),
        );
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
