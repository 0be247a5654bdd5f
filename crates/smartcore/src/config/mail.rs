//! The mail settings: which way mail goes (`MAIL`, `SMTP_URL`) and the sender derived from the
//! public URL when `MAIL_FROM` is not set.

use super::sources::{Values, bad};
use super::{ConfigError, MailKind};

/// The host of a public URL (`https://sso.example.com:8443/x` → `sso.example.com`), lower-cased,
/// without user information or port; IPv6 literals keep their brackets.
pub fn public_host(public_url: &str) -> Option<String> {
    let rest = public_url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        &host_port[..=host_port.find(']')?]
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether `host` is a host name mail can come from: not an IP address and not `localhost`.
fn is_mail_host_name(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_err()
        && !host.starts_with('[')
        && host != "localhost"
        && !host.ends_with(".localhost")
        && host.contains('.')
}

/// The sender when `SMARTCORE_MAIL_FROM` is not set: `Smart Core Connect <no-reply@HOST>` when
/// the public URL's host is a host name (`https://sso.example.com` → `no-reply@sso.example.com`),
/// else `Smart Core Connect <no-reply@localhost>` (an IP address or `localhost`: trying out).
pub fn default_sender(public_url: &str) -> String {
    let host = public_host(public_url)
        .filter(|h| is_mail_host_name(h))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("Smart Core Connect <no-reply@{host}>")
}

pub(super) fn mail_kind(v: &Values) -> Result<MailKind, ConfigError> {
    match v.required("MAIL")?.as_str() {
        "outbox" => Ok(MailKind::Outbox),
        "smtp" => Ok(MailKind::Smtp),
        other => Err(bad("MAIL", format!("{other:?} is not one of outbox, smtp"))),
    }
}

pub(super) fn smtp_url(v: &Values, mail: MailKind) -> Result<Option<String>, ConfigError> {
    let smtp_url = v.get("SMTP_URL");
    if mail == MailKind::Smtp {
        match &smtp_url {
            None => return Err(bad("SMTP_URL", "is required when SMARTCORE_MAIL=smtp")),
            Some(u) if !(u.starts_with("smtp://") || u.starts_with("smtps://")) => {
                return Err(bad(
                    "SMTP_URL",
                    format!("{u:?} must start with smtp:// or smtps://"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(smtp_url)
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::super::tests::env;
    use super::public_host;

    #[test]
    fn the_default_sender_and_message_id_host_come_from_the_public_url() {
        let sender = |url: &'static str| {
            let pairs: &'static [(&str, &str)] =
                Box::leak(Box::new([("SMARTCORE_PUBLIC_URL", url)]));
            Config::from_sources(None, env(pairs)).unwrap().mail_from
        };
        assert_eq!(
            sender("https://sso.example.com"),
            "Smart Core Connect <no-reply@sso.example.com>"
        );
        assert_eq!(
            sender("https://user@SSO.Example.com:8443/base/"),
            "Smart Core Connect <no-reply@sso.example.com>"
        );
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert_eq!(
                sender(local),
                "Smart Core Connect <no-reply@localhost>",
                "{local}"
            );
        }
        let set = Config::from_sources(
            None,
            env(&[
                ("SMARTCORE_PUBLIC_URL", "https://sso.example.com"),
                ("SMARTCORE_MAIL_FROM", "Acme SSO <sso@acme.example>"),
            ]),
        )
        .unwrap();
        assert_eq!(
            set.mail_from, "Acme SSO <sso@acme.example>",
            "a set sender wins"
        );
        assert_eq!(public_host("http://[::1]:8080/x").as_deref(), Some("[::1]"));
        assert_eq!(
            public_host("https://sso.example.com").as_deref(),
            Some("sso.example.com")
        );
    }
}
