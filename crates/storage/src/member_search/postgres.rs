//! PostgreSQL's part of member search: the `pg_trgm` index of migration 0016 (where the
//! server permits it), asked only for the rare pieces of a query, and the database's collation.

use super::{Candidate, PROBE_ROWS, SearchIndexes, Trigram};
use crate::batch;
use crate::{Store, StoreError};
use smartcore_domain::OrgId;
use sqlx::AssertSqlSafe;

impl Store {
    /// Up to `limit` members whose search text contains one of `phrases` (each at least three
    /// characters) by the `pg_trgm` index, in name order.
    pub(super) async fn pg_trigram_candidates(
        &self,
        org_id: &OrgId,
        phrases: &[String],
        limit: i64,
    ) -> Result<Vec<Candidate>, StoreError> {
        let (_, wanted) = self.rare_pieces(org_id, phrases, None).await?;
        self.pg_trigram_rows(org_id, phrases, wanted, limit, Rows::Any)
            .await
    }

    /// Up to `limit` members whose search text contains one of `phrases`, the index asked for
    /// `wanted` (see `rare_pieces`), in name order: any of them, or the first in name order.
    async fn pg_trigram_rows(
        &self,
        org_id: &OrgId,
        phrases: &[String],
        wanted: Vec<Vec<String>>,
        limit: i64,
        rows: Rows,
    ) -> Result<Vec<Candidate>, StoreError> {
        let (filter, binds) = Self::pg_trigram_filter(phrases, wanted);
        let statement = match rows {
            Rows::Any => format!(
                "SELECT user_id, sort_name, search_text FROM ( \
                     SELECT user_id, sort_name, search_text FROM memberships \
                     WHERE org_id = $1 AND {filter} LIMIT $2) c \
                 ORDER BY sort_name, user_id"
            ),
            // The planner chooses: the index's matches sorted when it expects few, the walk of
            // the name-ordered index up to the limit when many.
            Rows::FirstByName => format!(
                "SELECT user_id, sort_name, search_text FROM memberships \
                 WHERE org_id = $1 AND {filter} ORDER BY sort_name, user_id LIMIT $2"
            ),
        };
        // Sent unnamed, so planned for its own patterns.
        let mut q = sqlx::query_as(AssertSqlSafe(statement))
            .persistent(false)
            .bind(org_id.as_str())
            .bind(limit);
        for b in binds {
            q = q.bind(b);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// The members containing `needle` in name order, when there are at most `cap` of them;
    /// otherwise the plan's note, with the first `cap + 1` in name order when it read them
    /// (for the groups' first pages). When the organisation's first [`PROBE_ROWS`] members in
    /// name order show the needle in one in twenty or more, a walk of the name-ordered index
    /// counts past `cap` within about twenty times `cap` members, and it does that instead of
    /// the `pg_trgm` index, whose bitmap is read whole whatever the LIMIT ("7@imp": 17 ms at
    /// 100,000 members, against 3 ms walking); reading those rows instead of counting them
    /// cost more than the walks they would save. Otherwise one statement, planned by PostgreSQL:
    /// the index's matches sorted, or the walk when it expects many ("er 1" at a million, whose
    /// first match has 100,000 members before it: one walk of 14 ms that both counts and
    /// gives the page, where a count in the table's order and then a walk took 30 ms).
    pub(super) async fn pg_trigram_few(
        &self,
        org_id: &OrgId,
        needle: &str,
        cap: i64,
    ) -> Result<Trigram, StoreError> {
        let phrases = [needle.to_owned()];
        let (early, wanted) = self.rare_pieces(org_id, &phrases, Some(needle)).await?;
        if early >= PROBE_ROWS / 20 && self.count_by_walk(org_id, needle, cap + 1).await? > cap {
            return Ok(Trigram::More {
                note: format!("count by walk: more than {cap}"),
                first: Vec::new(),
            });
        }
        let first = self
            .pg_trigram_rows(org_id, &phrases, wanted, cap + 1, Rows::FirstByName)
            .await?;
        if first.len() as i64 > cap {
            return Ok(Trigram::More {
                note: format!(
                    "trigram index or walk: more than {cap}, the first {} read",
                    cap + 1
                ),
                first,
            });
        }
        Ok(Trigram::Few(first))
    }

    /// The condition (from `$3` on, with its binds) for members containing one of `phrases`,
    /// in a form `pg_trgm`'s index answers.
    ///
    /// pg_trgm reads the whole posting list of every trigram it is asked for, and a trigram
    /// most members have ("mem" of "member 09999") costs tens of milliseconds at a million. So
    /// the index is asked only for the parts of each phrase that are rare among the
    /// organisation's first members (a bounded count, see `rare_pieces`); every row is still
    /// tested for the whole phrase.
    fn pg_trigram_filter(
        phrases: &[String],
        mut wanted: Vec<Vec<String>>,
    ) -> (String, Vec<String>) {
        wanted.sort();
        wanted.dedup();
        let mut binds: Vec<String> = Vec::new();
        let mut index_part: Vec<String> = Vec::new();
        for pieces in &wanted {
            let conj = pieces
                .iter()
                .map(|p| {
                    binds.push(like_pattern(p));
                    format!("search_text LIKE ${} ESCAPE '\\'", binds.len() + 2)
                })
                .collect::<Vec<_>>()
                .join(" AND ");
            index_part.push(conj);
        }
        let whole = phrases
            .iter()
            .map(|p| {
                binds.push(p.clone());
                format!("strpos(search_text, ${}) > 0", binds.len() + 2)
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        (
            format!("(({})) AND ({whole})", index_part.join(") OR (")),
            binds,
        )
    }

    /// PostgreSQL: for each phrase, the pieces (see [`pg_pieces`]) to ask `pg_trgm` for: those
    /// whose trigrams are found in at most one in a hundred of the organisation's first
    /// [`PROBE_ROWS`] members in name order (one bounded read of the name-ordered index for all
    /// of them), or the whole phrase when it has fewer than two pieces or none of them is rare.
    /// A piece is judged as pg_trgm sees it, as a word (or a word's start or end) whatever the
    /// separator: " member " is found in no member of "member 000123 member123@…", but its
    /// trigrams, those of the word "member", are in all of them.
    ///
    /// `substring`, when given, is counted among the same members in the same read (see
    /// [`Store::pg_trigram_few`]): the count comes first in the answer.
    async fn rare_pieces(
        &self,
        org_id: &OrgId,
        phrases: &[String],
        substring: Option<&str>,
    ) -> Result<(i64, Vec<Vec<String>>), StoreError> {
        let split: Vec<Vec<Piece>> = phrases.iter().map(|p| pg_pieces(p)).collect();
        let mut probe: Vec<&String> = split
            .iter()
            .filter(|s| s.len() > 1)
            .flatten()
            .map(|p| &p.words)
            .collect();
        probe.sort();
        probe.dedup();
        // (is a regular expression, the pattern): the substring as itself, the pieces' words.
        let asked: Vec<(bool, &str)> = substring
            .map(|s| (false, s))
            .into_iter()
            .chain(probe.iter().map(|w| (true, w.as_str())))
            .collect();
        let counts: Vec<(bool, String, i64)> = if asked.is_empty() {
            Vec::new()
        } else {
            let AssertSqlSafe(values) = batch::statement("", "(?, ?)", asked.len(), 2, "");
            let mut q = sqlx::query_as(AssertSqlSafe(format!(
                "WITH s AS MATERIALIZED (SELECT search_text AS t FROM memberships WHERE org_id = $1 \
                             ORDER BY sort_name, user_id LIMIT $2) \
                 SELECT v.r, v.p, (SELECT COUNT(*) FROM s WHERE CASE WHEN v.r \
                     THEN s.t ~ v.p ELSE strpos(s.t, v.p) > 0 END) \
                 FROM (VALUES {values}) v(r, p)"
            )))
            .persistent(false)
            .bind(org_id.as_str())
            .bind(PROBE_ROWS);
            for (regex, pattern) in &asked {
                q = q.bind(*regex).bind(*pattern);
            }
            q.fetch_all(&self.pool).await?
        };
        let found = counts
            .iter()
            .find(|(regex, _, _)| !regex)
            .map_or(0, |(_, _, n)| *n);
        let rare = |p: &Piece| {
            counts
                .iter()
                .any(|(regex, c, n)| *regex && *c == p.words && *n <= PROBE_ROWS / 100)
        };
        let wanted = phrases
            .iter()
            .zip(split)
            .map(|(phrase, pieces)| {
                let chosen: Vec<String> = if pieces.len() > 1 {
                    pieces
                        .into_iter()
                        .filter(|p| rare(p))
                        .map(|p| p.text)
                        .collect()
                } else {
                    Vec::new()
                };
                if chosen.is_empty() {
                    vec![phrase.clone()]
                } else {
                    chosen
                }
            })
            .collect();
        Ok((found, wanted))
    }

    /// What member search may use on PostgreSQL: the pg_trgm index of migration 0016 where it
    /// exists (looked up once per process, with one warning when it does not), and whether the
    /// database's collation is byte order.
    pub(super) async fn pg_search_indexes(&self) -> SearchIndexes {
        let found = self
            .search_indexes
            .get_or_try_init(|| async {
                let (n, collation): (i64, String) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'memberships_search_trgm'), \
                            (SELECT datcollate::text FROM pg_database WHERE datname = current_database())",
                )
                .fetch_one(&self.pool)
                .await?;
                if n == 0 {
                    tracing::warn!(
                        "pg_trgm is not available on this PostgreSQL server: member search \
                         walks the members in name order (slower for rare matches among many members)"
                    );
                }
                let byte_order = matches!(
                    collation.as_str(),
                    "C" | "POSIX" | "C.UTF-8" | "C.utf8" | "ucs_basic"
                );
                Ok::<_, sqlx::Error>(SearchIndexes {
                    trigram: n > 0,
                    byte_order,
                })
            })
            .await;
        match found {
            Ok(indexes) => *indexes,
            // Looked up again next time: a passing failure decides nothing.
            Err(e) => {
                tracing::warn!(error = %e, "could not look for the pg_trgm index");
                SearchIndexes {
                    trigram: false,
                    byte_order: false,
                }
            }
        }
    }
}

/// Which rows [`Store::pg_trigram_rows`] returns, up to its limit.
#[derive(Clone, Copy)]
enum Rows {
    /// Any that match (sorted by name after): the planner may stop at the first it finds.
    Any,
    /// The first in name order.
    FirstByName,
}

/// A piece of a phrase (see [`pg_pieces`]).
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    /// The run of letters and digits with the characters around it.
    text: String,
    /// A POSIX regular expression for what pg_trgm makes the piece's trigrams of: the run as a
    /// word (a separator before it, or the text's start, when the piece has one; a separator
    /// after it, or the text's end, likewise), whichever the separators.
    words: String,
}

/// The pieces of `phrase` that `pg_trgm` makes trigrams of: each run of letters and digits
/// with the character before and after it (a space or a punctuation mark there marks a word's
/// start or end, which pg_trgm indexes too), when that is at least three characters. A row
/// containing the phrase contains each piece, so asking the index for some of them and
/// testing the whole phrase on the row finds the same rows.
fn pg_pieces(phrase: &str) -> Vec<Piece> {
    let chars: Vec<char> = phrase.chars().collect();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let text: String = chars[start.saturating_sub(1)..(i + 1).min(chars.len())]
            .iter()
            .collect();
        if text.chars().count() >= 3 && !pieces.iter().any(|p| p.text == text) {
            // Letters and digits only: nothing in the run is special to a regular expression.
            let run: String = chars[start..i].iter().collect();
            let before = if start > 0 { "(^|[^[:alnum:]])" } else { "" };
            let after = if i < chars.len() {
                "([^[:alnum:]]|$)"
            } else {
                ""
            };
            pieces.push(Piece {
                text,
                words: format!("{before}{run}{after}"),
            });
        }
    }
    pieces
}

/// `needle` as a `LIKE … ESCAPE '\'` pattern matching it anywhere, every character literal.
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        let texts = |p: &str| pg_pieces(p).into_iter().map(|p| p.text).collect::<Vec<_>>();
        assert_eq!(texts("member 09999"), ["member ", " 09999"]);
        assert_eq!(texts(" member 04"), [" member ", " 04"]);
        assert_eq!(texts("7@imp"), ["@imp"]);
        assert_eq!(texts(".7@imp"), [".7@", "@imp"]);
        assert_eq!(texts("er 1"), ["er "]);
        assert_eq!(texts("%_\\"), Vec::<String>::new());
        assert_eq!(texts("李 小龍"), [" 小龍"]);
        let words = pg_pieces(" member 04")
            .into_iter()
            .map(|p| p.words)
            .collect::<Vec<_>>();
        assert_eq!(
            words,
            [
                "(^|[^[:alnum:]])member([^[:alnum:]]|$)",
                "(^|[^[:alnum:]])04"
            ]
        );
    }
}
