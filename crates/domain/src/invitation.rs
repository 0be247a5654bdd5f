//! Invitations to join an organisation: who may be invited, how often mails go out, and
//! whether a link still lets someone join. Storage records the facts; the use cases ask here.

use crate::{Quota, Timestamp};

crate::column_text! {
    /// Where an invitation stands (`invitations.status`).
    pub enum InvitationStatus {
        Pending => "pending",
        Accepted => "accepted",
        Revoked => "revoked",
        /// Expired and replaced by a new invitation of the same address (a pending one past
        /// its date stays `Pending` until then, shown as expired).
        Expired => "expired",
    }
}

impl InvitationStatus {
    /// The column's text read back (none for any other text).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// The limits invitations are checked against.
#[derive(Debug, Clone, Copy)]
pub struct InvitePolicy {
    /// Pending (unexpired) invitations per organisation.
    pub max_pending: u32,
    /// Invitation mails (new and resent) per administrator.
    pub sends: Quota,
    /// Resends of one invitation (issue 24).
    pub resends: Quota,
}

/// Why an invitation (or a resend) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteRefused {
    AlreadyMember,
    AlreadyInvited,
    LimitReached,
    /// Too many mails from this administrator; free again at this time.
    RateLimited {
        free_at: Timestamp,
    },
    /// This invitation was resent as often as a day allows; free again at this time.
    ResendLimited {
        free_at: Timestamp,
    },
}

/// What is known, under the organisation's lock, when an address is invited.
#[derive(Debug, Clone)]
pub struct InviteFacts<'a> {
    pub already_member: bool,
    pub already_invited: bool,
    /// Unexpired pending invitations of the organisation.
    pub pending: u32,
    /// The administrator's invitation mails in the window, oldest first.
    pub sends: &'a [Timestamp],
}

impl InvitePolicy {
    /// Whether a new invitation may be created and mailed.
    pub fn may_invite(&self, facts: &InviteFacts<'_>, now: Timestamp) -> Result<(), InviteRefused> {
        if facts.already_member {
            return Err(InviteRefused::AlreadyMember);
        }
        if facts.already_invited {
            return Err(InviteRefused::AlreadyInvited);
        }
        if facts.pending >= self.max_pending {
            return Err(InviteRefused::LimitReached);
        }
        self.may_send(facts.sends, now)
    }

    /// Whether a pending invitation may be mailed again: its own resends within the day,
    /// then the administrator's mails within the minute.
    pub fn may_resend(
        &self,
        resends: &[Timestamp],
        sends: &[Timestamp],
        now: Timestamp,
    ) -> Result<(), InviteRefused> {
        self.resends
            .admit(resends, 1, now)
            .map_err(|free_at| InviteRefused::ResendLimited { free_at })?;
        self.may_send(sends, now)
    }

    fn may_send(&self, sends: &[Timestamp], now: Timestamp) -> Result<(), InviteRefused> {
        self.sends
            .admit(sends, 1, now)
            .map_err(|free_at| InviteRefused::RateLimited { free_at })
    }
}

/// Why a link does not let anyone join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptRefused {
    /// No such link: mistyped or tampered (404).
    Unknown,
    /// A newer link was sent for the same invitation (410).
    Replaced,
    Expired,
    Revoked,
    /// Used already, by this or another browser (410).
    Used,
    /// Opened as a new person, but an account with the address exists (sign in instead).
    AccountExists,
    /// Opened as an existing account, but there is none for the address.
    NoAccount,
    /// The administrator who sent it is no longer an administrator of the organisation
    /// (demoted, removed or disabled): the invitation carried their authority (410).
    InviterNotAdmin,
}

/// An invitation as one of its links finds it.
#[derive(Debug, Clone, Copy)]
pub struct LinkFacts {
    pub status: InvitationStatus,
    /// The link is the invitation's newest (an older one was replaced by a resend).
    pub newest_link: bool,
    pub expires_at: Timestamp,
    /// Its sender is still an enabled administrator of the organisation (always true for an
    /// invitation sent by the operator from the command line).
    pub inviter_is_admin: bool,
}

/// Whether a link lets someone join now. An invitation carries its sender's authority: it
/// works only while they are an administrator.
pub fn link_verdict(link: &LinkFacts, now: Timestamp) -> Result<(), AcceptRefused> {
    match link.status {
        InvitationStatus::Accepted => Err(AcceptRefused::Used),
        InvitationStatus::Revoked => Err(AcceptRefused::Revoked),
        InvitationStatus::Expired => Err(AcceptRefused::Expired),
        InvitationStatus::Pending if !link.inviter_is_admin => Err(AcceptRefused::InviterNotAdmin),
        InvitationStatus::Pending if !link.newest_link => Err(AcceptRefused::Replaced),
        InvitationStatus::Pending if link.expires_at <= now => Err(AcceptRefused::Expired),
        InvitationStatus::Pending => Ok(()),
    }
}

/// The account of the invited address, as found when the link is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingAccount {
    None,
    /// An account made by an import, which has never had a password.
    WithoutPassword,
    WithPassword,
}

/// Who accepts: a person who gives a password on the link's page (`with_name`: and their
/// name, for a new account), or a person who signed in with their account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptor {
    NewPassword { with_name: bool },
    SignedIn,
}

/// What accepting does to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining {
    /// A new account with the given name and password.
    NewAccount,
    /// The link proves the mailbox, as a password reset would: the account gets its first
    /// password.
    FirstPassword,
    /// The existing account joins as it is.
    AsItIs,
}

