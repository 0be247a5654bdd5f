//! Member import (issue 25): batches of valid rows written set-wise, whatever the file's size.
//!
//! One [`MemberImport`] writes an import's batches in file order, one transaction a batch:
//! users that do not exist yet are created (without a password: they cannot sign in until given
//! one) and each membership is put; running the same rows again changes nothing, and when an
//! address appears twice, its last row wins.
//!
//! - **SQLite**: multi-row `INSERT`s of [`IMPORT_CHUNK`] rows in one large transaction per
//!   batch; the FTS5 trigram index is fed by its trigger inside that transaction, which FTS5
//!   buffers in memory and writes once at the commit (in bulk, not row by row).
//! - **PostgreSQL**: `COPY` of the batch into a temporary staging table over a connection of
//!   its own (the `Any` pool cannot copy), then one set-based merge into `users` and one into
//!   `memberships`. The trigram (GIN) index takes the new rows into its pending list, which is
//!   merged into the index every [`PG_TRIGRAM_MERGE_ROWS`] rows and at the end with enough
//!   memory to do it in one sorted pass, so searches during the import read a bounded list.

use crate::batch;
use crate::{Dialect, Store, StoreError};
use smartcore_domain::{EmailAddress, OrgId, PersonName, Role, Timestamp, UserId};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

/// One valid row of a member import.
pub struct ImportRow {
    pub name: PersonName,
    pub email: EmailAddress,
    pub role: Role,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportStats {
    /// Rows that created a user or a membership, or changed a role.
    pub written: u64,
}

/// Rows per multi-row statement of an SQLite import: 5 parameters a user, 6 a membership, well
/// under SQLite's limit of 32,766 (1,000 rows a statement measured no faster: FTS5's merges,
/// a sixth of an import's time, grow with the index, not with the number of statements).
pub const IMPORT_CHUNK: usize = 200;

/// PostgreSQL: the trigram index's pending list is merged into the index after this many rows
/// (and at the end). Measured at a million rows on two cores (loaded by other builds): merged
/// only at the end 71 s, every 100,000 rows 84 s, without the index 60 s plus 14 s to build it;
/// a search during the import reads the whole pending list, so it is kept bounded.
pub const PG_TRIGRAM_MERGE_ROWS: u64 = 250_000;

/// The lower-cased "name email" member search reads.
pub(crate) fn search_text(name: &str, email: &EmailAddress) -> String {
    format!("{} {}", name.to_lowercase(), email.key())
}

/// An import under way into one organisation (see the module's documentation).
pub struct MemberImport {
    store: Store,
    org_id: OrgId,
    /// PostgreSQL: the import's own connection, with its staging table. Dropped (closed, so
    /// the server rolls back whatever was under way) after any error.
    pg: Option<sqlx::PgConnection>,
    /// PostgreSQL: rows written since the pending list was last merged.
    unmerged: u64,
}

impl Store {
    /// Starts an import into `org_id`: on PostgreSQL, opens the import's connection.
    pub async fn member_import(&self, org_id: &OrgId) -> Result<MemberImport, StoreError> {
        let pg = match self.dialect {
            Dialect::Sqlite => None,
            Dialect::Postgres => {
                let url = self.pg_url.as_deref().ok_or_else(|| {
                    StoreError::Config("no PostgreSQL URL for the import's connection".into())
                })?;
                // A batch's merge takes a second or so: not worth a warning in the log.
                let options = sqlx::postgres::PgConnectOptions::from_str(url)?.log_slow_statements(
                    tracing::log::LevelFilter::Warn,
                    std::time::Duration::from_secs(60),
                );
                let mut conn = sqlx::PgConnection::connect_with(&options).await?;
                sqlx::raw_sql(
                    "CREATE TEMPORARY TABLE member_import (\
                       line BIGINT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL, \
                       email_key TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, \
                       search_text TEXT NOT NULL, sort_name TEXT NOT NULL) \
                     ON COMMIT DELETE ROWS",
                )
                .execute(&mut conn)
                .await?;
                Some(conn)
            }
        };
        Ok(MemberImport {
            store: self.clone(),
            org_id: org_id.clone(),
            pg,
            unmerged: 0,
        })
    }
}

/// The rows of `rows` that count: the last one of each address (in the batch's order).
fn last_of_each_address(rows: &[ImportRow]) -> Vec<&ImportRow> {
    let mut last_row_of: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        last_row_of.insert(row.email.key(), i);
    }
    rows.iter()
        .enumerate()
        .filter(|(i, r)| last_row_of[r.email.key()] == *i)
        .map(|(_, r)| r)
        .collect()
}

