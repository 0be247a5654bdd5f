//! `GET /api/v1/orgs`: the caller's organisations and role in each.

use crate::support::{TestApp, problem};
use serde_json::Value;
use smartcore_domain::Role;

async fn the_caller_sees_their_organisations_with_their_role_and_nothing_else(app: TestApp) {
    let acme = app.app.operations().create_org("Acme").await.unwrap();
    let globex = app.app.operations().create_org("Globex").await.unwrap();
    let _initech = app.app.operations().create_org("Initech").await.unwrap();
    let admin = app.user("pat@acme.example", false).await;
    app.app
        .operations()
        .add_member(&globex, "pat@acme.example", Role::Member)
        .await
        .unwrap();
    app.app
        .operations()
        .add_member(&acme, "pat@acme.example", Role::Admin)
        .await
        .unwrap();

    let r = app.get("/api/v1/orgs", &admin).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "orgs": [
            { "id": acme.id, "name": "Acme", "role": "admin" },
            { "id": globex.id, "name": "Globex", "role": "member" },
        ]})
    );

    let staff = app.user("ops@smartcore.example", true).await;
    let r = app.get("/api/v1/orgs", &staff).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["orgs"],
        serde_json::json!([]),
        "staff see their own memberships only"
    );

    let r = app
        .request(reqwest::Method::GET, "/api/v1/orgs", None)
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthenticated").await;
}
on_both_databases!(the_caller_sees_their_organisations_with_their_role_and_nothing_else);
