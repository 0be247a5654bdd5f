/// What can go wrong in storage, in terms the use cases can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write: the thing exists already.
    #[error("already exists")]
    Duplicate,
    #[error("{0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// True when the database could not be reached or could not do the work just now (the
    /// connection was refused, cut or timed out; the server is shutting down, starting, out of
    /// connections or disk; SQLite's file is busy or unreadable; a transaction lost a
    /// serialisation race): trying again later may succeed. Constraint violations, bad SQL and
    /// decoding errors are not: they are bugs or refusals, and answered as such.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => sqlx_error_is_unavailable(e),
            _ => false,
        }
    }
}

impl StoreError {
    /// True when PostgreSQL chose this transaction as the loser of a deadlock or a
    /// serialisation race (40P01, 40001): it was rolled back whole, and running the same unit
    /// of work again is the documented remedy.
    pub fn lost_a_race(&self) -> bool {
        matches!(
            self,
            StoreError::Database(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("40P01" | "40001"))
        )
    }
}

fn sqlx_error_is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            database_code_is_unavailable(&code, db.message())
        }
        _ => false,
    }
}

/// `code` is a PostgreSQL SQLSTATE (always five characters, sometimes all digits, e.g. 55000)
/// or an SQLite extended result code (a number below 10,000, so at most four digits).
fn database_code_is_unavailable(code: &str, message: &str) -> bool {
    if let Some(sqlite) = code.parse::<i32>().ok().filter(|_| code.len() < 5) {
        // The primary result code is the low byte: SQLITE_BUSY 5, SQLITE_LOCKED 6,
        // SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14.
        return matches!(sqlite & 0xff, 5 | 6 | 8 | 10 | 13 | 14);
    }
    // PostgreSQL: 08 connection exception, 53 insufficient resources (too many connections,
    // disk full, out of memory), 57P01–57P03 shutting down or starting, 40001/40P01
    // serialisation failure and deadlock, 25006 a read-only database (a standby, or
    // `default_transaction_read_only`), and 55000 when the database refuses new connections
    // (`ALTER DATABASE … ALLOW_CONNECTIONS false`; 55000 otherwise means a logic error).
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "25006"
        )
        || (code == "55000" && message.contains("not currently accepting connections"))
}

#[cfg(test)]
mod tests {
    use super::database_code_is_unavailable as unavailable;

    #[test]
    fn outages_are_told_from_refusals() {
        for code in [
            "08006", "08001", "53300", "57P01", "57P03", "40001", "5", "517", "10", "13",
        ] {
            assert!(unavailable(code, ""), "{code}");
        }
        assert!(unavailable(
            "55000",
            "database \"x\" is not currently accepting connections"
        ));
        // unique, foreign key, syntax, SQLite constraint (19, 2067), SQLite error (1)
        for code in ["23505", "23503", "42601", "55000", "19", "2067", "1", ""] {
            assert!(!unavailable(code, "other"), "{code}");
        }
    }
}
