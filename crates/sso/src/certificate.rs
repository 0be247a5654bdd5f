//! X.509 certificates of an identity provider: what we show and watch (subject, fingerprint,
//! validity), read from PEM text or from the base64 DER inside SAML metadata.
//!
//! The fingerprint is the SHA-256 of the DER encoding, written as lower-case hex pairs separated
//! by colons (`3a:7f:...`, 95 characters), the form identity-provider consoles show. It is the
//! certificate's identity for the reminders schedule.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Largest input [`Certificate::from_pem`] reads.
pub const MAX_PEM_INPUT: usize = 1024 * 1024;
/// Largest single certificate accepted (DER bytes).
pub const MAX_CERTIFICATE_DER: usize = 64 * 1024;

/// Why certificate text was refused. Messages are meant for the administrator who pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("no certificate found: paste a PEM certificate (-----BEGIN CERTIFICATE----- ...)")]
    NotFound,
    #[error("the certificate text is too large ({size} bytes; at most {limit})")]
    TooLarge { size: usize, limit: usize },
    #[error(
        "a \"{label}\" block was given where a certificate was expected; paste only the \
         identity provider's certificate, never a private key"
    )]
    NotACertificate { label: String },
    #[error("the PEM block \"{label}\" has no matching END line")]
    Unterminated { label: String },
    #[error("the certificate is not valid base64")]
    Base64,
    #[error("the certificate could not be read as X.509: {0}")]
    X509(String),
    #[error("the certificate is followed by unexpected data")]
    TrailingData,
}

