//! `user`: people who can sign in or be picked as members; disabling and enabling them.

use super::{JsonFlag, print_json};
use clap::Subcommand;
use smartcore_app::App;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Without one, the user cannot sign in (but can be picked as a member).
        #[arg(long)]
        password: Option<String>,
        /// A member of the operations team.
        #[arg(long)]
        staff: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Disable a user: they can no longer sign in, their sessions end and their API tokens
    /// are revoked.
    Disable {
        /// The user's address.
        email: String,
    },
    /// Let a disabled user sign in again (revoked tokens stay revoked).
    Enable {
        /// The user's address.
        email: String,
    },
}

pub async fn run(app: &App, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            email,
            name,
            password,
            staff,
            out,
        } => {
            let user = app
                .accounts()
                .create_user(&email, name.as_deref(), password.as_deref(), staff)
                .await?;
            if out.json {
                print_json(&serde_json::json!({
                    "id": user.id, "email": user.email, "name": user.name, "is_staff": user.is_staff(),
                }))?;
            } else {
                println!("Created user {} <{}> ({}).", user.name, user.email, user.id);
            }
        }
        UserCommand::Disable { email } => disable(app, &email).await?,
        UserCommand::Enable { email } => {
            if app.accounts().enable_user(&email).await? {
                println!("Enabled {}: they can sign in again.", email.trim());
            } else {
                println!("{} is not disabled.", email.trim());
            }
        }
    }
    Ok(())
}

async fn disable(app: &App, email: &str) -> anyhow::Result<()> {
    let done = app.accounts().disable_user(email).await?;
    if done.changed {
        println!(
            "Disabled {}: sessions ended, {} API {} revoked.",
            email.trim(),
            done.tokens_revoked,
            if done.tokens_revoked == 1 {
                "token"
            } else {
                "tokens"
            }
        );
    } else {
        println!("{} was disabled already.", email.trim());
    }
    Ok(())
}
