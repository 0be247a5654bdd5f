use super::*;
use serde_json::json;

fn user() -> UserId {
    UserId::parse("usr_0192ab").unwrap()
}

fn email() -> String {
    "ada@lovelace.example".to_owned()
}

/// One event of every action.
fn samples() -> Vec<AuditDetails> {
    [
        account_samples(),
        contact_samples(),
        member_samples(),
        sso_samples(),
    ]
    .concat()
}

fn account_samples() -> Vec<AuditDetails> {
    use AuditDetails as D;
    vec![
        D::UserEnabled,
        D::ApiTokenCreated(TokenCreated {
            expires_at: Some("2027-01-01T00:00:00Z".into()),
            name: "CI".into(),
            user_id: user(),
        }),
        D::ApiTokenRevoked(TokenRevoked {
            name: "CI".into(),
            user_id: user().to_string(),
        }),
        D::ApiTokenRevokedAll(TokensRevoked {
            count: 1,
            tokens: vec![TokenNamed {
                id: "tok_1".into(),
                name: "CI".into(),
            }],
            user_id: user(),
        }),
        D::UserDisabled(UserDisabled {
            sessions_ended: 3,
            tokens_revoked: 2,
        }),
    ]
}

fn contact_samples() -> Vec<AuditDetails> {
    use AuditDetails as D;
    let reason = |r: &str| ContactReason {
        email: email(),
        reason: r.into(),
    };
    vec![
        D::ItContactKept,
        D::IdentityRemovalCancelled(RemovalCancelled {
            contact_id: ContactId::parse("itc_1").unwrap(),
            email: email(),
            reason: "the address was added again".into(),
        }),
        D::IdentityRemovalCompleted(RemovalCompleted {
            email: email(),
            identity_contact_id: "idc_1".into(),
            outcome: RemovalOutcome::MarkedDone,
        }),
        D::IdentityRemovalFlagged(RemovalFlagged {
            contact_id: "itc_1".into(),
            email: email(),
            identity_contact_id: "idc_1".into(),
            reason: "registered after the contact was removed".into(),
        }),
        D::ItContactAdded(ContactAdded {
            email: email(),
            member_id: None,
            name: Some("Ada Lovelace".into()),
            source: ContactSource::Manual,
        }),
        D::ItContactNotResponsible(ContactAddress { email: email() }),
        D::ItContactRemoved(ContactRemoved {
            email: email(),
            identity_removal: IdentityRemoval::Flagged,
            registration_in_flight: None,
            removal_id: Some(RemovalId::parse("rmv_01").unwrap()),
            was: SyncStatus::Synced,
        }),
        D::ItContactSyncFailed(reason("refused")),
        D::ItContactSyncResumed(reason("a place is free")),
        D::ItContactSynced(ContactSynced {
            adopted: false,
            email: email(),
            identity_contact_id: "idc_1".into(),
        }),
        D::SetupLinksSent(SetupLinks { sent_to: 2 }),
        D::TestAlertSent(TestAlerts {
            deferred: 0,
            rejected: 1,
            sent: 2,
        }),
    ]
}

fn member_samples() -> Vec<AuditDetails> {
    use AuditDetails as D;
    let sent = InvitationSent {
        email: email(),
        role: Role::Admin,
    };
    vec![
        D::InvitationCreated(sent.clone()),
        D::InvitationResent(sent),
        D::InvitationAccepted(InvitationAccepted {
            email: email(),
            new_account: true,
            role: Role::Member,
        }),
        D::InvitationRevoked(InvitationRevoked {
            email: email(),
            invited_by: Some(user()),
            reason: Some("inviter_demoted".into()),
            role: Role::Member,
        }),
        D::MemberJoinedWithSso(MemberJoined {
            email: email(),
            role: Role::Member,
        }),
        D::MemberRoleChanged(RoleChanged {
            email: email(),
            from: Role::Member,
            name: "Ada".into(),
            to: Role::Admin,
        }),
        D::MemberRemoved(MemberRemoved {
            email: email(),
            name: "Ada".into(),
            role: Role::Member,
        }),
    ]
}

fn sso_samples() -> Vec<AuditDetails> {
    use AuditDetails as D;
    let attempt = SignInAttempt {
        certificate_sha256: Some("ab12".into()),
        email: Some(email()),
        name_id: None,
        reason: None,
    };
    let config = SsoConfig {
        certificates: vec!["ab12".into(), "cd34".into()],
        idp_entity_id: "https://idp.example/".into(),
        idp_sso_url: "https://idp.example/sso".into(),
        metadata_url: None,
        source: "fields".into(),
    };
    let domain = || DomainNamed {
        domain: "acme.example".into(),
    };
    vec![
        D::SsoEnabled,
        D::DomainAdded(domain()),
        D::DomainVerified(domain()),
        D::SsoConfigured(config.clone()),
        D::SsoMetadataChanged(config),
        D::SsoPolicyChanged(SsoPolicy {
            idp_initiated: false,
            jit_members: true,
            require_sso: false,
        }),
        D::SsoUnknownCertificate(UnknownCertificate {
            certificate_sha256: "ef56".into(),
            refetching: true,
            subject: "CN=idp".into(),
        }),
        D::SsoSignedIn(attempt.clone()),
        D::SsoTested(attempt.clone()),
        D::SsoSignInRefused(attempt),
    ]
}

