//! Members and invitations (issue 12): the members list in pages, role changes and removals
//! (never of the last administrator), and invitations by e-mail with a single-use link.
//!
//! Access is decided per request from the membership row (see [`App::admin_org`]): nothing
//! about a role is cached, so a demoted or removed person is refused at their very next
//! request, page or API token, on every instance.
//!
//! An invitation's link carries a 256-bit random secret; only its SHA-256 is stored. It works
//! once, for [`INVITATION_LIFETIME`]. At most [`MAX_PENDING_INVITATIONS`] are pending per
//! organisation, and an administrator sends at most [`INVITATIONS_PER_MINUTE`] invitation
//! mails (new or resent) a minute, counted in the database so every instance shares the count.

use crate::accounts::{MIN_PASSWORD_CHARS, NewSession, hash_password, random_secret, secret_hash};
use crate::contacts::{MAX_SEARCH_RESULTS, check_query};
use crate::{Actor, App, AppError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use smartcore_domain::{EmailAddress, InvitationId, OrgId, PersonName, Role, Timestamp, UserId};
use smartcore_mail::{InvitationMail, MailError, invitation};
use smartcore_storage::{
    AcceptRefused, ChangedMember, Delivery, DeliveryOutcome, InvitationRecord, InviteRefused,
    InviteRules, MemberCursor, MemberHit, MembershipRefused, NewInvitation, OrgRecord, StoreError,
};
use std::net::IpAddr;

/// How long an invitation's link works.
pub const INVITATION_LIFETIME: time::Duration = time::Duration::days(7);
/// At most this many invitations are pending in one organisation.
pub const MAX_PENDING_INVITATIONS: i64 = 100;
/// An administrator sends at most this many invitation mails a minute.
pub const INVITATIONS_PER_MINUTE: i64 = 20;
/// One invitation is resent at most this many times a day (issue 24).
pub const RESENDS_PER_DAY: i64 = 3;
/// Members per page of the members list.
pub const MEMBERS_PAGE: i64 = 50;

const RULES: InviteRules = InviteRules {
    max_pending: MAX_PENDING_INVITATIONS,
    per_minute: INVITATIONS_PER_MINUTE,
    resends_per_day: RESENDS_PER_DAY,
};

/// One member as the members list shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub is_it_contact: bool,
    pub joined_at: Timestamp,
}

impl From<MemberHit> for MemberView {
    fn from(h: MemberHit) -> Self {
        MemberView {
            role: Role::parse(&h.role).unwrap_or(Role::Member),
            id: h.id,
            name: h.name,
            email: h.email,
            is_it_contact: h.is_it_contact != 0,
            joined_at: Timestamp::from_unix_millis(h.joined_at),
        }
    }
}

/// One page of members: by name with the cursor of the next page (none on the last), or a
/// search's ranked page with its count (and no next page).
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub members: Vec<MemberView>,
    pub next: Option<String>,
    /// A search's count; `None` when listing.
    pub matches: Option<MatchCount>,
}

/// How many members a search matched: counted up to [`crate::SEARCH_COUNT_CAP`], and whether
/// more than that match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchCount {
    pub total: i64,
    pub more: bool,
}

/// An invitation as administrators see it (never its link).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The inviting user's id, or `cli`.
    pub invited_by: String,
    pub invited_by_name: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
    /// `pending`, `expired`, `accepted` or `revoked`.
    pub status: String,
}

impl InvitationView {
    fn of(r: InvitationRecord, now: Timestamp) -> Self {
        let expired = r.status == "pending" && r.expires_at <= now.unix_millis();
        InvitationView {
            role: r.role(),
            status: if expired {
                "expired".to_owned()
            } else {
                r.status
            },
            id: r.id,
            email: r.email,
            invited_by: r.invited_by,
            invited_by_name: r.invited_by_name,
            created_at: Timestamp::from_unix_millis(r.created_at),
            sent_at: Timestamp::from_unix_millis(r.sent_at),
            expires_at: Timestamp::from_unix_millis(r.expires_at),
        }
    }
}

/// What happened to an invitation's mail: `sent`, `deferred` (the mail server did not take it
/// now: resend later) or `rejected` (refused for good; the reason is in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    Sent,
    Deferred,
    Rejected,
}

/// An invitation just created or resent, and its mail.
#[derive(Debug, Clone)]
pub struct SentInvitation {
    pub invitation: InvitationView,
    pub mail: MailStatus,
}

