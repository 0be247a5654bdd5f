//! Pure rules and parsing for single sign-on set-up: domain names and their DNS challenge,
//! identity-provider certificates and SAML metadata, our service-provider metadata, the
//! certificate-expiry reminder schedule, and the verifier of signed SAML Responses
//! ([`response`]).
//!
//! Nothing here does I/O, runs asynchronously or reads the clock: callers pass the time in.

pub mod certificate;
pub mod domain_name;
pub mod reminders;
pub mod response;
pub mod saml;
pub mod sign_in;

pub use certificate::{Certificate, CertificateError};
pub use domain_name::{
    ChallengeToken, DomainName, DomainNameError, InvalidChallengeToken, challenge_value,
    txt_matches,
};
pub use reminders::{Threshold, UnknownThreshold, current_threshold, next_threshold_at};
pub use saml::{IdpConfig, IdpConfigError, IdpMetadata, MetadataError, SsoBinding, sp_metadata};

#[cfg(test)]
mod test_certs;
