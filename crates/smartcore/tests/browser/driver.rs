//! A real headless Chromium for one test: its own chromedriver on a free 127.0.0.1 port, its
//! own fresh profile folder, driven over WebDriver (fantoccini, plain HTTP, no TLS stack).
//!
//! Without Chromium and ChromeDriver the tests print one line and skip on a developer's
//! machine; under CI (`CI=true`) a missing browser fails them.

use crate::support::{TempDir, TestApp, in_ci};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    _profile: TempDir,
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
        // Its own process group, so the browsers it starts can be ended with it.
        let child = Command::new(&driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let profile = TempDir::new("chromium-profile");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.0.display()),
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
                        let _ = c.kill();
                    }
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
            _profile: profile,
        })
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
        // chromedriver and the browsers it started, also when a test panics: the whole
        // process group chromedriver leads (and nothing else).
        if let Ok(pgid) = libc::pid_t::try_from(self.driver.id())
            && pgid > 1
        {
            // SAFETY: kill(2) with a negative pid signals exactly that process group, which
            // chromedriver leads (it was started with process_group(0)).
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}
