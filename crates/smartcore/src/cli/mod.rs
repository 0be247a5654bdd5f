//! The administration commands, one module per family: what each one asks the use cases, and
//! how it prints the answer (plain lines, or JSON with `--json`).

pub mod alerts;
pub mod members;
pub mod ops;
pub mod org;
pub mod service;
pub mod sso;
pub mod tokens;
pub mod users;

use clap::Args;
use smartcore_domain::Role;

#[derive(Args)]
pub struct JsonFlag {
    /// Print the created object as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The article's ending before a role: "a{n} admin", "a member".
pub fn an(role: Role) -> &'static str {
    if role == Role::Admin { "n" } else { "" }
}
