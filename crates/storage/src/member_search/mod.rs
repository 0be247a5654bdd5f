//! Member search, ranked and bounded (issue 25): the member picker's and the members page's
//! search box.
//!
//! What people type is part of a name or an address, and they expect the best matches first.
//! The query is trimmed and lower-cased (the stored `search_text` is the lower-cased name, a
//! space and the address's comparison key), every character literal. A member matches when
//! their search text contains it, in one of three groups ([`MatchGroup`]):
//!
//! 1. the exact address;
//! 2. a word of the name or address starts with the query: the search text starts with it, or
//!    has it right after one of [`WORD_SEPARATORS`] (the address starts after a space, so an
//!    address that starts with the query is here too). One character is too little to rank by:
//!    a one-character query has no second group;
//! 3. the search text contains it anywhere else.
//!
//! Each group is in name order (`sort_name`, then user id). The answer is one page (the picker
//! asks 20, the members page 50), with the matches counted up to a cap (1,000 for the
//! service) and whether there are more than that.
//!
//! One plan per database, from its own indexes, each part stopping once it has what it needs:
//!
//! - **Few matches** (a query of three characters or more that the trigram index, SQLite's FTS5
//!   or PostgreSQL's `pg_trgm`, answers with at most `cap` members): those candidates, in name
//!   order from the database, are ranked here and counted exactly.
//! - **Many matches** (more than `cap` candidates; or a query of one or two characters, or a
//!   PostgreSQL server without `pg_trgm`, counted by walking the name-ordered index up to
//!   `cap + 1` matches): where the count read its `cap + 1` matches in name order
//!   (PostgreSQL's trigram statement, which its planner runs as a walk when it expects many),
//!   they are the first of every group, and a group with a page among them takes it from
//!   them. Otherwise the second group comes from a prefix range over the name-ordered index
//!   plus the trigram index asked for the query after each separator, when both give at most
//!   `cap` members; otherwise from the name-ordered walk filtered to word starts, which stops
//!   when the page is full. The exact address is one look-up of the users' address index. If
//!   the page is not full yet, the walk filtered to the third group fills it.
//!
//! The walk reads the covering index `(org_id, sort_name, user_id, search_text)` and never the
//! table. Whatever path a query takes, every row is tested against the whole query and ranked
//! by [`match_group`] or the same tests in SQL, so the paths give the same answer (tests compare
//! them on both databases).

mod postgres;
mod sqlite;
mod walk;

use crate::batch::placeholders;
use crate::people::{MemberCursor, MemberHit};
use crate::{Dialect, Store, StoreError};
use smartcore_domain::OrgId;
use sqlx::AssertSqlSafe;
use walk::Walk;

/// A word starts at the beginning of the search text or right after one of these.
pub const WORD_SEPARATORS: [char; 7] = [' ', '.', '-', '_', '\'', '@', '+'];

/// The three groups of a ranked search, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchGroup {
    /// The member's address is the query.
    Address,
    /// A word of the name or address starts with the query.
    WordStart,
    /// The name or address contains the query elsewhere.
    Contains,
}

/// Which group a member with this search text falls into for `needle` (trimmed and
/// lower-cased), if they match at all.
pub fn match_group(search_text: &str, needle: &str) -> Option<MatchGroup> {
    if needle.is_empty() || !search_text.contains(needle) {
        return None;
    }
    if search_text
        .rsplit_once(' ')
        .is_some_and(|(_, address)| address == needle)
    {
        return Some(MatchGroup::Address);
    }
    let word_start = needle.chars().nth(1).is_some()
        && (search_text.starts_with(needle)
            || WORD_SEPARATORS
                .iter()
                .any(|s| search_text.contains(&format!("{s}{needle}"))));
    Some(if word_start {
        MatchGroup::WordStart
    } else {
        MatchGroup::Contains
    })
}

/// Which way [`Store::search_members_by`] may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPlan {
    /// The service's plan: the trigram index where it helps (what [`Store::search_members`]
    /// does).
    Choose,
    /// Never the trigram index: counts and pages by walking the name-ordered index, as a
    /// server without `pg_trgm` does (for tests comparing the plans).
    Walk,
}

/// One page of a ranked search.
#[derive(Debug, Clone, Default)]
pub struct SearchAnswer {
    /// The page: exact address, then word starts, then the rest, each by name.
    pub hits: Vec<MemberHit>,
    /// Members matching, counted up to the cap.
    pub total: i64,
    /// More than `total` members match (the count stopped at the cap).
    pub more: bool,
    /// The steps taken and what each read, for the benchmark.
    pub plan: Vec<String>,
    /// Rows the statements returned (the walk's rows read are in `plan`, as "walked to").
    pub rows: i64,
}

