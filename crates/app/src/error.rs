//! The one error type of the use cases. Each variant carries the stable [`ErrorCode`] that API
//! clients see (SPEC.md lists them), and the code carries its HTTP status.

use crate::ErrorCode;
use smartcore_domain::{ContactRuleViolation, Denied};
use smartcore_storage::StoreError;

/// The `Retry-After` of a [`AppError::DatabaseUnavailable`] answer, in seconds.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Sign in to continue.")]
    Unauthenticated,
    #[error("You need administrator permissions for this organisation.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    /// The input is not acceptable; `field` names the input at fault.
    #[error("{message}")]
    Invalid {
        code: ErrorCode,
        field: Option<&'static str>,
        message: String,
    },
    /// The request is well-formed but the current state does not allow it.
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        missing: Vec<&'static str>,
    },
    /// Something the request depends on (the identity side) does not answer; try again.
    #[error("{message}")]
    Unavailable { message: String },
    /// The database cannot be reached or cannot do the work just now; try again shortly. The
    /// cause is logged where this becomes an answer, not shown.
    #[error("The service is briefly unavailable. Please try again in a few seconds.")]
    DatabaseUnavailable(#[source] StoreError),
    /// Refused whoever asks this way, with a stable code (403): e.g. `session_required`, an
    /// API token creating another token.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// A limit of its own is reached (429 with its own stable code and `Retry-After`), e.g.
    /// `contact_additions_limited`; `message` says which and when to try again.
    #[error("{message}")]
    Throttled {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    /// Too many attempts: answered 429 `rate_limited` with `Retry-After` (seconds).
    #[error("Too many attempts. Try again in {}.", wait_in_words(*retry_after_secs))]
    RateLimited { retry_after_secs: u64 },
    /// Something failed that the caller cannot fix. The cause (with its own causes) is logged
    /// once, where this becomes an answer or ends a background pass; it is never shown.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// Any error, as the cause of an [`AppError::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A cause with a word on what was being done (`password hashing failed: …`).
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct Context {
    context: &'static str,
    #[source]
    source: BoxError,
}

/// An error and its causes on one line, `outer: cause: its cause`, for logs. A cause whose text
/// already ends the text before it (`database error: x` then `x`) is not repeated.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            next = cause.source();
        }
        Ok(())
    }
}

/// "45 seconds", "1 minute", "15 minutes" (rounded up to whole minutes from 60 seconds on).
pub fn wait_in_words(secs: u64) -> String {
    match secs {
        0..=1 => "1 second".to_owned(),
        2..=59 => format!("{secs} seconds"),
        60 => "1 minute".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

impl AppError {
    pub fn invalid(code: ErrorCode, field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            code,
            field: Some(field),
            message: message.into(),
        }
    }

    /// An internal failure caused by `cause` (an error, or words saying what went wrong).
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        AppError::Internal(cause.into())
    }

    /// An internal failure while doing `context`, caused by `cause`.
    pub fn internal_while(context: &'static str, cause: impl Into<BoxError>) -> Self {
        AppError::Internal(Box::new(Context {
            context,
            source: cause.into(),
        }))
    }

    /// This error and its causes, for logs: `error = %e.chain()`.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
            missing: Vec::new(),
        }
    }

    /// How long to wait before trying again, for answers that say so (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::Throttled {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            AppError::DatabaseUnavailable(_) => Some(DATABASE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The stable machine-readable code, which carries the HTTP status.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated => ErrorCode::Unauthenticated,
            AppError::Forbidden => ErrorCode::Forbidden,
            AppError::NotFound => ErrorCode::NotFound,
            AppError::Invalid { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Refused { code, .. }
            | AppError::Throttled { code, .. } => *code,
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::Unavailable { .. } => ErrorCode::IdentityUnavailable,
            AppError::DatabaseUnavailable(_) => ErrorCode::Unavailable,
            AppError::Internal(_) => ErrorCode::InternalError,
        }
    }
}

impl From<Denied> for AppError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => AppError::NotFound,
            Denied::Forbidden => AppError::Forbidden,
        }
    }
}

impl From<ContactRuleViolation> for AppError {
    fn from(v: ContactRuleViolation) -> Self {
        let code = match v {
            ContactRuleViolation::AlreadyAContact { .. } => ErrorCode::AlreadyAContact,
            ContactRuleViolation::LimitReached => ErrorCode::ContactLimitReached,
            ContactRuleViolation::LastContactRequired => ErrorCode::LastContactRequired,
        };
        AppError::conflict(code, v.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Duplicate => {
                AppError::conflict(ErrorCode::AlreadyExists, "That already exists.")
            }
            // Logged where they become an answer (with the request id) or end a pass.
            other if other.is_unavailable() => AppError::DatabaseUnavailable(other),
            other => AppError::Internal(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn an_internal_failure_keeps_its_causes_and_shows_none() {
        let e = AppError::internal_while(
            "password hashing failed",
            std::io::Error::other("out of memory"),
        );
        assert_eq!(e.to_string(), "internal error");
        assert_eq!(e.code(), ErrorCode::InternalError);
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("password hashing failed")
        );
        assert_eq!(
            e.chain().to_string(),
            "internal error: password hashing failed: out of memory"
        );
    }

    #[test]
    fn a_storage_failure_becomes_the_source() {
        let e = AppError::from(StoreError::Migration("checksum mismatch".into()));
        assert!(matches!(e, AppError::Internal(_)), "{e:?}");
        assert_eq!(
            e.chain().to_string(),
            "internal error: database migration failed: checksum mismatch"
        );
    }

    #[test]
    fn a_cause_already_told_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("database error: {0}")]
        struct Outer(#[source] std::io::Error);
        let e = AppError::internal(Outer(std::io::Error::other("connection reset")));
        assert_eq!(
            e.chain().to_string(),
            "internal error: database error: connection reset"
        );
    }
}