/// What the accept page shows before anyone joins.
#[derive(Debug, Clone)]
pub struct InvitationPreview {
    pub org_name: String,
    pub inviter_name: Option<String>,
    pub email: String,
    pub role: Role,
    pub expires_at: Timestamp,
    /// An account with the address and a password exists: sign in to join.
    pub account_exists: bool,
    /// No account has the address: the person gives their name (else only a password).
    pub needs_name: bool,
}

/// The answer to accepting: joined (with a session), or refused by the link.
pub enum Accepted {
    Joined { session: NewSession, org_id: String },
    Refused(AcceptRefused),
}

fn parse_role(role: &str) -> Result<Role, AppError> {
    match role {
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        _ => Err(AppError::invalid(
            "invalid_role",
            "role",
            "The role must be \"admin\" or \"member\".",
        )),
    }
}

fn last_admin() -> AppError {
    AppError::conflict(
        "last_admin_required",
        "An organisation needs at least one administrator: make someone else an administrator first.",
    )
}

fn encode_cursor(c: &MemberCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", c.sort_name, c.user_id))
}

fn decode_cursor(s: &str) -> Result<MemberCursor, AppError> {
    let bad = || {
        AppError::invalid(
            "invalid_request",
            "cursor",
            "The cursor is not one this service gave out: use the `next` of the previous page.",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (sort_name, user_id) = text.rsplit_once('\n').ok_or_else(bad)?;
    UserId::parse(user_id).ok_or_else(bad)?;
    // Names hold no control characters (and PostgreSQL text cannot hold NUL).
    if sort_name.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(MemberCursor {
        sort_name: sort_name.to_owned(),
        user_id: user_id.to_owned(),
    })
}

fn refused_by(r: InviteRefused, email: &EmailAddress, now: Timestamp) -> AppError {
    match r {
        InviteRefused::AlreadyMember => AppError::conflict(
            "already_a_member",
            format!("{email} is already a member of this organisation."),
        ),
        InviteRefused::AlreadyInvited => AppError::conflict(
            "already_invited",
            format!(
                "{email} has been invited already. Resend or revoke the pending invitation instead."
            ),
        ),
        InviteRefused::LimitReached => AppError::conflict(
            "invitation_limit_reached",
            format!(
                "This organisation has {MAX_PENDING_INVITATIONS} pending invitations, the most allowed. Revoke some, or wait until they are accepted or expire."
            ),
        ),
        InviteRefused::RateLimited { free_at } => AppError::RateLimited {
            retry_after_secs: ((free_at - now.unix_millis()).max(1000) as u64).div_ceil(1000),
        },
        InviteRefused::ResendLimited { free_at } => {
            let secs = ((free_at - now.unix_millis()).max(1000) as u64).div_ceil(1000);
            AppError::Throttled {
                code: "invitation_resends_limited",
                message: format!(
                    "The invitation to {email} has been sent again {RESENDS_PER_DAY} times in the last day, the most allowed. Try again in {}.",
                    crate::error::wait_in_words(secs)
                ),
                retry_after_secs: secs,
            }
        }
    }
}

impl App {
    /// The members list, for administrators. Without a query: a page of all members by name;
    /// `cursor` is the previous page's `next`. With one: the ranked search's single page
    /// (see [`App::search_org_members`]) with its count; a cursor is refused there, as a
    /// search has no further pages.
    pub async fn list_members(
        &self,
        actor: &Actor,
        org: &str,
        query: &str,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<MemberPage, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        check_query(query)?;
        let cursor = cursor.filter(|c| !c.is_empty());
        if !query.trim().is_empty() {
            if cursor.is_some() {
                return Err(AppError::invalid(
                    "invalid_request",
                    "cursor",
                    "A search answers one page of its best matches: type more to narrow it. A cursor pages the list without a search.",
                ));
            }
            let found = self.search_org_members(&org_id, query, limit).await?;
            return Ok(MemberPage {
                members: found.hits.into_iter().map(MemberView::from).collect(),
                next: None,
                matches: Some(MatchCount {
                    total: found.total,
                    more: found.more,
                }),
            });
        }
        let after = match cursor {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        let limit = limit.unwrap_or(20).clamp(1, MAX_SEARCH_RESULTS);
        let mut hits = self
            .store
            .list_members(&org_id, after.as_ref(), limit + 1)
            .await?;
        let next = if hits.len() as i64 > limit {
            hits.truncate(limit as usize);
            hits.last().map(|h| encode_cursor(&MemberCursor::after(h)))
        } else {
            None
        };
        Ok(MemberPage {
            members: hits.into_iter().map(MemberView::from).collect(),
            next,
            matches: None,
        })
    }

    /// One member, for administrators (the confirmation pages).
    pub async fn member_of_org(
        &self,
        actor: &Actor,
        org: &str,
        member: &str,
    ) -> Result<MemberView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let user_id = UserId::parse(member).ok_or(AppError::NotFound)?;
        Ok(self.store.member(&org_id, &user_id).await?.into())
    }

    /// Changes a member's role (`admin` or `member`); the last administrator cannot be
    /// demoted (409 `last_admin_required`). Setting the role a member has changes nothing.
    pub async fn set_member_role(
        &self,
        actor: &Actor,
        org: &str,
        member: &str,
        role: &str,
    ) -> Result<MemberView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let role = parse_role(role)?;
        let user_id = UserId::parse(member).ok_or(AppError::NotFound)?;
        self.change_role(&org_id, &user_id, role, actor.user_id.as_str())
            .await?;
        Ok(self.store.member(&org_id, &user_id).await?.into())
    }

    async fn change_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        actor: &str,
    ) -> Result<Option<ChangedMember>, AppError> {
        match self
            .store
            .set_member_role(org_id, user_id, role, actor, self.now())
            .await?
        {
            Ok(changed) => Ok(changed),
            Err(MembershipRefused::LastAdmin) => Err(last_admin()),
        }
    }

    /// Removes a member; never the last administrator. Their IT contact, if any, stays and
    /// shows as no longer a member (D3).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        org: &str,
        member: &str,
    ) -> Result<ChangedMember, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let user_id = UserId::parse(member).ok_or(AppError::NotFound)?;
        self.drop_member(&org_id, &user_id, actor.user_id.as_str())
            .await
    }

    async fn drop_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        actor: &str,
    ) -> Result<ChangedMember, AppError> {
        match self
            .store
            .remove_member(org_id, user_id, actor, self.now())
            .await?
        {
            Ok(removed) => Ok(removed),
            Err(MembershipRefused::LastAdmin) => Err(last_admin()),
        }
    }

    /// `smartcore member set-role`: as [`App::set_member_role`], by address, audited as `cli`.
    pub async fn set_role_by_email(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
    ) -> Result<Option<ChangedMember>, AppError> {
        let user = self.member_by_email(org, email).await?;
        self.change_role(&org.org_id(), &user, role, "cli").await
    }

    /// `smartcore member remove`: as [`App::remove_member`], by address, audited as `cli`.
    pub async fn remove_by_email(
        &self,
        org: &OrgRecord,
        email: &str,
    ) -> Result<ChangedMember, AppError> {
        let user = self.member_by_email(org, email).await?;
        self.drop_member(&org.org_id(), &user, "cli").await
    }

    async fn member_by_email(&self, org: &OrgRecord, email: &str) -> Result<UserId, AppError> {
        let user = self.user_by_email(email).await?;
        let not_member = || {
            AppError::invalid(
                "member_not_found",
                "email",
                format!("{} is not a member of {}.", user.email, org.name),
            )
        };
        match self.store.role_in(&org.org_id(), &user.user_id()).await? {
            Some(_) => Ok(user.user_id()),
            None => Err(not_member()),
        }
    }

    /// Invites an address with a role: 201 with the invitation, and its mail sent.
    pub async fn invite(
        &self,
        actor: &Actor,
        org: &str,
        email: &str,
        role: &str,
    ) -> Result<SentInvitation, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let role = parse_role(role)?;
        let org = self.store.org(&org_id).await?;
        self.create_invitation(&org, email, role, actor.user_id.as_str())
            .await
    }

    /// `smartcore member invite`: as [`App::invite`], audited as `cli` (the CLI's own limit
    /// of 20 a minute applies to all its runs together).
    pub async fn invite_from_cli(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
    ) -> Result<SentInvitation, AppError> {
        self.create_invitation(org, email, role, "cli").await
    }

    async fn create_invitation(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
        actor: &str,
    ) -> Result<SentInvitation, AppError> {
        let email = EmailAddress::parse(email)
            .map_err(|e| AppError::invalid("invalid_email", "email", e.to_string()))?;
        let now = self.now();
        let token = random_secret();
        let expires_at = now.plus_millis(INVITATION_LIFETIME.whole_milliseconds() as i64);
        let org_id = org.org_id();
        let record = match self
            .store
            .create_invitation(
                NewInvitation {
                    org_id: &org_id,
                    email: &email,
                    role,
                    actor,
                    token_hash: &secret_hash(&token),
                    now,
                    expires_at,
                },
                RULES,
            )
            .await?
        {
            Ok(r) => r,
            Err(r) => {
                if matches!(r, InviteRefused::RateLimited { .. }) {
                    self.metrics.limit_refusal("invitations_per_minute");
                }
                return Err(refused_by(r, &email, now));
            }
        };
        let mail = self.mail_invitation(org, &record, &token).await?;
        Ok(SentInvitation {
            invitation: InvitationView::of(record, now),
            mail,
        })
    }

    async fn mail_invitation(
        &self,
        org: &OrgRecord,
        record: &InvitationRecord,
        token: &str,
    ) -> Result<MailStatus, AppError> {
        let mail = invitation(&InvitationMail {
            org_name: org.name.clone(),
            recipient_email: record.email.clone(),
            inviter_name: record.invited_by_name.clone(),
            administrator: record.role() == Role::Admin,
            link_url: format!("{}/invitations/{token}", self.public_url),
            expires_at: Timestamp::from_unix_millis(record.expires_at)
                .to_datetime()
                .format(&time::format_description::well_known::Rfc2822)
                .unwrap_or_default(),
        });
        let (status, outcome) = match self.send_mail(&mail).await {
            Ok(m) => (
                MailStatus::Sent,
                DeliveryOutcome::Sent {
                    message_id: m.message_id,
                },
            ),
            Err(MailError::Rejected { reason }) => (
                MailStatus::Rejected,
                DeliveryOutcome::Rejected { error: reason },
            ),
            Err(e) => {
                tracing::warn!(to = %record.email, error = %e, "invitation not sent");
                (
                    MailStatus::Deferred,
                    DeliveryOutcome::Deferred {
                        error: e.to_string(),
                    },
                )
            }
        };
        self.store
            .record_deliveries(&[Delivery {
                org_id: org.id.clone(),
                contact_id: None,
                email: record.email.clone(),
                kind: "invitation",
                subject: mail.subject,
                outcome,
                at: self.now(),
            }])
            .await?;
        Ok(status)
    }

    /// The organisation's pending invitations, oldest first (an expired one shows as such
    /// until the address is invited again).
    pub async fn invitations(
        &self,
        actor: &Actor,
        org: &str,
    ) -> Result<Vec<InvitationView>, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let now = self.now();
        Ok(self
            .store
            .pending_invitations(&org_id)
            .await?
            .into_iter()
            .map(|r| InvitationView::of(r, now))
            .collect())
    }

    /// Sends a pending invitation again with a new link, valid 7 days from now; the earlier
    /// link stops working (410). Counts against the administrator's limit.
    pub async fn resend_invitation(
        &self,
        actor: &Actor,
        org: &str,
        id: &str,
    ) -> Result<SentInvitation, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let id = InvitationId::parse(id).ok_or(AppError::NotFound)?;
        let org = self.store.org(&org_id).await?;
        let now = self.now();
        let token = random_secret();
        let expires_at = now.plus_millis(INVITATION_LIFETIME.whole_milliseconds() as i64);
        let record = match self
            .store
            .resend_invitation(
                &org_id,
                &id,
                actor.user_id.as_str(),
                &secret_hash(&token),
                now,
                expires_at,
                RULES,
            )
            .await?
        {
            Ok(r) => r,
            Err(InviteRefused::RateLimited { free_at }) => {
                self.metrics.limit_refusal("invitations_per_minute");
                return Err(AppError::RateLimited {
                    retry_after_secs: ((free_at - now.unix_millis()).max(1000) as u64)
                        .div_ceil(1000),
                });
            }
            Err(refused @ InviteRefused::ResendLimited { .. }) => {
                self.metrics.limit_refusal("invitation_resends");
                let before = self.store.invitation(&org_id, &id).await?;
                let email = EmailAddress::parse(&before.email)
                    .map_err(|_| AppError::Internal("a stored invitation's address".to_owned()))?;
                return Err(refused_by(refused, &email, now));
            }
            Err(other) => {
                return Err(AppError::Internal(format!(
                    "unexpected refusal of a resend: {other:?}"
                )));
            }
        };
        let mail = self.mail_invitation(&org, &record, &token).await?;
        Ok(SentInvitation {
            invitation: InvitationView::of(record, now),
            mail,
        })
    }

    /// Revokes a pending invitation: its link answers 410 from now on.
    pub async fn revoke_invitation(
        &self,
        actor: &Actor,
        org: &str,
        id: &str,
    ) -> Result<InvitationView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let id = InvitationId::parse(id).ok_or(AppError::NotFound)?;
        let record = self
            .store
            .revoke_invitation(&org_id, &id, actor.user_id.as_str(), self.now())
            .await?;
        Ok(InvitationView::of(record, self.now()))
    }

    /// One pending invitation, for the revoke confirmation page.
    pub async fn pending_invitation(
        &self,
        actor: &Actor,
        org: &str,
        id: &str,
    ) -> Result<InvitationView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let id = InvitationId::parse(id).ok_or(AppError::NotFound)?;
        let record = self.store.invitation(&org_id, &id).await?;
        if record.status != "pending" {
            return Err(AppError::NotFound);
        }
        Ok(InvitationView::of(record, self.now()))
    }

    /// What an invitation link offers, or why it does not.
    pub async fn open_invitation(
        &self,
        token: &str,
    ) -> Result<Result<InvitationPreview, AcceptRefused>, AppError> {
        let record = match self
            .store
            .open_invitation(&secret_hash(token.trim()), self.now())
            .await?
        {
            Ok(r) => r,
            Err(refused) => return Ok(Err(refused)),
        };
        let org_id = OrgId::parse(&record.org_id).ok_or(AppError::NotFound)?;
        let org = self.store.org(&org_id).await?;
        let account = match EmailAddress::parse(&record.email) {
            Ok(email) => match self.store.user_by_email(&email).await {
                Ok(u) => Some(u),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            Err(_) => None,
        };
        let account_exists = account.as_ref().is_some_and(|u| u.password_hash.is_some());
        let needs_name = account.is_none();
        Ok(Ok(InvitationPreview {
            org_name: org.name,
            inviter_name: record.invited_by_name.clone(),
            role: record.role(),
            email: record.email,
            expires_at: Timestamp::from_unix_millis(record.expires_at),
            account_exists,
            needs_name,
        }))
    }

    /// A new person accepts: sets their name and password, joins, and is signed in. Of two
    /// acceptances of one link exactly one joins; the other is refused as used. `name` is
    /// `None` for an account that exists without a password (an imported member): it gets
    /// its first password and keeps its name.
    pub async fn accept_as_new(
        &self,
        token: &str,
        name: Option<&str>,
        password: &str,
    ) -> Result<Accepted, AppError> {
        let name = match name {
            Some(n) => Some(
                PersonName::parse(n)
                    .map_err(|e| AppError::invalid("invalid_name", "name", e.to_string()))?,
            ),
            None => None,
        };
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AppError::invalid(
                "invalid_password",
                "password",
                format!("A password needs at least {MIN_PASSWORD_CHARS} characters."),
            ));
        }
        let hash = hash_password(password)?;
        match self
            .store
            .accept_invitation(
                &secret_hash(token.trim()),
                Some((name.as_ref(), &hash)),
                self.now(),
            )
            .await?
        {
            Ok((invitation, user)) => Ok(Accepted::Joined {
                session: self.open_session(&user, "password").await?,
                org_id: invitation.org_id,
            }),
            Err(refused) => Ok(Accepted::Refused(refused)),
        }
    }

    /// Someone with an account accepts: signs in with their password (throttled like the
    /// sign-in page) and joins.
    pub async fn accept_as_existing(
        &self,
        token: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Accepted, AppError> {
        let hash = secret_hash(token.trim());
        let record = match self.store.open_invitation(&hash, self.now()).await? {
            Ok(r) => r,
            Err(refused) => return Ok(Accepted::Refused(refused)),
        };
        let session = self.sign_in_from(&record.email, password, client).await?;
        match self
            .store
            .accept_invitation(&hash, None, self.now())
            .await?
        {
            Ok((invitation, _)) => Ok(Accepted::Joined {
                session,
                org_id: invitation.org_id,
            }),
            Err(refused) => {
                self.sign_out(&session.token).await?;
                Ok(Accepted::Refused(refused))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = MemberCursor {
            sort_name: "ada lovelace \"%_".to_owned(),
            user_id: "usr_0192".to_owned(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        assert!(decode_cursor("not base64!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("no-separator")).is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("a\nnot-a-user")).is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("a\0b\nusr_0192")).is_err());
    }

    #[test]
    fn only_the_two_roles_exist() {
        assert_eq!(parse_role("admin").unwrap(), Role::Admin);
        assert_eq!(parse_role("member").unwrap(), Role::Member);
        for r in ["Admin", "administrator", "owner", ""] {
            assert_eq!(parse_role(r).unwrap_err().code(), "invalid_role");
        }
    }
}
