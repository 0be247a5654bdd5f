//! Domain names an organisation claims, and the TXT challenge that proves it controls them.
//!
//! [`DomainName::parse`] is the only way to get a [`DomainName`]: what the administrator typed is
//! trimmed, one trailing dot is removed, it is lower-cased and IDNA-encoded (`bücher.example` →
//! `xn--bcher-kva.example`) and checked (at least two labels, each 1 to 63 characters of `a-z`,
//! `0-9` and `-` not at either end, at most 253 characters in all, no IP address, no wildcard).
//!
//! The challenge: the organisation publishes a TXT record named
//! [`DomainName::challenge_record_name`] whose value is [`challenge_value`] of a random
//! [`ChallengeToken`]; [`txt_matches`] decides whether the records found prove control.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// Longest domain name in its textual form without the trailing dot (RFC 1035: 255 octets on the
/// wire, which is 253 characters as text).
pub const MAX_DOMAIN_LENGTH: usize = 253;
/// Longest label (RFC 1035).
pub const MAX_LABEL_LENGTH: usize = 63;
/// First label of the TXT record that carries the challenge.
pub const CHALLENGE_LABEL: &str = "_smartcore-challenge";
/// What comes before the token in the TXT record's value.
pub const CHALLENGE_VALUE_PREFIX: &str = "smartcore-verification=";

/// Why a domain name was refused. The messages are meant for the administrator who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    #[error("enter a domain name, for example example.com")]
    Empty,
    #[error("enter the domain name only, without a scheme, path or port (for example example.com)")]
    NotAPlainName,
    #[error("wildcards are not allowed: enter the domain itself, for example example.com")]
    Wildcard,
    #[error("an IP address is not a domain name")]
    IpAddress,
    #[error("this is not a valid internationalised domain name")]
    InvalidIdna,
    #[error("enter a full domain name with at least two parts, for example example.com")]
    SingleLabel,
    #[error("the domain name has an empty part (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("the part \"{label}\" is longer than 63 characters")]
    LabelTooLong { label: String },
    #[error("the part \"{label}\" may only contain letters, digits and hyphens")]
    InvalidCharacter { label: String },
    #[error("the part \"{label}\" may not start or end with a hyphen")]
    HyphenAtEdge { label: String },
    #[error("the last part \"{label}\" of a domain name cannot be all digits")]
    NumericTopLevel { label: String },
    #[error("the domain name is {length} characters long; at most 253 are allowed")]
    TooLong { length: usize },
}

