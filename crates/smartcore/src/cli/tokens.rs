//! `token`: API tokens: creating one (its secret printed once), listing and revoking them.

use super::{JsonFlag, print_json};
use clap::Subcommand;
use smartcore_app::{App, no_such_token};
use smartcore_domain::{Timestamp, TokenId};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token acting as the user with this address; prints its secret, once.
    Create {
        /// The address of the user the token acts as.
        #[arg(long)]
        email: String,
        /// What the token is for (1–100 characters), shown in listings.
        #[arg(long, default_value = "CLI token")]
        name: String,
        /// The token stops working after this many days (1–3650); without it, after
        /// SMARTCORE_TOKEN_DEFAULT_DAYS (90).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List a user's API tokens (never their secrets).
    List {
        /// The address of the user whose tokens to list.
        #[arg(long)]
        email: String,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token: refused at once, within 2 seconds by running instances.
    Revoke {
        /// The token's id (tok_…), from `token list`.
        id: String,
    },
}

pub async fn run(app: &App, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            email,
            name,
            expires_in_days,
            out,
        } => create(app, &email, &name, expires_in_days, out.json).await,
        TokenCommand::List { email, json } => list(app, &email, json).await,
        TokenCommand::Revoke { id } => {
            let id = id.trim();
            let token = TokenId::parse(id).ok_or_else(|| no_such_token(id))?;
            app.accounts().revoke_token_by_id(&token).await?;
            println!("Revoked API token {id}.");
            Ok(())
        }
    }
}

async fn create(
    app: &App,
    email: &str,
    name: &str,
    expires_in_days: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    let created = app
        .accounts()
        .create_token_for(email, name, expires_in_days)
        .await?;
    if json {
        print_json(&serde_json::json!({
            "id": created.info.id,
            "name": created.info.name,
            "token": created.token,
            "created_at": created.info.created_at.to_rfc3339(),
            "expires_at": created.info.expires_at.map(|e| e.to_rfc3339()),
        }))?;
    } else {
        println!("{}", created.token);
    }
    Ok(())
}

async fn list(app: &App, email: &str, json: bool) -> anyhow::Result<()> {
    let tokens = app.accounts().tokens_of(email).await?;
    let now = app.now();
    if json {
        let tokens: Vec<_> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id,
                    "name": t.name,
                    "created_at": t.created_at.to_rfc3339(),
                    "last_used_at": t.last_used_at.map(|e| e.to_rfc3339()),
                    "expires_at": t.expires_at.map(|e| e.to_rfc3339()),
                    "expired": t.expired(now),
                })
            })
            .collect();
        print_json(&serde_json::json!({ "tokens": tokens }))?;
    } else if tokens.is_empty() {
        println!("{} has no API tokens.", email.trim());
    } else {
        println!(
            "{:<36} {:<24} {:<20} {:<20} expires",
            "id", "name", "created", "last used"
        );
        for t in &tokens {
            println!(
                "{:<36} {:<24} {:<20} {:<20} {}{}",
                t.id,
                t.name,
                short(t.created_at),
                t.last_used_at.map_or_else(|| "never".to_owned(), short),
                t.expires_at.map_or_else(|| "never".to_owned(), short),
                if t.expired(now) { " (expired)" } else { "" }
            );
        }
    }
    Ok(())
}

/// A time to the minute, as the listing shows it: `2026-12-03 08:00`.
fn short(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(..16).unwrap_or(&s).replace('T', " ")
}
