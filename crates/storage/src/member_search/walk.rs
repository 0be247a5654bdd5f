//! The walk of the name-ordered index `(org_id, sort_name, user_id, search_text)`: counting the
//! members containing a query and reading a group's first members in name order, never the
//! table.

use super::{Candidate, SearchAnswer, WORD_SEPARATORS};
use crate::{Dialect, Store, StoreError};
use smartcore_domain::OrgId;
use sqlx::AssertSqlSafe;

/// Which rows a walk keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    /// Group 2 (the exact address is among them).
    WordStarts,
    /// Group 3: containing the query, but not at a word start.
    Elsewhere,
}

impl Store {
    /// Counts the members containing `needle` along the name-ordered index, up to `limit`.
    pub(super) async fn count_by_walk(
        &self,
        org_id: &OrgId,
        needle: &str,
        limit: i64,
    ) -> Result<i64, StoreError> {
        let contains = self.contains_fn();
        let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM memberships \
             WHERE org_id = $1 AND {contains}(search_text, $2) > 0 LIMIT $3) c"
        )))
        .bind(org_id.as_str())
        .bind(needle)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// The first `limit` members of a group in name order, walking the name-ordered index
    /// (a plain substring test on its copy of the search text: nothing to escape); `within`:
    /// among the organisation's first that many members only.
    pub(super) async fn walk(
        &self,
        org_id: &OrgId,
        needle: &str,
        which: Walk,
        limit: i64,
        within: Option<i64>,
        answer: &mut SearchAnswer,
    ) -> Result<Vec<Candidate>, StoreError> {
        let contains = self.contains_fn();
        let word_start = format!(
            "({contains}(m.search_text, $3) = 1 OR {})",
            (0..WORD_SEPARATORS.len())
                .map(|i| format!("{contains}(m.search_text, ${}) > 0", i + 4))
                .collect::<Vec<_>>()
                .join(" OR ")
        );
        let ranked = needle.chars().nth(1).is_some();
        let filter = match (which, ranked) {
            (Walk::WordStarts, _) => word_start,
            (Walk::Elsewhere, true) => {
                format!("{contains}(m.search_text, $3) > 0 AND NOT {word_start}")
            }
            (Walk::Elsewhere, false) => format!("{contains}(m.search_text, $3) > 0"),
        };
        let from = match within {
            Some(n) => format!(
                "(SELECT user_id, sort_name, search_text FROM memberships WHERE org_id = $1 \
                  ORDER BY sort_name, user_id LIMIT {n}) m WHERE"
            ),
            None => "memberships m WHERE m.org_id = $1 AND".to_owned(),
        };
        let mut q = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT m.user_id, m.sort_name, m.search_text FROM {from} {filter} \
             ORDER BY m.sort_name, m.user_id LIMIT $2"
        )))
        .bind(org_id.as_str())
        .bind(limit)
        .bind(needle);
        if ranked {
            for s in WORD_SEPARATORS {
                q = q.bind(format!("{s}{needle}"));
            }
        }
        let found: Vec<Candidate> = q.fetch_all(&self.pool).await?;
        answer.rows += found.len() as i64;
        let name = match (which, within) {
            (Walk::WordStarts, None) => "walk for word starts".to_owned(),
            (Walk::WordStarts, Some(n)) => format!("walk for word starts in the first {n}"),
            (Walk::Elsewhere, _) => "walk for the rest".to_owned(),
        };
        answer.plan.push(match found.last() {
            Some(_) if (found.len() as i64) < limit => {
                format!("{name}: {} found, to the end", found.len())
            }
            Some(last) => format!("{name}: {} found, walked to {:?}", found.len(), last.1),
            None => format!("{name}: none, to the end"),
        });
        Ok(found)
    }

    /// `instr` (SQLite) or `strpos` (PostgreSQL): the position of a substring, 0 if absent.
    pub(super) fn contains_fn(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        }
    }
}
