//! SAML metadata that real identity providers export (and broken documents that other SAML
//! projects keep as test data), sent through the HTTP API as an administrator would: every
//! accepted document gives the entity ID, sign-in URL and signing certificates listed in
//! `../shared/realworld/saml-metadata/INDEX.tsv`; every refused one gets 422 with a message.
//!
//! The documents are read from the shared folder at test time (never copied here). Without
//! it the test prints one line and skips, except under `CI=true`, where it fails.
//! `SMARTCORE_REALWORLD_DIR` points elsewhere.

use crate::support::{TestApp, certificate, in_ci};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

pub(crate) fn realworld_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SMARTCORE_REALWORLD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/realworld")
        });
    if dir.join("saml-metadata/INDEX.tsv").is_file() {
        return Some(dir);
    }
    if in_ci() {
        panic!(
            "CI=true but {} has no saml-metadata/INDEX.tsv",
            dir.display()
        );
    }
    eprintln!("skipping: no real-world SAML metadata at {}", dir.display());
    None
}

/// One row of `INDEX.tsv`, by column name.
pub(crate) struct Row(HashMap<String, String>);

impl Row {
    pub(crate) fn get(&self, column: &str) -> &str {
        self.0.get(column).map(String::as_str).unwrap_or_default()
    }
}

fn index(dir: &std::path::Path) -> Vec<Row> {
    read_index(&dir.join("saml-metadata/INDEX.tsv"))
}

/// The rows of a real-world `INDEX.tsv`, by column name.
pub(crate) fn read_index(file: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            Row(header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect())
        })
        .collect()
}

async fn every_real_identity_providers_metadata_is_read_as_its_index_says(app: TestApp) {
    let Some(dir) = realworld_dir() else { return };
    let rows = index(&dir);
    assert!(rows.len() >= 27, "INDEX.tsv has {} rows", rows.len());
    let (org, token) = app.org_with_admin("Conformance Ltd").await;
    let (mut accepted, mut refused) = (0, 0);
    for row in &rows {
        let file = row.get("file");
        // Bytes, not text: a BOM or a broken encoding is the document's own.
        let bytes = std::fs::read(dir.join("saml-metadata").join(file)).unwrap();
        let xml = String::from_utf8_lossy(&bytes).into_owned();
        let r = app
            .request(
                reqwest::Method::PUT,
                &format!("/api/v1/orgs/{org}/sso"),
                Some(&token),
            )
            .json(&json!({ "metadata_xml": xml }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        match row.get("expected") {
            "accept" => {
                assert_eq!(status, 200, "{file} is accepted: {body}");
                assert_eq!(
                    body["idp_entity_id"],
                    row.get("entity_id"),
                    "{file}: entity ID"
                );
                assert_eq!(
                    body["idp_sso_url"],
                    row.get("sso_url"),
                    "{file}: sign-in URL"
                );
                let expected: BTreeSet<&str> = row.get("cert_sha256").split(',').collect();
                let got: BTreeSet<String> = body["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        c["fingerprint_sha256"]
                            .as_str()
                            .unwrap()
                            .to_lowercase()
                            .replace(':', "")
                    })
                    .collect();
                let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
                assert_eq!(got, expected, "{file}: signing certificates");
                assert_eq!(
                    got.len().to_string(),
                    row.get("signing_certs"),
                    "{file}: number of signing certificates"
                );
                accepted += 1;
            }
            "refuse" => {
                assert_eq!(
                    status,
                    422,
                    "{file} is refused ({}): {body}",
                    row.get("why")
                );
                let detail = body["detail"].as_str().unwrap_or_default();
                assert!(detail.len() > 10, "{file}: the refusal says why: {body}");
                assert!(body["code"].is_string(), "{file}: a stable code: {body}");
                refused += 1;
            }
            other => panic!("{file}: unknown verdict {other:?}"),
        }
    }
    // The service goes on: the last good configuration is served.
    let r = app.get(&format!("/api/v1/orgs/{org}/sso"), &token).await;
    assert_eq!(r.status(), 200);
    eprintln!(
        "real-world SAML metadata: {accepted} accepted, {refused} refused, as INDEX.tsv says"
    );
}

async fn metadata_as_large_as_ad_fs_exports_and_free_text_entity_ids_are_accepted(app: TestApp) {
    let (org, token) = app.org_with_admin("Large Metadata Ltd").await;
    let now = time::OffsetDateTime::now_utc();
    let cert = certificate(
        "adfs.large.example",
        now - time::Duration::days(1),
        now + time::Duration::days(365),
    );
    let body: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    // 300 KB, as AD FS and Entra ID FederationMetadata documents are: the padding is what
    // they carry besides the IdP descriptor (WS-Federation roles, claim types).
    let padding = "<md:Extensions><!-- claim types and roles -->".to_owned()
            + &"<x:ClaimType xmlns:x=\"urn:example:claims\" Uri=\"http://schemas.example/claims/name\"/>".repeat(3_700)
            + "</md:Extensions>";
    let xml = format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="  IdP Entity ID  ">
  {padding}
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://adfs.large.example/adfs/ls/"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    );
    assert!(xml.len() > 300_000, "{} bytes", xml.len());
    let r = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org}/sso"),
            Some(&token),
        )
        .json(&json!({ "metadata_xml": xml }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sso: Value = r.json().await.unwrap();
    assert_eq!(sso["idp_entity_id"], "IdP Entity ID", "any text, trimmed");
    assert_eq!(sso["idp_sso_url"], "https://adfs.large.example/adfs/ls/");

    // Every other endpoint keeps its 64 KiB limit.
    let r = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            Some(&token),
        )
        .json(&json!({ "email": "a@large.example", "name": "n".repeat(70_000) }))
        .send()
        .await
        .unwrap();
    crate::support::problem(r, 400, "invalid_request").await;
}

