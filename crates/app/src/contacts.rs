//! Managing IT contacts (R1–R7, D1–D3): list, add either way, remove, and the member picker.

use crate::Contacts;
use crate::ErrorCode;
use crate::list_changes::NewContact;
use crate::{Actor, App, AppError};
use smartcore_domain::{
    Access, ContactId, ContactName, ContactSource, EmailAddress, IdentityRemoval, ItContact,
    MAX_CONTACTS, OrgId, RECOMMENDED_MINIMUM, UserId,
};
use smartcore_domain::{Role, SsoStatus};
use smartcore_storage::StoreError;

/// The two ways of adding a contact (R4).
#[derive(Debug, Clone)]
pub enum AddContact {
    /// Pick an existing member of the organisation.
    Member { member_id: String },
    /// Type an address, and optionally a name, for someone who need not be a member.
    Manual { email: String, name: Option<String> },
}

pub struct ContactListView {
    pub contacts: Vec<ItContact>,
    pub limit: usize,
    pub recommended_minimum: usize,
    /// The contacts' trust records, read with the list ([`Trust::trust_of_listed`]).
    pub(crate) trust: Vec<smartcore_storage::TrustRecord>,
}

impl ContactListView {
    pub fn below_recommended(&self) -> bool {
        self.contacts.len() < self.recommended_minimum
    }

    pub fn at_limit(&self) -> bool {
        self.contacts.len() >= self.limit
    }
}

/// What removing a contact did.
pub struct Removal {
    pub contact: ItContact,
    pub identity_removal: IdentityRemoval,
}

/// The member picker's answer: the best matches, and how many match.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberSearch {
    pub hits: Vec<MemberSearchHit>,
    /// Members matching, counted up to [`SEARCH_COUNT_CAP`].
    pub total: i64,
    /// More than `total` match.
    pub more: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberSearchHit {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub is_it_contact: bool,
}

/// The Authentication page's summary: what is in place, and what is missing for SSO (R8).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuthenticationOverview {
    pub org_name: String,
    pub contact_count: usize,
    pub contact_limit: usize,
    pub sso_status: SsoStatus,
    pub domain_verified: bool,
    pub it_contact_added: bool,
    pub sso_configured: bool,
}

impl AuthenticationOverview {
    pub fn ready_to_enable_sso(&self) -> bool {
        self.domain_verified && self.it_contact_added && self.sso_configured
    }
}

pub const MAX_SEARCH_RESULTS: i64 = 50;
pub(crate) const MAX_QUERY_CHARS: usize = 200;
/// A search counts its matches up to this many ("more than 1,000").
pub const SEARCH_COUNT_CAP: i64 = 1000;

/// A search's query: at most [`MAX_QUERY_CHARS`] characters, without control characters.
pub(crate) fn check_query(query: &str) -> Result<(), AppError> {
    if query.chars().count() > MAX_QUERY_CHARS || query.chars().any(char::is_control) {
        return Err(AppError::invalid(
            ErrorCode::InvalidRequest,
            "q",
            "A search is at most 200 characters, without control characters.",
        ));
    }
    Ok(())
}

