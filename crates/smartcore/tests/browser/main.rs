//! Browser tests: the Authentication page in a real headless Chromium against the real
//! service on SQLite, following the help article "Managing IT contacts" step by step.
//! Screenshots of the main screens go to `artifacts/screenshots/` (not committed).
//!
//! Run alone: `cargo nextest run -p smartcore --test browser`.

#[allow(dead_code, unused_macros)]
#[path = "../it/support.rs"]
#[macro_use]
mod support;

mod accessibility;
mod axe;
mod cleanup;
mod driver;
mod members;
mod metadata;
mod outcomes;
mod pages;
#[path = "../it/saml_idp.rs"]
mod saml_idp;
mod screens;
mod sso;
mod trust;
mod vnu;
mod without_javascript;

use driver::Browser;
use smartcore_domain::Role;
use support::{Backend, TestApp};

pub const ADMIN_EMAIL: &str = "ada@acme.example";
pub const MEMBER_EMAIL: &str = "mary@acme.example";

/// The service with an organisation "Acme", its administrator Ada, and a few members.
pub struct Scene {
    pub app: TestApp,
    pub org: String,
    pub admin_token: String,
}

impl Scene {
    pub async fn new(extra: &[(&str, String)]) -> Option<Scene> {
        let app = TestApp::spawn_with(Backend::Sqlite, extra).await?;
        let org = app
            .app
            .operations()
            .create_org("Acme")
            .await
            .expect("create org")
            .id;
        let (_, admin_token) = app
            .member(&org, "Ada Admin", ADMIN_EMAIL, Role::Admin)
            .await;
        for (name, email) in [
            ("Grace Hopper", "grace@acme.example"),
            ("Alan Turing", "alan@acme.example"),
            ("Katherine Johnson", "katherine@acme.example"),
        ] {
            app.member(&org, name, email, Role::Member).await;
        }
        app.member(&org, "Mary Member", MEMBER_EMAIL, Role::Member)
            .await;
        Some(Scene {
            app,
            org,
            admin_token,
        })
    }

    pub fn page(&self) -> String {
        format!("/orgs/{}/settings/authentication", self.org)
    }

    /// The scene and a browser, or `None` when the browser is missing outside CI.
    pub async fn with_browser(extra: &[(&str, String)]) -> Option<(Scene, Browser)> {
        let scene = Scene::new(extra).await?;
        let browser = Browser::start(&scene.app).await?;
        Some((scene, browser))
    }
}
