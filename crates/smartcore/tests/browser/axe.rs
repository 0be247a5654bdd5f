//! The automated accessibility check: axe-core (the npm package), installed at test time into
//! a folder outside the repository, injected into the page through WebDriver.
//!
//! `SMARTCORE_TEST_AXE_JS` may point at an `axe.min.js` already on disk.

use crate::driver::Browser;
use crate::support::in_ci;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const AXE_VERSION: &str = "4";

/// The source of axe.min.js, or `None` (after one line on stderr) when it cannot be had
/// outside CI.
pub fn axe_source() -> Option<String> {
    let path = match std::env::var_os("SMARTCORE_TEST_AXE_JS") {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = std::env::temp_dir().join("smartcore-axe-core");
            let js = dir.join("node_modules/axe-core/axe.min.js");
            // One npm install at a time: the tests of this binary run in parallel.
            static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
            if !js.is_file() {
                std::fs::create_dir_all(&dir).expect("create the axe-core folder");
                let installed = Command::new("npm")
                    .args([
                        "install",
                        "--no-save",
                        "--no-audit",
                        "--no-fund",
                        "--no-package-lock",
                        "--prefix",
                    ])
                    .arg(&dir)
                    .arg(format!("axe-core@{AXE_VERSION}"))
                    .status();
                if !installed.is_ok_and(|s| s.success()) || !js.is_file() {
                    if in_ci() {
                        panic!(
                            "axe-core could not be installed with npm into {}",
                            dir.display()
                        );
                    }
                    eprintln!(
                        "skipped: axe-core could not be installed with npm (is npm installed?)"
                    );
                    return None;
                }
            }
            js
        }
    };
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

/// Runs axe on the current page and returns its serious and critical violations, described.
pub async fn serious_violations(browser: &Browser, axe: &str) -> Vec<String> {
    if browser.js("return typeof window.axe === 'object'").await != Value::Bool(true) {
        browser
            .client
            .execute(axe, vec![])
            .await
            .expect("inject axe-core");
    }
    let result = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }))))
               .catch(e => done({ error: String(e) }));",
            vec![],
        )
        .await
        .expect("run axe-core");
    let Value::Array(violations) = result else {
        panic!("axe-core failed: {result}");
    };
    violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            )
        })
        .collect()
}
