//! Running the service and keeping its database: `serve`, `worker`, `migrate`, `backup`, `demo`.

use anyhow::Context;
use smartcore::config::Config;
use smartcore::demo;
use smartcore_app::App;
use std::path::Path;

/// `serve`: the web UI, the API and the background workers, until Ctrl-C or SIGTERM.
pub async fn serve(app: App, config: &Config, seed_demo: bool) -> anyhow::Result<()> {
    if seed_demo {
        let info = demo::seed(&app).await?;
        print_demo(&info, config);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    smartcore::serve(app, config, listener, smartcore::shutdown_signal()).await
}

/// `worker`: the background workers only, until Ctrl-C or SIGTERM.
pub async fn worker(app: App, config: Config) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(smartcore::run_workers(app, config, stopped));
    smartcore::shutdown_signal().await;
    let _ = stop.send(true);
    workers.await?;
    tracing::info!("stopped");
    Ok(())
}

/// `migrate`: the migrations were applied when the database was opened; say how many there are.
pub async fn migrate(app: &App) -> anyhow::Result<()> {
    let versions = app.operations().applied_migrations().await?;
    println!(
        "Database schema is up to date ({} migrations applied).",
        versions.len()
    );
    Ok(())
}

/// `backup FILE`: a consistent copy of the SQLite database.
pub async fn backup(app: &App, file: &Path) -> anyhow::Result<()> {
    app.operations().backup_to(file).await?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "Backed up the database to {} ({} KiB).",
        file.display(),
        size / 1024
    );
    Ok(())
}

/// `demo`: the demo organisation, and how to sign in.
pub async fn demo(app: &App, config: &Config) -> anyhow::Result<()> {
    let info = demo::seed(app).await?;
    print_demo(&info, config);
    Ok(())
}

fn print_demo(info: &demo::DemoInfo, config: &Config) {
    println!(
        "Demo organisation {} is ready ({} members).",
        info.org_name, info.members
    );
    println!("  Org id:    {}", info.org_id);
    println!(
        "  Open:      {}",
        smartcore_web::WebLinks::new(&config.public_url).sign_in()
    );
    println!("  E-mail:    {}", info.admin_email);
    println!("  Password:  {}", info.admin_password);
    println!(
        "  Operations team: {} with the same password.",
        info.staff_email
    );
}
