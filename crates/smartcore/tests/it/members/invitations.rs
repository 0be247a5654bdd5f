//! Invitations: a single-use link mailed to a new person or someone with an account, refused
//! clearly when expired, revoked or used, raced acceptances, and limits per administrator and
//! per organisation.

use super::*;

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

on_each_backend!(
    an_invitation_mails_a_single_use_link_that_a_new_person_accepts,
    invitations_are_refused_clearly_and_links_expire_or_are_revoked,
    someone_with_an_account_signs_in_to_join,
    an_account_without_a_password_sets_one_to_join,
    two_browsers_accepting_one_link_make_exactly_one_member,
    invitations_are_limited_per_administrator_and_per_organisation
);
