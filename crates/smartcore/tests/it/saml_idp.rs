//! A SAML identity provider that is not our code, for the SAML sign-in tests: pysaml2 (PyPI),
//! signing with the `xmlsec1` tool, run as a child process from `../idp/saml_idp.py`.
//!
//! [`SamlIdp::start`] finds the Python: `SMARTCORE_TEST_SAML_IDP_PYTHON`, else the venv that
//! `.ci/run` makes at `<target>/saml-idp-venv` (see `../idp/README.md`); it also needs `xmlsec1`
//! on PATH. Without them it prints one line and returns `None`, except under `CI=true`, where it
//! panics. The process is killed and its folder (keys, log) removed when the value is dropped,
//! also when a test fails; it also exits by itself when this process's end of its standard
//! input closes.
//!
//! Both test binaries include this file (the browser tests with `#[path]`); it needs only
//! `crate::support::{TempDir, in_ci}`, which both have. Its own tests are in
//! `saml_idp_self_test.rs`, so that they run once.
#![allow(dead_code)]

use crate::support::{TempDir, in_ci};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long the IdP may take to print `READY` (pysaml2's imports and two RSA keys).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The IdP's answer for the service provider: the form its page posts to our ACS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedForm {
    pub action: String,
    /// Base64 of the `samlp:Response`, as posted.
    pub saml_response: String,
    pub relay_state: Option<String>,
}

impl PostedForm {
    /// Posts the form to its action as the browser would (no redirect followed by this call
    /// unless `client` follows them).
    pub async fn submit(&self, client: &reqwest::Client) -> reqwest::Response {
        let mut fields = vec![("SAMLResponse", self.saml_response.as_str())];
        if let Some(relay) = &self.relay_state {
            fields.push(("RelayState", relay.as_str()));
        }
        client
            .post(&self.action)
            .form(&fields)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST the SAMLResponse to {}: {e}", self.action))
    }
}

pub struct SamlIdp {
    base: String,
    pub(crate) http: reqwest::Client,
    child: Child,
    /// Held open: the IdP exits when it closes (this process gone without running drops).
    _stdin: Option<ChildStdin>,
    log: PathBuf,
    pub(crate) dir: Option<TempDir>,
}

impl SamlIdp {
    /// Starts a fresh IdP on a free port of 127.0.0.1, or `None` (one line on stderr) when
    /// its Python or `xmlsec1` is missing outside CI.
    pub async fn start() -> Option<SamlIdp> {
        Self::start_with(None).await
    }

    /// Like [`SamlIdp::start`], with `sso_host` (e.g. `localhost`) as the host name of its SSO
    /// endpoints in its metadata, so that a browser sees the IdP as another site than our
    /// service at 127.0.0.1 (its entity ID and control endpoints keep 127.0.0.1).
    pub async fn start_with(sso_host: Option<&str>) -> Option<SamlIdp> {
        let python = match find_python() {
            Ok(p) => p,
            Err(why) => return unavailable(&why),
        };
        if !on_path("xmlsec1") {
            return unavailable("xmlsec1 is not on PATH (apt-get install xmlsec1)");
        }
        let script = idp_dir().join("saml_idp.py");
        let dir = TempDir::new("saml-idp");
        let log = dir.0.join("idp.log");
        let stderr = std::fs::File::create(&log).expect("create the IdP log");
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--port", "0", "--exit-on-stdin-eof", "--workdir"])
            .arg(dir.0.join("keys"))
            .args(sso_host.map(|host| format!("--sso-host={host}")))
            // pysaml2's own temporary files (for xmlsec1) go to the folder removed on drop.
            .env("TMPDIR", &dir.0)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {} {}: {e}", python.display(), script.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("the IdP's stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.ok().flatten() {
                if let Some(url) = line.trim().strip_prefix("READY ") {
                    return Some(url.to_string());
                }
            }
            None
        })
        .await;
        let base = match ready {
            Ok(Some(base)) => base,
            Ok(None) => {
                let status = child.wait().await.ok();
                panic!(
                    "the SAML IdP ({} {}) exited before READY ({status:?}); its log:\n{}",
                    python.display(),
                    script.display(),
                    log_tail(&log)
                )
            }
            Err(_) => panic!(
                "the SAML IdP printed no READY within {READY_TIMEOUT:?}; its log:\n{}",
                log_tail(&log)
            ),
        };
        // Whatever else it prints on stdout is drained so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        smartcore_identity::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Some(SamlIdp {
            base,
            http,
            child,
            _stdin: stdin,
            log,
            dir: Some(dir),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The IdP's entity ID (which is also where its metadata is served).
    pub fn entity_id(&self) -> String {
        self.metadata_url()
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/idp/metadata", self.base)
    }

    /// The IdP's metadata, with the current signing certificate only.
    pub async fn metadata_xml(&self) -> String {
        self.call(reqwest::Method::GET, "/idp/metadata", None).await
    }

    /// Teaches the IdP one more service provider (ours: `GET BASE/saml/ORG/metadata`).
    pub async fn add_sp(&self, sp_metadata_xml: &str) {
        let r = self
            .http
            .post(format!("{}/control/sp", self.base))
            .header("content-type", "application/samlmetadata+xml")
            .body(sp_metadata_xml.to_string())
            .send()
            .await
            .expect("POST /control/sp");
        self.expect_ok("POST /control/sp", r).await;
    }

    /// What the next responses look like until [`SamlIdp::reset`]; see `../idp/README.md`. With
    /// `email` set the IdP answers an AuthnRequest at once, without its login page.
    pub async fn set_next(&self, json: Value) {
        self.call(reqwest::Method::POST, "/control/next", Some(json))
            .await;
    }

    /// Back to the defaults: login page, signed assertion, no overrides, both bindings.
    pub async fn reset(&self) {
        self.call(reqwest::Method::POST, "/control/reset", Some(json!({})))
            .await;
    }

    /// Offer only the HTTP-POST binding for SSO in the metadata (or both again).
    pub async fn set_post_only(&self, post_only: bool) {
        self.call(
            reqwest::Method::POST,
            "/control/post_only",
            Some(json!({ "post_only": post_only })),
        )
        .await;
    }

    /// Switches to a new signing key and certificate; the metadata then lists only the new
    /// one. Returns the new certificate (PEM).
    pub async fn rotate(&self) -> String {
        let v: Value = parse_json(
            &self
                .call(reqwest::Method::POST, "/control/rotate", Some(json!({})))
                .await,
        );
        v["cert"].as_str().unwrap().to_string()
    }

    /// The current signing certificate and the other one (`sign_with_other_key`), PEM.
    pub async fn certificates(&self) -> (String, String) {
        let v: Value = parse_json(
            &self
                .call(reqwest::Method::GET, "/control/certs", None)
                .await,
        );
        (
            v["signing"].as_str().unwrap().to_string(),
            v["other"].as_str().unwrap().to_string(),
        )
    }

    /// The last SAMLResponse produced: (base64 as posted, XML).
    pub async fn last_response(&self) -> (String, String) {
        let v = self.last().await;
        (
            v["saml_response"].as_str().unwrap().to_string(),
            v["xml"].as_str().unwrap().to_string(),
        )
    }

    /// All the IdP says of its last response: `saml_response`, `xml`, `response_id`,
    /// `assertion_id`, `relay_state`, `acs`, `sp`, `built_by`.
    pub async fn last(&self) -> Value {
        parse_json(&self.call(reqwest::Method::GET, "/control/last", None).await)
    }

    /// An IdP-initiated response (no InResponseTo) to that SP's ACS.
    pub async fn unsolicited(&self, sp_entity_id: &str, relay_state: &str) -> PostedForm {
        let html = self
            .call(
                reqwest::Method::POST,
                "/control/unsolicited",
                Some(json!({ "sp": sp_entity_id, "relay_state": relay_state })),
            )
            .await;
        posted_form(&html).unwrap_or_else(|e| panic!("{e}:\n{html}"))
    }

    /// Fills in the IdP's login page (as shown when no `email` was set by [`SamlIdp::set_next`])
    /// and returns the form it answers with.
    pub async fn login(
        &self,
        client: &reqwest::Client,
        login_page: &str,
        email: &str,
    ) -> PostedForm {
        let token = find_inputs(login_page)
            .into_iter()
            .find(|(name, _)| name == "token")
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("not the IdP's login page:\n{login_page}"));
        let r = client
            .post(format!("{}/login", self.base))
            .form(&[("token", token.as_str()), ("email", email)])
            .send()
            .await
            .expect("POST the IdP's login form");
        let status = r.status();
        let html = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "IdP login: {status}: {html}");
        posted_form(&html).unwrap_or_else(|e| panic!("{e}:\n{html}"))
    }

    /// The IdP's log so far (its stderr), for a failing test's message.
    pub fn log(&self) -> String {
        log_tail(&self.log)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> String {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} on the SAML IdP: {e}\n{}", self.log()));
        self.expect_ok(&format!("{method} {path}"), r).await
    }

    async fn expect_ok(&self, what: &str, r: reqwest::Response) -> String {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{what} on the SAML IdP: {status}: {text}\nits log:\n{}",
            self.log()
        );
        text
    }
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Reaped here when it is quick (it is: SIGKILL), so the folder is not removed under it.
        for _ in 0..50 {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                // Real time: the IdP is a process of its own.
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        drop(self.dir.take());
    }
}

