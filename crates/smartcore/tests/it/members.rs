//! Members and invitations (issue 12), through the HTTP API and the pages, on both databases:
//! the members list in pages, role changes and removals (never of the last administrator),
//! loss of access at once on every instance, invitations (single-use, 7 days, stored as a
//! hash, raced acceptances, limits), the CLI, and the authorisation matrix.

use crate::support::{Backend, TestApp, fresh_database, problem};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use smartcore_app::ManualClock;
use smartcore_domain::{Role, Timestamp};
use smtp_sink::SmtpSink;
use std::sync::Arc;

/// A service sending mail to an SMTP sink, on a clock the test moves.
struct Env {
    app: TestApp,
    sink: SmtpSink,
    clock: Arc<ManualClock>,
    _db: crate::support::TestDatabase,
}

async fn env(backend: Backend) -> Option<Env> {
    let sink = SmtpSink::start().await;
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )));
    let (url, db) = fresh_database(backend).await?;
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    Some(Env {
        app,
        sink,
        clock,
        _db: db,
    })
}

/// The newest invitation link mailed to `email`.
fn link_to(sink: &SmtpSink, email: &str) -> String {
    let messages = sink.messages();
    // The newest invitation: other mail to the same address (an IT contact's welcome, sent by
    // the trust pass) may arrive after it.
    let text = messages
        .iter()
        .rev()
        .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(email)))
        .map(|m| {
            let parsed = mail_parser::MessageParser::default()
                .parse(&m.data)
                .expect("an RFC 5322 message");
            parsed.body_text(0).expect("a text part").into_owned()
        })
        .find(|text| text.contains("/invitations/"))
        .unwrap_or_else(|| panic!("no invitation mailed to {email}"));
    let start = text.find("/invitations/").expect("an invitation link");
    let begin = text[..start].rfind("http").expect("an absolute link");
    text[begin..].split_whitespace().next().unwrap().to_owned()
}

fn mail_text(sink: &SmtpSink, email: &str) -> (String, String) {
    let messages = sink.messages();
    let message = messages
        .iter()
        .rev()
        .find(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(email)))
        .unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&message.data)
        .unwrap();
    (
        parsed.subject().unwrap_or_default().to_owned(),
        parsed.body_text(0).unwrap().into_owned(),
    )
}

async fn invite(app: &TestApp, org: &str, token: &str, email: &str, role: &str) -> Response {
    app.post(
        &format!("/api/v1/orgs/{org}/invitations"),
        token,
        json!({ "email": email, "role": role }),
    )
    .await
}

async fn patch_role(app: &TestApp, org: &str, token: &str, id: &str, role: &str) -> Response {
    app.request(
        Method::PATCH,
        &format!("/api/v1/orgs/{org}/members/{id}"),
        Some(token),
    )
    .json(&json!({ "role": role }))
    .send()
    .await
    .unwrap()
}

