//! Setup links (D7): a signed, expiring (72 hours), read-only link to the organisation's SSO
//! setup details, e-mailed to every IT contact. The link names its contact; removing the
//! contact revokes it. It lets nobody change anything.
//!
//! A link's token is `base64url(contact.org.expiry) "." base64url(HMAC-SHA256)`, keyed with a
//! per-installation secret kept in the database so that every instance accepts every link.

use crate::Setup;
use crate::metrics::delivery_outcome;
use crate::signing::LinkKind;
use crate::{Actor, App, AppError};
use smartcore_domain::AuditDetails;
use smartcore_domain::MailKind;
use smartcore_domain::SsoStatus;
use smartcore_domain::audit::SetupLinks;
use smartcore_domain::{ContactId, OrgId, Quota, Timestamp, signed_link};
use smartcore_mail::{SetupLinkMail, setup_link};
use smartcore_storage::quota::Counter;
use smartcore_storage::{Delivery, DeliveryOutcome};

/// How long a setup link works.
pub const SETUP_LINK_LIFETIME: time::Duration = time::Duration::hours(72);
/// An organisation sends setup links at most this many times per [`SETUP_LINK_SEND_WINDOW`]
/// (each send mails every IT contact, up to 20).
pub const SETUP_LINK_SENDS: i64 = 10;
pub const SETUP_LINK_SEND_WINDOW: time::Duration = time::Duration::hours(1);

/// What the read-only setup page shows.
#[derive(Debug, Clone)]
pub struct SetupDetails {
    pub org_name: String,
    pub contact_email: String,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub sp_metadata_xml: String,
    /// Where the identity provider can read [`SetupDetails::sp_metadata_xml`] itself.
    pub sp_metadata_url: String,
    pub sso_status: SsoStatus,
    pub domain_verified: bool,
    pub expires_at: Timestamp,
}

/// Why a link does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// Malformed or not signed by us.
    Invalid,
    Expired,
    /// Its contact was removed.
    Revoked,
}

/// What a setup link opens: the details, or why not.
#[derive(Debug, Clone)]
pub enum SetupLink {
    Open(SetupDetails),
    Refused(LinkRefused),
}

impl Setup<'_> {
    /// Our service-provider metadata for an organisation, public (it holds no secret), so an
    /// IT contact can give their identity provider a URL instead of copying values.
    pub async fn service_provider_metadata(&self, org: &OrgId) -> Result<String, AppError> {
        let org_id = org.clone();
        self.store.org(&org_id).await?;
        let (sp_entity_id, acs_url) = self.service_provider(&org_id);
        Ok(smartcore_sso::sp_metadata(&sp_entity_id, &acs_url))
    }

    /// E-mails every IT contact a setup link; returns how many messages went out. At most
    /// [`SETUP_LINK_SENDS`] times per organisation per hour (counted in the database, so
    /// across instances); beyond that `RateLimited` with when the next send is possible.
    pub async fn send_setup_links(&self, actor: &Actor, org: &OrgId) -> Result<usize, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let quota = Quota::new(
            SETUP_LINK_SENDS as u32,
            SETUP_LINK_SEND_WINDOW.whole_milliseconds() as i64,
        );
        let counter = Counter::SetupLinks {
            org_id: org_id.as_str(),
        };
        self.take_quota(&org_id, counter, quota, 1, "setup_links")
            .await?;
        let org = self.store.org(&org_id).await?;
        let key = self.link_key(LinkKind::Setup).await?;
        let expires = self
            .now()
            .plus_millis(SETUP_LINK_LIFETIME.whole_milliseconds() as i64);
        let mut sent = 0;
        let mut deliveries = Vec::new();
        // Issue 16: every message to a contact carries its "Not me" link.
        let not_me_key = self.not_me_key().await?;
        for contact in self.store.contacts(&org_id).await? {
            let expiry = expires.unix_millis().to_string();
            let fields = [contact.id.as_str(), org_id.as_str(), expiry.as_str()];
            let token = signed_link::seal(&key, &fields);
            let mail = setup_link(&SetupLinkMail {
                org_name: org.name.clone(),
                recipient_email: contact.email.to_string(),
                recipient_name: contact.name.as_ref().map(|n| n.to_string()),
                link_url: self.links.setup_link(&token),
                expires_at: expires
                    .to_datetime()
                    .format(&time::format_description::well_known::Rfc2822)
                    .unwrap_or_default(),
            });
            let mail = self.for_contact(&not_me_key, mail, org_id.as_str(), contact.id.as_str());
            let outcome = delivery_outcome(self.send_mail(&mail).await);
            match &outcome {
                DeliveryOutcome::Sent { .. } => sent += 1,
                DeliveryOutcome::Deferred { error } => {
                    tracing::warn!(to = %contact.email, %error, "setup link not sent");
                }
                DeliveryOutcome::Rejected { .. } => {}
            }
            deliveries.push(Delivery {
                org_id: org_id.to_string(),
                contact_id: Some(contact.id.to_string()),
                email: contact.email.to_string(),
                kind: MailKind::SetupLink,
                subject: mail.subject,
                outcome,
                at: self.now(),
            });
        }
        self.store.record_deliveries(&deliveries).await?;
        self.store
            .record_audit(smartcore_storage::AuditEntry {
                org_id: Some(&org_id),
                at: self.now(),
                actor: actor.audit_actor(),
                target: Some(org_id.as_str()),
                details: AuditDetails::SetupLinksSent(SetupLinks { sent_to: sent }),
            })
            .await?;
        Ok(sent)
    }

    /// Opens a setup link: the read-only details, or why not.
    pub async fn open_setup_link(&self, token: &str) -> Result<SetupLink, AppError> {
        let key = self.link_key(LinkKind::Setup).await?;
        let fields = signed_link::open(&key, token, 3).unwrap_or_default();
        let (Some(contact_id), Some(org_id), Some(Ok(expires))) = (
            fields.first().and_then(|c| ContactId::parse(c)),
            fields.get(1).and_then(|o| OrgId::parse(o)),
            fields.get(2).map(|e| e.parse::<i64>()),
        ) else {
            return Ok(SetupLink::Refused(LinkRefused::Invalid));
        };
        let expires_at = Timestamp::from_unix_millis(expires);
        if self.now() >= expires_at {
            return Ok(SetupLink::Refused(LinkRefused::Expired));
        }
        let contact = match self.store.contact(&org_id, &contact_id).await {
            Ok(c) => c,
            Err(smartcore_storage::StoreError::NotFound) => {
                return Ok(SetupLink::Refused(LinkRefused::Revoked));
            }
            Err(e) => return Err(e.into()),
        };
        let org = self.store.org(&org_id).await?;
        let (sp_entity_id, acs_url) = self.service_provider(&org_id);
        Ok(SetupLink::Open(SetupDetails {
            org_name: org.name,
            contact_email: contact.email.to_string(),
            sp_metadata_url: format!("{sp_entity_id}/metadata"),
            sp_metadata_xml: smartcore_sso::sp_metadata(&sp_entity_id, &acs_url),
            sp_entity_id,
            acs_url,
            sso_status: org.sso_status,
            domain_verified: self.has_verified_domain(&org_id).await?,
            expires_at,
        }))
    }
}

impl App {
    /// Our service-provider entity ID and ACS URL for an organisation.
    pub(crate) fn service_provider(&self, org_id: &OrgId) -> (String, String) {
        self.links.service_provider(org_id)
    }
}
