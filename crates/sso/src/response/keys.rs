//! The signature value check: a configured certificate's public key verifies the signature
//! over the canonical SignedInfo (ring; RustCrypto's `rsa` for the 1024–2047-bit RSA keys ring
//! refuses, reported as weak).

use ring::digest;
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::SignatureAlgorithm;
use super::algorithms::DigestAlgorithm;
use crate::Certificate;

/// The public key of a configured certificate, in the forms the verifiers take.
enum Key {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        bits: usize,
    },
    /// An uncompressed point on P-256 (`p256`) or P-384.
    Ec {
        p256: bool,
        point: Vec<u8>,
    },
}

fn public_key(certificate: &Certificate) -> Result<Key, String> {
    let (_, cert) = X509Certificate::from_der(certificate.der())
        .map_err(|_| "the certificate cannot be read".to_string())?;
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let n = strip_leading_zeros(rsa.modulus);
            let bits = match n.first() {
                Some(first) => 8 * n.len() - first.leading_zeros() as usize,
                None => 0,
            };
            Ok(Key::Rsa {
                n: n.to_vec(),
                e: strip_leading_zeros(rsa.exponent).to_vec(),
                bits,
            })
        }
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Ok(Key::Ec {
                    p256: true,
                    point: point.data().to_vec(),
                }),
                Some("1.3.132.0.34") => Ok(Key::Ec {
                    p256: false,
                    point: point.data().to_vec(),
                }),
                _ => Err("the certificate's elliptic curve is not supported".to_string()),
            }
        }
        _ => Err("the certificate's key type is not supported".to_string()),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Ok(weak_key) when `signature` over `message` verifies under the certificate's key.
pub(super) fn check_with(
    certificate: &Certificate,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, String> {
    let key = public_key(certificate)?;
    let mismatch = || "the signature value does not match".to_string();
    match key {
        Key::Rsa { n, e, bits } if algorithm.is_rsa() => {
            if bits >= 2048 {
                let params = match algorithm {
                    SignatureAlgorithm::RsaSha1 => {
                        &ring_sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    SignatureAlgorithm::RsaSha256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
                    SignatureAlgorithm::RsaSha384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
                    _ => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(params, message, signature)
                    .map(|()| false)
                    .map_err(|_| mismatch())
            } else if bits >= 1024 {
                // ring refuses keys under 2048 bits; some real identity providers still sign
                // with 1024-bit keys. The RustCrypto implementation checks those, and the
                // result is flagged as weak.
                let digest_algorithm = algorithm.digest();
                let hashed = digest::digest(digest_algorithm.ring(), message);
                let key = rsa::PublicKey::new(
                    rsa::BoxedUint::from_be_slice_vartime(&n),
                    rsa::BoxedUint::from_be_slice_vartime(&e),
                )
                .map_err(|_| "the certificate's RSA key is not usable".to_string())?;
                let scheme = rsa::Pkcs1v15Sign {
                    hash_len: Some(hashed.as_ref().len()),
                    prefix: digest_algorithm.digest_info_prefix().into(),
                };
                key.verify(scheme, hashed.as_ref(), signature)
                    .map(|()| true)
                    .map_err(|_| mismatch())
            } else {
                Err(format!(
                    "the certificate's RSA key has only {bits} bits; at least 1024 are needed"
                ))
            }
        }
        Key::Ec { p256, point } if !algorithm.is_rsa() => {
            let params: &'static ring_sig::EcdsaVerificationAlgorithm =
                match (p256, algorithm.digest()) {
                    (true, DigestAlgorithm::Sha256) => &ring_sig::ECDSA_P256_SHA256_FIXED,
                    (false, DigestAlgorithm::Sha384) => &ring_sig::ECDSA_P384_SHA384_FIXED,
                    // ring pairs each curve with its own digest only.
                    _ => {
                        return Err(
                            "ECDSA is supported as P-256 with SHA-256 and P-384 with SHA-384 only"
                                .to_string(),
                        );
                    }
                };
            UnparsedPublicKey::new(params, &point)
                .verify(message, signature)
                .map(|()| false)
                .map_err(|_| mismatch())
        }
        _ => Err("the certificate's key type does not match the signature method".to_string()),
    }
}