async fn accept_new(app: &TestApp, link: &str, name: &str, password: &str) -> Response {
    app.http
        .post(link)
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn members_page_json(app: &TestApp, org: &str, token: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/orgs/{org}/members?{query}"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    r.json().await.unwrap()
}

async fn audit_actions(app: &TestApp, org: &str, token: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/orgs/{org}/audit-log"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

mod membership {
    use super::*;

    async fn the_members_list_pages_by_cursor_and_keeps_its_search(app: TestApp) {
        let (org_id, token) = app.org_with_admin("Paging").await;
        let org = app.app.operations().find_org(&org_id).await.unwrap();
        for i in 0..120 {
            let email = format!("person{i:03}@paging.example");
            app.app
                .accounts()
                .create_user(&email, Some(&format!("Person {i:03}")), None, false)
                .await
                .unwrap();
            app.app
                .operations()
                .add_member(&org, &email, Role::Member)
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = match &cursor {
                Some(c) => format!("limit=50&cursor={c}"),
                None => "limit=50".to_owned(),
            };
            let body = members_page_json(&app, &org_id, &token, &query).await;
            let members = body["members"].as_array().unwrap();
            assert!(members.len() <= 50);
            for m in members {
                assert!(m["joined_at"].as_str().unwrap().ends_with('Z'), "{m}");
                seen.push(m["name"].as_str().unwrap().to_owned());
            }
            pages += 1;
            match body["next"].as_str() {
                Some(n) => cursor = Some(n.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), 121, "every member once, the administrator too");
        let mut sorted = seen.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        sorted.dedup();
        assert_eq!(sorted.len(), 121, "no member twice");
        assert_eq!(seen, sorted, "by name across pages");

        // A search answers its best matches on one page, with their count: "person 11"
        // matches 110..=119 (and no other: "person11…" has no space).
        let body = members_page_json(&app, &org_id, &token, "q=PERSON%2011&limit=5").await;
        let names: Vec<&str> = body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Person 110",
                "Person 111",
                "Person 112",
                "Person 113",
                "Person 114"
            ]
        );
        assert_eq!(
            (body["total"].as_i64(), body["more"].as_bool()),
            (Some(10), Some(false))
        );
        assert!(
            body["next"].is_null(),
            "a search has one page: type more to narrow"
        );
        // A trigram-sized query (few matches, three characters or more) pages alike.
        let body = members_page_json(&app, &org_id, &token, "q=son%20119").await;
        assert_eq!(body["members"].as_array().unwrap().len(), 1);
        assert!(body["next"].is_null());

        for bad in ["cursor=not-a-cursor!", "cursor=YWJj"] {
            let r = app
                .get(&format!("/api/v1/orgs/{org_id}/members?{bad}"), &token)
                .await;
            problem(r, 400, "invalid_request").await;
        }
    }

    async fn roles_change_and_the_last_administrator_stays(app: TestApp) {
        let (org, admin_token) = app.org_with_admin("Roles").await;
        let admin_id = members_page_json(&app, &org, &admin_token, "").await["members"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (ada, ada_token) = app
            .member(&org, "Ada Lovelace", "ada@roles.example", Role::Member)
            .await;

        // The only administrator can be neither demoted nor removed.
        let body = problem(
            patch_role(&app, &org, &admin_token, &admin_id, "member").await,
            409,
            "last_admin_required",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains("administrator"));
        problem(
            app.delete(
                &format!("/api/v1/orgs/{org}/members/{admin_id}"),
                &admin_token,
            )
            .await,
            409,
            "last_admin_required",
        )
        .await;

        // Roles that do not exist, and members that do not.
        for role in ["owner", "Admin", "administrator", ""] {
            problem(
                patch_role(&app, &org, &admin_token, &ada, role).await,
                422,
                "invalid_role",
            )
            .await;
        }
        let r = app
            .request(
                Method::PATCH,
                &format!("/api/v1/orgs/{org}/members/{ada}"),
                Some(&admin_token),
            )
            .json(&json!({ "role": "admin", "extra": 1 }))
            .send()
            .await
            .unwrap();
        problem(r, 422, "invalid_request").await;
        problem(
            patch_role(&app, &org, &admin_token, "usr_nobody", "admin").await,
            404,
            "not_found",
        )
        .await;
        problem(
            patch_role(&app, &org, &admin_token, "not-an-id", "admin").await,
            404,
            "not_found",
        )
        .await;

        // Ada becomes an administrator: she can manage members at once.
        let r = patch_role(&app, &org, &admin_token, &ada, "admin").await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["role"], "admin");
        assert_eq!(body["id"], ada.as_str());
        assert_eq!(
            app.get(&format!("/api/v1/orgs/{org}/members"), &ada_token)
                .await
                .status(),
            StatusCode::OK
        );
        // Setting the same role again changes nothing and is fine.
        assert_eq!(
            patch_role(&app, &org, &admin_token, &ada, "admin")
                .await
                .status(),
            StatusCode::OK
        );

        // Now the first administrator may step down; then Ada is the last one.
        assert_eq!(
            patch_role(&app, &org, &ada_token, &admin_id, "member")
                .await
                .status(),
            StatusCode::OK
        );
        problem(
            app.get(&format!("/api/v1/orgs/{org}/members"), &admin_token)
                .await,
            403,
            "forbidden",
        )
        .await;
        problem(
            patch_role(&app, &org, &ada_token, &ada, "member").await,
            409,
            "last_admin_required",
        )
        .await;

        // Removal: the former administrator goes; the organisation is unknown to them at once.
        let r = app
            .delete(
                &format!("/api/v1/orgs/{org}/members/{admin_id}"),
                &ada_token,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["role"], "member");
        problem(
            app.get(&format!("/api/v1/orgs/{org}/members"), &admin_token)
                .await,
            404,
            "not_found",
        )
        .await;
        problem(
            app.delete(
                &format!("/api/v1/orgs/{org}/members/{admin_id}"),
                &ada_token,
            )
            .await,
            404,
            "not_found",
        )
        .await;

        // Every change is in the audit log: who, what, which person.
        let events = audit_actions(&app, &org, &ada_token).await;
        let changed: Vec<&Value> = events
            .iter()
            .filter(|e| e["action"] == "member.role_changed")
            .collect();
        assert_eq!(changed.len(), 2, "{events:?}");
        let promoted = changed
            .iter()
            .find(|e| e["target"] == ada.as_str())
            .unwrap();
        assert_eq!(promoted["details"]["from"], "member");
        assert_eq!(promoted["details"]["to"], "admin");
        assert_eq!(promoted["details"]["email"], "ada@roles.example");
        assert_eq!(promoted["actor"], admin_id.as_str(), "{promoted}");
        let removed = events
            .iter()
            .find(|e| e["action"] == "member.removed")
            .unwrap();
        assert_eq!(removed["target"], admin_id.as_str());
    }

    async fn a_removed_members_it_contact_stays_as_no_longer_a_member(app: TestApp) {
        let (org, token) = app.org_with_admin("Leavers").await;
        let (grace, _) = app
            .member(&org, "Grace Hopper", "grace@leavers.example", Role::Member)
            .await;
        let r = app
            .add_contact(&org, &token, json!({ "member_id": grace }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body = members_page_json(&app, &org, &token, "q=grace").await;
        assert_eq!(body["members"][0]["is_it_contact"], true);

        assert_eq!(
            app.delete(&format!("/api/v1/orgs/{org}/members/{grace}"), &token)
                .await
                .status(),
            StatusCode::OK
        );
        let contacts = app.contacts(&org, &token).await;
        assert_eq!(contacts.len(), 1, "the contact stays (D3)");
        assert_eq!(contacts[0]["still_member"], false);
        assert_eq!(contacts[0]["member_id"], grace.as_str());

        let admin_email = members_page_json(&app, &org, &token, "").await["members"][0]["email"]
            .as_str()
            .unwrap()
            .to_owned();
        let cookie = app.sign_in(&admin_email).await;
        let html = app
            .page(&format!("/orgs/{org}/settings/authentication"), &cookie)
            .await;
        assert!(html.contains("No longer a member"), "{html}");
        let html = app
            .page(&format!("/orgs/{org}/settings/members"), &cookie)
            .await;
        assert!(
            !html.contains("grace@leavers.example"),
            "gone from the members list"
        );
    }
    on_both_databases!(
        the_members_list_pages_by_cursor_and_keeps_its_search,
        roles_change_and_the_last_administrator_stays,
        a_removed_members_it_contact_stays_as_no_longer_a_member
    );
}

mod flows {
    use super::*;

    async fn a_demoted_or_removed_person_loses_access_at_once_on_every_instance(backend: Backend) {
        let (url, _db) = fresh_database(backend).await.expect("database");
        let a = TestApp::start(backend, &url, &[]).await;
        let b = TestApp::start(backend, &url, &[]).await;
        let (org, admin_token) = a.org_with_admin("Two instances").await;
        let (ada, ada_token) = a.member(&org, "Ada", "ada@two.example", Role::Admin).await;
        let cookie = b.sign_in("ada@two.example").await;
        // Instance B has seen Ada's token and session as an administrator's.
        assert_eq!(
            b.get(&format!("/api/v1/orgs/{org}/members"), &ada_token)
                .await
                .status(),
            StatusCode::OK
        );
        let page = b
            .http
            .get(format!("{}/orgs/{org}/settings/members", b.base_url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);

        // Demoted on A: B refuses her very next request, token and page alike.
        assert_eq!(
            patch_role(&a, &org, &admin_token, &ada, "member")
                .await
                .status(),
            StatusCode::OK
        );
        problem(
            b.get(&format!("/api/v1/orgs/{org}/members"), &ada_token)
                .await,
            403,
            "forbidden",
        )
        .await;
        problem(
            b.post(
                &format!("/api/v1/orgs/{org}/invitations"),
                &ada_token,
                json!({"email": "x@two.example", "role": "admin"}),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
        let page = b
            .http
            .get(format!("{}/orgs/{org}/settings/members", b.base_url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::FORBIDDEN);

        // Removed on A: to B the organisation no longer exists for her.
        assert_eq!(
            a.delete(&format!("/api/v1/orgs/{org}/members/{ada}"), &admin_token)
                .await
                .status(),
            StatusCode::OK
        );
        problem(
            b.get(&format!("/api/v1/orgs/{org}/members"), &ada_token)
                .await,
            404,
            "not_found",
        )
        .await;
        problem(
            b.get(&format!("/api/v1/orgs/{org}/it-contacts"), &ada_token)
                .await,
            404,
            "not_found",
        )
        .await;
        let page = b
            .http
            .get(format!("{}/orgs/{org}/settings", b.base_url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        let orgs: Value = b
            .get("/api/v1/orgs", &ada_token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(orgs["orgs"].as_array().unwrap().len(), 0);
    }

    async fn an_invitation_mails_a_single_use_link_that_a_new_person_accepts(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, token) = app.org_with_admin("Invite Ltd").await;
        let r = invite(app, &org, &token, " Grace@Invite.Example ", "admin").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("inv_"), "{created}");
        assert_eq!(created["email"], "Grace@invite.example");
        assert_eq!(created["role"], "admin");
        assert_eq!(created["status"], "pending");
        assert_eq!(created["mail"], "sent");
        let expires = time::OffsetDateTime::parse(
            created["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let created_at = time::OffsetDateTime::parse(
            created["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!((expires - created_at).whole_days(), 7);

        // The mail names the organisation and who invited; the link is absolute.
        let (subject, text) = mail_text(&env.sink, "grace@invite.example");
        assert!(subject.contains("Invite Ltd"), "{subject}");
        assert!(subject.contains("Test User"), "{subject}");
        assert!(
            text.contains("Test User has invited you to join Invite Ltd"),
            "{text}"
        );
        assert!(text.contains("as an administrator"), "{text}");
        let link = link_to(&env.sink, "grace@invite.example");
        assert!(
            link.starts_with(&format!("{}/invitations/", app.base_url)),
            "{link}"
        );
        let secret = link.rsplit('/').next().unwrap().to_owned();

        // Listed as pending (the link itself never is).
        let list: Value = app
            .get(&format!("/api/v1/orgs/{org}/invitations"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["limit"], 100);
        assert_eq!(list["invitations"].as_array().unwrap().len(), 1);
        assert_eq!(list["invitations"][0]["id"], id.as_str());
        assert!(!list.to_string().contains(&secret));

        // Only the link's SHA-256 is stored (SQLite: the secret is nowhere in the files).
        if backend == Backend::Sqlite {
            let file = smartcore_storage::sqlite_file_of_url(&app.database_url).unwrap();
            let mut bytes = std::fs::read(&file).unwrap();
            if let Ok(wal) = std::fs::read(format!("{}-wal", file.display())) {
                bytes.extend(wal);
            }
            let hash = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(secret.as_bytes()))
            };
            let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
            assert!(!contains(secret.as_bytes()), "the secret is not stored");
            assert!(contains(hash.as_bytes()), "its hash is");
        }

        // Tampered: 404. The page: who invited whom, to what.
        let mut tampered = link.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            app.http.get(&tampered).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        let page = app.http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Invite Ltd")
                && html.contains("Test User")
                && html.contains("an administrator"),
            "{html}"
        );
        assert!(html.contains("name=\"name\"") && html.contains("name=\"password\""));

        // Bad input changes nothing: a short password, a name with a line break.
        let r = accept_new(app, &link, "Grace Hopper", "short").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("at least 10 characters"));
        let r = accept_new(
            app,
            &link,
            "Grace\r\nBcc: x@evil.example",
            "a long enough password",
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let r = accept_new(app, &link, "", "a long enough password").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // Joining: signed in, sent to the settings, an administrator at once.
        let r = accept_new(app, &link, "Grace <b>Hopper</b>", "a long enough password").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            format!("/orgs/{org}/settings").as_str()
        );
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = app
            .page(&format!("/orgs/{org}/settings/members"), &cookie)
            .await;
        assert!(
            html.contains("Grace &#60;b&#62;Hopper&#60;/b&#62;")
                || html.contains("Grace &lt;b&gt;Hopper&lt;/b&gt;"),
            "escaped: {html}"
        );
        let body = members_page_json(app, &org, &token, "q=grace").await;
        assert_eq!(body["members"][0]["role"], "admin");
        assert_eq!(body["members"][0]["email"], "Grace@invite.example");

        // Used: 410, and no longer pending; the audit log says who accepted.
        let again = app.http.get(&link).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::GONE);
        assert!(again.text().await.unwrap().contains("used"));
        assert_eq!(
            accept_new(app, &link, "Someone", "a long enough password")
                .await
                .status(),
            StatusCode::GONE
        );
        let list: Value = app
            .get(&format!("/api/v1/orgs/{org}/invitations"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert!(list["invitations"].as_array().unwrap().is_empty());
        let events = audit_actions(app, &org, &token).await;
        assert!(
            events
                .iter()
                .any(|e| e["action"] == "invitation.created" && e["target"] == id.as_str())
        );
        assert!(
            events
                .iter()
                .any(|e| e["action"] == "invitation.accepted" && e["target"] == id.as_str())
        );

        // She is a member now: inviting her again is refused clearly.
        problem(
            invite(app, &org, &token, "grace@INVITE.example", "member").await,
            409,
            "already_a_member",
        )
        .await;
    }

    async fn invitations_are_refused_clearly_and_links_expire_or_are_revoked(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, token) = app.org_with_admin("Refusals").await;
        for (email, code) in [
            ("not an address", "invalid_email"),
            ("Grace <grace@refusals.example>", "invalid_email"),
            (
                "grace@refusals.example\r\nBcc: x@evil.example",
                "invalid_email",
            ),
            ("a@b", "invalid_email"),
        ] {
            problem(invite(app, &org, &token, email, "member").await, 422, code).await;
        }
        problem(
            invite(app, &org, &token, "grace@refusals.example", "owner").await,
            422,
            "invalid_role",
        )
        .await;
        let r = app
            .post(
                &format!("/api/v1/orgs/{org}/invitations"),
                &token,
                json!({ "email": "grace@refusals.example" }),
            )
            .await;
        problem(r, 422, "invalid_request").await;
        assert!(env.sink.messages().is_empty(), "nothing was sent");

        // An address invited already (whatever its case) is refused.
        let first: Value = invite(app, &org, &token, "grace@refusals.example", "member")
            .await
            .json()
            .await
            .unwrap();
        problem(
            invite(app, &org, &token, "GRACE@refusals.example", "admin").await,
            409,
            "already_invited",
        )
        .await;

        // Revoked: its link answers 410.
        let link = link_to(&env.sink, "grace@refusals.example");
        let r = app
            .delete(
                &format!(
                    "/api/v1/orgs/{org}/invitations/{}",
                    first["id"].as_str().unwrap()
                ),
                &token,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "revoked");
        let gone = app.http.get(&link).send().await.unwrap();
        assert_eq!(gone.status(), StatusCode::GONE);
        assert!(gone.text().await.unwrap().contains("revoked"));
        problem(
            app.delete(
                &format!(
                    "/api/v1/orgs/{org}/invitations/{}",
                    first["id"].as_str().unwrap()
                ),
                &token,
            )
            .await,
            404,
            "not_found",
        )
        .await;

        // Resent: a new link; the earlier one answers 410 (replaced).
        let second: Value = invite(app, &org, &token, "grace@refusals.example", "member")
            .await
            .json()
            .await
            .unwrap();
        let id = second["id"].as_str().unwrap().to_owned();
        let old_link = link_to(&env.sink, "grace@refusals.example");
        env.clock.advance_millis(3 * 86_400_000);
        let r = app
            .request(
                Method::POST,
                &format!("/api/v1/orgs/{org}/invitations/{id}/resend"),
                Some(&token),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let resent: Value = r.json().await.unwrap();
        assert_eq!(resent["id"], id.as_str());
        assert_ne!(resent["expires_at"], second["expires_at"]);
        let new_link = link_to(&env.sink, "grace@refusals.example");
        assert_ne!(new_link, old_link);
        assert_eq!(
            app.http.get(&old_link).send().await.unwrap().status(),
            StatusCode::GONE
        );
        assert_eq!(
            app.http.get(&new_link).send().await.unwrap().status(),
            StatusCode::OK
        );

        // Expired after 7 days: 410; listed as expired; the address can be invited afresh.
        env.clock.advance_millis(7 * 86_400_000 + 1000);
        let expired = app.http.get(&new_link).send().await.unwrap();
        assert_eq!(expired.status(), StatusCode::GONE);
        assert!(expired.text().await.unwrap().contains("expired"));
        assert_eq!(
            accept_new(app, &new_link, "Grace", "a long enough password")
                .await
                .status(),
            StatusCode::GONE
        );
        let list: Value = app
            .get(&format!("/api/v1/orgs/{org}/invitations"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["invitations"][0]["status"], "expired");
        assert_eq!(
            invite(app, &org, &token, "grace@refusals.example", "admin")
                .await
                .status(),
            StatusCode::CREATED
        );
        let events = audit_actions(app, &org, &token).await;
        for action in [
            "invitation.created",
            "invitation.revoked",
            "invitation.resent",
        ] {
            assert!(events.iter().any(|e| e["action"] == action), "{action}");
        }
    }

    async fn someone_with_an_account_signs_in_to_join(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, token) = app.org_with_admin("Existing").await;
        // Linus has an account (in another organisation) and is an IT contact here: that
        // grants nothing (R2), and he joins like anyone else.
        let (other, _) = app.org_with_admin("Elsewhere").await;
        let (_, linus_token) = app
            .member(&other, "Linus", "linus@existing.example", Role::Member)
            .await;
        app.add_manual(&org, &token, "linus@existing.example").await;
        problem(
            app.get(&format!("/api/v1/orgs/{org}/members"), &linus_token)
                .await,
            404,
            "not_found",
        )
        .await;

        invite(app, &org, &token, "linus@existing.example", "member").await;
        let link = link_to(&env.sink, "linus@existing.example");
        let html = app
            .http
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Sign in and join"), "{html}");
        assert!(!html.contains("name=\"name\""));

        let r = app
            .http
            .post(&link)
            .form(&[("password", "the wrong password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("not right"));
        let r = app
            .http
            .post(&link)
            .form(&[("password", "a long enough password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let orgs: Value = app
            .get("/api/v1/orgs", &linus_token)
            .await
            .json()
            .await
            .unwrap();
        let roles: Vec<(&str, &str)> = orgs["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["id"].as_str().unwrap(), o["role"].as_str().unwrap()))
            .collect();
        assert!(roles.contains(&(org.as_str(), "member")), "{orgs}");
        // A member, not an administrator: still nothing to manage.
        problem(
            app.get(&format!("/api/v1/orgs/{org}/members"), &linus_token)
                .await,
            403,
            "forbidden",
        )
        .await;
    }

    async fn an_account_without_a_password_sets_one_to_join(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, token) = app.org_with_admin("Passwordless").await;
        // Imported elsewhere (no password: cannot sign in), invited here.
        let (other, _) = app.org_with_admin("Importer").await;
        let other = app.app.operations().find_org(&other).await.unwrap();
        app.app
            .accounts()
            .create_user("imported@pw.example", Some("Imo Ported"), None, false)
            .await
            .unwrap();
        app.app
            .operations()
            .add_member(&other, "imported@pw.example", Role::Member)
            .await
            .unwrap();
        invite(app, &org, &token, "imported@pw.example", "admin").await;
        let link = link_to(&env.sink, "imported@pw.example");
        let html = app
            .http
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Set a password for your account"), "{html}");
        assert!(!html.contains("name=\"name\""));
        let r = app
            .http
            .post(&link)
            .form(&[("password", "a long enough password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // The account keeps its name, can sign in now, and administers the organisation.
        let cookie = app.sign_in("imported@pw.example").await;
        let html = app
            .page(&format!("/orgs/{org}/settings/members"), &cookie)
            .await;
        assert!(html.contains("Imo Ported"));
    }

    async fn two_browsers_accepting_one_link_make_exactly_one_member(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, token) = app.org_with_admin("Race").await;
        for round in 0..3 {
            let email = format!("racer{round}@race.example");
            invite(app, &org, &token, &email, "member").await;
            let link = link_to(&env.sink, &email);
            let (a, b) = tokio::join!(
                accept_new(app, &link, "Browser A", "a long enough password"),
                accept_new(app, &link, "Browser B", "a long enough password"),
            );
            let mut statuses = [a.status().as_u16(), b.status().as_u16()];
            statuses.sort();
            assert_eq!(statuses, [303, 410], "round {round}");
            let body = members_page_json(app, &org, &token, &format!("q=racer{round}")).await;
            assert_eq!(body["members"].as_array().unwrap().len(), 1);
        }
    }

    async fn invitations_are_limited_per_administrator_and_per_organisation(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, token) = app.org_with_admin("Flood").await;
        let batch = |start: usize, count: usize| {
            (start..start + count)
                .map(|i| format!("p{i}@flood.example"))
                .collect::<Vec<_>>()
        };
        for email in batch(0, 20) {
            assert_eq!(
                invite(app, &org, &token, &email, "member").await.status(),
                StatusCode::CREATED
            );
        }
        // The 21st within a minute: 429 with Retry-After, and nothing created.
        let r = invite(app, &org, &token, "late@flood.example", "member").await;
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        problem(r, 429, "rate_limited").await;
        let list: Value = app
            .get(&format!("/api/v1/orgs/{org}/invitations"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["invitations"].as_array().unwrap().len(), 20);
        // Resending counts too.
        let id = list["invitations"][0]["id"].as_str().unwrap().to_owned();
        let r = app
            .request(
                Method::POST,
                &format!("/api/v1/orgs/{org}/invitations/{id}/resend"),
                Some(&token),
            )
            .send()
            .await
            .unwrap();
        problem(r, 429, "rate_limited").await;
        // Another administrator has their own minute.
        let (_, other) = app
            .member(&org, "Other Admin", "other@flood.example", Role::Admin)
            .await;
        assert_eq!(
            invite(app, &org, &other, "late@flood.example", "member")
                .await
                .status(),
            StatusCode::CREATED
        );

        // At most 100 pending per organisation, however slowly they are sent.
        // 21 pending now (one from the other administrator): 79 more make 100.
        for (start, count) in [(20, 20), (40, 20), (60, 20), (80, 19)] {
            env.clock.advance_millis(61_000);
            for email in batch(start, count) {
                assert_eq!(
                    invite(app, &org, &token, &email, "member").await.status(),
                    StatusCode::CREATED,
                    "{email}"
                );
            }
        }
        env.clock.advance_millis(61_000);
        let list: Value = app
            .get(&format!("/api/v1/orgs/{org}/invitations"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["invitations"].as_array().unwrap().len(), 100);
        problem(
            invite(app, &org, &token, "one-too-many@flood.example", "member").await,
            409,
            "invitation_limit_reached",
        )
        .await;
        // Revoking one makes room.
        let id = list["invitations"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.delete(&format!("/api/v1/orgs/{org}/invitations/{id}"), &token)
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            invite(app, &org, &token, "one-too-many@flood.example", "member")
                .await
                .status(),
            StatusCode::CREATED
        );
    }

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

    async fn the_authorisation_matrix_over_every_new_endpoint_and_page(backend: Backend) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, admin) = app.org_with_admin("Matrix").await;
        let (member_id, member) = app
            .member(&org, "Mem Ber", "member@matrix.example", Role::Member)
            .await;
        let (other_org, other_admin) = app.org_with_admin("Other").await;
        let _ = other_org;
        let contact = app.user("contact@matrix.example", false).await;
        app.add_manual(&org, &admin, "contact@matrix.example").await;
        let staff = app.user("staff@matrix.example", true).await;
        let inv: Value = invite(app, &org, &admin, "invitee@matrix.example", "member")
            .await
            .json()
            .await
            .unwrap();
        let inv = inv["id"].as_str().unwrap().to_owned();

        let api: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/orgs/{org}/members"), None),
            (
                Method::PATCH,
                format!("/api/v1/orgs/{org}/members/{member_id}"),
                Some(json!({"role": "member"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/orgs/{org}/members/usr_nobody"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{org}/invitations"),
                Some(json!({"email": "new@matrix.example", "role": "member"})),
            ),
            (Method::GET, format!("/api/v1/orgs/{org}/invitations"), None),
            (
                Method::POST,
                format!("/api/v1/orgs/{org}/invitations/{inv}/resend"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/orgs/{org}/invitations/inv_nobody"),
                None,
            ),
        ];
        let call = |method: Method, path: String, body: Option<Value>, token: Option<String>| {
            let mut rb = app.request(method, &path, token.as_deref());
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            async move { rb.send().await.unwrap() }
        };
        for (method, path, body) in &api {
            let what = format!("{method} {path}");
            problem(
                call(method.clone(), path.clone(), body.clone(), None).await,
                401,
                "unauthenticated",
            )
            .await;
            problem(
                call(
                    method.clone(),
                    path.clone(),
                    body.clone(),
                    Some(member.clone()),
                )
                .await,
                403,
                "forbidden",
            )
            .await;
            for (who, token) in [
                ("IT contact", &contact),
                ("other admin", &other_admin),
                ("staff", &staff),
            ] {
                let r = call(
                    method.clone(),
                    path.clone(),
                    body.clone(),
                    Some(token.clone()),
                )
                .await;
                assert_eq!(r.status(), StatusCode::NOT_FOUND, "{who}: {what}");
            }
            let r = call(
                method.clone(),
                path.clone(),
                body.clone(),
                Some(admin.clone()),
            )
            .await;
            let expected: &[u16] = if path.ends_with("nobody") {
                &[404]
            } else {
                &[200, 201]
            };
            assert!(
                expected.contains(&r.status().as_u16()),
                "admin: {what}: {}",
                r.status()
            );
        }

        // Pages: the sign-in page for nobody, 403 for a member, 404 for the others.
        let pages = [
            format!("/orgs/{org}/settings/members"),
            format!("/orgs/{org}/settings/members/{member_id}/role?role=admin"),
            format!("/orgs/{org}/settings/members/{member_id}/remove"),
            format!("/orgs/{org}/settings/members/invitations/{inv}/revoke"),
        ];
        let cookies = [
            ("member", app.sign_in("member@matrix.example").await, 403),
            (
                "IT contact",
                app.sign_in("contact@matrix.example").await,
                404,
            ),
            ("staff", app.sign_in("staff@matrix.example").await, 404),
        ];
        for path in &pages {
            let r = app
                .http
                .get(format!("{}{path}", app.base_url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "anonymous: {path}");
            assert_eq!(r.headers()["location"], "/sign-in");
            for (who, cookie, status) in &cookies {
                let r = app
                    .http
                    .get(format!("{}{path}", app.base_url))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), *status, "{who}: {path}");
            }
        }
        // The form posts refuse alike and change nothing.
        let posts = [
            (
                format!("/orgs/{org}/settings/members/invitations"),
                vec![("email", "x@matrix.example"), ("role", "admin")],
            ),
            (
                format!("/orgs/{org}/settings/members/{member_id}/role"),
                vec![("role", "admin")],
            ),
            (
                format!("/orgs/{org}/settings/members/{member_id}/remove"),
                vec![],
            ),
            (
                format!("/orgs/{org}/settings/members/invitations/{inv}/revoke"),
                vec![],
            ),
            (
                format!("/orgs/{org}/settings/members/invitations/{inv}/resend"),
                vec![],
            ),
        ];
        for (path, form) in &posts {
            for (who, cookie, status) in &cookies {
                let r = app
                    .http
                    .post(format!("{}{path}", app.base_url))
                    .header("cookie", cookie)
                    .form(form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), *status, "{who}: POST {path}");
            }
        }
        let body = members_page_json(app, &org, &admin, "q=member").await;
        assert_eq!(body["members"][0]["role"], "member");
        // The settings index and the organisation page: any member; not the others.
        for path in [
            format!("/orgs/{org}/settings"),
            format!("/orgs/{org}/settings/organisation"),
            format!("/orgs/{org}/settings/general"),
        ] {
            for (who, cookie, status) in &cookies {
                let r = app
                    .http
                    .get(format!("{}{path}", app.base_url))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                let expected = if *status == 403 { 200 } else { 404 };
                assert_eq!(r.status().as_u16(), expected, "{who}: {path}");
            }
        }
    }
    on_each_backend!(
        a_demoted_or_removed_person_loses_access_at_once_on_every_instance,
        an_invitation_mails_a_single_use_link_that_a_new_person_accepts,
        invitations_are_refused_clearly_and_links_expire_or_are_revoked,
        someone_with_an_account_signs_in_to_join,
        an_account_without_a_password_sets_one_to_join,
        two_browsers_accepting_one_link_make_exactly_one_member,
        invitations_are_limited_per_administrator_and_per_organisation,
        the_cli_invites_changes_roles_and_removes,
        the_authorisation_matrix_over_every_new_endpoint_and_page
    );
}

mod navigation {
    use super::*;

    async fn every_signed_in_page_leads_to_settings_and_its_sections_are_links(app: TestApp) {
        let (org, token) = app.org_with_admin("Navigation").await;
        let email = members_page_json(&app, &org, &token, "").await["members"][0]["email"]
            .as_str()
            .unwrap()
            .to_owned();
        let cookie = app.sign_in(&email).await;
        for path in [
            format!("/orgs/{org}/settings/authentication"),
            format!("/orgs/{org}/settings/sso"),
            format!("/orgs/{org}/settings/audit-log"),
            format!("/orgs/{org}/settings/members"),
            format!("/orgs/{org}/settings/general"),
            format!("/orgs/{org}/settings/organisation"),
            format!("/orgs/{org}/settings"),
        ] {
            let html = app.page(&path, &cookie).await;
            assert!(
                html.contains(&format!("<a href=\"/orgs/{org}/settings\">Settings</a>"))
                    || html.contains(&format!(
                        "href=\"/orgs/{org}/settings\" aria-current=\"page\">Settings</a>"
                    )),
                "{path}: {html}"
            );
        }
        let html = app.page("/account", &cookie).await;
        assert!(html.contains("<a href=\"/settings\">Settings</a>"));
        let r = app
            .http
            .get(format!("{}/settings", app.base_url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["location"],
            format!("/orgs/{org}/settings").as_str()
        );

        let index = app.page(&format!("/orgs/{org}/settings"), &cookie).await;
        for (href, label) in [
            ("organisation", "Organisation"),
            ("general", "General"),
            ("members", "Members"),
            ("authentication", "Authentication"),
            ("sso", "Single Sign-On"),
            ("audit-log", "Audit log"),
        ] {
            assert!(
                index.contains(&format!(
                    "<a href=\"/orgs/{org}/settings/{href}\">{label}</a>"
                )),
                "{label}: {index}"
            );
        }
        // The breadcrumb's parts are links.
        let html = app
            .page(&format!("/orgs/{org}/settings/authentication"), &cookie)
            .await;
        assert!(html.contains(&format!("<li><a href=\"/orgs/{org}/settings\">Settings</a></li><li><a href=\"/orgs/{org}/settings/organisation\">Organisation</a></li>")), "{html}");
        let general = app
            .page(&format!("/orgs/{org}/settings/general"), &cookie)
            .await;
        assert!(general.contains("Navigation"));
    }
    on_both_databases!(every_signed_in_page_leads_to_settings_and_its_sections_are_links);
}

/// Issue 24: an invitation carries its sender's authority, and ends with it.
mod authority {
    use super::*;

    async fn a_demoted_or_removed_administrators_invitations_are_revoked_and_refused(
        backend: Backend,
    ) {
        let Some(env) = env(backend).await else {
            return;
        };
        let app = &env.app;
        let (org, owner) = app.org_with_admin("Authority Ltd").await;
        let (bob, bob_token) = app
            .member(&org, "Bob Admin", "bob@authority.example", Role::Admin)
            .await;
        let (carol, carol_token) = app
            .member(&org, "Carol Admin", "carol@authority.example", Role::Admin)
            .await;
        assert_eq!(
            invite(app, &org, &bob_token, "mallory@authority.example", "admin")
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            invite(app, &org, &bob_token, "mo@authority.example", "member")
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            invite(app, &org, &carol_token, "dave@authority.example", "admin")
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            invite(app, &org, &owner, "olive@authority.example", "admin")
                .await
                .status(),
            StatusCode::CREATED
        );
        let mallory_link = link_to(&env.sink, "mallory@authority.example");
        let dave_link = link_to(&env.sink, "dave@authority.example");

        // Bob demoted: both his invitations are revoked, audited with the reason.
        assert_eq!(
            patch_role(app, &org, &owner, &bob, "member").await.status(),
            StatusCode::OK
        );
        let pending: Value = app
            .get(&format!("/api/v1/orgs/{org}/invitations"), &owner)
            .await
            .json()
            .await
            .unwrap();
        let emails: Vec<&str> = pending["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            emails,
            ["dave@authority.example", "olive@authority.example"]
        );
        let events = audit_actions(app, &org, &owner).await;
        let revoked: Vec<&Value> = events
            .iter()
            .filter(|e| e["action"] == "invitation.revoked")
            .collect();
        assert_eq!(revoked.len(), 2, "{events:?}");
        assert!(
            revoked
                .iter()
                .all(|e| e["details"]["reason"] == "inviter_demoted"
                    && e["details"]["invited_by"] == bob.as_str()),
            "{revoked:?}"
        );
        let r = accept_new(app, &mallory_link, "Mallory", "a long enough password").await;
        assert_eq!(r.status(), StatusCode::GONE);

        // Carol removed: hers too.
        assert_eq!(
            app.delete(&format!("/api/v1/orgs/{org}/members/{carol}"), &owner)
                .await
                .status(),
            StatusCode::OK
        );
        let events = audit_actions(app, &org, &owner).await;
        assert!(
            events.iter().any(|e| e["action"] == "invitation.revoked"
                && e["details"]["reason"] == "inviter_removed"
                && e["details"]["email"] == "dave@authority.example"),
            "{events:?}"
        );
        assert_eq!(
            accept_new(app, &dave_link, "Dave", "a long enough password")
                .await
                .status(),
            StatusCode::GONE
        );
        let members = members_page_json(app, &org, &owner, "limit=50").await;
        assert!(
            !members.to_string().contains("mallory@") && !members.to_string().contains("dave@"),
            "{members}"
        );

        // Acceptance checks the inviter itself: Bob, an administrator again, invites; his
        // role is then taken away behind the service's back (as an older version left
        // invitations behind): the link no longer lets anyone join.
        assert_eq!(
            patch_role(app, &org, &owner, &bob, "admin").await.status(),
            StatusCode::OK
        );
        assert_eq!(
            invite(app, &org, &bob_token, "erin@authority.example", "admin")
                .await
                .status(),
            StatusCode::CREATED
        );
        let erin_link = link_to(&env.sink, "erin@authority.example");
        assert_eq!(
            app.http.get(&erin_link).send().await.unwrap().status(),
            StatusCode::OK
        );
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
        sqlx::query("UPDATE memberships SET role = 'member' WHERE user_id = $1")
            .bind(&bob)
            .execute(&pool)
            .await
            .unwrap();
        let r = app.http.get(&erin_link).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::GONE);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("no longer an administrator")
        );
        assert_eq!(
            accept_new(app, &erin_link, "Erin", "a long enough password")
                .await
                .status(),
            StatusCode::GONE
        );
        let members = members_page_json(app, &org, &owner, "limit=50").await;
        assert!(!members.to_string().contains("erin@"), "{members}");

        // A disabled administrator's invitations are revoked with the account.
        sqlx::query("UPDATE memberships SET role = 'admin' WHERE user_id = $1")
            .bind(&bob)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            invite(app, &org, &bob_token, "fay@authority.example", "member")
                .await
                .status(),
            StatusCode::CREATED
        );
        let fay_link = link_to(&env.sink, "fay@authority.example");
        let disabled = crate::support::smartcore_cli(
            &app.database_url,
            &["user", "disable", "bob@authority.example"],
        );
        assert!(
            disabled.status.success(),
            "{}",
            String::from_utf8_lossy(&disabled.stderr)
        );
        let events = audit_actions(app, &org, &owner).await;
        assert!(
            events.iter().any(|e| e["action"] == "invitation.revoked"
                && e["details"]["reason"] == "inviter_disabled"
                && e["details"]["email"] == "fay@authority.example"),
            "{events:?}"
        );
        assert_eq!(
            accept_new(app, &fay_link, "Fay", "a long enough password")
                .await
                .status(),
            StatusCode::GONE
        );

        // The owner's invitation, whose sender is still an administrator, works.
        let olive_link = link_to(&env.sink, "olive@authority.example");
        assert_eq!(
            accept_new(app, &olive_link, "Olive", "a long enough password")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
    }
    on_each_backend!(a_demoted_or_removed_administrators_invitations_are_revoked_and_refused);
}
