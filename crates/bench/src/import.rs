//! Member import: runs the real `smartcore member import` as a child process on a generated
//! CSV and reports rows/s and that process's own peak resident memory, for a tenth of the rows
//! and for all of them, so that memory's independence of file size shows. Meanwhile this
//! process searches the organisation being imported (the picker's search, through the store,
//! the benchmark's mix of queries one after another, 20 ms apart) and reports those searches'
//! latencies: search keeps answering during an import.

use crate::db;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

fn write_csv(path: &std::path::Path, rows: u64) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "name,email,role")?;
    for i in 0..rows {
        writeln!(
            w,
            "Member {i:06},member{i}@import.example,{}",
            if i % 50 == 0 { "admin" } else { "member" }
        )?;
    }
    w.flush()?;
    Ok(())
}

/// Runs a command to completion; returns its stdout and its own peak RSS in KiB (wait4).
fn run_measured(cmd: &mut Command) -> anyhow::Result<(Vec<u8>, i64, bool)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)?;
    }
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unreaped child; status and usage are owned out-parameters.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(pid > 0, "wait4 failed");
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((stdout, usage.ru_maxrss, success))
}

pub fn smartcore_binary() -> anyhow::Result<std::path::PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("smartcore");
    anyhow::ensure!(
        bin.exists(),
        "build the service first: cargo build --release -p smartcore ({} missing)",
        bin.display()
    );
    Ok(bin)
}

pub async fn run(rows: u64) -> anyhow::Result<()> {
    let bin = smartcore_binary()?;
    let dir = db::temp_dir("csv");
    println!(
        "member import ({}), each run on a fresh database",
        bin.display()
    );
    println!(
        "{:<11} {:>9} {:>9} {:>11} {:>14}",
        "database", "rows", "seconds", "rows/s", "peak RSS MiB"
    );
    for kind in db::kinds().await {
        for n in [rows / 10, rows] {
            let database = db::fresh(kind).await?;
            let csv = dir.0.join(format!("members-{n}.csv"));
            if !csv.exists() {
                write_csv(&csv, n)?;
            }
            let command = |args: &[&str]| {
                let mut c = Command::new(&bin);
                c.args(args)
                    .env("SMARTCORE_DATABASE_URL", &database.url)
                    .env("RUST_LOG", "warn");
                c
            };
            // Only `migrate` creates a database (the CLI refuses to start on a missing one).
            let (_, _, ok) = run_measured(&mut command(&["migrate"]))?;
            anyhow::ensure!(ok, "migrate failed");
            let (_, _, ok) =
                run_measured(&mut command(&["org", "create", "--name", "Import Bench"]))?;
            anyhow::ensure!(ok, "org create failed");
            let store = smartcore_storage::Store::connect(&database.url).await?;
            let org = store.org_by_name("Import Bench").await?;
            let org = smartcore_domain::OrgId::parse(&org.id)
                .ok_or_else(|| anyhow::anyhow!("the organisation's id"))?;
            let importing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            let searcher = tokio::spawn(search_meanwhile(store, org, importing.clone()));
            let started = Instant::now();
            let mut import = command(&[
                "member",
                "import",
                "--org",
                "Import Bench",
                "--csv",
                csv.to_str().unwrap_or_default(),
                "--json",
            ]);
            let measured = tokio::task::spawn_blocking(move || run_measured(&mut import)).await?;
            let secs = started.elapsed().as_secs_f64();
            importing.store(false, std::sync::atomic::Ordering::Relaxed);
            let (mut searches, failed) = searcher.await?;
            let (stdout, peak_kib, ok) = measured?;
            anyhow::ensure!(ok, "import failed");
            let report: serde_json::Value = serde_json::from_slice(&stdout)?;
            anyhow::ensure!(
                report["written"].as_u64() == Some(n),
                "expected {n} rows written: {report}"
            );
            searches.sort_unstable();
            println!(
                "{:<11} {:>9} {:>9.2} {:>11.0} {:>14.1}   searches meanwhile: {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, failed {failed}",
                kind.label(),
                n,
                secs,
                n as f64 / secs,
                peak_kib as f64 / 1024.0,
                searches.len(),
                crate::search::percentile(&searches, 50.0),
                crate::search::percentile(&searches, 99.0),
                crate::search::percentile(&searches, 100.0),
            );
        }
    }
    Ok(())
}

/// Searches the organisation under import until told to stop: each search's time in
/// microseconds, and how many failed.
async fn search_meanwhile(
    store: smartcore_storage::Store,
    org: smartcore_domain::OrgId,
    importing: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Vec<u128>, u64) {
    let mut times = Vec::new();
    let mut failed = 0;
    let mut i = 0;
    while importing.load(std::sync::atomic::Ordering::Relaxed) {
        let q = crate::search::WORDS[i % crate::search::WORDS.len()];
        i += 1;
        let started = Instant::now();
        match store
            .search_members(&org, q, 20, smartcore_app::SEARCH_COUNT_CAP)
            .await
        {
            Ok(_) => times.push(started.elapsed().as_micros()),
            Err(_) => failed += 1,
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (times, failed)
}
