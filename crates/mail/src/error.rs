//! What can go wrong when mail is configured or sent, sorted by what the caller should do next.

/// A mail error: fix the configuration, give up on this recipient, or retry later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The mailer cannot be built: a bad sender address or SMTP URL.
    #[error("mail configuration: {0}")]
    Config(String),
    /// Permanent for this message and recipient: the server refused it with a 5xx reply, or the
    /// address or a header value is unusable. Retrying will not help.
    #[error("mail rejected: {reason}")]
    Rejected { reason: String },
    /// Temporary: a 4xx reply, a connection, TLS or I/O failure, a timeout. Retry later.
    #[error("mail delivery failed temporarily: {reason}")]
    Transient { reason: String },
}

impl MailError {
    /// True when sending the same message later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Transient { .. })
    }
}
