//! `sso`: signing in with SSO: the verifier's verdict on a captured Response, and the recent
//! sign-in attempts.

use super::print_json;
use clap::Subcommand;
use smartcore_app::App;
use smartcore_domain::Timestamp;
use std::path::Path;

#[derive(Subcommand)]
pub enum SsoCommand {
    /// The verifier's verdict on a SAML Response captured from a browser (the base64
    /// SAMLResponse value, or the decoded XML), without signing anyone in.
    CheckResponse {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        /// The file holding the Response.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// Judge time at this moment (RFC 3339), e.g. the Response's IssueInstant.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Recent sign-in attempts, newest first (kept 30 days).
    Attempts {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, command: SsoCommand) -> anyhow::Result<()> {
    match command {
        SsoCommand::CheckResponse {
            org,
            file,
            at,
            json,
        } => check_response(app, &org, &file, at.as_deref(), json).await,
        SsoCommand::Attempts { org, json } => attempts(app, &org, json).await,
    }
}

/// The posted base64 value in `file`: XML as saved from a tracer's decoded view is encoded.
fn response_value(file: &Path) -> anyhow::Result<String> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let text = text.trim();
    Ok(if text.starts_with('<') {
        base64::engine::general_purpose::STANDARD.encode(text)
    } else {
        text.to_string()
    })
}

/// `--at`, in RFC 3339.
fn judged_at(at: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    let Some(at) = at else { return Ok(None) };
    let parsed =
        time::OffsetDateTime::parse(at.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                anyhow::anyhow!("--at {at:?}: give RFC 3339, like 2026-12-03T08:00:00Z")
            })?;
    Ok(Some(Timestamp::from_datetime(parsed)))
}

/// `sso check-response`: prints the verdict; exits 1 when the Response would be refused.
async fn check_response(
    app: &App,
    org: &str,
    file: &Path,
    at: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let org = app.operations().find_org(org).await?;
    let value = response_value(file)?;
    let at = judged_at(at)?;
    let verdict = app
        .sso_sign_in()
        .check_sso_response_of(&org.org_id(), &value, at)
        .await?;
    if json {
        print_json(&serde_json::json!({
            "accepted": verdict.accepted,
            "reason": verdict.reason,
            "checks": verdict.checks,
            "subject": verdict.subject.as_ref().map(|s| serde_json::json!({
                "name_id": s.name_id,
                "email": s.email,
                "attributes": s.attributes.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            })),
            "certificate_sha256": verdict.certificate_sha256,
            "signature_algorithm": verdict.signature_algorithm,
            "flags": verdict.flags,
        }))?;
    } else {
        for c in &verdict.checks {
            println!(
                "{} {:<10} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.check,
                c.detail
            );
        }
        match &verdict.reason {
            None => println!(
                "Accepted: it would sign in {}.",
                verdict
                    .subject
                    .as_ref()
                    .and_then(|s| s.email.clone().or(s.name_id.clone()))
                    .unwrap_or_default()
            ),
            Some(code) => println!(
                "Refused ({code}): {}",
                verdict.reason_in_words.unwrap_or_default()
            ),
        }
    }
    if !verdict.accepted {
        std::process::exit(1);
    }
    Ok(())
}

/// `sso attempts`: the last 30 days' sign-in attempts, newest first.
async fn attempts(app: &App, org: &str, json: bool) -> anyhow::Result<()> {
    let org = app.operations().find_org(org).await?;
    let attempts = app.sso_sign_in().sso_attempts_of(&org.org_id()).await?;
    if json {
        let list: Vec<_> = attempts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id, "at": a.at.to_rfc3339(), "result": a.result,
                    "reason": a.reason, "name_id": a.name_id, "email": a.email,
                    "user_id": a.user_id, "certificate_sha256": a.certificate_sha256,
                    "signature_algorithm": a.signature_algorithm, "flags": a.flags,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "attempts": list }))?;
    } else if attempts.is_empty() {
        println!("No sign-in attempts in the last 30 days.");
    } else {
        for a in &attempts {
            println!(
                "{}  {:<9}  {:<32}  {}",
                a.at.to_rfc3339(),
                a.result,
                a.email.as_deref().or(a.name_id.as_deref()).unwrap_or("-"),
                a.reason.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
