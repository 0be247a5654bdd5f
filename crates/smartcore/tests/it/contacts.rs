//! IT contacts end to end through the real HTTP stack (R3–R7, D1–D5).

use crate::support::{TestApp, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use smartcore_domain::Role;

async fn an_address_entered_manually_becomes_a_pending_contact(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let c = app
        .add_contact(
            &org,
            &token,
            json!({ "email": "  IT.Partner@Example.COM ", "name": " Partner IT " }),
        )
        .await;
    assert_eq!(c.status(), StatusCode::CREATED);
    let c: Value = c.json().await.unwrap();
    assert!(c["id"].as_str().unwrap().starts_with("itc_"));
    assert_eq!(c["email"], "IT.Partner@example.com");
    assert_eq!(c["name"], "Partner IT");
    assert_eq!(c["source"], "manual");
    assert_eq!(c["member_id"], Value::Null);
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(c["created_by"].as_str().unwrap().starts_with("usr_"));
    let list = app.contacts(&org, &token).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], c["id"]);
}

async fn a_member_picked_from_the_organisation_keeps_the_member_link(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let (member_id, _) = app
        .member(&org, "Grace Hopper", "grace@acme.example", Role::Member)
        .await;
    let r = app
        .add_contact(&org, &token, json!({ "member_id": member_id }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["source"], "member");
    assert_eq!(c["member_id"], member_id.as_str());
    assert_eq!(c["email"], "grace@acme.example");
    assert_eq!(c["name"], "Grace Hopper");
    assert_eq!(c["still_member"], true);

    // D3: the person leaves the organisation; the contact stays, shown as no longer a member.
    let org_id = smartcore_domain::OrgId::parse(&org).unwrap();
    let user_id = smartcore_domain::UserId::parse(&member_id).unwrap();
    app.store()
        .await
        .remove_membership(&org_id, &user_id)
        .await
        .unwrap();
    let list = app.contacts(&org, &token).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["still_member"], false);
    assert_eq!(list[0]["member_id"], member_id.as_str());
}

async fn someone_who_is_not_a_member_cannot_be_picked_as_one(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let (other_org, _) = app.org_with_admin("Globex").await;
    let (outsider, _) = app
        .member(
            &other_org,
            "Hank Scorpio",
            "hank@globex.example",
            Role::Member,
        )
        .await;
    for member_id in [
        outsider.as_str(),
        "usr_doesnotexist",
        "itc_wrongkind",
        "'; DROP TABLE users; --",
    ] {
        let r = app
            .add_contact(&org, &token, json!({ "member_id": member_id }))
            .await;
        problem(r, 422, "member_not_found").await;
    }
    assert!(app.contacts(&org, &token).await.is_empty());
}

async fn the_same_address_cannot_be_added_twice_whichever_way(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let (member_id, _) = app
        .member(&org, "Ada Lovelace", "ada@acme.example", Role::Member)
        .await;
    app.add_manual(&org, &token, "ADA@Acme.Example").await;
    let r = app
        .add_contact(&org, &token, json!({ "member_id": member_id }))
        .await;
    let body = problem(r, 409, "already_a_contact").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("already an IT contact")
    );
    let r = app
        .add_contact(&org, &token, json!({ "email": "ada@ACME.example" }))
        .await;
    problem(r, 409, "already_a_contact").await;
    assert_eq!(app.contacts(&org, &token).await.len(), 1);
}

async fn twenty_is_the_most(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for i in 0..20 {
        app.add_manual(&org, &token, &format!("it{i}@acme.example"))
            .await;
    }
    let r = app
        .add_contact(&org, &token, json!({ "email": "one-more@acme.example" }))
        .await;
    let body = problem(r, 409, "contact_limit_reached").await;
    assert!(body["detail"].as_str().unwrap().contains("20"));
    let r = app
        .get(&format!("/api/v1/orgs/{org}/it-contacts"), &token)
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["contacts"].as_array().unwrap().len(), 20);
    assert_eq!(body["limit"], 20);
    assert_eq!(body["recommended_minimum"], 2);
    // Oldest first.
    assert_eq!(body["contacts"][0]["email"], "it0@acme.example");
    assert_eq!(body["contacts"][19]["email"], "it19@acme.example");
}