async fn hostile_metadata_is_refused_without_slowing_another_organisation(app: TestApp) {
    let (org, token) = app.org_with_admin("Hostile Ltd").await;
    let (other, other_token) = app.org_with_admin("Bystander Ltd").await;
    // The worst shapes found: one element with 80,000 attributes, and 1 MiB of nesting.
    let attributes = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" {}/>"#,
        (0..80_000)
            .map(|i| format!("a{i}=\"x\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let nesting = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{}</md:EntityDescriptor>"#,
        "<x>".repeat(300_000)
    );
    let started = std::time::Instant::now();
    let hostile: Vec<_> = [&attributes, &nesting, &attributes, &nesting]
        .into_iter()
        .map(|xml| {
            app.request(
                reqwest::Method::PUT,
                &format!("/api/v1/orgs/{org}/sso"),
                Some(&token),
            )
            .json(&json!({ "metadata_xml": xml }))
            .send()
        })
        .collect();
    let bystander = async {
        let mut slowest = std::time::Duration::ZERO;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let r = app
                .get(&format!("/api/v1/orgs/{other}/it-contacts"), &other_token)
                .await;
            assert_eq!(r.status(), 200);
            slowest = slowest.max(t.elapsed());
        }
        slowest
    };
    let (answers, slowest) = tokio::join!(futures_util::future::join_all(hostile), bystander);
    for r in answers {
        let r = r.unwrap();
        let p = crate::support::problem(r, 422, "invalid_metadata").await;
        assert!(
            p["detail"].as_str().unwrap().contains("attributes")
                || p["detail"].as_str().unwrap().contains("deep"),
            "{p}"
        );
    }
    eprintln!(
        "four hostile 1 MiB documents refused in {:?}; another organisation's slowest list-contacts meanwhile {:?}",
        started.elapsed(),
        slowest
    );
}
on_both_databases!(
    every_real_identity_providers_metadata_is_read_as_its_index_says,
    metadata_as_large_as_ad_fs_exports_and_free_text_entity_ids_are_accepted,
    hostile_metadata_is_refused_without_slowing_another_organisation
);
