//! `org`: creating, listing and linking organisations.

use super::{JsonFlag, print_json};
use clap::Subcommand;
use smartcore_app::App;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List every organisation with its id, by name.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Link an organisation to its organisation id on the identity side (WorkOS).
    LinkIdentity {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long, value_name = "ID")]
        identity_org_id: String,
    },
}

pub async fn run(app: &App, command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create { name, out } => {
            let org = app.operations().create_org(&name).await?;
            if out.json {
                print_json(&serde_json::json!({ "id": org.id, "name": org.name }))?;
            } else {
                println!("Created organisation {} ({}).", org.name, org.id);
            }
        }
        OrgCommand::List { json } => list(app, json).await?,
        OrgCommand::LinkIdentity {
            org,
            identity_org_id,
        } => {
            let org = app.operations().find_org(&org).await?;
            app.operations()
                .link_identity(&org, &identity_org_id)
                .await?;
            println!(
                "Linked {} to the identity-side organisation {}.",
                org.name,
                identity_org_id.trim()
            );
        }
    }
    Ok(())
}

async fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let orgs = app.operations().all_orgs().await?;
    if json {
        let orgs: Vec<_> = orgs
            .iter()
            .map(|o| serde_json::json!({ "id": o.id, "name": o.name }))
            .collect();
        print_json(&serde_json::json!({ "orgs": orgs }))?;
    } else if orgs.is_empty() {
        println!("There are no organisations yet.");
    } else {
        println!("{:<36} name", "id");
        for o in &orgs {
            println!("{:<36} {}", o.id, o.name);
        }
    }
    Ok(())
}