/// What member search may use on this database (PostgreSQL: looked up once).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchIndexes {
    /// The trigram index: FTS5's `member_search` (SQLite), `memberships_search_trgm`
    /// (PostgreSQL, migration 0016, where the server permits `pg_trgm`).
    pub trigram: bool,
    /// Text sorts in byte (code point) order, as SQLite's BINARY and PostgreSQL's C
    /// collations do: a prefix is then a range of the name-ordered index, and rows from two
    /// statements can be merged here in the database's order.
    pub byte_order: bool,
}

/// (user id, sort name, search text) of a matching membership.
type Candidate = (String, String, String);

/// What the trigram index (or, on PostgreSQL, a walk standing in for it) says of a query.
enum Trigram {
    /// At most the cap match: their candidates, in name order.
    Few(Vec<Candidate>),
    /// More than the cap match; the plan's note says how that was found.
    More {
        note: String,
        /// The first `cap + 1` matches in name order, when the statement that counted them
        /// read them in that order (PostgreSQL); empty when it only counted (SQLite's FTS5).
        first: Vec<Candidate>,
    },
}

const HIT_COLUMNS: &str = "u.id, u.name, u.email, m.role, \
     CASE WHEN EXISTS (SELECT 1 FROM it_contacts c \
                       WHERE c.org_id = m.org_id AND c.email_key = u.email_key) \
          THEN 1 ELSE 0 END AS is_it_contact, \
     m.created_at AS joined_at, m.sort_name";

