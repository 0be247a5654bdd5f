//! How pages show things to people, in one place (issue 23): a time ("3 December 2026, 06:28
//! UTC", with "in 5 days" or "2 hours ago" where it helps, inside `<time datetime>` for
//! machines), an e-mail address that wraps only after `@` and dots, a certificate's subject by
//! name, and a SHA-256 fingerprint grouped for reading.

use smartcore_domain::Timestamp;
// The helpers below write markup, so they escape what they print.
use smartcore_domain::markup::escape_html_into as escape;
use std::fmt;

/// A time as a person reads it, and as `<time datetime>` for machines.
#[derive(Clone, Debug)]
pub(crate) struct When {
    /// RFC 3339, UTC.
    pub iso: String,
    /// "3 December 2026, 06:28 UTC".
    pub text: String,
    /// "in 5 days", "2 hours ago": within 60 days of now.
    pub relative: Option<String>,
}

/// The one format for a time on a page: "3 December 2026, 06:28 UTC".
pub(crate) fn date_time_text(t: Timestamp) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
    );
    let at = t.to_datetime();
    at.format(&format).unwrap_or_else(|_| t.to_rfc3339())
}

fn plural(n: i64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// "in 5 days", "2 hours ago", "just now"; none more than 60 days away.
pub(crate) fn relative(t: Timestamp, now: Timestamp) -> Option<String> {
    let diff = t.unix_millis() - now.unix_millis();
    let secs = diff.abs() / 1000;
    let amount = if secs < 60 {
        return Some("just now".to_owned());
    } else if secs < 3600 {
        plural(secs / 60, "minute")
    } else if secs < 48 * 3600 {
        plural(secs / 3600, "hour")
    } else if secs < 60 * 86_400 {
        plural(secs / 86_400, "day")
    } else {
        return None;
    };
    Some(if diff > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    })
}

/// A time for a page: print it with `{{ when }}` in a template.
pub(crate) fn when(t: Timestamp, now: Timestamp) -> When {
    When {
        iso: t.to_rfc3339(),
        text: date_time_text(t),
        relative: relative(t, now),
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<time datetime=\"{}\">{}</time>", self.iso, self.text)?;
        if let Some(r) = &self.relative {
            write!(f, " <span class=\"relative\">({r})</span>")?;
        }
        Ok(())
    }
}

// Only digits, month names and fixed words: nothing to escape.
impl askama::filters::HtmlSafe for When {}

/// An e-mail address that breaks only after `@` and dots (`<wbr>`), escaped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Email(pub String);

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each piece up to and including an `@` or a dot cannot break inside (CSS nowrap);
        // between pieces, `<wbr>` lets it.
        let mut out = String::with_capacity(self.0.len() + 64);
        out.push_str("<span class=\"address\"><span>");
        for c in self.0.chars() {
            escape(c.encode_utf8(&mut [0; 4]), &mut out);
            if c == '@' || c == '.' {
                out.push_str("</span><wbr><span>");
            }
        }
        out.push_str("</span></span>");
        f.write_str(&out)
    }
}

impl askama::filters::HtmlSafe for Email {}

/// For templates: `{{ crate::pages::show::email(c.email) }}`.
pub(crate) fn email(address: &str) -> Email {
    Email(address.to_owned())
}

/// The names people know for the attributes of an X.500 name.
fn attribute_name(key: &str) -> Option<&'static str> {
    Some(match key.to_ascii_uppercase().as_str() {
        "CN" | "2.5.4.3" => "Common name (CN)",
        "O" | "2.5.4.10" => "Organisation (O)",
        "OU" | "2.5.4.11" => "Organisational unit (OU)",
        "C" | "2.5.4.6" => "Country (C)",
        "ST" | "2.5.4.8" => "State or province (ST)",
        "L" | "2.5.4.7" => "Locality (L)",
        "E" | "EMAILADDRESS" | "1.2.840.113549.1.9.1" => "E-mail address",
        "DC" | "0.9.2342.19200300.100.1.25" => "Domain component (DC)",
        "SERIALNUMBER" | "2.5.4.5" => "Serial number",
        "UID" | "0.9.2342.19200300.100.1.1" => "User id (UID)",
        _ => return None,
    })
}

