//! Invitations (issue 12): by e-mail with a single-use link, resent, revoked and accepted.
//!
//! An invitation's link carries a 256-bit random secret; only its SHA-256 is stored. It works
//! once, for [`INVITATION_LIFETIME`]. The limits ([`POLICY`]) are the domain's
//! (`smartcore_domain::invitation`); each use case here opens the unit of work, takes the
//! organisation's lock, reads the facts, asks the policy, writes and commits, so concurrent
//! invitations cannot overshoot a limit and every instance shares the counts.

use crate::ErrorCode;
use crate::Members;
use crate::accounts::{MIN_PASSWORD_CHARS, NewSession, hash_password, random_secret, secret_hash};
use smartcore_domain::MailKind;
use smartcore_domain::audit::{InvitationRevoked, InvitationSent};
use smartcore_domain::{AuditActor, AuditDetails};
mod accept;

use crate::members::parse_role;
use crate::metrics::delivery_outcome;
use crate::{Actor, AppError};
use smartcore_domain::{
    AcceptRefused, EmailAddress, InvitationId, InvitationStatus, InviteFacts, InvitePolicy,
    InviteRefused, OrgId, Quota, Role, Timestamp, quota::seconds_until,
};
use smartcore_mail::{InvitationMail, invitation};
use smartcore_storage::quota::{self, Counter};
use smartcore_storage::{
    AuditEntry, Delivery, DeliveryOutcome, InvitationRecord, NewInvitation, OrgRecord, WriteTx,
    audit, invitations as stored, orgs,
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

/// The limits every invitation is checked against.
pub const POLICY: InvitePolicy = InvitePolicy {
    max_pending: MAX_PENDING_INVITATIONS as u32,
    sends: Quota::per_minute(INVITATIONS_PER_MINUTE as u32),
    resends: Quota::per_day(RESENDS_PER_DAY as u32),
};

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
    /// Pending, accepted or revoked as stored; a pending one past its date is `Expired`.
    pub status: InvitationStatus,
}