/// A parsed X.509 certificate with the facts we keep about it.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    /// Subject distinguished name as an RFC 4514 string (`CN=idp.example.com,O=Example`).
    pub subject: String,
    /// Issuer distinguished name as an RFC 4514 string.
    pub issuer: String,
    /// SHA-256 of the DER, lower-case hex pairs joined by colons.
    pub fingerprint_sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("fingerprint_sha256", &self.fingerprint_sha256)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Every `CERTIFICATE` block of PEM text, in order. Text outside the blocks is ignored;
    /// leading indentation and Windows line ends are tolerated; any other block type (a private
    /// key, a request) is refused rather than skipped, so a mistaken paste is noticed.
    pub fn from_pem(input: &str) -> Result<Vec<Certificate>, CertificateError> {
        if input.len() > MAX_PEM_INPUT {
            return Err(CertificateError::TooLarge {
                size: input.len(),
                limit: MAX_PEM_INPUT,
            });
        }
        let mut certificates = Vec::new();
        let mut rest = input;
        while let Some(start) = rest.find("-----BEGIN ") {
            let after_begin = &rest[start + "-----BEGIN ".len()..];
            let label_end =
                after_begin
                    .find("-----")
                    .ok_or_else(|| CertificateError::Unterminated {
                        label: after_begin.chars().take(30).collect(),
                    })?;
            let label = after_begin[..label_end].trim().to_string();
            let body_and_rest = &after_begin[label_end + 5..];
            let end_marker = format!("-----END {label}-----");
            let body_end =
                body_and_rest
                    .find(&end_marker)
                    .ok_or_else(|| CertificateError::Unterminated {
                        label: label.clone(),
                    })?;
            if label != "CERTIFICATE" && label != "X509 CERTIFICATE" {
                return Err(CertificateError::NotACertificate { label });
            }
            certificates.push(Certificate::from_der_base64(&body_and_rest[..body_end])?);
            rest = &body_and_rest[body_end + end_marker.len()..];
        }
        if certificates.is_empty() {
            return Err(CertificateError::NotFound);
        }
        Ok(certificates)
    }

    /// One certificate from base64 DER, the form of `<ds:X509Certificate>` in SAML metadata.
    /// Whitespace anywhere (line breaks, indentation) is ignored.
    pub fn from_der_base64(input: &str) -> Result<Certificate, CertificateError> {
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err(CertificateError::NotFound);
        }
        if compact.len() > MAX_CERTIFICATE_DER * 4 / 3 + 4 {
            return Err(CertificateError::TooLarge {
                size: compact.len() * 3 / 4,
                limit: MAX_CERTIFICATE_DER,
            });
        }
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| CertificateError::Base64)?;
        Certificate::from_der(der)
    }

    /// One certificate from its DER encoding.
    pub fn from_der(der: Vec<u8>) -> Result<Certificate, CertificateError> {
        if der.len() > MAX_CERTIFICATE_DER {
            return Err(CertificateError::TooLarge {
                size: der.len(),
                limit: MAX_CERTIFICATE_DER,
            });
        }
        let (rest, cert) =
            X509Certificate::from_der(&der).map_err(|e| CertificateError::X509(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::TrailingData);
        }
        let subject = rfc4514(cert.subject());
        let issuer = rfc4514(cert.issuer());
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        let fingerprint_sha256 = colon_hex(&Sha256::digest(&der));
        Ok(Certificate {
            der,
            subject,
            issuer,
            fingerprint_sha256,
            not_before,
            not_after,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as one PEM block (64-character lines, trailing newline), for storage.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.der);
        let mut out = String::with_capacity(b64.len() + 64);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// Whether the certificate is valid at `now` (not before its start, not after its end).
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 4514 string form: RDNs in reverse order of the encoding, joined by `,`; several
/// attributes of one RDN joined by `+`; well-known types by short name, others by dotted OID;
/// non-string values as `#` and the hex of their content octets.
fn rfc4514(name: &X509Name<'_>) -> String {
    name.iter()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect::<Vec<_>>()
        .join(",")
}

fn attribute(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type().to_id_string();
    let short = match oid.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => oid.as_str(),
    }
    .to_string();
    let value = match attr.as_str() {
        Ok(s) => escape_value(s),
        Err(_) => match bmp_string(attr) {
            Some(s) => escape_value(&s),
            None => format!("#{}", hex::encode(attr.as_slice())),
        },
    };
    format!("{short}={value}")
}

/// BMPString (UTF-16BE), still found in older certificates.
fn bmp_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    if attr.attr_value().tag() != x509_parser::der_parser::asn1_rs::Tag::BmpString {
        return None;
    }
    let bytes = attr.as_slice();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
        } else if special {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_certs::{make_cert, make_cert_with_names};
    use time::macros::datetime;

    #[test]
    fn reads_subject_fingerprint_and_validity() {
        let pem = make_cert(
            "idp.example.com",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 12:30 UTC),
        );
        let certs = Certificate::from_pem(&pem.pem).unwrap();
        assert_eq!(certs.len(), 1);
        let c = &certs[0];
        assert_eq!(c.subject, "CN=idp.example.com,O=Example IdP");
        assert_eq!(c.not_before, datetime!(2026-01-01 00:00 UTC));
        assert_eq!(c.not_after, datetime!(2027-01-01 12:30 UTC));
        assert_eq!(c.der(), pem.der.as_slice());
        let expected = colon_hex(&Sha256::digest(&pem.der));
        assert_eq!(c.fingerprint_sha256, expected);
        assert_eq!(c.fingerprint_sha256.len(), 95);
        assert!(
            c.fingerprint_sha256
                .chars()
                .all(|ch| ch == ':' || ch.is_ascii_digit() || ('a'..='f').contains(&ch))
        );
        assert!(c.is_valid_at(datetime!(2026-06-01 00:00 UTC)));
        assert!(!c.is_valid_at(datetime!(2027-01-02 00:00 UTC)));
        assert!(!c.is_valid_at(datetime!(2025-12-31 00:00 UTC)));
    }

    #[test]
    fn reads_several_blocks_and_ignores_text_around_them() {
        let a = make_cert(
            "a.example",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        let b = make_cert(
            "b.example",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2028-01-01 00:00 UTC),
        );
        let input = format!("subject=CN=a\n{}\nsome comment\r\n{}", a.pem, b.pem);
        let certs = Certificate::from_pem(&input).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].subject, "CN=a.example,O=Example IdP");
        assert_eq!(certs[1].subject, "CN=b.example,O=Example IdP");
        assert_ne!(certs[0].fingerprint_sha256, certs[1].fingerprint_sha256);
    }

    #[test]
    fn tolerates_indentation_crlf_and_collapsed_lines() {
        let a = make_cert(
            "a.example",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        let indented: String = a
            .pem
            .lines()
            .map(|l| format!("    {l}\r\n"))
            .collect::<String>();
        assert_eq!(Certificate::from_pem(&indented).unwrap()[0].der(), a.der);
        let one_line = a.pem.replace('\n', " ");
        assert_eq!(Certificate::from_pem(&one_line).unwrap()[0].der(), a.der);
    }

    #[test]
    fn pem_round_trips() {
        let a = make_cert(
            "a.example",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        let cert = &Certificate::from_pem(&a.pem).unwrap()[0];
        let again = &Certificate::from_pem(&cert.to_pem()).unwrap()[0];
        assert_eq!(cert, again);
        assert!(
            cert.to_pem()
                .lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
    }

    #[test]
    fn reads_base64_der_with_whitespace() {
        let a = make_cert(
            "a.example",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        let b64 = STANDARD.encode(&a.der);
        let spaced: String = b64
            .as_bytes()
            .chunks(60)
            .map(|c| format!("\n        {}", std::str::from_utf8(c).unwrap()))
            .collect();
        let cert = Certificate::from_der_base64(&spaced).unwrap();
        assert_eq!(cert.der(), a.der);
        assert_eq!(cert.subject, "CN=a.example,O=Example IdP");
    }

    #[test]
    fn escapes_special_characters_in_names() {
        let a = make_cert_with_names(
            &[("CN", "Smith, John + \"Co\""), ("O", "#Hash ")],
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        let cert = &Certificate::from_pem(&a.pem).unwrap()[0];
        assert_eq!(cert.subject, r#"O=\#Hash\ ,CN=Smith\, John \+ \"Co\""#);
    }

    #[test]
    fn refuses_missing_and_malformed_input() {
        assert_eq!(Certificate::from_pem(""), Err(CertificateError::NotFound));
        assert_eq!(
            Certificate::from_pem("just some text"),
            Err(CertificateError::NotFound)
        );
        assert_eq!(
            Certificate::from_pem("-----BEGIN CERTIFICATE-----\nAAAA"),
            Err(CertificateError::Unterminated {
                label: "CERTIFICATE".into()
            })
        );
        assert_eq!(
            Certificate::from_pem(
                "-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----"
            ),
            Err(CertificateError::Base64)
        );
        assert!(matches!(
            Certificate::from_pem(
                "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----"
            ),
            Err(CertificateError::X509(_))
        ));
        assert_eq!(
            Certificate::from_der_base64("  \n "),
            Err(CertificateError::NotFound)
        );
    }

    #[test]
    fn refuses_private_keys_with_a_clear_message() {
        let key =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let err = Certificate::from_pem(key).unwrap_err();
        assert_eq!(
            err,
            CertificateError::NotACertificate {
                label: "PRIVATE KEY".into()
            }
        );
        assert!(err.to_string().contains("never a private key"));
    }

    #[test]
    fn refuses_trailing_data_after_der() {
        let a = make_cert(
            "a.example",
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        let mut der = a.der.clone();
        der.extend_from_slice(&[0, 0]);
        assert_eq!(
            Certificate::from_der(der),
            Err(CertificateError::TrailingData)
        );
    }

    #[test]
    fn refuses_oversized_input() {
        let big = "A".repeat(MAX_PEM_INPUT + 1);
        assert!(matches!(
            Certificate::from_pem(&big),
            Err(CertificateError::TooLarge { .. })
        ));
        let big_b64 = "A".repeat(MAX_CERTIFICATE_DER * 2);
        assert!(matches!(
            Certificate::from_der_base64(&big_b64),
            Err(CertificateError::TooLarge { .. })
        ));
    }
}