/// A syntactically valid, normalised (lower-case ASCII, IDNA-encoded) domain name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Validates and normalises what an administrator typed. See the module documentation.
    pub fn parse(input: &str) -> Result<DomainName, DomainNameError> {
        let trimmed = input.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(DomainNameError::Empty);
        }
        if trimmed.contains('*') {
            return Err(DomainNameError::Wildcard);
        }
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        if unbracketed.parse::<IpAddr>().is_ok() {
            return Err(DomainNameError::IpAddress);
        }
        if trimmed
            .chars()
            .any(|c| matches!(c, '/' | ':' | '@' | '?' | '#' | '\\') || c.is_whitespace())
            || trimmed.chars().any(char::is_control)
        {
            return Err(DomainNameError::NotAPlainName);
        }
        if trimmed.split('.').any(str::is_empty) {
            return Err(DomainNameError::EmptyLabel);
        }
        let ascii = idna::domain_to_ascii(trimmed).map_err(|_| DomainNameError::InvalidIdna)?;
        // The IDNA mapping may itself produce an address-like or dotted form (e.g. full-width
        // digits and dots): check the result again.
        if ascii.parse::<IpAddr>().is_ok() {
            return Err(DomainNameError::IpAddress);
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        for label in &labels {
            check_label(label)?;
        }
        if labels.len() < 2 {
            return Err(DomainNameError::SingleLabel);
        }
        if let Some(last) = labels.last()
            && last.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DomainNameError::NumericTopLevel {
                label: (*last).to_string(),
            });
        }
        if ascii.len() > MAX_DOMAIN_LENGTH {
            return Err(DomainNameError::TooLong {
                length: ascii.len(),
            });
        }
        Ok(DomainName(ascii))
    }

    /// The normalised name, e.g. `xn--bcher-kva.example`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the TXT record to publish: `_smartcore-challenge.<domain>`.
    pub fn challenge_record_name(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}", self.0)
    }

    /// The name as people read it (Unicode for IDNA labels), for display only.
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn check_label(label: &str) -> Result<(), DomainNameError> {
    if label.is_empty() {
        return Err(DomainNameError::EmptyLabel);
    }
    if label.len() > MAX_LABEL_LENGTH {
        return Err(DomainNameError::LabelTooLong {
            label: label.to_string(),
        });
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(DomainNameError::InvalidCharacter {
            label: label.to_string(),
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainNameError::HyphenAtEdge {
            label: label.to_string(),
        });
    }
    Ok(())
}

/// Length of a generated token: 24 random bytes, 32 characters of URL-safe base64.
pub const CHALLENGE_TOKEN_LENGTH: usize = 32;

/// The random secret of a domain challenge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChallengeToken(String);

/// A stored token that is not one we could have generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a challenge token is 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'")]
pub struct InvalidChallengeToken;

impl ChallengeToken {
    /// A new random token: 192 bits from the operating system's generator, URL-safe base64
    /// without padding (32 characters).
    pub fn generate() -> ChallengeToken {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        ChallengeToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads back a token that was stored earlier.
    pub fn parse(s: &str) -> Result<ChallengeToken, InvalidChallengeToken> {
        let ok_len = (16..=128).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok_len && ok_chars {
            Ok(ChallengeToken(s.to_string()))
        } else {
            Err(InvalidChallengeToken)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChallengeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The value of the TXT record to publish: `smartcore-verification=<token>`.
pub fn challenge_value(token: &ChallengeToken) -> String {
    format!("{CHALLENGE_VALUE_PREFIX}{}", token.0)
}

/// Whether any of the TXT records found equals `expected`, after trimming surrounding whitespace
/// (and nothing else: case and inner characters must match exactly).
pub fn txt_matches(records: &[String], expected: &str) -> bool {
    let expected = expected.trim();
    !expected.is_empty() && records.iter().any(|r| r.trim() == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        DomainName::parse(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .to_string()
    }

    fn err(s: &str) -> DomainNameError {
        DomainName::parse(s).expect_err(s)
    }

    #[test]
    fn normalises_case_whitespace_and_trailing_dot() {
        assert_eq!(ok("Example.COM"), "example.com");
        assert_eq!(ok("  example.com.  "), "example.com");
        assert_eq!(ok("sub-1.a2.example.co.uk"), "sub-1.a2.example.co.uk");
        assert_eq!(ok("xn--bcher-kva.example"), "xn--bcher-kva.example");
    }

    #[test]
    fn encodes_international_names() {
        assert_eq!(ok("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("BÜCHER.Example."), "xn--bcher-kva.example");
        assert_eq!(ok("münchen.de"), "xn--mnchen-3ya.de");
        let name = DomainName::parse("bücher.example").unwrap();
        assert_eq!(name.to_unicode(), "bücher.example");
    }

    #[test]
    fn only_one_trailing_dot_is_stripped() {
        assert_eq!(err("example.com.."), DomainNameError::EmptyLabel);
    }

    #[test]
    fn refuses_empty_and_single_labels() {
        assert_eq!(err(""), DomainNameError::Empty);
        assert_eq!(err("   "), DomainNameError::Empty);
        assert_eq!(err("."), DomainNameError::Empty);
        assert_eq!(err("localhost"), DomainNameError::SingleLabel);
        assert_eq!(err("com."), DomainNameError::SingleLabel);
    }

    #[test]
    fn refuses_empty_labels() {
        assert_eq!(err("a..example"), DomainNameError::EmptyLabel);
        assert_eq!(err(".example.com"), DomainNameError::EmptyLabel);
    }

    #[test]
    fn refuses_wildcards() {
        assert_eq!(err("*.example.com"), DomainNameError::Wildcard);
        assert_eq!(err("a*b.example.com"), DomainNameError::Wildcard);
    }

    #[test]
    fn refuses_ip_addresses() {
        assert_eq!(err("192.168.0.1"), DomainNameError::IpAddress);
        assert_eq!(err("::1"), DomainNameError::IpAddress);
        assert_eq!(err("[2001:db8::1]"), DomainNameError::IpAddress);
        assert_eq!(
            err("10.0.0.300"),
            DomainNameError::NumericTopLevel {
                label: "300".into()
            }
        );
    }

    #[test]
    fn refuses_urls_and_addresses() {
        assert_eq!(err("https://example.com"), DomainNameError::NotAPlainName);
        assert_eq!(err("example.com/path"), DomainNameError::NotAPlainName);
        assert_eq!(err("example.com:443"), DomainNameError::NotAPlainName);
        assert_eq!(err("user@example.com"), DomainNameError::NotAPlainName);
        assert_eq!(err("exa mple.com"), DomainNameError::NotAPlainName);
        assert_eq!(err("example.com\r\nX: y"), DomainNameError::NotAPlainName);
    }

    #[test]
    fn refuses_bad_characters_and_hyphens() {
        assert_eq!(
            err("under_score.example"),
            DomainNameError::InvalidCharacter {
                label: "under_score".into()
            }
        );
        assert_eq!(
            err("-lead.example"),
            DomainNameError::HyphenAtEdge {
                label: "-lead".into()
            }
        );
        assert_eq!(
            err("trail-.example"),
            DomainNameError::HyphenAtEdge {
                label: "trail-".into()
            }
        );
    }

    #[test]
    fn refuses_invalid_punycode() {
        assert_eq!(err("xn--zz.example"), DomainNameError::InvalidIdna);
    }

    #[test]
    fn label_length_limit_is_63() {
        let max = "a".repeat(63);
        assert_eq!(ok(&format!("{max}.example")), format!("{max}.example"));
        let long = "a".repeat(64);
        assert_eq!(
            err(&format!("{long}.example")),
            DomainNameError::LabelTooLong { label: long }
        );
    }

    #[test]
    fn total_length_limit_is_253() {
        let label = "a".repeat(63);
        // 63*3 + 61 + 3 dots = 253
        let at_limit = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(at_limit.len(), 253);
        assert_eq!(ok(&at_limit), at_limit);
        let over = format!("{label}.{label}.{label}.{}", "b".repeat(62));
        assert_eq!(err(&over), DomainNameError::TooLong { length: 254 });
        assert_eq!(ok(&format!("{at_limit}.")), at_limit);
    }

    #[test]
    fn error_messages_are_readable() {
        assert_eq!(
            err("localhost").to_string(),
            "enter a full domain name with at least two parts, for example example.com"
        );
        assert!(err("a_b.com").to_string().contains("\"a_b\""));
        assert!(err("1.2.3.4").to_string().contains("IP address"));
    }

    #[test]
    fn challenge_record_name_is_under_the_domain() {
        let name = DomainName::parse("Bücher.example").unwrap();
        assert_eq!(
            name.challenge_record_name(),
            "_smartcore-challenge.xn--bcher-kva.example"
        );
    }

    #[test]
    fn tokens_are_random_url_safe_and_round_trip() {
        let a = ChallengeToken::generate();
        let b = ChallengeToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), CHALLENGE_TOKEN_LENGTH);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(ChallengeToken::parse(a.as_str()).unwrap(), a);
        assert_eq!(ChallengeToken::parse("short"), Err(InvalidChallengeToken));
        assert_eq!(
            ChallengeToken::parse("has spaces in it, not ok"),
            Err(InvalidChallengeToken)
        );
        assert_eq!(
            challenge_value(&a),
            format!("smartcore-verification={}", a.as_str())
        );
    }

    #[test]
    fn txt_matching_is_trimmed_and_exact() {
        let token = ChallengeToken::parse("abcdefghijklmnopqrstuvwxyz012345").unwrap();
        let expected = challenge_value(&token);
        let found = |v: &[&str]| {
            txt_matches(
                &v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &expected,
            )
        };
        assert!(found(&[&expected]));
        assert!(found(&["v=spf1 -all", &format!("  {expected}\t")]));
        assert!(!found(&[]));
        assert!(!found(&["smartcore-verification=other"]));
        assert!(!found(&[&expected.to_uppercase()]));
        assert!(!found(&[&format!("{expected}x")]));
        assert!(!found(&[&format!("x{expected}")]));
        assert!(!txt_matches(&["".to_string()], ""));
    }
}
