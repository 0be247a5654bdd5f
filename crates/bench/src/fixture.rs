//! The set-up several benchmarks share: an administrator of an organisation, holding an API
//! token (the JSON API) or signed in with a password (the HTML pages), and the real router and
//! server on a loopback port; and the organisation most benchmarks measure ([`Fixture`]).

use crate::db;
use smartcore_app::{Actor, AddContact, App, NewSession};
use smartcore_storage::OrgRecord;
use std::future::Future;
use tokio::sync::oneshot;

/// The administrator the token-holding benchmarks create.
pub const ADMIN: &str = "bench-admin@bench.example";

/// The password of the administrators who sign in with one.
const PASSWORD: &str = "a long enough password";

/// An organisation with members, an administrator with a token, and ten contacts, served on
/// a loopback port by the real router and server (`smartcore::server`, default limits).
pub struct Fixture {
    pub app: App,
    /// The database itself, opened on its own for what no use case does (the floors' reads
    /// and writes, a search's plan).
    pub store: smartcore_storage::Store,
    pub base_url: String,
    pub org_id: String,
    pub token: String,
    /// The administrator the token belongs to.
    pub admin: smartcore_domain::UserId,
    stop: oneshot::Sender<()>,
}

impl Fixture {
    pub async fn build(url: &str, members: u64) -> anyhow::Result<Fixture> {
        let app = db::open(url).await?;
        let store = smartcore_storage::Store::connect(url).await?;
        let org = app.operations().create_org("Bench").await?;
        let rows = (0..members).map(|i| {
            Ok(smartcore_app::MemberRow {
                line: i + 1,
                name: format!("Member {i:06}"),
                email: format!("member{i}@import.example"),
                role: Some("member".into()),
            })
        });
        app.operations().import_members(&org, rows, |_| {}).await?;
        let (token, actor) = admin_with_token(&app, Some(&org), ADMIN).await?;
        for i in 0..10 {
            app.contacts()
                .add_contact(
                    &actor,
                    &org.org_id(),
                    AddContact::Manual {
                        email: format!("it{i}@bench.example"),
                        name: Some(format!("IT {i}")),
                    },
                )
                .await?;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let stop = serve_stoppable(listener, &app, &base_url);
        Ok(Fixture {
            app,
            store,
            base_url,
            org_id: org.id,
            token,
            admin: actor.user_id,
            stop,
        })
    }

    pub fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// Creates the account `email` ("Bench Admin", no password), makes it an administrator of `org`
/// if one is given, and creates an API token for it: the token and the actor it stands for.
pub async fn admin_with_token(
    app: &App,
    org: Option<&OrgRecord>,
    email: &str,
) -> anyhow::Result<(String, Actor)> {
    app.accounts()
        .create_user(email, Some("Bench Admin"), None, false)
        .await?;
    if let Some(org) = org {
        make_admin(app, org, email).await?;
    }
    let token = app.accounts().create_api_token(email).await?;
    let actor = app.accounts().bearer_actor(&token).await?;
    Ok((token, actor))
}

/// Creates the account `email` named `name` with a password, makes it an administrator of
/// `org`, and signs it in: the session (its cookie value and actor).
pub async fn admin_with_session(
    app: &App,
    org: &OrgRecord,
    email: &str,
    name: &str,
) -> anyhow::Result<NewSession> {
    app.accounts()
        .create_user(email, Some(name), Some(PASSWORD), false)
        .await?;
    make_admin(app, org, email).await?;
    Ok(app.accounts().sign_in(email, PASSWORD).await?)
}

/// Makes the existing account `email` an administrator of `org`.
pub async fn make_admin(app: &App, org: &OrgRecord, email: &str) -> anyhow::Result<()> {
    app.operations()
        .add_member(org, email, smartcore_domain::Role::Admin)
        .await?;
    Ok(())
}

/// Serves `app` through the real router (public URL `base_url`) and server (default limits) on
/// `listener`, until `stopped` completes.
pub fn serve(
    listener: tokio::net::TcpListener,
    app: &App,
    base_url: &str,
    stopped: impl Future<Output = ()> + Send + 'static,
) {
    let router = smartcore_web::router(
        app.clone(),
        smartcore_web::WebConfig {
            public_url: base_url.to_owned(),
            ..Default::default()
        },
    );
    serve_router(listener, router, stopped);
}

/// Serves `app` as [`serve`] does, until the returned sender sends or is dropped.
pub fn serve_stoppable(
    listener: tokio::net::TcpListener,
    app: &App,
    base_url: &str,
) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    serve(listener, app, base_url, async {
        let _ = stopped.await;
    });
    stop
}

/// Serves `router` with the real server (default limits) on `listener`, until `stopped`
/// completes.
pub fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        let _ = smartcore::server::run(listener, router, Default::default(), stopped).await;
    });
}
