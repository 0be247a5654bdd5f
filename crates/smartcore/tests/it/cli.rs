//! The `smartcore` command line, run as an operator runs it.

use crate::support::{TempDir, TestApp};
use std::process::{Command, Output};

use crate::support::smartcore_cli as smartcore;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn commands_create_what_they_say_and_print_it_as_json(app: TestApp) {
    let db = app.database_url.clone();
    let org = smartcore(&db, &["org", "create", "--name", "Initech", "--json"]);
    assert!(org.status.success(), "{}", stderr(&org));
    let org: serde_json::Value = serde_json::from_slice(&org.stdout).unwrap();
    assert!(org["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(org["name"], "Initech");

    let user = smartcore(
        &db,
        &[
            "user",
            "create",
            "--email",
            "Peter@Initech.example",
            "--name",
            "Peter Gibbons",
            "--password",
            "a long enough password",
            "--json",
        ],
    );
    assert!(user.status.success(), "{}", stderr(&user));
    let user: serde_json::Value = serde_json::from_slice(&user.stdout).unwrap();
    assert_eq!(user["email"], "Peter@initech.example");

    let member = smartcore(
        &db,
        &[
            "member",
            "add",
            "--org",
            "Initech",
            "--email",
            "peter@initech.example",
            "--role",
            "admin",
            "--json",
        ],
    );
    assert!(member.status.success(), "{}", stderr(&member));
    let member: serde_json::Value = serde_json::from_slice(&member.stdout).unwrap();
    assert_eq!(member["role"], "admin");
    assert_eq!(member["org_id"], org["id"]);

    let token = smartcore(
        &db,
        &[
            "token",
            "create",
            "--email",
            "peter@initech.example",
            "--json",
        ],
    );
    assert!(token.status.success(), "{}", stderr(&token));
    let token: serde_json::Value = serde_json::from_slice(&token.stdout).unwrap();
    let token = token["token"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/orgs/{}/it-contacts", org["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(r.status(), 200, "the printed token works against the API");

    let list = smartcore(&db, &["org", "list", "--json"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        list,
        serde_json::json!({ "orgs": [{ "id": org["id"], "name": "Initech" }] })
    );
    let table = smartcore(&db, &["org", "list"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let line = format!("{} Initech", org["id"].as_str().unwrap());
    assert!(
        stdout(&table).lines().any(|l| l == line),
        "{}",
        stdout(&table)
    );

    let migrate = smartcore(&db, &["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(stdout(&migrate).contains("up to date"));
}

async fn bad_input_gets_one_clear_message_and_a_non_zero_exit(app: TestApp) {
    let db = app.database_url.clone();
    let unknown = smartcore(&db, &["org", "destroy"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("unrecognized subcommand"),
        "{}",
        stderr(&unknown)
    );

    assert!(
        smartcore(&db, &["user", "create", "--email", "dup@acme.example"])
            .status
            .success()
    );
    let dup = smartcore(&db, &["user", "create", "--email", "DUP@acme.example"]);
    assert_eq!(dup.status.code(), Some(1));
    assert_eq!(
        stderr(&dup).trim(),
        "error: A user with the address DUP@acme.example already exists."
    );

    let no_org = smartcore(
        &db,
        &[
            "member",
            "add",
            "--org",
            "Nowhere Ltd",
            "--email",
            "dup@acme.example",
        ],
    );
    assert_eq!(no_org.status.code(), Some(1));
    assert!(
        stderr(&no_org).contains("There is no organisation \"Nowhere Ltd\""),
        "{}",
        stderr(&no_org)
    );

    let bad_email = smartcore(&db, &["user", "create", "--email", "not an address"]);
    assert_eq!(bad_email.status.code(), Some(1));
    assert!(
        stderr(&bad_email).contains("like name@example.com"),
        "{}",
        stderr(&bad_email)
    );

    let bad_db = smartcore("mysql://localhost/x", &["migrate"]);
    assert_eq!(bad_db.status.code(), Some(1));
    assert!(
        stderr(&bad_db).contains("SMARTCORE_DATABASE_URL"),
        "{}",
        stderr(&bad_db)
    );
    let unreachable = smartcore("postgres://nobody@127.0.0.1:1/none", &["migrate"]);
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        stderr(&unreachable).contains("cannot open the database"),
        "{}",
        stderr(&unreachable)
    );
}

async fn every_not_found_names_what_was_not_found(app: TestApp) {
    let db = app.database_url.clone();
    assert!(
        smartcore(&db, &["org", "create", "--name", "Acme"])
            .status
            .success()
    );
    assert!(
        smartcore(&db, &["user", "create", "--email", "p@acme.example"])
            .status
            .success()
    );
    for (args, expected) in [
        (
            &[
                "ops",
                "complete-removal",
                "rmv_0192f3a4b5c67d8e9f0a1b2c3d4e5f60",
            ][..],
            "No identity-side removal rmv_0192f3a4b5c67d8e9f0a1b2c3d4e5f60 was found.",
        ),
        (
            &["ops", "complete-removal", "rmv_x", "--by-hand"][..],
            "No identity-side removal rmv_x was found.",
        ),
        (
            &["token", "revoke", "tok_0192"][..],
            "There is no API token tok_0192.",
        ),
        (
            &["token", "list", "--email", "nobody@acme.example"][..],
            "There is no user with the address nobody@acme.example.",
        ),
        (
            &["user", "disable", "nobody@acme.example"][..],
            "There is no user with the address nobody@acme.example.",
        ),
        (
            &["sso", "attempts", "--org", "Nowhere"][..],
            "There is no organisation \"Nowhere\".",
        ),
        (
            &[
                "member",
                "remove",
                "--org",
                "Acme",
                "--email",
                "p@acme.example",
            ][..],
            "p@acme.example is not a member of Acme.",
        ),
    ] {
        let out = smartcore(&db, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out).trim(),
            format!("error: {expected}"),
            "{args:?}"
        );
    }
}

async fn member_import_commits_valid_rows_reports_the_rest_and_is_idempotent(app: TestApp) {
    let db = app.database_url.clone();
    let org = app.app.operations().create_org("Umbrella").await.unwrap();
    let dir = TempDir::new("csv");
    let csv = dir.0.join("members.csv");
    std::fs::write(
        &csv,
        "name,email,role\n\
            Ada Lovelace,ada@umbrella.example,admin\n\
            Alan Turing,ALAN@umbrella.example\n\
            Bad Address,not-an-address\n\
            ,nameless@umbrella.example\n\
            Wrong Role,wrong@umbrella.example,owner\n\
            \"Hopper, Grace\",grace@umbrella.example,member\n\
            too,many,fields,here\n",
    )
    .unwrap();
    let first = smartcore(
        &db,
        &[
            "member",
            "import",
            "--org",
            "Umbrella",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["rows_read"], 7);
    assert_eq!(report["written"], 3);
    assert_eq!(report["rejected"], 4);
    let lines: Vec<u64> = report["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5, 6, 8]);
    assert_eq!(
        app.store().await.member_count(&org.org_id()).await.unwrap(),
        3
    );

    let again = smartcore(
        &db,
        &[
            "member",
            "import",
            "--org",
            "Umbrella",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["written"], 0);
    assert_eq!(report["unchanged"], 3);
    assert_eq!(
        app.store().await.member_count(&org.org_id()).await.unwrap(),
        3
    );

    let missing = smartcore(
        &db,
        &[
            "member",
            "import",
            "--org",
            "Umbrella",
            "--csv",
            "/nonexistent.csv",
        ],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("cannot open /nonexistent.csv"),
        "{}",
        stderr(&missing)
    );
}

async fn member_import_of_duplicate_malformed_and_mixed_case_rows_gives_the_same_members_on_both_databases(
    app: TestApp,
) {
    // Issue 25: SQLite writes multi-row inserts, PostgreSQL COPYs into a staging table and
    // merges; the members must come out the same. The file crosses a batch (20,000 valid
    // rows), so the last row of an address wins across batches too, and it has a blank line,
    // so the lines reported are the file's.
    let db = app.database_url.clone();
    let (org, token) = app.org_with_admin("Mix Import").await;
    let dir = TempDir::new("csv");
    let csv = dir.0.join("members.csv");
    let mut text = String::from(
        "name,email,role\n\
            Ada Lovelace,ada@Mix.Example,admin\n\
            ADA LOVELACE,ADA@mix.example,member\n\
            Bad Address,not-an-address\n\
            Grace Hopper,grace@mix.example,owner\n\
            Grace Hopper,Grace@MIX.example\n\
            \n\
            \"Lin, Bo\",lin@mix.example,admin,extra\n\
            ,nameless@mix.example\n\
            O'Brien \\ Sons,obrien@mix.example,ADMIN\n",
    );
    for i in 0..20_000 {
        text.push_str(&format!("Filler {i:05},f{i}@filler.example\n"));
    }
    text.push_str("Grace H.,GRACE@mix.example,admin\n");
    std::fs::write(&csv, text).unwrap();

    let members = || async {
        let r = app
            .get(
                &format!("/api/v1/orgs/{org}/members?q=mix.example&limit=50"),
                &token,
            )
            .await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        let mut found: Vec<(String, String, String)> = body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["email"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let expected: Vec<(String, String, String)> = [
        ("ADA LOVELACE", "ADA@mix.example", "member"),
        ("Grace Hopper", "Grace@mix.example", "admin"),
        ("O'Brien \\ Sons", "obrien@mix.example", "admin"),
    ]
    .iter()
    .map(|(n, e, r)| (n.to_string(), e.to_string(), r.to_string()))
    .collect();

    let first = smartcore(
        &db,
        &[
            "member",
            "import",
            "--org",
            "Mix Import",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["rows_read"], 20_009);
    assert_eq!(report["rejected"], 4);
    let lines: Vec<u64> = report["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5, 8, 9], "{report}");
    // Ada's first row gives way to her second; Grace's role changes in the second batch.
    assert_eq!(report["written"], 20_004, "{report}");
    assert_eq!(report["unchanged"], 1, "{report}");
    assert_eq!(members().await, expected);
    let org_id = smartcore_domain::OrgId::parse(&org).unwrap();
    assert_eq!(
        app.store().await.member_count(&org_id).await.unwrap(),
        20_004,
        "the administrator and 20,003 imported"
    );

    // Again: the same members. Grace's two rows change her role twice, and nothing else.
    let again = smartcore(
        &db,
        &[
            "member",
            "import",
            "--org",
            "Mix Import",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["written"], 2, "{report}");
    assert_eq!(members().await, expected);
    assert_eq!(
        app.store().await.member_count(&org_id).await.unwrap(),
        20_004
    );
}

async fn demo_seeding_is_idempotent(app: TestApp) {
    let db = app.database_url.clone();
    let first = smartcore(&db, &["demo"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("admin@acme.example"));
    assert!(stdout(&first).contains("smartcore-demo"));
    let second = smartcore(&db, &["demo"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second));
    let org = app.app.operations().find_org("Acme").await.unwrap();
    assert!(
        stdout(&first).contains(&format!("Org id:    {}", org.id)),
        "{}",
        stdout(&first)
    );
    assert_eq!(
        app.store().await.member_count(&org.org_id()).await.unwrap(),
        51
    );
    let session = app
        .app
        .accounts()
        .sign_in("admin@acme.example", "smartcore-demo")
        .await
        .unwrap();
    assert!(!session.actor.is_staff);
}
on_both_databases!(commands_create_what_they_say_and_print_it_as_json, bad_input_gets_one_clear_message_and_a_non_zero_exit, every_not_found_names_what_was_not_found, member_import_commits_valid_rows_reports_the_rest_and_is_idempotent, member_import_of_duplicate_malformed_and_mixed_case_rows_gives_the_same_members_on_both_databases, demo_seeding_is_idempotent);

#[test]
fn commands_other_than_serve_migrate_and_demo_do_not_create_a_database() {
    let dir = TempDir::new("nodb");
    let file = dir.0.join("data").join("smartcore.db");
    let missing = format!("sqlite://{}", file.display());
    for args in [
        &["org", "list"][..],
        &["user", "create", "--email", "a@b.example"],
        &["worker"],
    ] {
        let refused = smartcore(&missing, args);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&refused).trim(),
            format!(
                "error: there is no database at {} (SMARTCORE_DATABASE_URL or --database-url); \
                 run 'smartcore migrate' or 'smartcore serve' first, or point to the existing database",
                file.display()
            ),
            "{args:?}"
        );
        assert!(!file.exists(), "{args:?} created the database");
    }

    let migrate = smartcore(&missing, &["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(file.exists());
    let listed = smartcore(&missing, &["org", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));

    // --database-url wins over SMARTCORE_DATABASE_URL.
    let elsewhere = format!("sqlite://{}", dir.0.join("other.db").display());
    let created = smartcore(
        &elsewhere,
        &[
            "--database-url",
            &missing,
            "org",
            "create",
            "--name",
            "Flagged",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let listed = smartcore(
        &elsewhere,
        &["org", "list", "--json", "--database-url", &missing],
    );
    assert!(stdout(&listed).contains("Flagged"), "{}", stdout(&listed));
    let refused = smartcore(&missing, &["--database-url", &elsewhere, "org", "list"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("other.db"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.0.join("other.db").exists());
    let bad = smartcore(&missing, &["--database-url", "mysql://x/y", "org", "list"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--database-url"), "{}", stderr(&bad));
}

#[test]
fn serve_listen_takes_host_names_and_names_the_one_it_cannot_resolve() {
    let dir = TempDir::new("listen");
    let db = format!("sqlite://{}/smartcore.db", dir.0.display());
    let refused = smartcore(&db, &["serve", "--listen", "no-such-host.invalid:8081"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("cannot resolve the host name in \"no-such-host.invalid:8081\""),
        "{}",
        stderr(&refused)
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_smartcore"))
        .args(["migrate"])
        .env("SMARTCORE_DATABASE_URL", &db)
        .env("SMARTCORE_LISTEN", "no-such-host.invalid:8081")
        .env_remove("SMARTCORE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("SMARTCORE_LISTEN: cannot resolve"),
        "{}",
        stderr(&refused)
    );
}

/// `smartcore backup`: a consistent copy of a running SQLite database that opens as one.
mod backup {
    use super::{smartcore, stderr, stdout};
    use crate::support::{Backend, TempDir, TestApp};

    async fn backup_copies_a_running_sqlite_database_and_points_postgresql_to_pg_dump(
        app: TestApp,
    ) {
        let (org, token) = app.org_with_admin("Backed Up Ltd").await;
        app.add_manual(&org, &token, "it@backedup.example").await;
        let dir = TempDir::new("backup");
        let file = dir.0.join("copy.db");
        let file_arg = file.to_str().unwrap();
        let o = smartcore(&app.database_url, &["backup", file_arg]);
        if app.backend == Backend::Postgres {
            assert_eq!(o.status.code(), Some(1));
            assert!(stderr(&o).contains("pg_dump"), "{}", stderr(&o));
            return;
        }
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("Backed up the database"),
            "{}",
            stdout(&o)
        );

        // The copy is a whole database: the CLI reads the organisation and its contact
        // from it, while the service goes on writing to the original.
        app.add_manual(&org, &token, "later@backedup.example").await;
        let copy = format!("sqlite://{file_arg}");
        let orgs = smartcore(&copy, &["org", "list", "--json"]);
        assert!(orgs.status.success(), "{}", stderr(&orgs));
        assert!(stdout(&orgs).contains("Backed Up Ltd"), "{}", stdout(&orgs));
        let restored = TestApp::start(Backend::Sqlite, &copy, &[]).await;
        let emails: Vec<String> = restored
            .contacts(&org, &token)
            .await
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            emails,
            ["it@backedup.example"],
            "the copy is the state when it was made"
        );

        let again = smartcore(&app.database_url, &["backup", file_arg]);
        assert_eq!(again.status.code(), Some(1));
        assert!(
            stderr(&again).contains("exists already"),
            "{}",
            stderr(&again)
        );
    }
    on_both_databases!(backup_copies_a_running_sqlite_database_and_points_postgresql_to_pg_dump);
}