impl InvitationView {
    fn of(r: InvitationRecord, now: Timestamp) -> Self {
        let status = match r.status() {
            InvitationStatus::Pending if r.expires() <= now => InvitationStatus::Expired,
            status => status,
        };
        InvitationView {
            role: r.role(),
            status,
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

smartcore_domain::column_text! {
    /// What happened to an invitation's mail: `sent`, `deferred` (the mail server did not take
    /// it now: resend later) or `rejected` (refused for good; the reason is in the audit log).
    pub enum MailStatus {
        Sent => "sent",
        Deferred => "deferred",
        Rejected => "rejected",
    }
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

/// What a link offers: the invitation to accept, or why it lets nobody join.
#[derive(Debug, Clone)]
pub enum InvitationLink {
    Open(InvitationPreview),
    Refused(AcceptRefused),
}

/// The answer to accepting: joined (with a session), or refused by the link.
pub enum Accepted {
    Joined { session: NewSession, org_id: String },
    Refused(AcceptRefused),
}

fn refused_by(r: InviteRefused, email: &str, now: Timestamp) -> AppError {
    match r {
        InviteRefused::AlreadyMember => AppError::conflict(
            ErrorCode::AlreadyAMember,
            format!("{email} is already a member of this organisation."),
        ),
        InviteRefused::AlreadyInvited => AppError::conflict(
            ErrorCode::AlreadyInvited,
            format!(
                "{email} has been invited already. Resend or revoke the pending invitation instead."
            ),
        ),
        InviteRefused::LimitReached => AppError::conflict(
            ErrorCode::InvitationLimitReached,
            format!(
                "This organisation has {MAX_PENDING_INVITATIONS} pending invitations, the most allowed. Revoke some, or wait until they are accepted or expire."
            ),
        ),
        InviteRefused::RateLimited { free_at } => AppError::RateLimited {
            retry_after_secs: seconds_until(free_at, now),
        },
        InviteRefused::ResendLimited { free_at } => {
            let secs = seconds_until(free_at, now);
            AppError::Throttled {
                code: ErrorCode::InvitationResendsLimited,
                message: format!(
                    "The invitation to {email} has been sent again {RESENDS_PER_DAY} times in the last day, the most allowed. Try again in {}.",
                    crate::error::wait_in_words(secs)
                ),
                retry_after_secs: secs,
            }
        }
    }
}

impl Members<'_> {
    /// Invites an address with a role: 201 with the invitation, and its mail sent.
    pub async fn invite(
        &self,
        actor: &Actor,
        org: &OrgId,
        email: &str,
        role: &str,
    ) -> Result<SentInvitation, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let role = parse_role(role)?;
        let org = self.store.org(&org_id).await?;
        let by = actor.audit_actor();
        self.create_invitation(&org, email, role, &by).await
    }

    /// `smartcore member invite`: as [`Members::invite`], audited as `cli` (the CLI's own limit
    /// of 20 a minute applies to all its runs together).
    pub async fn invite_from_cli(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
    ) -> Result<SentInvitation, AppError> {
        self.create_invitation(org, email, role, &AuditActor::Cli)
            .await
    }

    async fn create_invitation(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
        by: &AuditActor,
    ) -> Result<SentInvitation, AppError> {
        let actor = by.as_str();
        let email = EmailAddress::parse(email)
            .map_err(|e| AppError::invalid(ErrorCode::InvalidEmail, "email", e.to_string()))?;
        let now = self.now();
        let token = random_secret();
        let org_id = org.org_id();
        let id = InvitationId::generate();
        let new = NewInvitation {
            id: &id,
            org_id: &org_id,
            email: &email,
            role,
            actor,
            token_hash: &secret_hash(&token),
            now,
            expires_at: now.plus_millis(INVITATION_LIFETIME.whole_milliseconds() as i64),
        };
        let mut tx = self.store.write().await?;
        orgs::lock(&mut tx, &org_id).await?;
        stored::expire_stale(&mut tx, &org_id, &email, now).await?;
        let mails = Counter::InvitationMails { actor };
        let sends = quota::uses_since(&mut tx, mails, POLICY.sends.window_start(now)).await?;
        let facts = InviteFacts {
            already_member: stored::is_member(&mut tx, &org_id, &email).await?,
            already_invited: stored::is_pending_for(&mut tx, &org_id, &email).await?,
            pending: stored::count_unexpired(&mut tx, &org_id, now).await?,
            sends: &sends,
        };
        if let Err(refused) = POLICY.may_invite(&facts, now) {
            if matches!(refused, InviteRefused::RateLimited { .. }) {
                self.metrics.limit_refusal("invitations_per_minute");
            }
            return Err(refused_by(refused, email.as_str(), now));
        }
        quota::record(&mut tx, mails, now, 1).await?;
        stored::insert(&mut tx, &new).await?;
        let details = AuditDetails::InvitationCreated(InvitationSent {
            email: email.to_string(),
            role,
        });
        let record = Self::audited(tx, &org_id, &id, by, details, now).await?;
        let mail = self.mail_invitation(org, &record, &token).await?;
        Ok(SentInvitation {
            invitation: InvitationView::of(record, now),
            mail,
        })
    }

    /// Records the invitation's audit event, reads it back and commits.
    async fn audited(
        mut tx: WriteTx,
        org_id: &OrgId,
        id: &InvitationId,
        actor: &AuditActor,
        details: AuditDetails,
        now: Timestamp,
    ) -> Result<InvitationRecord, AppError> {
        let entry = AuditEntry {
            org_id: Some(org_id),
            at: now,
            actor: actor.clone(),
            target: Some(id.as_str()),
            details,
        };
        audit::record(&mut tx, entry).await?;
        let record = stored::by_id(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(record)
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
            link_url: self.links.invitation(token),
            expires_at: record
                .expires()
                .to_datetime()
                .format(&time::format_description::well_known::Rfc2822)
                .unwrap_or_default(),
        });
        let outcome = delivery_outcome(self.send_mail(&mail).await);
        let status = match &outcome {
            DeliveryOutcome::Sent { .. } => MailStatus::Sent,
            DeliveryOutcome::Rejected { .. } => MailStatus::Rejected,
            DeliveryOutcome::Deferred { error } => {
                tracing::warn!(to = %record.email, %error, "invitation not sent");
                MailStatus::Deferred
            }
        };
        self.store
            .record_deliveries(&[Delivery {
                org_id: org.id.clone(),
                contact_id: None,
                email: record.email.clone(),
                kind: MailKind::Invitation,
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
        org: &OrgId,
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
    /// link stops working (410). Counts against the invitation's daily resends and the
    /// administrator's mails a minute.
    pub async fn resend_invitation(
        &self,
        actor: &Actor,
        org: &OrgId,
        id: &InvitationId,
    ) -> Result<SentInvitation, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let org = self.store.org(&org_id).await?;
        let now = self.now();
        let token = random_secret();
        let expires_at = now.plus_millis(INVITATION_LIFETIME.whole_milliseconds() as i64);
        let sender = actor.user_id.as_str();
        let mut tx = self.store.write().await?;
        orgs::lock(&mut tx, &org_id).await?;
        let before = stored::by_id(&mut tx, &org_id, id).await?;
        if before.status() != InvitationStatus::Pending {
            return Err(AppError::NotFound);
        }
        let resends = Counter::InvitationResends {
            invitation_id: id.as_str(),
        };
        let mails = Counter::InvitationMails { actor: sender };
        let resent = quota::uses_since(&mut tx, resends, POLICY.resends.window_start(now)).await?;
        let sent = quota::uses_since(&mut tx, mails, POLICY.sends.window_start(now)).await?;
        if let Err(refused) = POLICY.may_resend(&resent, &sent, now) {
            self.metrics.limit_refusal(match refused {
                InviteRefused::ResendLimited { .. } => "invitation_resends",
                _ => "invitations_per_minute",
            });
            return Err(refused_by(refused, &before.email, now));
        }
        quota::record(&mut tx, resends, now, 1).await?;
        quota::record(&mut tx, mails, now, 1).await?;
        stored::renew(&mut tx, id, &secret_hash(&token), now, expires_at).await?;
        let details = AuditDetails::InvitationResent(InvitationSent {
            email: before.email.clone(),
            role: before.role,
        });
        let by = actor.audit_actor();
        let record = Self::audited(tx, &org_id, id, &by, details, now).await?;
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
        org: &OrgId,
        id: &InvitationId,
    ) -> Result<InvitationView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let before = stored::by_id(&mut tx, &org_id, id).await?;
        if !stored::finish(&mut tx, &before.id, InvitationStatus::Revoked, None, now).await? {
            return Err(AppError::NotFound);
        }
        let details = AuditDetails::InvitationRevoked(InvitationRevoked {
            email: before.email.clone(),
            invited_by: None,
            reason: None,
            role: before.role,
        });
        let by = actor.audit_actor();
        let record = Self::audited(tx, &org_id, id, &by, details, now).await?;
        Ok(InvitationView::of(record, now))
    }

    /// One pending invitation, for the revoke confirmation page.
    pub async fn pending_invitation(
        &self,
        actor: &Actor,
        org: &OrgId,
        id: &InvitationId,
    ) -> Result<InvitationView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let record = self.store.invitation(&org_id, id).await?;
        if record.status() != InvitationStatus::Pending {
            return Err(AppError::NotFound);
        }
        Ok(InvitationView::of(record, self.now()))
    }
}