#[test]
fn every_action_has_its_details_once() {
    let mut actions: Vec<&str> = samples().iter().map(|d| d.action().as_str()).collect();
    actions.sort_unstable();
    let mut all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    all.sort_unstable();
    assert_eq!(actions, all);
}

/// The fields are in the order `json!` wrote them (its map sorts keys): the text read back
/// into a map and written again is the same text.
#[test]
fn details_keep_the_stored_key_order_and_read_back() {
    for details in samples() {
        let text = serde_json::to_string(&details).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value.to_string(), text, "{}", details.action());
        let read = AuditDetails::read(details.action(), &value).unwrap();
        assert_eq!(read, details);
    }
}

#[test]
fn details_are_the_text_stored_before() {
    let text = |d: AuditDetails| serde_json::to_string(&d).unwrap();
    assert_eq!(text(AuditDetails::SsoEnabled), "{}");
    assert_eq!(
        text(AuditDetails::ItContactAdded(ContactAdded {
            email: "ada@lovelace.example".into(),
            member_id: None,
            name: Some("Ada Lovelace".into()),
            source: ContactSource::Manual,
        })),
        json!({
            "email": "ada@lovelace.example",
            "name": "Ada Lovelace",
            "source": "manual",
            "member_id": null,
        })
        .to_string()
    );
    assert_eq!(
        text(AuditDetails::ItContactAdded(ContactAdded {
            email: "ada@lovelace.example".into(),
            member_id: Some(user()),
            name: None,
            source: ContactSource::Member,
        })),
        r#"{"email":"ada@lovelace.example","member_id":"usr_0192ab","name":null,"source":"member"}"#
    );
    let revoked = |invited_by: Option<UserId>, reason: Option<&str>| {
        text(AuditDetails::InvitationRevoked(InvitationRevoked {
            email: "bo@acme.example".into(),
            invited_by,
            reason: reason.map(str::to_owned),
            role: Role::Admin,
        }))
    };
    assert_eq!(
        revoked(None, None),
        r#"{"email":"bo@acme.example","role":"admin"}"#
    );
    assert_eq!(
        revoked(Some(user()), Some("inviter_removed")),
        json!({ "email": "bo@acme.example", "role": "admin", "reason": "inviter_removed", "invited_by": "usr_0192ab" })
            .to_string()
    );
    assert_eq!(
        text(AuditDetails::TestAlertSent(TestAlerts {
            sent: 1,
            deferred: 0,
            rejected: 0
        })),
        r#"{"deferred":0,"rejected":0,"sent":1}"#
    );
    assert_eq!(
        text(AuditDetails::UserDisabled(UserDisabled {
            sessions_ended: 2,
            tokens_revoked: 1
        })),
        json!({ "tokens_revoked": 1, "sessions_ended": 2 }).to_string()
    );
}

#[test]
fn details_of_another_action_are_refused() {
    let added = serde_json::to_value(AuditDetails::DomainAdded(DomainNamed {
        domain: "acme.example".into(),
    }))
    .unwrap();
    assert!(AuditDetails::read(AuditAction::MemberRemoved, &added).is_err());
    assert_eq!(
        AuditDetails::read(AuditAction::DomainVerified, &added)
            .unwrap()
            .action(),
        AuditAction::DomainVerified
    );
}

#[test]
fn the_actor_maps_to_its_column_and_back() {
    let contact = EmailAddress::parse("Ada@lovelace.example").unwrap();
    for (actor, text) in [
        (AuditActor::User(user()), "usr_0192ab"),
        (AuditActor::System, "system"),
        (AuditActor::Cli, "cli"),
        (AuditActor::Contact(contact), "Ada@lovelace.example"),
    ] {
        assert_eq!(actor.as_str(), text);
        assert_eq!(actor.to_string(), text);
        assert_eq!(text.parse::<AuditActor>().unwrap(), actor);
        assert_eq!(AuditActor::try_from(text.to_owned()).unwrap(), actor);
        let json = serde_json::to_string(&actor).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<AuditActor>(&json).unwrap(), actor);
    }
    for bad in [
        "",
        "System",
        " cli",
        "usr_",
        "someone",
        "ada@Lovelace.EXAMPLE",
    ] {
        let err = bad.parse::<AuditActor>().unwrap_err();
        assert_eq!((err.kind, err.text.as_str()), ("AuditActor", bad));
    }
}
