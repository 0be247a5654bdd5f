//! The Nu HTML Checker (the npm package `vnu-jar`, run with Java) over the pages the browser
//! tests saved and the mail bodies of the outbox: zero errors.
//!
//! `SMARTCORE_TEST_VNU_JAR` may point at a `vnu.jar` already on disk; otherwise it is installed
//! with npm into `$TMPDIR/smartcore-vnu`. Without Java (or npm) the check prints one line and
//! is skipped on a developer's machine; under CI (`CI=true`) that fails instead.

use crate::support::in_ci;
use std::path::{Path, PathBuf};
use std::process::Command;

fn skip(why: &str) -> Option<PathBuf> {
    if in_ci() {
        panic!("the Nu HTML Checker is required in CI: {why}");
    }
    eprintln!("skipped: the Nu HTML Checker: {why}");
    None
}

/// The checker's jar, or `None` (after one line on stderr) outside CI when it cannot be had.
pub fn vnu_jar() -> Option<PathBuf> {
    if !Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return skip("no Java runtime (apt-get install default-jre-headless)");
    }
    if let Some(p) = std::env::var_os("SMARTCORE_TEST_VNU_JAR") {
        return Some(PathBuf::from(p));
    }
    let dir = std::env::temp_dir().join("smartcore-vnu");
    let jar = dir.join("node_modules/vnu-jar/build/dist/vnu.jar");
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !jar.is_file() {
        std::fs::create_dir_all(&dir).expect("create the vnu folder");
        let installed = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--no-package-lock",
                "--ignore-scripts",
                "--prefix",
            ])
            .arg(&dir)
            .arg("vnu-jar")
            .status();
        if !installed.is_ok_and(|s| s.success()) || !jar.is_file() {
            return skip("vnu-jar could not be installed with npm");
        }
    }
    Some(jar)
}

/// The checker's errors about `files` (empty: valid).
pub fn errors(jar: &Path, files: &[PathBuf]) -> Vec<String> {
    if files.is_empty() {
        return Vec::new();
    }
    let out = Command::new("java")
        .arg("-jar")
        .arg(jar)
        .arg("--errors-only")
        .args(files)
        .output()
        .expect("run the Nu HTML Checker");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}
