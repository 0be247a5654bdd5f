//! `smartcore`: the sign-on settings service and its administration commands.

mod cli;

use anyhow::bail;
use clap::{Parser, Subcommand};
use cli::alerts::AlertsCommand;
use cli::members::MemberCommand;
use cli::ops::OpsCommand;
use cli::org::OrgCommand;
use cli::sso::SsoCommand;
use cli::tokens::TokenCommand;
use cli::users::UserCommand;
use secrecy::ExposeSecret;
use smartcore::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "smartcore",
    version,
    about = "Smart Core Connect sign-on settings: IT contacts, domains and SSO"
)]
struct Cli {
    /// A TOML file with configuration keys (environment variables win over it).
    #[arg(long, global = true, env = "SMARTCORE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database to use, sqlite://PATH or postgres://… (overrides SMARTCORE_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the API, and run the background workers, in one process.
    Serve {
        /// The address to listen on, e.g. 127.0.0.1:8080 or localhost:8080 (overrides
        /// SMARTCORE_LISTEN).
        #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
        listen: Option<SocketAddr>,
        /// Seed the demo organisation first (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Run the background workers only, for extra instances.
    Worker,
    /// Create or upgrade the database schema.
    Migrate,
    /// Write a consistent copy of the SQLite database to FILE while the service runs (SQLite's
    /// VACUUM INTO); restore by stopping the service and putting the copy in the database's
    /// place. For PostgreSQL, use pg_dump.
    Backup {
        /// Where to write the copy; it must not exist yet.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Seed a demo organisation and print how to sign in.
    Demo,
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// People who can sign in or be picked as members.
    #[command(subcommand)]
    User(UserCommand),
    /// Memberships of organisations.
    #[command(subcommand)]
    Member(MemberCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Certificate-expiry alerts.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// The operations team's tools: identity-side removals and drift.
    #[command(subcommand)]
    Ops(OpsCommand),
    /// Signing in with SSO: check a captured Response, list sign-in attempts.
    #[command(subcommand)]
    Sso(SsoCommand),
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    smartcore::config::resolve_listen(value)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. } | Command::Worker);
    init_logging(if serving { "info" } else { "warn" });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},sqlx=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("SMARTCORE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs one command: the configuration for it, the use cases, then the command's module.
async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = configuration(&cli)?;
    let app = smartcore::open(&config).await?;
    match cli.command {
        Command::Serve { demo, .. } => cli::service::serve(app, &config, demo).await,
        Command::Worker => cli::service::worker(app, config).await,
        Command::Migrate => cli::service::migrate(&app).await,
        Command::Backup { file } => cli::service::backup(&app, &file).await,
        Command::Demo => cli::service::demo(&app, &config).await,
        Command::Org(command) => cli::org::run(&app, command).await,
        Command::User(command) => cli::users::run(&app, command).await,
        Command::Member(command) => cli::members::run(&app, command).await,
        Command::Token(command) => cli::tokens::run(&app, command).await,
        Command::Alerts(command) => cli::alerts::run(&app, command).await,
        Command::Ops(command) => cli::ops::run(&app, command).await,
        Command::Sso(command) => cli::sso::run(&app, command).await,
    }
}

/// The configuration with the command line's overrides (`--database-url`, `serve --listen`);
/// refuses to create a new SQLite database for a command that does not set a service up.
fn configuration(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database_url {
        if smartcore_storage::Dialect::of_url(url).is_none() {
            bail!("--database-url: {url:?} is neither sqlite://… nor postgres://…");
        }
        config.database_url = url.clone().into();
    }
    // Only the commands that set a service up may create a new SQLite database; the others
    // would otherwise work on an empty one and the operator would not notice.
    let may_create = matches!(
        cli.command,
        Command::Serve { .. } | Command::Migrate | Command::Demo
    );
    if !may_create
        && let Some(file) =
            smartcore_storage::sqlite_file_of_url(config.database_url.expose_secret())
        && !file.exists()
    {
        let shown = if file.is_absolute() || file.starts_with(".") {
            file.display().to_string()
        } else {
            format!("./{}", file.display())
        };
        bail!(
            "there is no database at {shown} (SMARTCORE_DATABASE_URL or --database-url); \
             run 'smartcore migrate' or 'smartcore serve' first, or point to the existing database"
        );
    }
    if let Command::Serve {
        listen: Some(addr), ..
    } = &cli.command
    {
        config.listen = *addr;
    }
    Ok(config)
}
