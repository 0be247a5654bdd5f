//! The invitation mail (issue 12): it names the organisation and who invited, carries the
//! link, and user text can neither start a header nor add markup.

use smartcore_mail::{InvitationMail, invitation};

fn mail(org: &str, inviter: Option<&str>, administrator: bool) -> InvitationMail {
    InvitationMail {
        org_name: org.to_owned(),
        recipient_email: "grace@example.com".to_owned(),
        inviter_name: inviter.map(str::to_owned),
        administrator,
        link_url: "https://sso.example.com/invitations/abc_DEF-123".to_owned(),
        expires_at: "Wed, 09 Dec 2026 10:00:00 +0000".to_owned(),
    }
}

#[test]
fn it_names_the_organisation_the_inviter_the_role_and_the_link() {
    let m = invitation(&mail("Acme Ltd", Some("Ada Admin"), true));
    assert_eq!(m.to, "grace@example.com");
    assert_eq!(
        m.subject,
        "Ada Admin invited you to join Acme Ltd in Smart Core Connect"
    );
    for part in [&m.text, &m.html] {
        assert!(
            part.contains("https://sso.example.com/invitations/abc_DEF-123"),
            "{part}"
        );
        assert!(part.contains("Ada Admin has invited you to join"), "{part}");
        assert!(part.contains("7 days"), "{part}");
        assert!(part.contains("an administrator"), "{part}");
        assert!(
            !part.contains("IT contact for"),
            "not the IT contacts' footer"
        );
    }
    let m = invitation(&mail("Acme Ltd", None, false));
    assert!(m.subject.starts_with("An administrator invited you"));
    assert!(m.text.contains("as a member"));
}

#[test]
fn names_cannot_start_a_header_or_add_markup() {
    let m = invitation(&mail(
        "Acme\r\nBcc: evil@example.com",
        Some("<script>alert(1)</script>\r\nX-Evil: 1"),
        false,
    ));
    assert!(
        !m.subject.contains('\r') && !m.subject.contains('\n'),
        "{:?}",
        m.subject
    );
    assert!(!m.html.contains("<script>"), "{}", m.html);
    assert!(
        m.html.contains("&#60;script&#62;") || m.html.contains("&lt;script&gt;"),
        "{}",
        m.html
    );
}

#[test]
fn a_link_that_is_not_http_is_left_out() {
    let mut data = mail("Acme", Some("Ada"), false);
    data.link_url = "javascript:alert(1)".to_owned();
    let m = invitation(&data);
    assert!(!m.html.contains("javascript:"));
    assert!(m.text.contains("could not be included"));
}
