//! SQLite's part of member search: the FTS5 trigram index `member_search`.

use super::{Candidate, Trigram};
use crate::StoreError;
use crate::batch;
use smartcore_domain::OrgId;
use sqlx::{AnyPool, AssertSqlSafe};

/// Up to `limit` members whose search text contains one of `phrases` by the FTS5 index, in
/// name order.
pub(super) async fn trigram_candidates(
    pool: &AnyPool,
    org_id: &OrgId,
    phrases: &[String],
    limit: i64,
) -> Result<Vec<Candidate>, StoreError> {
    let query = match_expression(phrases);
    Ok(sqlx::query_as(
        // The index first (CROSS JOIN keeps that order: SQLite otherwise read the
        // organisation's memberships and asked the index once for each), each match's
        // membership by its row id; the LIMIT inside, over the organisation's matches, and
        // the sort after: a phrase every member has must not be read whole.
        "SELECT user_id, sort_name, search_text FROM ( \
                 SELECT m.user_id, m.sort_name, m.search_text FROM member_search s \
                 CROSS JOIN memberships m ON m.id = s.rowid \
                 WHERE member_search MATCH $1 AND m.org_id = $2 LIMIT $3) \
             ORDER BY sort_name, user_id",
    )
    .bind(query)
    .bind(org_id.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The members containing `needle` in name order, when the FTS5 index finds at most `cap` of
/// them (their ids counted from the index's matches joined to memberships by row id, stopping
/// after `cap + 1`; only a few members' rows are read in full); otherwise the plan's note.
pub(super) async fn trigram_few(
    pool: &AnyPool,
    org_id: &OrgId,
    needle: &str,
    cap: i64,
) -> Result<Trigram, StoreError> {
    // One row, the ids as a JSON array: a thousand rows sent one by one from sqlx's SQLite
    // thread cost more than the index's reading them.
    let (n, ids): (i64, String) = sqlx::query_as(
        "SELECT COUNT(*), json_group_array(user_id) FROM (SELECT m.user_id FROM member_search s \
             CROSS JOIN memberships m ON m.id = s.rowid \
             WHERE member_search MATCH $1 AND m.org_id = $2 LIMIT $3)",
    )
    .bind(match_expression(&[needle.to_owned()]))
    .bind(org_id.as_str())
    .bind(cap + 1)
    .fetch_one(pool)
    .await?;
    if n > cap {
        return Ok(Trigram::More {
            note: format!("trigram index: more than {cap}"),
            first: Vec::new(),
        });
    }
    let ids: Vec<String> = serde_json::from_str(&ids)
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
    if ids.is_empty() {
        return Ok(Trigram::Few(Vec::new()));
    }
    // Each id looked up by the primary key: asked `user_id IN (…)`, SQLite preferred the
    // name-ordered covering index and read the whole organisation (164 ms at a million) for
    // ten members.
    let AssertSqlSafe(values) = batch::statement("", "(?)", ids.len(), 1, "");
    let mut q = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT m.user_id, m.sort_name, m.search_text FROM (VALUES {values}) v \
         JOIN memberships m ON m.org_id = $1 AND m.user_id = v.column1"
    )))
    .bind(org_id.as_str());
    for id in ids {
        q = q.bind(id);
    }
    let mut found: Vec<Candidate> = q.fetch_all(pool).await?;
    // Name order, as SQLite's BINARY collation sorts: by bytes.
    found.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    // Still tested for the whole needle by the ranking (a member's text may have changed since).
    Ok(Trigram::Few(found))
}

/// The FTS5 query for members containing any of `phrases`: a quoted phrase is a substring test,
/// case-insensitively, without re-reading the text; inside the quotes only `"` is special.
fn match_expression(phrases: &[String]) -> String {
    phrases
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}
