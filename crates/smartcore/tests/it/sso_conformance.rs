//! Real identity providers' signed SAML Responses and published attacks on them
//! (`../shared/realworld/saml-responses/`, see its README), through the administrator's
//! check-response API with the time judged at each Response's IssueInstant, on both
//! databases: every accepted one verifies (signature, issuer, time) with exactly the NameID
//! its index names; every refused one is refused for the right kind of reason and never
//! yields the injected subject.
//!
//! The Responses were issued for other service providers (their Audience and Recipient are
//! those SPs' URLs, not ours), so through our API an accepted Response's audience and recipient
//! checks fail and its e-mail check finds no verified domain: what matters here is that the
//! signature, issuer and time checks pass and the subject is right. The verifier's own test
//! (`crates/sso/tests/realworld_responses.rs`) checks the full acceptance with each row's SP
//! values. Without the shared folder the test prints one line and skips, except under
//! `CI=true`, where it fails.

use crate::saml_conformance::{read_index, realworld_dir};
use crate::support::TestApp;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn real_responses_and_attacks_get_their_verdicts_through_check_response(app: TestApp) {
    let Some(dir) = realworld_dir() else { return };
    let dir = dir.join("saml-responses");
    let rows = read_index(&dir.join("INDEX.tsv"));
    let by_file = |name: &str| rows.iter().find(|r| r.get("file") == name).unwrap();
    let (mut accepted, mut refused) = (0, 0);
    for (n, row) in rows
        .iter()
        .filter(|r| r.get("kind") == "response")
        .enumerate()
    {
        let file = row.get("file");
        let (org, token) = app.org_with_admin(&format!("Org {n}")).await;
        let trust = by_file(row.get("verify_with"));
        let config = std::fs::read_to_string(dir.join(trust.get("file"))).unwrap();
        let body = if trust.get("kind") == "idp_metadata" {
            json!({ "metadata_xml": config })
        } else {
            json!({
                "idp_entity_id": row.get("idp_entity_id"),
                "idp_sso_url": "https://idp.example/sso",
                "idp_certificate_pem": config,
            })
        };
        let r = app
            .request(
                Method::PUT,
                &format!("/api/v1/orgs/{org}/sso"),
                Some(&token),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{file}: {}",
            r.text().await.unwrap()
        );

        let xml = std::fs::read(dir.join(file)).unwrap();
        let r = app
            .post(
                &format!("/api/v1/orgs/{org}/sso/check-response"),
                &token,
                json!({
                    "saml_response": base64::engine::general_purpose::STANDARD.encode(&xml),
                    "at": row.get("issue_instant"),
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        let verdict: Value = r.json().await.unwrap();
        let check = |name: &str| {
            verdict["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["check"] == name)
                .map(|c| c["ok"] == true)
        };
        let encrypted = row.get("encrypted").starts_with("yes");
        match (row.get("expected"), encrypted) {
            ("accept", false) => {
                accepted += 1;
                for name in ["xml", "status", "signature", "issuer", "time"] {
                    assert_eq!(check(name), Some(true), "{file}: {name} in {verdict}");
                }
                assert_eq!(
                    verdict["subject"]["name_id"],
                    row.get("name_id"),
                    "{file}: {verdict}"
                );
                assert_eq!(
                    verdict["certificate_sha256"]
                        .as_str()
                        .map(|c| c.replace(':', "")),
                    Some(
                        trust
                            .get("cert_sha256")
                            .split(',')
                            .next()
                            .unwrap()
                            .to_owned()
                    ),
                    "{file}"
                );
            }
            ("accept", true) => {
                accepted += 1;
                assert_eq!(
                    verdict["reason"], "encrypted_assertion_unsupported",
                    "{file}: {verdict}"
                );
            }
            (_, _) => {
                refused += 1;
                assert_eq!(verdict["accepted"], false, "{file}");
                let reason = verdict["reason"].as_str().unwrap();
                assert!(
                    ["unexpected_structure", "unsigned", "signature_invalid"].contains(&reason),
                    "{file}: {reason}"
                );
                assert!(
                    verdict["subject"].is_null(),
                    "{file}: nothing is read from an unverified Response: {verdict}"
                );
            }
        }
    }
    assert_eq!((accepted, refused), (12, 14));
}
on_both_databases!(real_responses_and_attacks_get_their_verdicts_through_check_response);
