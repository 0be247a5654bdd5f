//! `workos-fake`: runs the WorkOS IT Contacts fake as its own process, for integration tests
//! that start our worker as a separate OS process and for benchmarks. Prints the base URL on
//! the first line of stdout, then serves until interrupted (Ctrl-C or SIGTERM).

use std::{io::Write, net::SocketAddr, time::Duration};

use clap::Parser;
use workos_fake::{FakeConfig, FakeWorkOs};

#[derive(Parser)]
#[command(
    version,
    about = "A local WorkOS IT Contacts API with faults on demand"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The bearer key the fake accepts.
    #[arg(long, env = "WORKOS_FAKE_API_KEY", default_value = "sk_test_fake")]
    api_key: String,
    /// Delay every API answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Serve at most this many API requests at once (the others queue).
    #[arg(long)]
    max_concurrency: Option<usize>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let fake = FakeWorkOs::start_with(FakeConfig {
        listen: args.listen,
        api_key: args.api_key,
        latency: Duration::from_millis(args.latency_ms),
        max_concurrency: args.max_concurrency,
    })
    .await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", fake.base_url())?;
    stdout.flush()?;
    wait_for_stop().await;
    fake.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop() {
    let _ = tokio::signal::ctrl_c().await;
}