impl MemberImport {
    /// Writes one batch in one transaction; the batches of an import must come in file order.
    pub async fn write(
        &mut self,
        rows: &[ImportRow],
        now: Timestamp,
    ) -> Result<ImportStats, StoreError> {
        let unique = last_of_each_address(rows);
        if unique.is_empty() {
            return Ok(ImportStats::default());
        }
        match self.store.dialect {
            Dialect::Sqlite => self.write_sqlite(&unique, now).await,
            Dialect::Postgres => {
                let mut conn = self.pg.take().ok_or_else(|| {
                    StoreError::Config("the import's connection failed earlier".into())
                })?;
                let written = write_pg(&mut conn, &self.org_id, &unique, now).await?;
                self.unmerged += unique.len() as u64;
                if self.unmerged >= PG_TRIGRAM_MERGE_ROWS {
                    merge_pending_list(&mut conn, &self.store).await?;
                    self.unmerged = 0;
                }
                // Only a connection whose every statement succeeded is kept.
                self.pg = Some(conn);
                Ok(ImportStats { written })
            }
        }
    }

    async fn write_sqlite(
        &self,
        unique: &[&ImportRow],
        now: Timestamp,
    ) -> Result<ImportStats, StoreError> {
        let mut tx = self.store.begin().await?;
        let mut stats = ImportStats::default();
        for chunk in unique.chunks(IMPORT_CHUNK) {
            let users_sql;
            let memberships_sql;
            let (users, memberships) = if chunk.len() == IMPORT_CHUNK {
                (USERS_CHUNK.as_str(), MEMBERSHIPS_CHUNK.as_str())
            } else {
                users_sql = users_statement(chunk.len());
                memberships_sql = memberships_statement(chunk.len());
                (users_sql.as_str(), memberships_sql.as_str())
            };
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(users));
            for row in chunk {
                insert = insert
                    .bind(UserId::generate().to_string())
                    .bind(row.email.as_str())
                    .bind(row.email.key())
                    .bind(row.name.as_str())
                    .bind(now.unix_millis());
            }
            insert.execute(&mut *tx).await?;
            let mut put = sqlx::query(sqlx::AssertSqlSafe(memberships));
            for row in chunk {
                put = put
                    .bind(self.org_id.as_str())
                    .bind(row.email.key())
                    .bind(row.role.as_str())
                    .bind(search_text(row.name.as_str(), &row.email))
                    .bind(row.name.as_str().to_lowercase())
                    .bind(now.unix_millis());
            }
            stats.written += put.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(stats)
    }

    /// After the last batch: on PostgreSQL the trigram index's pending list is merged into the
    /// index, and the table vacuumed and analysed (right after a bulk load the planner takes
    /// the organisation for a few rows and walks a million members for a query the trigram
    /// index answers in milliseconds); member search takes a new sample of the organisation.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        if let Some(mut conn) = self.pg.take() {
            merge_pending_list(&mut conn, &self.store).await?;
            // Only the table's owner may; anyone else leaves it to autovacuum. VACUUM also
            // marks the new rows' pages all-visible, so the walk reads its covering index
            // without visiting the table (right after a load it visits every row).
            if let Err(e) = sqlx::raw_sql("VACUUM (ANALYZE) memberships")
                .execute(&mut conn)
                .await
            {
                tracing::warn!(error = %e, "could not vacuum and analyse memberships after the import");
            }
            let _ = conn.close().await;
        }
        Ok(())
    }
}

