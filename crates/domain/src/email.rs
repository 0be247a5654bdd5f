//! E-mail addresses as the service accepts them (SPEC D5).
//!
//! An address is a single plain `local@domain`: no display name, no comments, no quoted or
//! non-ASCII local part, no domain literal, no control characters. The domain is lower-cased and
//! IDNA-encoded (`bücher.example` becomes `xn--bcher-kva.example`), so look-alike domains stay
//! visibly distinct. The local part keeps its case for display; two addresses are the same
//! contact when their [`EmailAddress::key`]s (the whole address lower-cased) are equal.

use std::fmt;

/// Longest local part, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest whole address, in octets (RFC 5321 path limit less the angle brackets).
pub const MAX_ADDRESS: usize = 254;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    address: String,
    key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter an e-mail address.")]
    Empty,
    #[error("An e-mail address cannot contain line breaks or control characters.")]
    ControlCharacter,
    #[error(
        "Enter the address alone, like name@example.com, without a name, brackets or comments."
    )]
    NotPlain,
    #[error("An e-mail address needs exactly one @, like name@example.com.")]
    MissingAt,
    #[error("The part before the @ is too long (at most 64 characters).")]
    LocalPartTooLong,
    #[error(
        "The part before the @ can only use plain letters, digits and . ! # $ % & ' * + - / = ? ^ _ ` {{ | }} ~"
    )]
    InvalidLocalPart,
    #[error("The part after the @ must be a domain name like example.com.")]
    InvalidDomain,
    #[error("That e-mail address is too long (at most 254 characters).")]
    TooLong,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        if trimmed.chars().any(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '<' | '>' | '(' | ')' | '"' | ',' | ';' | '[' | ']' | '\\'
                )
        }) {
            return Err(EmailError::NotPlain);
        }
        let (local, domain) = match trimmed.split_once('@') {
            Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') => (l, d),
            _ => return Err(EmailError::MissingAt),
        };
        if local.len() > MAX_LOCAL_PART {
            return Err(EmailError::LocalPartTooLong);
        }
        if !is_dot_atom(local) {
            return Err(EmailError::InvalidLocalPart);
        }
        let domain = normalise_domain(domain).ok_or(EmailError::InvalidDomain)?;
        let address = format!("{local}@{domain}");
        if address.len() > MAX_ADDRESS {
            return Err(EmailError::TooLong);
        }
        // A second opinion from a maintained RFC 5322 parser, with display text, domain
        // literals and single-label domains refused.
        let options = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        if email_address::EmailAddress::parse_with_options(&address, options).is_err() {
            return Err(EmailError::InvalidLocalPart);
        }
        let key = address.to_ascii_lowercase();
        Ok(Self { address, key })
    }

    /// The address as normalised for display and sending.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The comparison key: two addresses name the same mailbox for us when their keys match.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or_default()
    }
}

/// RFC 5322 dot-atom of ASCII atext: no leading, trailing or doubled dots.
fn is_dot_atom(local: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
    })
}

/// Lower-cases and IDNA-encodes a domain; requires at least two labels of letters, digits and
/// inner hyphens, and a top-level label that is not all digits (no IP addresses).
fn normalise_domain(domain: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii(domain).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let well_formed = labels.len() >= 2
        && ascii.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && !labels.last()?.bytes().all(|b| b.is_ascii_digit());
    well_formed.then_some(ascii)
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.address)
    }
}

impl serde::Serialize for EmailAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        EmailAddress::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn trims_and_lower_cases_the_domain_only() {
        assert_eq!(
            ok("  Ada.Lovelace@Example.COM \n"),
            "Ada.Lovelace@example.com"
        );
        assert_eq!(
            EmailAddress::parse("Ada@EXAMPLE.com").unwrap().key(),
            "ada@example.com"
        );
    }

    #[test]
    fn idna_encodes_the_domain() {
        assert_eq!(ok("it@bücher.example"), "it@xn--bcher-kva.example");
        // A Cyrillic "а" in the domain is not the Latin one: it stays visibly different.
        assert_ne!(ok("it@exаmple.com"), "it@example.com");
    }

    #[test]
    fn rejects_what_is_not_a_single_plain_address() {
        use EmailError::*;
        let cases: &[(&str, EmailError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("Ada <ada@example.com>", NotPlain),
            ("ada@example.com (Ada)", NotPlain),
            ("\"ada\"@example.com", NotPlain),
            ("ada@example.com\r\nBcc: x@evil.com", ControlCharacter),
            ("ada\u{0}@example.com", ControlCharacter),
            ("ada@example.com, bob@example.com", NotPlain),
            ("ada.example.com", MissingAt),
            ("ada@b@example.com", MissingAt),
            ("@example.com", MissingAt),
            ("ada@", MissingAt),
            ("ada@localhost", InvalidDomain),
            ("ada@[127.0.0.1]", NotPlain),
            ("ada@127.0.0.1", InvalidDomain),
            ("ada@-example.com", InvalidDomain),
            ("ada@exa_mple.com", InvalidDomain),
            (".ada@example.com", InvalidLocalPart),
            ("a..da@example.com", InvalidLocalPart),
            ("adä@example.com", InvalidLocalPart),
        ];
        for (input, expected) in cases {
            assert_eq!(
                EmailAddress::parse(input).as_ref().err(),
                Some(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn enforces_octet_limits() {
        let local64 = "a".repeat(64);
        assert!(EmailAddress::parse(&format!("{local64}@example.com")).is_ok());
        assert_eq!(
            EmailAddress::parse(&format!("{}@example.com", "a".repeat(65))).err(),
            Some(EmailError::LocalPartTooLong)
        );
        // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254: the longest accepted address.
        let domain = format!("{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(61));
        let longest = format!("{local64}@{domain}");
        assert_eq!(longest.len(), 254);
        assert!(EmailAddress::parse(&longest).is_ok());
        let too_long = format!(
            "{local64}@{}.{}.{}",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62)
        );
        assert_eq!(
            EmailAddress::parse(&too_long).err(),
            Some(EmailError::TooLong)
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_is_idempotent(local in "[a-zA-Z0-9+_-]{1,20}(\\.[a-z0-9]{1,5})?", domain in "[a-zA-Z0-9]{1,20}\\.(com|org|example)") {
            let first = EmailAddress::parse(&format!("{local}@{domain}")).unwrap();
            let again = EmailAddress::parse(first.as_str()).unwrap();
            proptest::prop_assert_eq!(first, again);
        }

        #[test]
        fn never_accepts_control_characters(prefix in "[a-z]{1,5}", c in proptest::char::range('\u{0}', '\u{1f}'), suffix in "[a-z]{1,5}") {
            let input = format!("{prefix}{c}{suffix}@example.com");
            proptest::prop_assert!(EmailAddress::parse(&input).is_err());
        }
    }
}