/// Splits an RFC 4514 string at unescaped commas, unescaping values.
fn rdns(subject: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = subject.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    current.push('\\');
                    current.push(n);
                }
            }
            ',' | '+' => {
                parts.push(std::mem::take(&mut current));
            }
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
        .into_iter()
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let mut value = String::new();
            let mut it = v.trim().chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    if let Some(n) = it.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
            Some((k.trim().to_owned(), value))
        })
        .collect()
}

/// One attribute of a certificate's subject, named as people read it.
#[derive(Clone, Debug)]
pub(crate) struct NamePart {
    pub label: String,
    pub value: String,
}

/// A subject such as `1.2.840.113549.1.9.1=info@okta.com,CN=dev-123,O=Okta` as
/// [("E-mail address", "info@okta.com"), ("Common name (CN)", "dev-123"), …], in the
/// certificate's order; an attribute nobody has a name for keeps its key.
pub(crate) fn subject_parts(subject: &str) -> Vec<NamePart> {
    rdns(subject)
        .into_iter()
        .map(|(k, v)| NamePart {
            label: attribute_name(&k).map_or(k, str::to_owned),
            value: v,
        })
        .collect()
}

/// The common name, or the whole subject when there is none: a certificate's short name.
pub(crate) fn subject_short(subject: &str) -> String {
    rdns(subject)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("CN") || k == "2.5.4.3")
        .map_or_else(|| subject.to_owned(), |(_, v)| v)
}

/// A SHA-256 fingerprint (hex, with or without colons) in groups of 4 pairs for reading:
/// `AB:CD:EF:01 23:45:67:89 …`.
pub(crate) fn fingerprint_groups(fingerprint: &str) -> Vec<String> {
    let hex: String = fingerprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_uppercase();
    let pairs: Vec<&str> = hex
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    pairs.chunks(4).map(|g| g.join(":")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_format_with_words_where_they_help() {
        let now = Timestamp::from_unix_millis(1_796_200_000_000);
        let t = Timestamp::from_unix_millis(now.unix_millis() + 5 * 86_400_000 + 1000);
        let w = when(t, now);
        assert_eq!(w.relative.as_deref(), Some("in 5 days"));
        assert!(w.text.ends_with(" UTC") && w.text.contains(", "));
        let html = w.to_string();
        assert!(html.starts_with("<time datetime=\""), "{html}");
        let ago = Timestamp::from_unix_millis(now.unix_millis() - 2 * 3_600_000);
        assert_eq!(relative(ago, now).as_deref(), Some("2 hours ago"));
        let far = Timestamp::from_unix_millis(now.unix_millis() + 400 * 86_400_000);
        assert_eq!(relative(far, now), None);
        assert_eq!(
            date_time_text(Timestamp::from_unix_millis(1_796_278_080_000)),
            "3 December 2026, 06:08 UTC"
        );
    }

    #[test]
    fn addresses_break_after_at_and_dots_only_and_are_escaped() {
        assert_eq!(
            Email("a.b@c<d>.example".into()).to_string(),
            "<span class=\"address\"><span>a.</span><wbr><span>b@</span><wbr><span>c&lt;d&gt;.</span><wbr><span>example</span></span>"
        );
    }

    #[test]
    fn subjects_by_name_in_their_order() {
        let parts = subject_parts(
            "1.2.840.113549.1.9.1=info@okta.com,CN=dev-1\\,2,OU=SSOProvider,O=Okta,C=US",
        );
        let labels: Vec<_> = parts.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "E-mail address",
                "Common name (CN)",
                "Organisational unit (OU)",
                "Organisation (O)",
                "Country (C)"
            ]
        );
        assert_eq!(parts[1].value, "dev-1,2");
        assert_eq!(
            subject_short("O=Acme,CN=idp.acme.example"),
            "idp.acme.example"
        );
        assert_eq!(subject_short("O=Acme"), "O=Acme");
    }

    #[test]
    fn fingerprints_in_groups_of_four_pairs() {
        let g = fingerprint_groups("ab:cd:ef:01:23:45:67:89:0a");
        assert_eq!(g, ["AB:CD:EF:01", "23:45:67:89", "0A"]);
    }
}
