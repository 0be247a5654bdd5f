//! `ops`: the operations team's tools: identity-side removals and drift.

use super::print_json;
use clap::Subcommand;
use smartcore_app::{App, AppError, Operator};
use smartcore_domain::RemovalId;

#[derive(Subcommand)]
pub enum OpsCommand {
    /// Pending identity-side removals, oldest first.
    Removals {
        #[arg(long)]
        json: bool,
    },
    /// Complete a removal: delete the contact on the identity side (or, with --by-hand,
    /// record that it was removed there by hand).
    CompleteRemoval {
        /// The removal's id (rmv_…).
        id: String,
        #[arg(long)]
        by_hand: bool,
    },
    /// Contacts on the identity side unknown here, or synced here and missing there.
    Drift {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, command: OpsCommand) -> anyhow::Result<()> {
    match command {
        OpsCommand::Removals { json } => removals(app, json).await,
        OpsCommand::CompleteRemoval { id, by_hand } => complete_removal(app, &id, by_hand).await,
        OpsCommand::Drift { json } => drift(app, json).await,
    }
}

async fn removals(app: &App, json: bool) -> anyhow::Result<()> {
    let removals = app.operations().pending_removals(Operator::Cli).await?;
    if json {
        print_json(&serde_json::json!({ "removals": removals }))?;
    } else if removals.is_empty() {
        println!("No identity-side removals are pending.");
    } else {
        println!(
            "{:<36} {:<36} {:<32} requested",
            "id", "organisation", "e-mail"
        );
        for r in &removals {
            println!(
                "{:<36} {:<36} {:<32} {} by {}",
                r.id, r.org_id, r.email, r.requested_at, r.requested_by
            );
        }
    }
    Ok(())
}

async fn complete_removal(app: &App, id: &str, by_hand: bool) -> anyhow::Result<()> {
    let id = id.trim();
    // An id that is not a removal's names none: answered as an unknown one.
    let removal = RemovalId::parse_or_unmatched(id);
    let done = app
        .operations()
        .complete_removal(Operator::Cli, &removal, by_hand)
        .await
        .map_err(|e| match e {
            AppError::NotFound => anyhow::anyhow!("No identity-side removal {id} was found."),
            e => e.into(),
        })?;
    println!(
        "Removal {} of {} completed ({}).",
        done.id,
        done.email,
        done.outcome.map_or("done", |o| o.as_str())
    );
    Ok(())
}

async fn drift(app: &App, json: bool) -> anyhow::Result<()> {
    let drift = app.operations().drift(Operator::Cli).await?;
    if json {
        print_json(&drift)?;
    } else if drift.entries.is_empty() {
        println!(
            "No drift: {} linked organisations match the identity side.",
            drift.checked_orgs
        );
    } else {
        for e in &drift.entries {
            println!(
                "{:<14} {:<24} {:<32} {}",
                e.kind, e.org_name, e.email, e.identity_contact_id
            );
        }
    }
    Ok(())
}
