//! The command line invites, changes roles and removes members, audited as the CLI.

use super::*;

async fn the_cli_invites_changes_roles_and_removes(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let app = &env.app;
    let (org, token) = app.org_with_admin("Cli Members").await;
    app.member(&org, "Ada", "ada@cli.example", Role::Member)
        .await;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_smartcore"))
            .args(args)
            .env("SMARTCORE_DATABASE_URL", &app.database_url)
            .env("SMARTCORE_MAIL", "smtp")
            .env("SMARTCORE_SMTP_URL", env.sink.url())
            .env("SMARTCORE_PUBLIC_URL", &app.base_url)
            .env_remove("SMARTCORE_CONFIG")
            .output()
            .expect("run smartcore")
    };
    let out = cli(&[
        "member",
        "invite",
        "--org",
        &org,
        "--email",
        "new@cli.example",
        "--role",
        "admin",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed["id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(printed["mail"], "sent");
    let link = link_to(&env.sink, "new@cli.example");
    assert!(link.starts_with(&app.base_url), "{link}");
    let (_, text) = mail_text(&env.sink, "new@cli.example");
    assert!(text.contains("An administrator has invited you"), "{text}");
    let out = cli(&[
        "member",
        "invite",
        "--org",
        &org,
        "--email",
        "new@cli.example",
        "--role",
        "admin",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invited already"));

    let out = cli(&[
        "member",
        "set-role",
        "--org",
        &org,
        "--email",
        "ada@cli.example",
        "--role",
        "admin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("now an admin"));
    let out = cli(&[
        "member",
        "set-role",
        "--org",
        &org,
        "--email",
        "ada@cli.example",
        "--role",
        "owner",
    ]);
    assert!(!out.status.success());
    let out = cli(&[
        "member",
        "remove",
        "--org",
        &org,
        "--email",
        "ada@cli.example",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "member",
        "remove",
        "--org",
        &org,
        "--email",
        "ada@cli.example",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a member"));
    // The last administrator stays.
    let admin = members_page_json(app, &org, &token, "").await["members"][0]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = cli(&["member", "remove", "--org", &org, "--email", &admin]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one administrator"));
    let events = audit_actions(app, &org, &token).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "member.removed" && e["actor"].to_string().contains("cli")),
        "{events:?}"
    );
}

on_each_backend!(the_cli_invites_changes_roles_and_removes);
