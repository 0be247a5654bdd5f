//! Who may do what: a demoted or removed person loses access at once on every instance, the
//! authorisation matrix over every endpoint and page of issue 12, and (issue 24) an invitation
//! carries its sender's authority and ends with it.

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

async fn a_demoted_or_removed_administrators_invitations_are_revoked_and_refused(backend: Backend) {
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

on_each_backend!(
    a_demoted_or_removed_person_loses_access_at_once_on_every_instance,
    the_authorisation_matrix_over_every_new_endpoint_and_page,
    a_demoted_or_removed_administrators_invitations_are_revoked_and_refused
);
