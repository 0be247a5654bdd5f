//! A real headless Chromium for one test: its own chromedriver on a free 127.0.0.1 port, its
//! own fresh profile folder, driven over WebDriver (fantoccini, plain HTTP, no TLS stack).
//!
//! Everything the session writes to disk lives in one folder the session owns and removes when
//! it ends (passed or panicked): the profile, and the temporary files chromedriver and Chromium
//! make (`TMPDIR` for both: Chromium's `org.chromium.Chromium.*` socket folders and, with
//! `--disable-dev-shm-usage`, its `.org.chromium.Chromium.*` shared-memory files). A Chromium
//! ended with SIGKILL removes none of them itself, so without this they piled up in /tmp.
//!
//! That folder's path must stay short: Chromium puts its single-instance socket at
//! `$TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`, a Unix socket path is at most 107
//! bytes, and with a longer `TMPDIR` Chromium aborts at start ("Socket path too long",
//! process_singleton_posix.cc) and chromedriver reports only that Chrome failed to start. The
//! test harness's usual folder names (`smartcore-LABEL-PID-N-UUID`) are too long for it.
//!
//! Without Chromium and ChromeDriver the tests print one line and skip on a developer's
//! machine; under CI (`CI=true`) a missing browser fails them.

use crate::support::{TestApp, in_ci};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest `TMPDIR` Chromium can start with: its socket's path
/// (`TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`, 45 bytes more) must fit the 107
/// bytes of a Unix socket path.
const MAX_CHROMIUM_TMPDIR: usize = 107 - 45;

pub const PASSWORD: &str = "a long enough password";

pub mod keys {
    pub const TAB: &str = "\u{e004}";
    pub const ENTER: &str = "\u{e007}";
    pub const SHIFT_TAB: &str = "\u{e008}\u{e004}";
    pub const ESCAPE: &str = "\u{e00c}";
}

pub struct Browser {
    pub client: Client,
    pub base_url: String,
    driver: Child,
    /// The session's folder: the profile (`profile/`) and every temporary file of chromedriver
    /// and Chromium (`tmp/`, their `TMPDIR`). Dropped after the processes are ended.
    session_dir: tempfile::TempDir,
}

/// A new folder for one browser session, with a path short enough for Chromium's socket (see
/// the module's documentation): in the system's temporary folder, or in /tmp when that one's
/// path is too long.
fn session_dir() -> tempfile::TempDir {
    let make = |parent: &Path| {
        tempfile::Builder::new()
            .prefix("sc-chromium-")
            .tempdir_in(parent)
    };
    let dir = make(&std::env::temp_dir()).expect("create the browser session's folder");
    if dir.path().join("tmp").as_os_str().len() <= MAX_CHROMIUM_TMPDIR {
        return dir;
    }
    let dir = make(Path::new("/tmp")).expect("create the browser session's folder in /tmp");
    assert!(
        dir.path().join("tmp").as_os_str().len() <= MAX_CHROMIUM_TMPDIR,
        "{} is too long a TMPDIR for Chromium",
        dir.path().display()
    );
    dir
}

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts Chromium for `app`, or `None` (after one line on stderr) when it is not installed
    /// outside CI.
    pub async fn start(app: &TestApp) -> Option<Browser> {
        let chromium = find_program(
            "SMARTCORE_TEST_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let driver = find_program("SMARTCORE_TEST_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if in_ci() {
                panic!(
                    "Chromium and ChromeDriver are required in CI (apt-get install chromium chromium-driver)"
                );
            }
            eprintln!(
                "skipped: Chromium or ChromeDriver not found (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = free_port();
        let session_dir = session_dir();
        let profile = session_dir.path().join("profile");
        let tmp = session_dir.path().join("tmp");
        for dir in [&profile, &tmp] {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        // Its own process group, so the browsers it starts can be ended with it. Chromium
        // inherits chromedriver's environment, so both make their temporary files in `tmp`.
        let child = Command::new(&driver)
            .process_group(0)
            .env("TMPDIR", &tmp)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut browser_child = Some(child);
        let client = loop {
            match builder.connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => {
                    if let Some(mut c) = browser_child.take() {
                        end_group(&mut c);
                    }
                    remove_all(session_dir.path());
                    panic!("could not start a Chromium session through {url}: {e}");
                }
                // Real time: Chromium starts as a process of its own.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Some(Browser {
            client,
            base_url: app.base_url.clone(),
            driver: browser_child.expect("chromedriver"),
            session_dir,
        })
    }

    /// The session's own folder (the profile and every temporary file of the browser),
    /// removed when the session ends.
    pub fn session_dir(&self) -> &Path {
        self.session_dir.path()
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{}", self.base_url, path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Runs a script (its `return` value comes back as JSON).
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// The id (or, without one, the tag and text) of the focused element.
    pub async fn focused(&self) -> String {
        self.js(
            "const e = document.activeElement; \
             return e.id || (e.tagName + ':' + (e.getAttribute('aria-label') || e.textContent.trim()));",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Sends keys to whatever has the focus, as a keyboard would.
    pub async fn keys(&self, keys: &str) {
        let el = self.client.active_element().await.expect("active element");
        el.send_keys(keys).await.expect("send keys");
    }

    /// Waits until the script returns `true`.
    pub async fn eventually(&self, what: &str, timeout: Duration, script: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.js("return document.body.innerText").await;
                panic!("timed out waiting for {what}; the page says:\n{body}");
            }
            // Real time: the browser runs the page's scripts on its own.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the new page after a form submission or link.
    pub async fn wait_for_path(&self, path_prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.expect("url");
            let ready = self.js("return document.readyState === 'complete'").await;
            if url.path().starts_with(path_prefix) && ready == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                panic!("expected to reach {path_prefix}, still at {url}");
            }
            // Real time: the browser loads the page on its own.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn sign_in(&self, email: &str) {
        self.goto("/sign-in").await;
        self.find("#email").await.send_keys(email).await.unwrap();
        self.find("#password")
            .await
            .send_keys(PASSWORD)
            .await
            .unwrap();
        self.find("form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        self.eventually(
            "the first page after signing in",
            Duration::from_secs(10),
            "return !location.pathname.startsWith('/sign-in') && document.readyState === 'complete'",
        )
        .await;
    }

    /// Saves a PNG of the viewport as `artifacts/screenshots/NAME.png` at the workspace root.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = workspace_root().join("artifacts/screenshots");
        std::fs::create_dir_all(&dir).expect("create artifacts/screenshots");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the browsers it started, also when a test panics; then the folder
        // with their profile and temporary files.
        end_group(&mut self.driver);
        remove_all(self.session_dir.path());
    }
}

/// Ends chromedriver and everything in the process group it leads (the browsers it started,
/// and nothing else).
fn end_group(driver: &mut Child) {
    if let Ok(pgid) = libc::pid_t::try_from(driver.id())
        && pgid > 1
    {
        // SAFETY: kill(2) with a negative pid signals exactly that process group, which
        // chromedriver leads (it was started with process_group(0)).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = driver.kill();
    let _ = driver.wait();
}

/// Removes a session's folder. A killed browser process may still be finishing its last
/// write when the first attempt runs, so the removal is repeated (a short, bounded poll)
/// until the folder is gone.
fn remove_all(dir: &Path) {
    for _ in 0..50 {
        let _ = std::fs::remove_dir_all(dir);
        if !dir.exists() {
            return;
        }
        // Real time: the killed processes end on their own.
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "could not remove the browser session's folder {}",
        dir.display()
    );
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}
