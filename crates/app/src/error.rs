//! The one error type of the use cases. Each variant carries the stable `code` that API
//! clients see (SPEC.md lists them); the web layer maps variants to statuses in one place.

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
        code: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    /// The request is well-formed but the current state does not allow it.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        missing: Vec<&'static str>,
    },
    /// Something the request depends on (the identity side) does not answer; try again.
    #[error("{message}")]
    Unavailable { message: String },
    /// The database cannot be reached or cannot do the work just now; try again shortly.
    #[error("The service is briefly unavailable. Please try again in a few seconds.")]
    DatabaseUnavailable,
    /// Refused whoever asks this way, with a stable code (403): e.g. `session_required`, an
    /// API token creating another token.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// A limit of its own is reached (429 with its own stable code and `Retry-After`), e.g.
    /// `contact_additions_limited`; `message` says which and when to try again.
    #[error("{message}")]
    Throttled {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// Too many attempts: answered 429 `rate_limited` with `Retry-After` (seconds).
    #[error("Too many attempts. Try again in {}.", wait_in_words(*retry_after_secs))]
    RateLimited { retry_after_secs: u64 },
    /// Something failed that the caller cannot fix; details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
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
    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            code,
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
            missing: Vec::new(),
        }
    }

    /// The stable machine-readable code.
    /// How long to wait before trying again, for answers that say so (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::Throttled {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            AppError::DatabaseUnavailable => Some(DATABASE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Invalid { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Refused { code, .. }
            | AppError::Throttled { code, .. } => code,
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Unavailable { .. } => "identity_unavailable",
            AppError::DatabaseUnavailable => "unavailable",
            AppError::Internal(_) => "internal_error",
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
            ContactRuleViolation::AlreadyAContact { .. } => "already_a_contact",
            ContactRuleViolation::LimitReached => "contact_limit_reached",
            ContactRuleViolation::LastContactRequired => "last_contact_required",
        };
        AppError::conflict(code, v.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Rule(v) => v.into(),
            // Use cases that count a limit say which; this is the generic answer.
            StoreError::Throttled { .. } => AppError::RateLimited {
                retry_after_secs: 60,
            },
            StoreError::Duplicate => AppError::conflict("already_exists", "That already exists."),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "the database is unavailable");
                AppError::DatabaseUnavailable
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                AppError::Internal(other.to_string())
            }
        }
    }
}