impl Store {
    /// The organisation's members in name order, a page at a time: `after` is where the
    /// previous page ended (none for the first page), compared as the row value
    /// `(sort_name, user_id)`, which both databases answer from the name-ordered index.
    pub async fn list_members(
        &self,
        org_id: &OrgId,
        after: Option<&MemberCursor>,
        limit: i64,
    ) -> Result<Vec<MemberHit>, StoreError> {
        // Every sort name is at least "" and every user id is longer than "": the first page.
        let start = after.cloned().unwrap_or_default();
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {HIT_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND (m.sort_name, m.user_id) > ($2, $3) \
             ORDER BY m.sort_name, m.user_id LIMIT $4"
        )))
        .bind(org_id.as_str())
        .bind(&start.sort_name)
        .bind(&start.user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Members whose name or address contains `query`, ranked (see the module's notes): at
    /// most `page` of them, counted up to `cap` (at least `page`).
    pub async fn search_members(
        &self,
        org_id: &OrgId,
        query: &str,
        page: i64,
        cap: i64,
    ) -> Result<SearchAnswer, StoreError> {
        self.search_members_by(SearchPlan::Choose, org_id, query, page, cap)
            .await
    }

    /// [`Store::search_members`] along a given plan, so tests can compare the plans.
    pub async fn search_members_by(
        &self,
        plan: SearchPlan,
        org_id: &OrgId,
        query: &str,
        page: i64,
        cap: i64,
    ) -> Result<SearchAnswer, StoreError> {
        let needle = query.trim().to_lowercase();
        let page = page.max(1);
        let cap = cap.max(page);
        let mut answer = SearchAnswer::default();
        if needle.is_empty() {
            return Ok(answer);
        }
        let chars = needle.chars().count();
        let indexes = self.search_indexes().await;
        let trigram = plan == SearchPlan::Choose && indexes.trigram;

        // The count; and the first `cap + 1` matches in name order, where it read them.
        let mut first: Vec<Candidate> = Vec::new();
        let mut counted = None;
        if trigram && chars >= 3 {
            match self.trigram_few(org_id, &needle, cap).await? {
                Trigram::Few(found) => {
                    self.rank_few(org_id, &needle, found, page, &mut answer)
                        .await?;
                    return Ok(answer);
                }
                Trigram::More { note, first: read } => {
                    answer.plan.push(note);
                    answer.rows += read.len() as i64;
                    first = read;
                    counted = Some(cap + 1);
                }
            }
        }
        let counted = match counted {
            Some(n) => n,
            None => {
                let n = self.count_by_walk(org_id, &needle, cap + 1).await?;
                answer.plan.push(format!("count by walk: {n}"));
                n
            }
        };
        answer.total = counted.min(cap);
        answer.more = counted > cap;
        if counted == 0 {
            return Ok(answer);
        }

        // Many: the word starts first (the exact address before them), then the rest.
        let mut ids: Vec<String> = Vec::new();
        if chars >= 2 {
            let by_index = trigram && indexes.byte_order;
            ids = self
                .word_start_ids(org_id, &needle, page, cap, by_index, &first, &mut answer)
                .await?;
        }
        if (ids.len() as i64) < page {
            let rest = page - ids.len() as i64;
            // The first matches are the first of every group. When read, they hold the
            // rest's first page: fewer than a page of their `cap + 1` are word starts when the
            // rest is needed. Where only counted, the walk finds it.
            let known = first_of_group(&first, &needle, &[MatchGroup::Contains], rest);
            if known.len() as i64 == rest {
                answer
                    .plan
                    .push(format!("the rest from the first matches: {rest}"));
                ids.extend(known);
            } else {
                let walked = self
                    .walk(org_id, &needle, Walk::Elsewhere, rest, None, &mut answer)
                    .await?;
                ids.extend(walked.into_iter().map(|c| c.0));
            }
        }
        answer.hits = self.member_hits(org_id, &ids).await?;
        Ok(answer)
    }

    /// Few matches: the trigram index's candidates (at most the cap), ranked here and counted
    /// exactly, the page's members in `answer`.
    async fn rank_few(
        &self,
        org_id: &OrgId,
        needle: &str,
        found: Vec<Candidate>,
        page: i64,
        answer: &mut SearchAnswer,
    ) -> Result<(), StoreError> {
        answer.rows += found.len() as i64;
        // The sort is stable, so each group keeps the database's name order.
        let mut ranked: Vec<(MatchGroup, Candidate)> = found
            .into_iter()
            .filter_map(|c| match_group(&c.2, needle).map(|g| (g, c)))
            .collect();
        ranked.sort_by_key(|(g, _)| *g);
        answer.plan.push(format!(
            "trigram index: {} candidates, ranked",
            ranked.len()
        ));
        answer.total = ranked.len() as i64;
        let ids: Vec<String> = ranked
            .into_iter()
            .take(page as usize)
            .map(|(_, c)| c.0)
            .collect();
        answer.hits = self.member_hits(org_id, &ids).await?;
        Ok(())
    }

    /// Many matches: group 2's first `page` members (the exact address first). From the
    /// first matches when they hold a page of word starts (`first`: the first matches in name
    /// order, when read); else a bounded walk of the first members in name order, where a
    /// common query's word starts usually fill the page, unless the first matches already
    /// covered those members; the indexes only when not (`by_index`: the trigram index in
    /// byte order may be asked), then the whole walk.
    #[allow(clippy::too_many_arguments)]
    async fn word_start_ids(
        &self,
        org_id: &OrgId,
        needle: &str,
        page: i64,
        cap: i64,
        by_index: bool,
        first: &[Candidate],
        answer: &mut SearchAnswer,
    ) -> Result<Vec<String>, StoreError> {
        let exact = self.exact_address(org_id, needle).await?;
        answer.rows += exact.len() as i64;
        let known = first_of_group(
            first,
            needle,
            &[MatchGroup::Address, MatchGroup::WordStart],
            page,
        );
        if known.len() as i64 == page {
            answer
                .plan
                .push(format!("word starts from the first matches: {page}"));
            return Ok(fill_ids(exact, known, page));
        }
        // The first matches, when at least [`PROBE_ROWS`] were read, span the organisation's
        // first `PROBE_ROWS` members: the early walk would find only the word starts just
        // counted, fewer than a page.
        if (first.len() as i64) < PROBE_ROWS {
            let early = self
                .walk(
                    org_id,
                    needle,
                    Walk::WordStarts,
                    page + 1,
                    Some(PROBE_ROWS),
                    answer,
                )
                .await?;
            if early.len() as i64 > page {
                return Ok(fill(exact, early, page));
            }
        }
        if by_index
            && let Some(first) = self
                .word_starts_by_index(org_id, needle, page, cap, answer)
                .await?
        {
            return Ok(fill(exact, first, page));
        }
        let walked = self
            .walk(org_id, needle, Walk::WordStarts, page + 1, None, answer)
            .await?;
        Ok(fill(exact, walked, page))
    }

    /// Group 2's first `page` (with the exact address first), ranked, when the indexes can
    /// give it: names starting with the query (a range of the name-ordered index, read in
    /// name order, so only its first page is needed when it holds more than `cap`), names that
    /// are the query's part before a space (at most `cap`), and the query after a separator
    /// (the trigram index, at most `cap`). `None`: more than that.
    async fn word_starts_by_index(
        &self,
        org_id: &OrgId,
        needle: &str,
        page: i64,
        cap: i64,
        answer: &mut SearchAnswer,
    ) -> Result<Option<Vec<Candidate>>, StoreError> {
        // The range is read in name order: its first page is all of it that can reach the
        // answer's (the exact address, wherever it sorts, comes from its own look-up).
        let (range, equal) = self
            .text_starting_with(org_id, needle, page, cap + 1)
            .await?;
        answer.rows += (range.len() + equal.len()) as i64;
        if equal.len() as i64 > cap {
            answer
                .plan
                .push(format!("names before a space: more than {cap}"));
            return Ok(None);
        }
        let range_note = if range.len() as i64 == page {
            format!("first {page} read")
        } else {
            range.len().to_string()
        };
        let after_separator: Vec<String> = WORD_SEPARATORS
            .iter()
            .map(|s| format!("{s}{needle}"))
            .collect();
        let inner = self
            .trigram_candidates(org_id, &after_separator, cap + 1)
            .await?;
        answer.rows += inner.len() as i64;
        if inner.len() as i64 > cap {
            answer.plan.push(format!(
                "name prefix range: {range_note}; trigram index for word starts: more than {cap}"
            ));
            return Ok(None);
        }
        answer.plan.push(format!(
            "name prefix range: {range_note}; trigram index for word starts: {}",
            inner.len()
        ));
        let mut all: Vec<(MatchGroup, Candidate)> = range
            .into_iter()
            .chain(equal)
            .chain(inner)
            .filter_map(|c| match match_group(&c.2, needle) {
                Some(g @ (MatchGroup::Address | MatchGroup::WordStart)) => Some((g, c)),
                _ => None,
            })
            .collect();
        // Byte order is the database's order here (see `SearchIndexes::byte_order`).
        all.sort_by(|(ga, a), (gb, b)| (ga, &a.1, &a.0).cmp(&(gb, &b.1, &b.0)));
        all.dedup_by(|a, b| a.1.0 == b.1.0);
        Ok(Some(
            all.into_iter()
                .take(page as usize)
                .map(|(_, c)| c)
                .collect(),
        ))
    }

    /// Members whose search text starts with `needle`: the first `first` of those whose name
    /// starts with it (a range of the name-ordered index, in name order), and up to `limit` of
    /// those whose name is the part of it before a space, the address going on from there.
    async fn text_starting_with(
        &self,
        org_id: &OrgId,
        needle: &str,
        first: i64,
        limit: i64,
    ) -> Result<(Vec<Candidate>, Vec<Candidate>), StoreError> {
        let contains = self.contains_fn();
        let range: Vec<Candidate> = match prefix_end(needle) {
            Some(end) => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT m.user_id, m.sort_name, m.search_text FROM memberships m \
                 WHERE m.org_id = $1 AND m.sort_name >= $2 AND m.sort_name < $3 \
                   AND {contains}(m.search_text, $2) = 1 \
                 ORDER BY m.sort_name, m.user_id LIMIT $4"
                )))
                .bind(org_id.as_str())
                .bind(needle)
                .bind(end)
                .bind(first)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT m.user_id, m.sort_name, m.search_text FROM memberships m \
                 WHERE m.org_id = $1 AND m.sort_name >= $2 \
                   AND {contains}(m.search_text, $2) = 1 \
                 ORDER BY m.sort_name, m.user_id LIMIT $3"
                )))
                .bind(org_id.as_str())
                .bind(needle)
                .bind(first)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let names: Vec<&str> = needle
            .match_indices(' ')
            .map(|(i, _)| &needle[..i])
            .collect();
        if names.is_empty() {
            return Ok((range, Vec::new()));
        }
        let list = placeholders(4, names.len());
        let mut q = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT m.user_id, m.sort_name, m.search_text FROM memberships m \
             WHERE m.org_id = $1 AND m.sort_name IN ({list}) \
               AND {contains}(m.search_text, $2) = 1 LIMIT $3"
        )))
        .bind(org_id.as_str())
        .bind(needle)
        .bind(limit);
        for name in names {
            q = q.bind(name);
        }
        Ok((range, q.fetch_all(&self.pool).await?))
    }

    /// Up to `limit` members whose search text contains one of `phrases` (each at least three
    /// characters) by the trigram index, in name order: SQLite's FTS5 or PostgreSQL's
    /// `pg_trgm` (see the modules of each).
    async fn trigram_candidates(
        &self,
        org_id: &OrgId,
        phrases: &[String],
        limit: i64,
    ) -> Result<Vec<Candidate>, StoreError> {
        match self.dialect {
            Dialect::Sqlite => sqlite::trigram_candidates(&self.pool, org_id, phrases, limit).await,
            Dialect::Postgres => self.pg_trigram_candidates(org_id, phrases, limit).await,
        }
    }

    /// The members containing `needle` in name order, when the trigram index finds at most
    /// `cap` of them; otherwise what the plan notes instead (more than `cap`, found how).
    async fn trigram_few(
        &self,
        org_id: &OrgId,
        needle: &str,
        cap: i64,
    ) -> Result<Trigram, StoreError> {
        match self.dialect {
            Dialect::Sqlite => sqlite::trigram_few(&self.pool, org_id, needle, cap).await,
            Dialect::Postgres => self.pg_trigram_few(org_id, needle, cap).await,
        }
    }

    /// The member whose address is `needle`, through the users' address index.
    async fn exact_address(&self, org_id: &OrgId, needle: &str) -> Result<Vec<String>, StoreError> {
        if !needle.contains('@') {
            return Ok(Vec::new());
        }
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT m.user_id FROM users u \
             JOIN memberships m ON m.user_id = u.id AND m.org_id = $1 \
             WHERE u.email_key = $2",
        )
        .bind(org_id.as_str())
        .bind(needle)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The page's members, in the order of `ids`.
    async fn member_hits(
        &self,
        org_id: &OrgId,
        ids: &[String],
    ) -> Result<Vec<MemberHit>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(2, ids.len());
        let mut q = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {HIT_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND m.user_id IN ({list})"
        )))
        .bind(org_id.as_str());
        for id in ids {
            q = q.bind(id);
        }
        let mut found: Vec<MemberHit> = q.fetch_all(&self.pool).await?;
        found.sort_by_key(|h| ids.iter().position(|id| *id == h.id));
        Ok(found)
    }

    /// What member search may use. SQLite: always its FTS5 index, in byte order. PostgreSQL:
    /// the pg_trgm index of migration 0016 where it exists (see `postgres`).
    pub(crate) async fn search_indexes(&self) -> SearchIndexes {
        match self.dialect {
            Dialect::Sqlite => SearchIndexes {
                trigram: true,
                byte_order: true,
            },
            Dialect::Postgres => self.pg_search_indexes().await,
        }
    }
}

