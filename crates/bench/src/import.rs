//! Member import: runs the real `smartcore member import` as a child process on a generated
//! CSV and reports rows/s and that process's own peak resident memory, for a tenth of the rows
//! and for all of them, so that memory's independence of file size shows.

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
            let started = Instant::now();
            let (stdout, peak_kib, ok) = run_measured(&mut command(&[
                "member",
                "import",
                "--org",
                "Import Bench",
                "--csv",
                csv.to_str().unwrap_or_default(),
                "--json",
            ]))?;
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(ok, "import failed");
            let report: serde_json::Value = serde_json::from_slice(&stdout)?;
            anyhow::ensure!(
                report["written"].as_u64() == Some(n),
                "expected {n} rows written: {report}"
            );
            println!(
                "{:<11} {:>9} {:>9.2} {:>11.0} {:>14.1}",
                kind.label(),
                n,
                secs,
                n as f64 / secs,
                peak_kib as f64 / 1024.0
            );
        }
    }
    Ok(())
}
