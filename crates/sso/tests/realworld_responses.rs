//! Conformance over real signed SAML Responses (shared/realworld/saml-responses/INDEX.tsv):
//! OneLogin, Google Workspace, SecureWorks, SimpleSAMLphp, Okta, Shibboleth and 14 attacks.
//!
//! Every `accept` row without an EncryptedAssertion is accepted with exactly its `name_id`;
//! encrypted rows are refused with `encrypted_assertion_unsupported`; every `refuse` row is
//! refused as unexpected_structure, unsigned or signature_invalid, never yielding an injected
//! NameID. The clock is each row's issue_instant (they are long expired).

use std::collections::HashMap;
use std::path::PathBuf;

use smartcore_sso::response::{Expected, Reason, verify};
use smartcore_sso::{Certificate, IdpMetadata};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn folder() -> Option<PathBuf> {
    let dir = match std::env::var("SMARTCORE_REALWORLD_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/realworld"),
    };
    let dir = dir.join("saml-responses");
    if dir.join("INDEX.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "the real-world SAML Responses are missing at {}",
            dir.display()
        );
    }
    println!(
        "skipping: no real-world SAML Responses at {} (set SMARTCORE_REALWORLD_DIR)",
        dir.display()
    );
    None
}

type Row = HashMap<String, String>;

fn rows(dir: &std::path::Path) -> Vec<Row> {
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let mut lines = index.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn certificates(dir: &std::path::Path, file: &str) -> Vec<Certificate> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    if file.ends_with(".pem") {
        Certificate::from_pem(&text).unwrap()
    } else {
        IdpMetadata::parse(&text).unwrap().config.certificates
    }
}

#[test]
fn real_world_responses_get_their_expected_verdicts() {
    let Some(dir) = folder() else { return };
    let all = rows(&dir);
    let mut checked = 0;
    let mut failures = Vec::new();
    for row in all.iter().filter(|r| r["kind"] == "response") {
        let file = &row["file"];
        let xml = std::fs::read(dir.join(file)).unwrap();
        let certs = certificates(&dir, &row["verify_with"]);
        let now = OffsetDateTime::parse(&row["issue_instant"], &Rfc3339).unwrap();
        let expected = Expected {
            idp_entity_id: &row["idp_entity_id"],
            sp_entity_id: &row["sp_entity_id"],
            acs_url: &row["acs_url"],
            certificates: &certs,
            now,
        };
        let report = verify(&xml, &expected);
        let encrypted = row["encrypted"] != "no";
        match &report.outcome {
            Ok(a) => println!("{file}: accepted {:?}", a.name_id),
            Err(r) => println!("{file}: {r}"),
        }
        let verdict = match (&report.outcome, row["expected"].as_str(), encrypted) {
            (Ok(a), "accept", false) if a.name_id.as_deref() == Some(row["name_id"].as_str()) => {
                Ok(())
            }
            (Err(r), "accept", true) if r.reason == Reason::EncryptedAssertionUnsupported => Ok(()),
            (Err(r), "refuse", _)
                if matches!(
                    r.reason,
                    Reason::UnexpectedStructure | Reason::Unsigned | Reason::SignatureInvalid
                ) =>
            {
                Ok(())
            }
            (outcome, expected, _) => Err(format!(
                "{file}: expected {expected} (name_id {}), got {:?}; checks {:?}",
                row["name_id"],
                outcome.as_ref().map(|a| &a.name_id),
                report.checks
            )),
        };
        if let Err(e) = verdict {
            failures.push(e);
        }
        // Never the injected subject, whatever the verdict.
        if let Ok(a) = &report.outcome {
            let name_id = a.name_id.as_deref().unwrap_or("");
            assert!(
                !name_id.contains("evil") && name_id != "bogus@onelogin.com",
                "{file} yielded {name_id}"
            );
        }
        // Accepted rows: the report names the configured certificate that verified.
        if row["expected"] == "accept" && !encrypted {
            assert!(
                certs
                    .iter()
                    .any(|c| Some(&c.fingerprint_sha256) == report.certificate_sha256.as_ref()),
                "{file}: {:?}",
                report.certificate_sha256
            );
            assert!(report.presented_certificate.is_none(), "{file}");
            assert!(report.checks.iter().all(|c| c.ok), "{file}");
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, 26);
}

#[test]
fn real_world_sha1_and_weak_keys_are_reported() {
    let Some(dir) = folder() else { return };
    for row in rows(&dir)
        .iter()
        .filter(|r| r["kind"] == "response" && r["expected"] == "accept" && r["encrypted"] == "no")
    {
        let xml = std::fs::read(dir.join(&row["file"])).unwrap();
        let certs = certificates(&dir, &row["verify_with"]);
        let report = smartcore_sso::response::verify_signature_only(&xml, &certs);
        assert!(report.outcome.is_ok(), "{}", row["file"]);
        let algorithm = report.signature_algorithm.unwrap();
        assert_eq!(
            report.sha1,
            algorithm.is_sha1() || report.sha1,
            "{}",
            row["file"]
        );
        if row["file"].starts_with("simplesamlphp_") {
            assert!(
                report.weak_key,
                "{} is signed with a 1024-bit key",
                row["file"]
            );
        }
        if row["file"] == "onelogin_response_signed.xml" {
            assert!(algorithm.is_sha1() && report.sha1);
        }
        if row["file"] == "google_response_signed.xml" {
            assert!(!report.sha1 && !report.weak_key);
        }
    }
}