/// How the acceptor joins, or why they cannot this way.
pub fn joining(account: ExistingAccount, acceptor: Acceptor) -> Result<Joining, AcceptRefused> {
    match (account, acceptor) {
        (ExistingAccount::WithPassword, Acceptor::NewPassword { .. }) => {
            Err(AcceptRefused::AccountExists)
        }
        (ExistingAccount::WithoutPassword, Acceptor::NewPassword { .. }) => {
            Ok(Joining::FirstPassword)
        }
        (ExistingAccount::None, Acceptor::NewPassword { with_name: true }) => {
            Ok(Joining::NewAccount)
        }
        (ExistingAccount::None, _) => Err(AcceptRefused::NoAccount),
        (_, Acceptor::SignedIn) => Ok(Joining::AsItIs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: InvitePolicy = InvitePolicy {
        max_pending: 2,
        sends: Quota::per_minute(2),
        resends: Quota::per_day(1),
    };

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn facts(sends: &[Timestamp]) -> InviteFacts<'_> {
        InviteFacts {
            already_member: false,
            already_invited: false,
            pending: 0,
            sends,
        }
    }

    #[test]
    fn statuses_round_trip_their_column_text() {
        for s in [
            InvitationStatus::Pending,
            InvitationStatus::Accepted,
            InvitationStatus::Revoked,
            InvitationStatus::Expired,
        ] {
            assert_eq!(InvitationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(InvitationStatus::parse("Pending"), None);
    }

    #[test]
    fn members_and_invited_addresses_are_refused_before_any_limit() {
        let now = t(100_000);
        let full = [t(99_000), t(99_500)];
        let member = InviteFacts {
            already_member: true,
            ..facts(&full)
        };
        assert_eq!(
            POLICY.may_invite(&member, now),
            Err(InviteRefused::AlreadyMember)
        );
        let invited = InviteFacts {
            already_invited: true,
            ..facts(&full)
        };
        assert_eq!(
            POLICY.may_invite(&invited, now),
            Err(InviteRefused::AlreadyInvited)
        );
        let many = InviteFacts {
            pending: 2,
            ..facts(&[])
        };
        assert_eq!(
            POLICY.may_invite(&many, now),
            Err(InviteRefused::LimitReached)
        );
        assert_eq!(
            POLICY.may_invite(&facts(&full), now),
            Err(InviteRefused::RateLimited {
                free_at: t(159_000)
            })
        );
        assert_eq!(POLICY.may_invite(&facts(&full[1..]), now), Ok(()));
    }

    #[test]
    fn a_resend_counts_its_own_day_first_then_the_administrators_minute() {
        let now = t(100_000_000);
        assert_eq!(
            POLICY.may_resend(&[t(99_000_000)], &[], now),
            Err(InviteRefused::ResendLimited {
                free_at: t(99_000_000 + 86_400_000)
            })
        );
        let sends = [t(99_999_000), t(99_999_500)];
        assert_eq!(
            POLICY.may_resend(&[], &sends, now),
            Err(InviteRefused::RateLimited {
                free_at: t(100_059_000)
            })
        );
        assert_eq!(POLICY.may_resend(&[], &[], now), Ok(()));
    }

    fn link(status: InvitationStatus) -> LinkFacts {
        LinkFacts {
            status,
            newest_link: true,
            expires_at: t(1_000),
            inviter_is_admin: true,
        }
    }

    #[test]
    fn a_link_works_once_while_pending_newest_unexpired_and_backed_by_an_administrator() {
        let now = t(500);
        assert_eq!(link_verdict(&link(InvitationStatus::Pending), now), Ok(()));
        assert_eq!(
            link_verdict(&link(InvitationStatus::Accepted), now),
            Err(AcceptRefused::Used)
        );
        assert_eq!(
            link_verdict(&link(InvitationStatus::Revoked), now),
            Err(AcceptRefused::Revoked)
        );
        assert_eq!(
            link_verdict(&link(InvitationStatus::Expired), now),
            Err(AcceptRefused::Expired)
        );
        let old = LinkFacts {
            newest_link: false,
            ..link(InvitationStatus::Pending)
        };
        assert_eq!(link_verdict(&old, now), Err(AcceptRefused::Replaced));
        assert_eq!(
            link_verdict(&link(InvitationStatus::Pending), t(1_000)),
            Err(AcceptRefused::Expired)
        );
        let orphaned = LinkFacts {
            inviter_is_admin: false,
            ..link(InvitationStatus::Pending)
        };
        assert_eq!(
            link_verdict(&orphaned, now),
            Err(AcceptRefused::InviterNotAdmin)
        );
        // A used link says so, whatever became of its sender.
        let used = LinkFacts {
            inviter_is_admin: false,
            ..link(InvitationStatus::Accepted)
        };
        assert_eq!(link_verdict(&used, now), Err(AcceptRefused::Used));
    }

    #[test]
    fn joining_depends_on_the_account_and_how_the_acceptor_came() {
        use Acceptor::*;
        use ExistingAccount::*;
        let new = NewPassword { with_name: true };
        let password_only = NewPassword { with_name: false };
        assert_eq!(joining(None, new), Ok(Joining::NewAccount));
        assert_eq!(joining(None, password_only), Err(AcceptRefused::NoAccount));
        assert_eq!(joining(None, SignedIn), Err(AcceptRefused::NoAccount));
        assert_eq!(
            joining(WithoutPassword, password_only),
            Ok(Joining::FirstPassword)
        );
        assert_eq!(joining(WithoutPassword, new), Ok(Joining::FirstPassword));
        assert_eq!(
            joining(WithPassword, new),
            Err(AcceptRefused::AccountExists)
        );
        assert_eq!(joining(WithPassword, SignedIn), Ok(Joining::AsItIs));
        assert_eq!(joining(WithoutPassword, SignedIn), Ok(Joining::AsItIs));
    }
}