/// How many of an organisation's first members (in name order) the early walk for word starts
/// reads, and (PostgreSQL) which tell which pieces of a query are rare enough to ask `pg_trgm`
/// for.
const PROBE_ROWS: i64 = 1_000;

/// `ids`, then those of `walked` not among them, up to `page` in all.
fn fill(ids: Vec<String>, walked: Vec<Candidate>, page: i64) -> Vec<String> {
    fill_ids(ids, walked.into_iter().map(|c| c.0).collect(), page)
}

/// `ids`, then those of `more` not among them, up to `page` in all.
fn fill_ids(mut ids: Vec<String>, more: Vec<String>, page: i64) -> Vec<String> {
    for id in more {
        if ids.len() as i64 >= page {
            break;
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The ids of the first `n` of `first` (matches in name order) in one of `groups`.
fn first_of_group(first: &[Candidate], needle: &str, groups: &[MatchGroup], n: i64) -> Vec<String> {
    first
        .iter()
        .filter(|c| match_group(&c.2, needle).is_some_and(|g| groups.contains(&g)))
        .take(usize::try_from(n).unwrap_or(0))
        .map(|c| c.0.clone())
        .collect()
}

/// The least text greater than every text starting with `prefix` (in byte order): its last
/// character that can be raised, raised. `None` when there is none (every character U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        let text = "ada lovelace ada.king@acme.example";
        assert_eq!(
            match_group(text, "ada.king@acme.example"),
            Some(MatchGroup::Address)
        );
        assert_eq!(match_group(text, "ada"), Some(MatchGroup::WordStart));
        assert_eq!(match_group(text, "love"), Some(MatchGroup::WordStart));
        assert_eq!(match_group(text, "king@"), Some(MatchGroup::WordStart));
        assert_eq!(match_group(text, "acme.ex"), Some(MatchGroup::WordStart));
        assert_eq!(
            match_group(text, "ada.king@acme.ex"),
            Some(MatchGroup::WordStart)
        );
        assert_eq!(match_group(text, "velace"), Some(MatchGroup::Contains));
        assert_eq!(match_group(text, "ing@"), Some(MatchGroup::Contains));
        // One character: no word starts.
        assert_eq!(match_group(text, "a"), Some(MatchGroup::Contains));
        assert_eq!(match_group(text, "zz"), None);
        assert_eq!(match_group(text, ""), None);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