impl Contacts<'_> {
    pub async fn list_contacts(
        &self,
        actor: &Actor,
        org: &OrgId,
    ) -> Result<ContactListView, AppError> {
        let org_id = org.clone();
        let listing = self
            .store
            .contacts_seen_by(&org_id, Some(&actor.user_id))
            .await?;
        Access::from_membership(listing.role).require_admin()?;
        Ok(ContactListView {
            contacts: listing.contacts,
            limit: MAX_CONTACTS,
            recommended_minimum: RECOMMENDED_MINIMUM,
            trust: listing.trust,
        })
    }

    pub async fn add_contact(
        &self,
        actor: &Actor,
        org: &OrgId,
        request: AddContact,
    ) -> Result<ItContact, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let (email, name, source, member_id) = match request {
            AddContact::Manual { email, name } => {
                let email = EmailAddress::parse(&email).map_err(|e| {
                    AppError::invalid(ErrorCode::InvalidEmail, "email", e.to_string())
                })?;
                let name = match name.as_deref() {
                    Some(n) => ContactName::parse_optional(n).map_err(|e| {
                        AppError::invalid(ErrorCode::InvalidName, "name", e.to_string())
                    })?,
                    None => None,
                };
                (email, name, ContactSource::Manual, None)
            }
            AddContact::Member { member_id } => {
                let not_found = || {
                    AppError::invalid(
                        ErrorCode::MemberNotFound,
                        "member_id",
                        "That person is not a member of this organisation.",
                    )
                };
                let member_id = UserId::parse(member_id.trim()).ok_or_else(not_found)?;
                if self.store.role_in(&org_id, &member_id).await?.is_none() {
                    return Err(not_found());
                }
                let user = self.store.user(&member_id).await?;
                let email = EmailAddress::parse(&user.email).map_err(|_| not_found())?;
                let name = ContactName::parse_optional(&user.name).ok().flatten();
                (email, name, ContactSource::Member, Some(member_id))
            }
        };
        let added = self
            .add_to_list(NewContact {
                org_id: &org_id,
                email: &email,
                name: name.as_ref(),
                source,
                member_id: member_id.as_ref(),
                added_by: &actor.user_id,
            })
            .await?;
        tracing::info!(org = %org_id, contact = %added.contact.id, cancelled_removal = ?added.cancelled_removal, "IT contact added");
        Ok(added.contact)
    }

    pub async fn remove_contact(
        &self,
        actor: &Actor,
        org: &OrgId,
        contact_id: &ContactId,
    ) -> Result<Removal, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let removed = self
            .remove_from_list(&org_id, contact_id, &actor.user_id)
            .await?;
        tracing::info!(org = %org_id, contact = %contact_id, identity_removal = removed.identity_removal.as_str(), "IT contact removed");
        // Calendar events it received are cancelled, in the background: the removal does not
        // wait for the mail server.
        let app = App::clone(self);
        let (org, contact) = (org_id.as_str().to_owned(), removed.contact.clone());
        let cancel = async move {
            let name = contact.name.as_ref().map(|n| n.to_string());
            if let Err(e) = app
                .trust()
                .cancel_events_of_removed_contact(
                    &org,
                    contact.id.as_str(),
                    &contact.email.to_string(),
                    name.as_deref(),
                )
                .await
            {
                tracing::warn!(org = %org, error = %e.chain(), "calendar cancellations after a removal failed");
            }
        };
        // Inside the removing request's span: its logs name the request.
        tokio::spawn(tracing::Instrument::instrument(
            cancel,
            tracing::Span::current(),
        ));
        Ok(Removal {
            contact: removed.contact,
            identity_removal: removed.identity_removal,
        })
    }

    pub async fn contact(
        &self,
        actor: &Actor,
        org: &OrgId,
        contact_id: &ContactId,
    ) -> Result<ItContact, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        Ok(self.store.contact(&org_id, contact_id).await?)
    }

    /// The member picker: the best matches for `query` (see `Contacts::search_org_members`).
    pub async fn search_members(
        &self,
        actor: &Actor,
        org: &OrgId,
        query: &str,
        limit: Option<i64>,
    ) -> Result<MemberSearch, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let found = self.search_org_members(&org_id, query, limit).await?;
        Ok(MemberSearch {
            hits: found
                .hits
                .into_iter()
                .map(|h| MemberSearchHit {
                    id: h.id,
                    name: h.name,
                    email: h.email,
                    role: h.role,
                    is_it_contact: h.is_it_contact != 0,
                })
                .collect(),
            total: found.total,
            more: found.more,
        })
    }

    /// A ranked search of the organisation's members (issue 25): the exact address, then
    /// members with a word of their name or address starting with `query`, then the rest
    /// containing it, each group by name; at most `limit` (20 when not given, at most
    /// [`MAX_SEARCH_RESULTS`]), counted up to [`SEARCH_COUNT_CAP`].
    pub(crate) async fn search_org_members(
        &self,
        org_id: &OrgId,
        query: &str,
        limit: Option<i64>,
    ) -> Result<smartcore_storage::SearchAnswer, AppError> {
        check_query(query)?;
        let limit = limit.unwrap_or(20).clamp(1, MAX_SEARCH_RESULTS);
        Ok(self
            .store
            .search_members(org_id, query, limit, SEARCH_COUNT_CAP)
            .await?)
    }

    pub async fn authentication_overview(
        &self,
        actor: &Actor,
        org: &OrgId,
    ) -> Result<AuthenticationOverview, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let org = match self.store.org(&org_id).await {
            Err(StoreError::NotFound) => return Err(AppError::NotFound),
            other => other?,
        };
        let count = self.store.contact_count(&org_id).await? as usize;
        Ok(AuthenticationOverview {
            org_name: org.name,
            contact_count: count,
            contact_limit: MAX_CONTACTS,
            sso_configured: org.sso_status != SsoStatus::NotConfigured,
            sso_status: org.sso_status,
            domain_verified: self.has_verified_domain(&org_id).await?,
            it_contact_added: count > 0,
        })
    }
}
