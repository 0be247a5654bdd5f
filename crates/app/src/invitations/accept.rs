//! Accepting an invitation: what a link offers, and joining through it in one unit of work.

use super::*;
use crate::Members;
use smartcore_domain::audit::InvitationAccepted;
use smartcore_domain::{
    AcceptRefused, Acceptor, ExistingAccount, Joining, LinkFacts, PersonName, UserId,
    invitation::joining, invitation::link_verdict,
};
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_storage::{Connection, UserRecord, WriteTx, users};

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

impl Members<'_> {
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
        let session = self
            .accounts()
            .sign_in_from(&record.email, password, client)
            .await?;
        match self.join(&hash, None).await? {
            Step::Go((invitation, _)) => Ok(Accepted::Joined {
                session,
                org_id: invitation.org_id,
            }),
            Step::Refused(refused) => {
                self.accounts().sign_out(&session.token).await?;
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
            actor: AuditActor::User(user.user_id()),
            target: Some(&invitation.id),
            details: AuditDetails::InvitationAccepted(InvitationAccepted {
                email: invitation.email.clone(),
                new_account: given.is_some(),
                role: invitation.role(),
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
