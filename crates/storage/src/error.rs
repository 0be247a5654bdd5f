use smartcore_domain::ContactRuleViolation;

/// What can go wrong in storage, in terms the use cases can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write: the thing exists already.
    #[error("already exists")]
    Duplicate,
    /// A rule of the contact list, checked inside the transaction that would break it.
    #[error(transparent)]
    Rule(#[from] ContactRuleViolation),
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