async fn fifty_concurrent_adds_at_nineteen_end_with_exactly_twenty(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for i in 0..19 {
        app.add_manual(&org, &token, &format!("it{i}@acme.example"))
            .await;
    }
    let requests = (0..50).map(|i| {
        let (app, org, token) = (&app, &org, &token);
        async move {
            app.add_contact(
                org,
                token,
                json!({ "email": format!("racer{i}@acme.example") }),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut created = 0;
    for r in answers {
        match r.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                problem(r, 409, "contact_limit_reached").await;
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.contacts(&org, &token).await.len(), 20);
}

async fn the_last_contact_stays_while_sso_is_enabled(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let first = app.add_manual(&org, &token, "first@acme.example").await;
    let org_id = smartcore_domain::OrgId::parse(&org).unwrap();
    app.store()
        .await
        .set_sso_status(&org_id, "enabled")
        .await
        .unwrap();
    let path = format!(
        "/api/v1/orgs/{org}/it-contacts/{}",
        first["id"].as_str().unwrap()
    );
    let body = problem(
        app.delete(&path, &token).await,
        409,
        "last_contact_required",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Add another IT contact")
    );
    assert_eq!(app.contacts(&org, &token).await.len(), 1);
    // With a second contact, the first can go.
    app.add_manual(&org, &token, "second@acme.example").await;
    assert_eq!(app.delete(&path, &token).await.status(), StatusCode::OK);
    assert_eq!(app.contacts(&org, &token).await.len(), 1);
}

async fn malformed_bodies_are_refused_and_change_nothing(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let path = format!("/api/v1/orgs/{org}/it-contacts");
    let send = |body: Vec<u8>, content_type: &'static str| {
        app.request(reqwest::Method::POST, &path, Some(&token))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, &str, u16)> = vec![
        (b"{not json".to_vec(), "application/json", 400),
        (b"".to_vec(), "application/json", 400),
        (
            vec![b'{', b'"', b'e', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            "application/json",
            400,
        ),
        (br#"{"email":"a@acme.example"}"#.to_vec(), "text/plain", 400),
        (
            br#"{"email":"a@acme.example","admin":true}"#.to_vec(),
            "application/json",
            422,
        ),
        (br#"{"email":42}"#.to_vec(), "application/json", 422),
        (br#"[]"#.to_vec(), "application/json", 422),
        (br#"{}"#.to_vec(), "application/json", 422),
        (
            br#"{"name":"Only A Name"}"#.to_vec(),
            "application/json",
            422,
        ),
        (
            br#"{"member_id":"usr_x","email":"a@acme.example"}"#.to_vec(),
            "application/json",
            422,
        ),
        (
            format!(
                r#"{{"email":"a@acme.example","name":"{}"}}"#,
                "x".repeat(70 * 1024)
            )
            .into_bytes(),
            "application/json",
            400,
        ),
    ];
    for (body, content_type, status) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let r = send(body, content_type).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{shown}");
        problem(r, status, "invalid_request").await;
    }
    assert!(app.contacts(&org, &token).await.is_empty());
}

async fn addresses_and_names_are_checked_as_the_rules_say(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for bad in [
        "not an address",
        "Ada <ada@acme.example>",
        "ada@acme.example\r\nBcc: everyone@acme.example",
        "ada@localhost",
        "ada@[10.0.0.1]",
        "\"ada\"@acme.example",
        "ädä@acme.example",
        "",
    ] {
        let r = app.add_contact(&org, &token, json!({ "email": bad })).await;
        let body = problem(r, 422, "invalid_email").await;
        assert_eq!(body["field"], "email");
    }
    for bad_name in [
        "x".repeat(101),
        "Ada\nLovelace".to_owned(),
        "Bell\u{7}".to_owned(),
    ] {
        let r = app
            .add_contact(
                &org,
                &token,
                json!({ "email": "ok@acme.example", "name": bad_name }),
            )
            .await;
        problem(r, 422, "invalid_name").await;
    }
    assert!(app.contacts(&org, &token).await.is_empty());

    // Markup is stored and returned as text; a look-alike domain is stored IDNA-encoded.
    let c = app
        .add_contact(
            &org,
            &token,
            json!({ "email": "x@acme.example", "name": "<script>alert('hi')</script>" }),
        )
        .await;
    let c: Value = c.json().await.unwrap();
    assert_eq!(c["name"], "<script>alert('hi')</script>");
    let c = app.add_manual(&org, &token, "it@аcme.example").await;
    assert!(c["email"].as_str().unwrap().starts_with("it@xn--"), "{c}");
    let c = app
        .add_manual(&org, &token, "o'brien+it@bücher.example")
        .await;
    assert_eq!(c["email"], "o'brien+it@xn--bcher-kva.example");
    assert_eq!(app.contacts(&org, &token).await.len(), 3);
}

async fn member_search_finds_by_name_or_address_and_says_who_is_a_contact(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let (ada, _) = app
        .member(&org, "Ada Lovelace", "ada@acme.example", Role::Member)
        .await;
    app.member(&org, "Alan Turing", "alan@acme.example", Role::Member)
        .await;
    app.member(&org, "Grace Hopper", "grace_h@acme.example", Role::Admin)
        .await;
    app.member(&org, "100% Sure", "percent@acme.example", Role::Member)
        .await;
    app.add_contact(&org, &token, json!({ "member_id": ada }))
        .await;
    let search = |q: &'static str| {
        let (app, org, token) = (&app, &org, &token);
        async move {
            let r = app
                .request(
                    reqwest::Method::GET,
                    &format!("/api/v1/orgs/{org}/members"),
                    Some(token),
                )
                .query(&[("q", q)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let body: Value = r.json().await.unwrap();
            body["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("LOVE").await, ["Ada Lovelace"]);
    assert_eq!(search("al").await, ["Alan Turing"]);
    assert_eq!(search("grace_").await, ["Grace Hopper"]);
    assert_eq!(search("_h").await, ["Grace Hopper"]);
    assert_eq!(search("%").await, ["100% Sure"]);
    assert!(search("' OR 1=1 --").await.is_empty());
    // Full-text query syntax is matched literally too.
    assert!(search("ada\" OR \"turing").await.is_empty());
    assert!(search("lov*").await.is_empty());
    assert_eq!(search("\"lovelace\"").await, Vec::<String>::new());
    assert!(search("zzz").await.is_empty());
    let r = app
        .get(&format!("/api/v1/orgs/{org}/members?q=ada"), &token)
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["members"][0]["is_it_contact"], true);
    assert_eq!(body["members"][0]["email"], "ada@acme.example");
    assert_eq!(body["members"][0]["role"], "member");
    let r = app
        .get(&format!("/api/v1/orgs/{org}/members?q=a&limit=2"), &token)
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
}

async fn the_overview_shows_the_checklist(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let r = app
        .get(&format!("/api/v1/orgs/{org}/authentication"), &token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["it_contacts"], json!({ "count": 0, "limit": 20 }));
    assert_eq!(body["checklist"]["it_contact_added"], false);
    assert_eq!(body["checklist"]["ready_to_enable_sso"], false);
    app.add_manual(&org, &token, "it@acme.example").await;
    let body: Value = app
        .get(&format!("/api/v1/orgs/{org}/authentication"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["it_contacts"]["count"], 1);
    assert_eq!(body["checklist"]["it_contact_added"], true);
}

async fn the_audit_log_records_who_did_what_newest_first(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let a = app.add_manual(&org, &token, "a@acme.example").await;
    app.add_manual(&org, &token, "b@acme.example").await;
    app.delete(
        &format!(
            "/api/v1/orgs/{org}/it-contacts/{}",
            a["id"].as_str().unwrap()
        ),
        &token,
    )
    .await;
    // Once b is synced (the queues drained), the sync adds nothing more to the log.
    app.wait_for_status(&org, &token, "b@acme.example", "synced", 10)
        .await;
    let body: Value = app
        .get(&format!("/api/v1/orgs/{org}/audit-log?limit=100"), &token)
        .await
        .json()
        .await
        .unwrap();
    let events = body["events"].as_array().unwrap();
    let removed = events
        .iter()
        .position(|e| e["action"] == "it_contact.removed")
        .expect("removal recorded");
    let added_a = events
        .iter()
        .position(|e| {
            e["action"] == "it_contact.added" && e["details"]["email"] == "a@acme.example"
        })
        .unwrap();
    assert!(removed < added_a, "newest first");
    assert_eq!(events[removed]["target"], a["id"]);
    assert_eq!(events[removed]["actor"], a["created_by"]);
    assert_eq!(events[removed]["actor_name"], "Test User");
    let admin_email = events[removed]["actor_email"].as_str().unwrap().to_owned();
    assert!(
        admin_email.starts_with("admin-") && admin_email.ends_with("@acme.example"),
        "{admin_email}"
    );
    if let Some(system) = events.iter().find(|e| e["actor"] == "system") {
        assert!(
            system.get("actor_name").is_none_or(Value::is_null),
            "{system}"
        );
        assert!(
            system.get("actor_email").is_none_or(Value::is_null),
            "{system}"
        );
    }
    let page = app
        .page(
            &format!("/orgs/{org}/settings/audit-log"),
            &app.sign_in(&admin_email).await,
        )
        .await;
    // Issue 23: who by name and address (the address may break only after "@" and dots).
    let joined = page.replace("</span><wbr><span>", "");
    assert!(
        page.contains("Test User<br>") && joined.contains(&admin_email),
        "{page}"
    );
    assert!(
        !page.contains(&format!("<td>{}</td>", a["created_by"].as_str().unwrap())),
        "the id is not shown"
    );
    assert!(events[removed]["at"].as_str().unwrap().ends_with('Z'));

    // Pagination: one at a time walks the whole log without repeats.
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(b) => format!("/api/v1/orgs/{org}/audit-log?limit=1&before={b}"),
            None => format!("/api/v1/orgs/{org}/audit-log?limit=1"),
        };
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        let events = page["events"].as_array().unwrap();
        seen.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match page["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
        assert!(seen.len() <= 100, "pagination does not end");
    }
    // The background work (the identity-side removal of a, say) may add newer entries while
    // the test runs; the walk must equal the log as it stood, everything newer coming first
    // and from the system.
    let now: Value = app
        .get(&format!("/api/v1/orgs/{org}/audit-log?limit=100"), &token)
        .await
        .json()
        .await
        .unwrap();
    let now = now["events"].as_array().unwrap();
    assert!(now.len() >= seen.len(), "the log lost entries: {now:?}");
    let (newer, walked) = now.split_at(now.len() - seen.len());
    let walked: Vec<&str> = walked.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(seen, walked);
    for event in newer {
        assert_eq!(
            event["actor"], "system",
            "only background work adds entries: {event}"
        );
    }
    let before_walk: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        walked.ends_with(&before_walk),
        "the walk includes everything seen before it"
    );
}
on_both_databases!(
    an_address_entered_manually_becomes_a_pending_contact,
    a_member_picked_from_the_organisation_keeps_the_member_link,
    someone_who_is_not_a_member_cannot_be_picked_as_one,
    the_same_address_cannot_be_added_twice_whichever_way,
    twenty_is_the_most,
    fifty_concurrent_adds_at_nineteen_end_with_exactly_twenty,
    the_last_contact_stays_while_sso_is_enabled,
    malformed_bodies_are_refused_and_change_nothing,
    addresses_and_names_are_checked_as_the_rules_say,
    member_search_finds_by_name_or_address_and_says_who_is_a_contact,
    the_overview_shows_the_checklist,
    the_audit_log_records_who_did_what_newest_first
);
