//! Invitations (issue 12): by e-mail with a single-use link, resent, revoked and accepted.
//!
//! An invitation's link carries a 256-bit random secret; only its SHA-256 is stored. It works
//! once, for [`INVITATION_LIFETIME`]. The limits ([`POLICY`]) are the domain's
//! (`smartcore_domain::invitation`); each use case here opens the unit of work, takes the
//! organisation's lock, reads the facts, asks the policy, writes and commits, so concurrent
//! invitations cannot overshoot a limit and every instance shares the counts.

use crate::ErrorCode;
use crate::accounts::{MIN_PASSWORD_CHARS, NewSession, hash_password, random_secret, secret_hash};
use crate::members::parse_role;
use crate::{Actor, App, AppError};
use smartcore_domain::{
    AcceptRefused, Acceptor, EmailAddress, ExistingAccount, InvitationId, InvitationStatus,
    InviteFacts, InvitePolicy, InviteRefused, Joining, LinkFacts, OrgId, PersonName, Quota, Role,
    Timestamp, UserId, invitation::joining, invitation::link_verdict, quota::seconds_until,
};
use smartcore_mail::{InvitationMail, MailError, invitation};
use smartcore_storage::quota::{self, Counter};
use smartcore_storage::{
    AuditEntry, Connection, Delivery, DeliveryOutcome, InvitationRecord, NewInvitation, OrgRecord,
    UserRecord, WriteTx, audit, invitations as stored, orgs, users,
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
    /// `pending`, `expired`, `accepted` or `revoked`.
    pub status: String,
}

