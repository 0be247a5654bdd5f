//! `alerts`: the certificate-expiry sweep on demand.

use super::print_json;
use clap::Subcommand;
use smartcore_app::App;

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// One certificate-expiry sweep now.
    RunOnce {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, command: AlertsCommand) -> anyhow::Result<()> {
    let AlertsCommand::RunOnce { json } = command;
    let report = app.trust().run_certificate_sweep().await?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "Certificate alerts: {} certificates due, {} reminders queued, {} sent, {} failed (retried later, with backoff), {} rejected by the mail server, {} queued earlier.",
            report.certificates,
            report.queued,
            report.sent,
            report.failed,
            report.rejected,
            report.already_handled
        );
        if report.mail_unavailable {
            println!(
                "The mail server kept failing, so the sweep stopped early; the next one goes on."
            );
        }
    }
    Ok(())
}
