//! `smartcore`: the sign-on settings service and its administration commands.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;
use smartcore::config::Config;
use smartcore::{demo, import};
use smartcore_app::{App, Operator};
use smartcore_domain::Role;
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

#[derive(Subcommand)]
enum SsoCommand {
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

#[derive(Subcommand)]
enum AlertsCommand {
    /// One certificate-expiry sweep now.
    RunOnce {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OpsCommand {
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

#[derive(Args)]
struct JsonFlag {
    /// Print the created object as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum OrgCommand {
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

#[derive(Subcommand)]
enum UserCommand {
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

#[derive(Subcommand)]
enum MemberCommand {
    /// Add a user to an organisation (or change their role).
    Add {
        /// Organisation id or exact name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "member", value_parser = ["admin", "member"])]
        role: String,
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
        #[arg(long, value_parser = ["admin", "member"])]
        role: String,
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
        #[arg(long, value_parser = ["admin", "member"])]
        role: String,
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

#[derive(Subcommand)]
enum TokenCommand {
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

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
    let app = smartcore::open(&config).await?;
    match cli.command {
        Command::Serve {
            demo: seed_demo, ..
        } => {
            if seed_demo {
                let info = demo::seed(&app).await?;
                print_demo(&info, &config);
            }
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            smartcore::serve(app, &config, listener, smartcore::shutdown_signal()).await?;
        }
        Command::Worker => {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let workers = tokio::spawn(smartcore::run_workers(app, config.clone(), stopped));
            smartcore::shutdown_signal().await;
            let _ = stop.send(true);
            workers.await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let versions = app.operations().applied_migrations().await?;
            println!(
                "Database schema is up to date ({} migrations applied).",
                versions.len()
            );
        }
        Command::Backup { file } => {
            app.operations().backup_to(&file).await?;
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            println!(
                "Backed up the database to {} ({} KiB).",
                file.display(),
                size / 1024
            );
        }
        Command::Demo => {
            let info = demo::seed(&app).await?;
            print_demo(&info, &config);
        }
        Command::Org(OrgCommand::Create { name, out }) => {
            let org = app.operations().create_org(&name).await?;
            if out.json {
                print_json(&serde_json::json!({ "id": org.id, "name": org.name }))?;
            } else {
                println!("Created organisation {} ({}).", org.name, org.id);
            }
        }
        Command::Org(OrgCommand::List { json }) => {
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
        }
        Command::Org(OrgCommand::LinkIdentity {
            org,
            identity_org_id,
        }) => {
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
        Command::User(UserCommand::Create {
            email,
            name,
            password,
            staff,
            out,
        }) => {
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
        Command::Member(MemberCommand::Add {
            org,
            email,
            role,
            out,
        }) => {
            let org = app.operations().find_org(&org).await?;
            let role = Role::parse(&role).context("the role must be admin or member")?;
            let user = app.operations().add_member(&org, &email, role).await?;
            if out.json {
                print_json(&serde_json::json!({
                    "org_id": org.id, "user_id": user.id, "email": user.email, "role": role.as_str(),
                }))?;
            } else {
                println!(
                    "{} is now a{} {} of {}.",
                    user.email,
                    if role == Role::Admin { "n" } else { "" },
                    role.as_str(),
                    org.name
                );
            }
        }
        Command::Member(MemberCommand::Invite {
            org,
            email,
            role,
            out,
        }) => {
            let org = app.operations().find_org(&org).await?;
            let role = Role::parse(&role).context("the role must be admin or member")?;
            let sent = app.members().invite_from_cli(&org, &email, role).await?;
            if out.json {
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
                    if role == Role::Admin { "n" } else { "" },
                    role.as_str(),
                    sent.invitation.id,
                    sent.invitation.expires_at.to_rfc3339(),
                    match sent.mail {
                        smartcore_app::MailStatus::Sent => "",
                        _ => " The mail could not be sent now: resend it later.",
                    }
                );
            }
        }
        Command::Member(MemberCommand::SetRole { org, email, role }) => {
            let org = app.operations().find_org(&org).await?;
            let role = Role::parse(&role).context("the role must be admin or member")?;
            match app.members().set_role_by_email(&org, &email, role).await? {
                Some(before) => println!(
                    "{} is now a{} {} of {} (was {}).",
                    before.email,
                    if role == Role::Admin { "n" } else { "" },
                    role.as_str(),
                    org.name,
                    before.role.as_str()
                ),
                None => println!(
                    "{email} is a{} {} of {} already; nothing changed.",
                    if role == Role::Admin { "n" } else { "" },
                    role.as_str(),
                    org.name
                ),
            }
        }
        Command::Member(MemberCommand::Remove { org, email }) => {
            let org = app.operations().find_org(&org).await?;
            let removed = app.members().remove_by_email(&org, &email).await?;
            println!("{} is no longer a member of {}.", removed.email, org.name);
        }
        Command::Member(MemberCommand::Import { org, csv, json }) => {
            import_members(&app, &org, &csv, json).await?
        }
        Command::Alerts(AlertsCommand::RunOnce { json }) => {
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
        }
        Command::Sso(command) => sso_command(&app, command).await?,
        Command::Ops(OpsCommand::Removals { json }) => {
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
        }
        Command::Ops(OpsCommand::CompleteRemoval { id, by_hand }) => {
            let done = app
                .operations()
                .complete_removal(Operator::Cli, id.trim(), by_hand)
                .await
                .map_err(|e| match e {
                    smartcore_app::AppError::NotFound => {
                        anyhow::anyhow!("No identity-side removal {} was found.", id.trim())
                    }
                    e => e.into(),
                })?;
            println!(
                "Removal {} of {} completed ({}).",
                done.id,
                done.email,
                done.outcome.as_deref().unwrap_or("done")
            );
        }
        Command::Ops(OpsCommand::Drift { json }) => {
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
        }
        Command::Token(TokenCommand::Create {
            email,
            name,
            expires_in_days,
            out,
        }) => {
            let created = app
                .accounts()
                .create_token_for(&email, &name, expires_in_days)
                .await?;
            if out.json {
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
        }
        Command::Token(TokenCommand::List { email, json }) => {
            let tokens = app.accounts().tokens_of(&email).await?;
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
                let short = |t: smartcore_domain::Timestamp| {
                    let s = t.to_rfc3339();
                    s.get(..16).unwrap_or(&s).replace('T', " ")
                };
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
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            app.accounts().revoke_token_by_id(&id).await?;
            println!("Revoked API token {}.", id.trim());
        }
        Command::User(UserCommand::Disable { email }) => {
            let done = app.accounts().disable_user(&email).await?;
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
        }
        Command::User(UserCommand::Enable { email }) => {
            if app.accounts().enable_user(&email).await? {
                println!("Enabled {}: they can sign in again.", email.trim());
            } else {
                println!("{} is not disabled.", email.trim());
            }
        }
    }
    Ok(())
}

fn print_demo(info: &demo::DemoInfo, config: &Config) {
    println!(
        "Demo organisation {} is ready ({} members).",
        info.org_name, info.members
    );
    println!("  Org id:    {}", info.org_id);
    println!("  Open:      {}/sign-in", config.public_url);
    println!("  E-mail:    {}", info.admin_email);
    println!("  Password:  {}", info.admin_password);
    println!(
        "  Operations team: {} with the same password.",
        info.staff_email
    );
}

async fn sso_command(app: &App, command: SsoCommand) -> anyhow::Result<()> {
    use base64::Engine as _;
    match command {
        SsoCommand::CheckResponse {
            org,
            file,
            at,
            json,
        } => {
            let org = app.operations().find_org(&org).await?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let text = text.trim();
            // XML as saved from a tracer's decoded view, or the posted base64 value.
            let value = if text.starts_with('<') {
                base64::engine::general_purpose::STANDARD.encode(text)
            } else {
                text.to_string()
            };
            let at = match at {
                None => None,
                Some(at) => Some(smartcore_domain::Timestamp::from_datetime(
                    time::OffsetDateTime::parse(
                        at.trim(),
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| {
                        anyhow::anyhow!("--at {at:?}: give RFC 3339, like 2026-12-03T08:00:00Z")
                    })?,
                )),
            };
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
                match verdict.reason {
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
        }
        SsoCommand::Attempts { org, json } => {
            let org = app.operations().find_org(&org).await?;
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
        }
    }
    Ok(())
}

async fn import_members(app: &App, org: &str, path: &PathBuf, json: bool) -> anyhow::Result<()> {
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
