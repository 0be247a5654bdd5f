//! A browser session leaves nothing on disk: its profile and the temporary files of
//! chromedriver and Chromium are in one folder of its own, removed when the session ends,
//! after a test that passed and after one that panicked.

use crate::Scene;
use std::path::{Path, PathBuf};

/// The names of Chromium's temporary files in `dir` (its socket folders
/// `org.chromium.Chromium.*` and shared-memory files `.org.chromium.Chromium.*`).
fn chromium_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.trim_start_matches('.')
                .starts_with("org.chromium.Chromium.")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_session_removes_its_files_whether_its_test_passes_or_panics() {
    let Some((scene, browser)) = Scene::with_browser(&[]).await else {
        return;
    };
    browser.goto("/sign-in").await;
    let passed: PathBuf = browser.session_dir().to_owned();
    let tmp = passed.join("tmp");
    let made = chromium_files(&tmp);
    assert!(
        !made.is_empty(),
        "Chromium made its temporary files in the session's TMPDIR {}",
        tmp.display()
    );
    browser.close().await;
    assert!(
        !passed.exists(),
        "{} left after a passing test",
        passed.display()
    );

    let Some(browser) = crate::driver::Browser::start(&scene.app).await else {
        return;
    };
    browser.goto("/sign-in").await;
    let panicked = browser.session_dir().to_owned();
    assert!(!chromium_files(&panicked.join("tmp")).is_empty());
    // A test panicking with the browser in hand (on this thread, so that the harness captures
    // the panic's message like any failing test's).
    let failing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _browser = browser;
        panic!("a failing browser test (on purpose: its session must still be cleaned up)");
    }));
    assert!(failing.is_err(), "the test panicked");
    assert!(
        !panicked.exists(),
        "{} left after a panicking test",
        panicked.display()
    );
}
