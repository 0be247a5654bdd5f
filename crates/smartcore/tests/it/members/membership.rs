//! The members list in pages with its search, role changes (never of the last administrator),
//! and removal, after which an IT contact stays as "no longer a member".

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