/// Takes the IdP request our SP produced and returns the IdP's form for our ACS: `url_or_html`
/// is either the `Location` our SP redirected to (HTTP-Redirect binding), fetched with GET, or
/// our SP's auto-submitting HTML page (HTTP-POST binding), whose form is posted. The IdP must
/// answer at once (an `email` set with [`SamlIdp::set_next`]); for its login page use
/// [`follow_to_idp_page`] and [`SamlIdp::login`].
pub async fn follow_to_idp(client: &reqwest::Client, url_or_html: &str) -> PostedForm {
    let html = follow_to_idp_page(client, url_or_html).await;
    posted_form(&html).unwrap_or_else(|e| {
        panic!("{e} (no next user set on the IdP? it showed this page):\n{html}")
    })
}

/// Like [`follow_to_idp`], but returns the IdP's page as it is (a login page or the form).
pub async fn follow_to_idp_page(client: &reqwest::Client, url_or_html: &str) -> String {
    let trimmed = url_or_html.trim();
    let r = if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        client.get(trimmed).send().await
    } else {
        let (action, inputs) = parse_form(trimmed)
            .unwrap_or_else(|e| panic!("our SP's POST-binding page: {e}:\n{trimmed}"));
        assert!(
            inputs.iter().any(|(n, _)| n == "SAMLRequest"),
            "our SP's POST-binding page has no SAMLRequest input:\n{trimmed}"
        );
        client.post(&action).form(&inputs).send().await
    };
    let r = r.unwrap_or_else(|e| panic!("the request to the IdP: {e}"));
    let status = r.status();
    let html = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "the IdP answered {status}: {html}");
    html
}

