//! SQLite's part of member search: the FTS5 trigram index `member_search`.

use super::Candidate;
use crate::StoreError;
use smartcore_domain::OrgId;
use sqlx::AnyPool;

/// Up to `limit` members whose search text contains one of `phrases` by the FTS5 index, in
/// name order.
pub(super) async fn trigram_candidates(
    pool: &AnyPool,
    org_id: &OrgId,
    phrases: &[String],
    limit: i64,
) -> Result<Vec<Candidate>, StoreError> {
    // A quoted phrase is a substring test, case-insensitively, without re-reading
    // the text; inside the quotes only `"` is special.
    let query = phrases
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ");
    Ok(sqlx::query_as(
        // The index alone under the LIMIT, joined after: with the join inside,
        // a phrase every member has ("import.example") took 2 s at a million.
        "SELECT m.user_id, m.sort_name, m.search_text FROM ( \
                 SELECT org_id, user_id FROM member_search \
                 WHERE member_search MATCH $1 AND org_id = $2 LIMIT $3) s \
             JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id \
             ORDER BY m.sort_name, m.user_id",
    )
    .bind(query)
    .bind(org_id.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