/// One batch on PostgreSQL: `COPY` into the staging table, then one merge a table, in one
/// transaction. Returns the memberships written (created, or their role changed).
async fn write_pg(
    conn: &mut sqlx::PgConnection,
    org_id: &OrgId,
    rows: &[&ImportRow],
    now: Timestamp,
) -> Result<u64, StoreError> {
    let mut data = Vec::with_capacity(rows.len() * 192);
    for (line, row) in rows.iter().enumerate() {
        let name = row.name.as_str();
        data.extend_from_slice(line.to_string().as_bytes());
        for field in [
            UserId::generate().as_str(),
            row.email.as_str(),
            row.email.key(),
            name,
            row.role.as_str(),
            &search_text(name, &row.email),
            &name.to_lowercase(),
        ] {
            data.push(b'\t');
            copy_text(&mut data, field);
        }
        data.push(b'\n');
    }
    let mut tx = conn.begin().await?;
    // The pending list takes the whole batch (merged by `merge_pending_list`, not by the
    // inserting statement with 4 MB); the merges join the staging table to `users` by its
    // unique index, row by row: with statistics, the planner read the whole `users` table
    // for each batch instead (and the import slowed down as it grew).
    sqlx::raw_sql(
        "SET LOCAL gin_pending_list_limit = 2097151; SET LOCAL work_mem = '64MB'; \
         SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off",
    )
    .execute(&mut *tx)
    .await?;
    let mut copy = tx
        .copy_in_raw(
            "COPY member_import (line, id, email, email_key, name, role, search_text, sort_name) \
             FROM STDIN",
        )
        .await?;
    copy.send(data).await?;
    copy.finish().await?;
    sqlx::query(
        "INSERT INTO users (id, email, email_key, name, created_at) \
         SELECT id, email, email_key, name, $1 FROM member_import \
         ON CONFLICT (email_key) DO NOTHING",
    )
    .bind(now.unix_millis())
    .execute(&mut *tx)
    .await?;
    let written = sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, search_text, sort_name, created_at) \
         SELECT $1, u.id, s.role, s.search_text, s.sort_name, $2 \
         FROM member_import s JOIN users u ON u.email_key = s.email_key \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role \
         WHERE memberships.role <> excluded.role",
    )
    .bind(org_id.as_str())
    .bind(now.unix_millis())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(written)
}

/// Merges the trigram index's pending list into the index in one sorted pass (with enough
/// memory for it); only the index's owner may, anyone else leaves it to autovacuum.
async fn merge_pending_list(
    conn: &mut sqlx::PgConnection,
    store: &Store,
) -> Result<(), StoreError> {
    if !store.search_indexes().await.trigram {
        return Ok(());
    }
    sqlx::raw_sql("SET maintenance_work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    if let Err(e) =
        sqlx::raw_sql("SELECT gin_clean_pending_list('memberships_search_trgm'::regclass)")
            .execute(&mut *conn)
            .await
    {
        tracing::warn!(error = %e, "could not merge the trigram index's pending list");
    }
    sqlx::raw_sql("RESET maintenance_work_mem")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `value` as a field of `COPY … FROM STDIN`'s text format: backslash, tab, newline and
/// carriage return escaped (names and addresses refuse control characters anyway).
fn copy_text(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// `INSERT INTO users … VALUES (…), (…) …` for `n` rows. Only the placeholders vary; no input
/// ever becomes SQL text. SQLite only, so the placeholders are anonymous (`?`), bound in the
/// order they stand: binding a numbered one (`$7`) makes SQLite look its number up in a list
/// of every parameter's name, and with a thousand of them that look-up was a quarter of an
/// import's time.
fn users_statement(n: usize) -> String {
    batch::anonymous(
        "INSERT INTO users (id, email, email_key, name, created_at) VALUES ",
        "(?, ?, ?, ?, ?)",
        n,
        " ON CONFLICT (email_key) DO NOTHING",
    )
    .0
}

/// Puts the memberships of `n` rows, joining each row's address to its user: per row the
/// organisation, the address's key, role, search text, sort name and time, in that order
/// (anonymous placeholders, as in [`users_statement`]). `VALUES` columns are
/// `column1…column6` on SQLite.
fn memberships_statement(n: usize) -> String {
    batch::anonymous(
        "INSERT INTO memberships (org_id, user_id, role, search_text, sort_name, created_at) \
         SELECT v.column1, u.id, v.column3, v.column4, v.column5, v.column6 FROM (VALUES ",
        "(?, ?, ?, ?, ?, ?)",
        n,
        ") AS v \
         JOIN users u ON u.email_key = v.column2 WHERE 1 = 1 \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role WHERE memberships.role <> excluded.role",
    )
    .0
}

static USERS_CHUNK: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| users_statement(IMPORT_CHUNK));
static MEMBERSHIPS_CHUNK: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| memberships_statement(IMPORT_CHUNK));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_escape_what_the_text_format_reads() {
        let mut out = Vec::new();
        copy_text(&mut out, "a\\b\tc\nd\re");
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re");
    }
}
