//! What a verified Assertion says, and how the e-mail address and display name are read
//! from it.

use time::OffsetDateTime;

#[cfg(doc)]
use super::CLOCK_SKEW;
use super::NAMEID_EMAIL;

/// A SAML attribute and all its values (each value the joined text of its `AttributeValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

/// What a verified Assertion says, read only from signed bytes.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The Assertion's ID (the replay key).
    pub id: String,
    pub issuer: String,
    /// The bearer SubjectConfirmationData's InResponseTo, else the Response's when the Response
    /// itself was signed.
    pub in_response_to: Option<String>,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub attributes: Vec<Attribute>,
    pub issue_instant: OffsetDateTime,
    /// The earliest of Conditions NotOnOrAfter and the bearer SubjectConfirmationData
    /// NotOnOrAfter (how long a replay record must be kept; add [`CLOCK_SKEW`]).
    pub not_on_or_after: Option<OffsetDateTime>,
    pub session_index: Option<String>,
}

impl Assertion {
    /// The e-mail address: the NameID when its Format is emailAddress, else the first value of
    /// `email`, `mail`, the xmlsoap emailaddress claim, `urn:oid:0.9.2342.19200300.100.1.3` (in
    /// this order), else a NameID (any format) that looks like an address. Trimmed; not
    /// validated further (the caller parses it).
    pub fn email(&self) -> Option<&str> {
        let name_id = self
            .name_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if self.name_id_format.as_deref() == Some(NAMEID_EMAIL)
            && let Some(n) = name_id
        {
            return Some(n);
        }
        let by_attribute = self.first_value(&[
            "email",
            "mail",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "urn:oid:0.9.2342.19200300.100.1.3",
        ]);
        if by_attribute.is_some() {
            return by_attribute;
        }
        name_id.filter(|n| looks_like_address(n))
    }

    /// displayName, name (also the xmlsoap name and Microsoft displayname claims), else
    /// givenName + surname (also the xmlsoap givenname/surname claims and urn:oid:2.5.4.42 /
    /// urn:oid:2.5.4.4).
    pub fn display_name(&self) -> Option<String> {
        if let Some(name) = self.first_value(&[
            "displayName",
            "urn:oid:2.16.840.1.113730.3.1.241",
            "name",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            "http://schemas.microsoft.com/identity/claims/displayname",
        ]) {
            return Some(name.to_string());
        }
        let given = self.first_value(&[
            "givenName",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            "urn:oid:2.5.4.42",
        ]);
        let surname = self.first_value(&[
            "surname",
            "sn",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
            "urn:oid:2.5.4.4",
        ]);
        match (given, surname) {
            (Some(g), Some(s)) => Some(format!("{g} {s}")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
            (None, None) => None,
        }
    }

    /// The first non-empty (trimmed) value of the first of `names` that has one.
    fn first_value(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| {
            self.attributes
                .iter()
                .filter(|a| a.name == *name)
                .flat_map(|a| a.values.iter())
                .map(|v| v.trim())
                .find(|v| !v.is_empty())
        })
    }
}

fn looks_like_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}
