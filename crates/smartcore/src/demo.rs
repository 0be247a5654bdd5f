//! The demo organisation: "Acme", an administrator to sign in with and about fifty members to
//! pick IT contacts from. Seeding is idempotent: running it again changes nothing.

use smartcore_app::ErrorCode;
use smartcore_app::{App, AppError, MemberRow};
use smartcore_domain::Role;

pub const DEMO_ORG: &str = "Acme";
pub const DEMO_ADMIN_EMAIL: &str = "admin@acme.example";
pub const DEMO_ADMIN_PASSWORD: &str = "smartcore-demo";
pub const DEMO_STAFF_EMAIL: &str = "ops@smartcore.example";

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Radia",
];
const LAST: &[&str] = &["Lovelace", "Hopper", "Turing", "Johnson", "Torvalds"];

#[derive(Debug, serde::Serialize)]
pub struct DemoInfo {
    pub org_id: String,
    pub org_name: String,
    pub admin_email: String,
    pub admin_password: String,
    pub staff_email: String,
    pub members: i64,
}

pub async fn seed(app: &App) -> Result<DemoInfo, AppError> {
    let org = match app.operations().find_org(DEMO_ORG).await {
        Ok(org) => org,
        Err(AppError::Invalid {
            code: ErrorCode::OrgNotFound,
            ..
        }) => app.operations().create_org(DEMO_ORG).await?,
        Err(e) => return Err(e),
    };
    for (email, name, staff) in [
        (DEMO_ADMIN_EMAIL, "Alex Admin", false),
        (DEMO_STAFF_EMAIL, "Olu Operations", true),
    ] {
        match app
            .accounts()
            .create_user(email, Some(name), Some(DEMO_ADMIN_PASSWORD), staff)
            .await
        {
            Ok(_)
            | Err(AppError::Conflict {
                code: ErrorCode::UserExists,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    app.operations()
        .add_member(&org, DEMO_ADMIN_EMAIL, Role::Admin)
        .await?;
    let rows = (0..50u64).map(|i| {
        let first = FIRST[i as usize % FIRST.len()];
        let last = LAST[i as usize / FIRST.len()];
        Ok(MemberRow {
            line: i + 1,
            name: format!("{first} {last}"),
            email: format!(
                "{}.{}@acme.example",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            role: Some("member".into()),
        })
    });
    app.operations().import_members(&org, rows, |_| {}).await?;
    Ok(DemoInfo {
        members: app.operations().member_count(&org.org_id()).await?,
        org_id: org.id,
        org_name: org.name,
        admin_email: DEMO_ADMIN_EMAIL.into(),
        admin_password: DEMO_ADMIN_PASSWORD.into(),
        staff_email: DEMO_STAFF_EMAIL.into(),
    })
}