impl InvitationView {
    fn of(r: InvitationRecord, now: Timestamp) -> Self {
        let status = match r.status() {
            InvitationStatus::Pending if r.expires() <= now => InvitationStatus::Expired,
            status => status,
        };
        InvitationView {
            role: r.role(),
            status: status.as_str().to_owned(),
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

/// A step of accepting: go on with what it found, or stop with the link's refusal.
enum Step<T> {
    Go(T),
    Refused(AcceptRefused),
}

/// A new password (and, for a new account, a name) given on the link's page.
struct NewPassword<'a> {
    name: Option<&'a PersonName>,
    password_hash: &'a str,
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

/// The facts a link's verdict needs, read in `conn` (the inviter's role only matters while
/// the invitation is pending).
async fn link_facts(
    conn: &mut Connection,
    invitation: &InvitationRecord,
    token_hash: &str,
) -> Result<LinkFacts, AppError> {
    let status = invitation.status();
    let inviter_is_admin = invitation.sent_from_cli()
        || status != InvitationStatus::Pending
        || stored::is_enabled_admin(conn, &invitation.org_id, &invitation.invited_by).await?;
    Ok(LinkFacts {
        status,
        newest_link: invitation.token_hash == token_hash,
        expires_at: invitation.expires(),
        inviter_is_admin,
    })
}

impl App {
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
        let details = serde_json::json!({ "email": email.as_str(), "role": role.as_str() });
        let record =
            Self::audited(tx, &org_id, &id, actor, "invitation.created", details, now).await?;
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
        actor: &str,
        action: &'static str,
        details: serde_json::Value,
        now: Timestamp,
    ) -> Result<InvitationRecord, AppError> {
        let entry = AuditEntry {
            org_id: Some(org_id),
            at: now,
            actor,
            action,
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
            link_url: format!("{}/invitations/{token}", self.public_url),
            expires_at: record
                .expires()
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
    /// link stops working (410). Counts against the invitation's daily resends and the
    /// administrator's mails a minute.
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
        let sender = actor.user_id.as_str();
        let mut tx = self.store.write().await?;
        orgs::lock(&mut tx, &org_id).await?;
        let before = stored::by_id(&mut tx, &org_id, &id).await?;
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
        stored::renew(&mut tx, &id, &secret_hash(&token), now, expires_at).await?;
        let details = serde_json::json!({ "email": before.email, "role": before.role });
        let record =
            Self::audited(tx, &org_id, &id, sender, "invitation.resent", details, now).await?;
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
        let now = self.now();
        let mut tx = self.store.write().await?;
        let before = stored::by_id(&mut tx, &org_id, &id).await?;
        if !stored::finish(&mut tx, &before.id, InvitationStatus::Revoked, None, now).await? {
            return Err(AppError::NotFound);
        }
        let details = serde_json::json!({ "email": before.email, "role": before.role });
        let actor = actor.user_id.as_str();
        let record =
            Self::audited(tx, &org_id, &id, actor, "invitation.revoked", details, now).await?;
        Ok(InvitationView::of(record, now))
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
        if record.status() != InvitationStatus::Pending {
            return Err(AppError::NotFound);
        }
        Ok(InvitationView::of(record, self.now()))
    }

    /// The invitation a link belongs to, if it lets someone join now.
    async fn open_link(&self, token_hash: &str) -> Result<Step<InvitationRecord>, AppError> {
        let mut conn = self.store.read_connection().await?;
        let Some(record) = stored::by_link(&mut conn, token_hash).await? else {
            return Ok(Step::Refused(AcceptRefused::Unknown));
        };
        let facts = link_facts(&mut conn, &record, token_hash).await?;
        Ok(match link_verdict(&facts, self.now()) {
            Ok(()) => Step::Go(record),
            Err(refused) => Step::Refused(refused),
        })
    }

    /// What an invitation link offers, or why it does not.
    pub async fn open_invitation(&self, token: &str) -> Result<InvitationLink, AppError> {
        let record = match self.open_link(&secret_hash(token.trim())).await? {
            Step::Go(record) => record,
            Step::Refused(refused) => return Ok(InvitationLink::Refused(refused)),
        };
        let org_id = record.org().ok_or(AppError::NotFound)?;
        let org = self.store.org(&org_id).await?;
        let account = match EmailAddress::parse(&record.email) {
            Ok(email) => self.store.find_user_by_email(&email).await?,
            Err(_) => None,
        };
        Ok(InvitationLink::Open(InvitationPreview {
            org_name: org.name,
            inviter_name: record.invited_by_name.clone(),
            role: record.role(),
            expires_at: record.expires(),
            account_exists: account.as_ref().is_some_and(|u| u.password_hash.is_some()),
            needs_name: account.is_none(),
            email: record.email,
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
        let name =
            match name {
                Some(n) => Some(PersonName::parse(n).map_err(|e| {
                    AppError::invalid(ErrorCode::InvalidName, "name", e.to_string())
                })?),
                None => None,
            };
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AppError::invalid(
                ErrorCode::InvalidPassword,
                "password",
                format!("A password needs at least {MIN_PASSWORD_CHARS} characters."),
            ));
        }
        let hash = hash_password(password)?;
        let given = NewPassword {
            name: name.as_ref(),
            password_hash: &hash,
        };
        match self.join(&secret_hash(token.trim()), Some(given)).await? {
            Step::Go((invitation, user)) => Ok(Accepted::Joined {
                session: self.open_session(&user, "password").await?,
                org_id: invitation.org_id,
            }),
            Step::Refused(refused) => Ok(Accepted::Refused(refused)),
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
        let record = match self.open_link(&hash).await? {
            Step::Go(r) => r,
            Step::Refused(refused) => return Ok(Accepted::Refused(refused)),
        };
        let session = self.sign_in_from(&record.email, password, client).await?;
        match self.join(&hash, None).await? {
            Step::Go((invitation, _)) => Ok(Accepted::Joined {
                session,
                org_id: invitation.org_id,
            }),
            Step::Refused(refused) => {
                self.sign_out(&session.token).await?;
                Ok(Accepted::Refused(refused))
            }
        }
    }

    /// Accepts a link in one unit of work: the invitation is claimed (only one transaction
    /// can move it from pending), the account made or given its first password as the
    /// domain decides, the membership put, `invitation.accepted` recorded. The organisation's
    /// row is the lock a demotion or removal takes: with it held, the inviter's role read
    /// for the verdict stays true until this commits.
    async fn join(
        &self,
        token_hash: &str,
        given: Option<NewPassword<'_>>,
    ) -> Result<Step<(InvitationRecord, UserRecord)>, AppError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let Some(found) = stored::by_link(&mut tx, token_hash).await? else {
            return Ok(Step::Refused(AcceptRefused::Unknown));
        };
        let org_id = found.org().ok_or(AppError::NotFound)?;
        orgs::lock(&mut tx, &org_id).await?;
        let Some(invitation) = stored::by_link(&mut tx, token_hash).await? else {
            return Ok(Step::Refused(AcceptRefused::Unknown));
        };
        let facts = link_facts(&mut tx, &invitation, token_hash).await?;
        if let Err(refused) = link_verdict(&facts, now) {
            return Ok(Step::Refused(refused));
        }
        let claimed = stored::finish(
            &mut tx,
            &invitation.id,
            InvitationStatus::Accepted,
            Some(token_hash),
            now,
        )
        .await?;
        if !claimed {
            return Ok(Step::Refused(AcceptRefused::Used));
        }
        let user = match Self::account_for(&mut tx, &invitation, given.as_ref(), now).await? {
            Step::Go(user) => user,
            Step::Refused(refused) => return Ok(Step::Refused(refused)),
        };
        stored::set_accepted_by(&mut tx, &invitation.id, &user.id).await?;
        let email = EmailAddress::parse(&user.email)
            .map_err(|_| AppError::internal("a stored user's address"))?;
        if users::membership_role(&mut tx, &org_id, &user.id)
            .await?
            .is_none()
        {
            // Someone made a member meanwhile (the CLI) keeps the role they were given.
            users::put_membership(&mut tx, &org_id, &user, &email, invitation.role(), now).await?;
        }
        let entry = AuditEntry {
            org_id: Some(&org_id),
            at: now,
            actor: &user.id,
            action: "invitation.accepted",
            target: Some(&invitation.id),
            details: serde_json::json!({
                "email": invitation.email, "role": invitation.role,
                "new_account": given.is_some(),
            }),
        };
        audit::record(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(Step::Go((invitation, user)))
    }

    /// The account that joins, made or given its first password as the domain decides.
    async fn account_for(
        tx: &mut WriteTx,
        invitation: &InvitationRecord,
        given: Option<&NewPassword<'_>>,
        now: Timestamp,
    ) -> Result<Step<UserRecord>, AppError> {
        let email = EmailAddress::parse(&invitation.email)
            .map_err(|_| AppError::internal("a stored invitation's address"))?;
        let existing = users::by_email(tx, &email).await?;
        let account = match &existing {
            None => ExistingAccount::None,
            Some(u) if u.password_hash.is_some() => ExistingAccount::WithPassword,
            Some(_) => ExistingAccount::WithoutPassword,
        };
        let acceptor = match given {
            Some(g) => Acceptor::NewPassword {
                with_name: g.name.is_some(),
            },
            None => Acceptor::SignedIn,
        };
        let id = match (joining(account, acceptor), existing, given) {
            (Err(refused), _, _) => return Ok(Step::Refused(refused)),
            (Ok(Joining::FirstPassword), Some(user), Some(g)) => {
                users::set_password(tx, &user.id, g.password_hash).await?;
                user.id
            }
            (Ok(Joining::NewAccount), None, Some(g)) => {
                let name = g
                    .name
                    .ok_or_else(|| AppError::internal("a new account's name"))?;
                let id = UserId::generate();
                users::insert(tx, &id, &email, name, g.password_hash, now).await?;
                id.to_string()
            }
            (Ok(_), Some(user), _) => user.id,
            (Ok(_), None, _) => {
                return Err(AppError::internal("an account to join with"));
            }
        };
        Ok(Step::Go(users::by_id(tx, &id).await?))
    }
}
