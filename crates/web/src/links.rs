//! The one URL builder of the pages the use cases link to ([`smartcore_app::Links`]): mails
//! and metadata documents point where the routers of this crate serve.

use smartcore_app::{LinkPurpose, Links};
use smartcore_domain::OrgId;

/// [`Links`] at the service's public address.
#[derive(Debug, Clone)]
pub struct WebLinks {
    public_url: String,
}

impl WebLinks {
    /// Links under `public_url` (e.g. `https://sso.example.com`; a trailing slash is dropped).
    pub fn new(public_url: &str) -> WebLinks {
        WebLinks {
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The sign-in page, where the demo's instructions send the operator.
    pub fn sign_in(&self) -> String {
        format!("{}/sign-in", self.public_url)
    }
}

impl Links for WebLinks {
    fn public_url(&self) -> &str {
        &self.public_url
    }

    fn sso_settings(&self, org_id: &str) -> String {
        format!("{}/orgs/{org_id}/settings/sso", self.public_url)
    }

    fn authentication_settings(&self, org_id: &str) -> String {
        format!("{}/orgs/{org_id}/settings/authentication", self.public_url)
    }

    fn setup_link(&self, token: &str) -> String {
        format!("{}/setup/{token}", self.public_url)
    }

    fn invitation(&self, token: &str) -> String {
        format!("{}/invitations/{token}", self.public_url)
    }

    fn contact_link(&self, purpose: LinkPurpose, token: &str) -> String {
        let path = match purpose {
            LinkPurpose::NotMe => "not-me",
            LinkPurpose::Confirm => "confirm",
        };
        format!("{}/contact/{path}/{token}", self.public_url)
    }

    fn service_provider(&self, org_id: &OrgId) -> (String, String) {
        let entity_id = format!("{}/saml/{org_id}", self.public_url);
        let acs_url = format!("{entity_id}/acs");
        (entity_id, acs_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_where_the_routers_serve() {
        let links = WebLinks::new("https://sso.example.com/");
        assert_eq!(links.public_url(), "https://sso.example.com");
        assert_eq!(
            links.contact_link(LinkPurpose::NotMe, "t"),
            "https://sso.example.com/contact/not-me/t"
        );
        assert_eq!(
            links.contact_link(LinkPurpose::Confirm, "t"),
            "https://sso.example.com/contact/confirm/t"
        );
        assert_eq!(
            links.invitation("t"),
            "https://sso.example.com/invitations/t"
        );
        assert_eq!(links.setup_link("t"), "https://sso.example.com/setup/t");
        assert_eq!(links.sign_in(), "https://sso.example.com/sign-in");
    }
}