/// The auto-submitting form of an IdP page: its action and the SAMLResponse and RelayState
/// inputs.
pub fn posted_form(html: &str) -> Result<PostedForm, String> {
    let (action, inputs) = parse_form(html)?;
    let get = |name: &str| {
        inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let saml_response = get("SAMLResponse").ok_or("the form has no SAMLResponse input")?;
    Ok(PostedForm {
        action,
        saml_response,
        relay_state: get("RelayState"),
    })
}

/// The first `<form>`'s action and the name and value of each `<input>` with a name.
fn parse_form(html: &str) -> Result<(String, Vec<(String, String)>), String> {
    let form = tags(html, "form")
        .into_iter()
        .next()
        .ok_or("the page has no <form>")?;
    let action = attr(&form, "action").ok_or("the <form> has no action")?;
    Ok((action, find_inputs(html)))
}

fn find_inputs(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .iter()
        .filter_map(|t| Some((attr(t, "name")?, attr(t, "value").unwrap_or_default())))
        .collect()
}

/// The attribute text of each start tag `<name ...>` (case-insensitive), quotes respected.
fn tags(html: &str, name: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find(&open) {
        let start = at + found + open.len();
        let next = html[start..].chars().next();
        if !matches!(next, Some(c) if c.is_ascii_whitespace() || c == '>' || c == '/') {
            at = start;
            continue;
        }
        let mut quote = None;
        let mut end = html.len();
        for (i, c) in html[start..].char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => {
                    end = start + i;
                    break;
                }
                _ => {}
            }
        }
        out.push(html[start..end].to_string());
        at = end;
    }
    out
}

/// One attribute's value in a tag's attribute text, entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let key_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let key = &tag[key_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = None;
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let q = bytes[i];
                let v_start = i + 1;
                let v_end = tag[v_start..]
                    .find(q as char)
                    .map_or(tag.len(), |p| v_start + p);
                value = Some(&tag[v_start..v_end]);
                i = (v_end + 1).min(tag.len());
            } else {
                let v_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = Some(&tag[v_start..i]);
            }
        }
        if key.is_empty() {
            i += 1;
            continue;
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(unescape(value.unwrap_or("")));
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("the IdP's JSON: {e}: {text}"))
}

fn unavailable(why: &str) -> Option<SamlIdp> {
    if in_ci() {
        panic!("CI=true but the SAML test IdP cannot run: {why}");
    }
    eprintln!("skipping: {why} (see crates/smartcore/tests/idp/README.md)");
    None
}

/// `crates/smartcore/tests/idp`.
fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

/// `SMARTCORE_TEST_SAML_IDP_PYTHON`, else `<target>/saml-idp-venv/bin/python` where `<target>`
/// is `CARGO_TARGET_DIR` (relative to the workspace) or the target folder this test was built in.
fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SMARTCORE_TEST_SAML_IDP_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "SMARTCORE_TEST_SAML_IDP_PYTHON={} is not a file",
                p.display()
            ))
        };
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => workspace.join(dir),
        // CARGO_TARGET_TMPDIR is `<target>/tmp` of the build that compiled this test.
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .map_or_else(|| workspace.join("target"), Path::to_path_buf),
    };
    let python = target.join("saml-idp-venv/bin/python");
    if python.is_file() {
        Ok(python)
    } else {
        Err(format!(
            "no SAML IdP Python: SMARTCORE_TEST_SAML_IDP_PYTHON is unset and {} does not exist",
            python.display()
        ))
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(8000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_string()
}
