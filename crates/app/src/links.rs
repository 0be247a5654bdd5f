//! The addresses of the pages the use cases link to from mails and metadata, given by the web
//! layer (issue 22): the use cases know what they link to, never the path it is served at.

use crate::LinkPurpose;
use smartcore_domain::OrgId;

/// Where each page a mail or a metadata document points to is reached, as a full URL. The web
/// layer implements it (`smartcore_web::WebLinks`) with the service's public address.
pub trait Links: Send + Sync {
    /// The address users reach the service at, without a trailing slash.
    fn public_url(&self) -> &str;
    /// The organisation's SSO settings page.
    fn sso_settings(&self, org_id: &str) -> String;
    /// The organisation's authentication settings page (its IT contacts).
    fn authentication_settings(&self, org_id: &str) -> String;
    /// The page a setup link opens, for its token.
    fn setup_link(&self, token: &str) -> String;
    /// The page an invitation opens, for its token.
    fn invitation(&self, token: &str) -> String;
    /// The page a contact link of `purpose` opens, for its token.
    fn contact_link(&self, purpose: LinkPurpose, token: &str) -> String;
    /// The organisation's SAML service provider: its entity ID and its assertion consumer
    /// service URL.
    fn service_provider(&self, org_id: &OrgId) -> (String, String);
}
