//! The stable machine-readable codes of error answers (SPEC.md lists them), each with the HTTP
//! status it is answered with. API clients match on the code string; the web layer takes the
//! status from here, so a code cannot be answered with two statuses by accident.

/// Declares [`ErrorCode`]: each variant with its code string and its HTTP status.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal),)*) => {
        /// A stable error code with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients see it, e.g. `contact_limit_reached`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status answered with this code.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    // The request itself.
    /// The request cannot be read: malformed input, a bad query or path (also 422 for a JSON
    /// body of the wrong shape, the one code answered with a second status).
    InvalidRequest = ("invalid_request", 400),
    /// No session or API token, or one that does not work.
    Unauthenticated = ("unauthenticated", 401),
    /// The actor may see the organisation but not do this.
    Forbidden = ("forbidden", 403),
    /// A browser request from another site (the CSRF check).
    CsrfRefused = ("csrf_refused", 403),
    /// Only a signed-in session may do this (e.g. create an API token).
    SessionRequired = ("session_required", 403),
    NotFound = ("not_found", 404),
    MethodNotAllowed = ("method_not_allowed", 405),

    // Input that is not acceptable (422).
    AccountDisabled = ("account_disabled", 422),
    InvalidCertificate = ("invalid_certificate", 422),
    InvalidCredentials = ("invalid_credentials", 422),
    InvalidDomain = ("invalid_domain", 422),
    InvalidEmail = ("invalid_email", 422),
    InvalidExpiry = ("invalid_expiry", 422),
    InvalidMetadata = ("invalid_metadata", 422),
    InvalidMetadataUrl = ("invalid_metadata_url", 422),
    MetadataUnreachable = ("metadata_unreachable", 422),
    MetadataPrivateAddress = ("metadata_private_address", 422),
    MetadataTooManyRedirects = ("metadata_too_many_redirects", 422),
    MetadataHttpStatus = ("metadata_http_status", 422),
    MetadataTooLarge = ("metadata_too_large", 422),
    MetadataTimeout = ("metadata_timeout", 422),
    InvalidName = ("invalid_name", 422),
    InvalidPassword = ("invalid_password", 422),
    InvalidRole = ("invalid_role", 422),
    InvalidTime = ("invalid_time", 422),
    InvalidTokenName = ("invalid_token_name", 422),
    MemberNotFound = ("member_not_found", 422),
    OrgNotFound = ("org_not_found", 422),
    SsoNotAvailable = ("sso_not_available", 422),
    /// The address's organisation signs in with SSO: the sign-in page sends the browser there.
    SsoRequired = ("sso_required", 422),
    TokenNotFound = ("token_not_found", 422),
    UserNotFound = ("user_not_found", 422),

    // The state does not allow it (409).
    AlreadyAContact = ("already_a_contact", 409),
    AlreadyAMember = ("already_a_member", 409),
    AlreadyExists = ("already_exists", 409),
    AlreadyInvited = ("already_invited", 409),
    ContactLimitReached = ("contact_limit_reached", 409),
    DomainExists = ("domain_exists", 409),
    DomainTaken = ("domain_taken", 409),
    IdentityRefused = ("identity_refused", 409),
    InvitationLimitReached = ("invitation_limit_reached", 409),
    LastAdminRequired = ("last_admin_required", 409),
    LastContactRequired = ("last_contact_required", 409),
    OrgExists = ("org_exists", 409),
    /// For enabling SSO: `missing` says what is still needed.
    PrerequisitesMissing = ("prerequisites_missing", 409),
    RemovalNotPending = ("removal_not_pending", 409),
    SsoNotConfigured = ("sso_not_configured", 409),
    SsoNotEnabled = ("sso_not_enabled", 409),
    SsoUntested = ("sso_untested", 409),
    TokenLimitReached = ("token_limit_reached", 409),
    TxtRecordNotFound = ("txt_record_not_found", 409),
    UserDisabled = ("user_disabled", 409),
    UserExists = ("user_exists", 409),

    // Limits (429, with `Retry-After`).
    RateLimited = ("rate_limited", 429),
    ContactAdditionsLimited = ("contact_additions_limited", 429),
    InvitationResendsLimited = ("invitation_resends_limited", 429),

    // Our side.
    InternalError = ("internal_error", 500),
    /// The identity side does not answer; try again.
    IdentityUnavailable = ("identity_unavailable", 503),
    /// The database cannot be reached or cannot work just now (with `Retry-After`).
    Unavailable = ("unavailable", 503),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes compare with their strings (`code == "invalid_role"`).
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn codes_are_distinct_snake_case_with_an_error_status() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is declared twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!((400..600).contains(&code.status()), "{s}");
        }
        assert_eq!(ErrorCode::InvalidRequest.status(), 400);
        assert_eq!(
            ErrorCode::ContactLimitReached.to_string(),
            "contact_limit_reached"
        );
    }
}
