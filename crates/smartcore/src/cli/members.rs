//! `member`: memberships of organisations: adding, inviting, changing roles, removing and
//! importing members from CSV.

use super::{JsonFlag, an, print_json};
use anyhow::{Context, bail};
use clap::Subcommand;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use smartcore::import;
use smartcore_app::{App, MailStatus};
use smartcore_domain::Role;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum MemberCommand {
    /// Add a user to an organisation (or change their role).
    Add {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "member", value_parser = role_arg())]
        role: Role,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Invite an address to join an organisation: mails a single-use link, valid 7 days.
    Invite {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = role_arg())]
        role: Role,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a member's role (the last administrator cannot be demoted).
    SetRole {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = role_arg())]
        role: Role,
    },
    /// Remove a member from an organisation (never the last administrator); an IT contact
    /// picked from them stays.
    Remove {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
    },
    /// Import members from a CSV file of name,email[,role] rows (idempotent).
    Import {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add {
            org,
            email,
            role,
            out,
        } => add(app, &org, &email, role, out.json).await,
        MemberCommand::Invite {
            org,
            email,
            role,
            out,
        } => invite(app, &org, &email, role, out.json).await,
        MemberCommand::SetRole { org, email, role } => set_role(app, &org, &email, role).await,
        MemberCommand::Remove { org, email } => {
            let org = app.operations().find_org(&org).await?;
            let removed = app.members().remove_by_email(&org, &email).await?;
            println!("{} is no longer a member of {}.", removed.email, org.name);
            Ok(())
        }
        MemberCommand::Import { org, csv, json } => import_members(app, &org, &csv, json).await,
    }
}

/// `--role`: `admin` or `member` (clap refuses anything else and lists them), read into the
/// role through its one mapping.
fn role_arg() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.iter().map(|r| r.as_str()))
        .try_map(|text| text.parse::<Role>())
}

async fn add(app: &App, org: &str, email: &str, role: Role, json: bool) -> anyhow::Result<()> {
    let org = app.operations().find_org(org).await?;
    let user = app.operations().add_member(&org, email, role).await?;
    if json {
        print_json(&serde_json::json!({
            "org_id": org.id, "user_id": user.id, "email": user.email, "role": role.as_str(),
        }))?;
    } else {
        println!(
            "{} is now a{} {} of {}.",
            user.email,
            an(role),
            role.as_str(),
            org.name
        );
    }
    Ok(())
}

async fn invite(app: &App, org: &str, email: &str, role: Role, json: bool) -> anyhow::Result<()> {
    let org = app.operations().find_org(org).await?;
    let sent = app.members().invite_from_cli(&org, email, role).await?;
    if json {
        print_json(&serde_json::json!({
            "id": sent.invitation.id, "org_id": org.id, "email": sent.invitation.email,
            "role": role.as_str(), "expires_at": sent.invitation.expires_at.to_rfc3339(),
            "mail": sent.mail,
        }))?;
    } else {
        println!(
            "Invited {} to {} as a{} {} ({}); the link is valid until {}.{}",
            sent.invitation.email,
            org.name,
            an(role),
            role.as_str(),
            sent.invitation.id,
            sent.invitation.expires_at.to_rfc3339(),
            match sent.mail {
                MailStatus::Sent => "",
                _ => " The mail could not be sent now: resend it later.",
            }
        );
    }
    Ok(())
}

async fn set_role(app: &App, org: &str, email: &str, role: Role) -> anyhow::Result<()> {
    let org = app.operations().find_org(org).await?;
    match app.members().set_role_by_email(&org, email, role).await? {
        Some(before) => println!(
            "{} is now a{} {} of {} (was {}).",
            before.email,
            an(role),
            role.as_str(),
            org.name,
            before.role.as_str()
        ),
        None => println!(
            "{email} is a{} {} of {} already; nothing changed.",
            an(role),
            role.as_str(),
            org.name
        ),
    }
    Ok(())
}

/// `member import`: the CSV file read with a progress bar (on a terminal), then the report.
async fn import_members(app: &App, org: &str, path: &Path, json: bool) -> anyhow::Result<()> {
    let org = app.operations().find_org(org).await?;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(size)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let reader = std::io::BufReader::with_capacity(256 * 1024, bar.wrap_read(file));
    let started = std::time::Instant::now();
    let report = app
        .operations()
        .import_members(&org, import::rows(reader), |rows| {
            bar.set_message(format!("{rows} rows"))
        })
        .await?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    if json {
        print_json(&report)?;
    } else {
        println!(
            "Imported into {}: {} rows read, {} written, {} unchanged, {} rejected ({:.1} s, {:.0} rows/s).",
            org.name,
            report.rows_read,
            report.written,
            report.unchanged,
            report.rejected,
            elapsed.as_secs_f64(),
            report.rows_read as f64 / elapsed.as_secs_f64().max(1e-9),
        );
        for (line, reason) in &report.rejections {
            println!("  line {line}: {reason}");
        }
        if report.rejected as usize > report.rejections.len() {
            println!(
                "  … and {} more rejected rows.",
                report.rejected as usize - report.rejections.len()
            );
        }
    }
    if report.rows_read > 0 && report.rejected == report.rows_read {
        bail!("no row of {} could be imported", path.display());
    }
    Ok(())
}
