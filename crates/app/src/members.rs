//! Members (issue 12): the members list in pages, role changes and removals (never of the
//! last administrator). Invitations have their own module (see [`Members::invite`]).
//!
//! Access is decided per request from the membership row (see [`App::admin_org`]): nothing
//! about a role is cached, so a demoted or removed person is refused at their very next
//! request, page or API token, on every instance.

use crate::Members;
use crate::contacts::{MAX_SEARCH_RESULTS, check_query};
use crate::{Actor, AppError, ErrorCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use smartcore_domain::access::{may_change_role, may_remove};
use smartcore_domain::audit::{MemberRemoved, RoleChanged};
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{OrgId, Role, Timestamp, UserId};
use smartcore_storage::{
    AuditEntry, Connection, MemberCursor, MemberHit, OrgRecord, audit, invitations, memberships,
    orgs,
};

/// Members per page of the members list.
pub const MEMBERS_PAGE: i64 = 50;

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

/// A member whose role was changed or who was removed, with the role they had before.
#[derive(Debug, Clone)]
pub struct ChangedMember {
    pub user_id: String,
    pub email: String,
    pub name: String,
    /// The role before the change.
    pub role: Role,
}

impl From<smartcore_storage::ChangedMember> for ChangedMember {
    fn from(c: smartcore_storage::ChangedMember) -> Self {
        ChangedMember {
            user_id: c.user_id,
            email: c.email,
            name: c.name,
            role: c.role,
        }
    }
}

impl From<MemberHit> for MemberView {
    fn from(h: MemberHit) -> Self {
        MemberView {
            role: h.role,
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

pub(crate) fn parse_role(role: &str) -> Result<Role, AppError> {
    role.parse::<Role>().map_err(|_| {
        AppError::invalid(
            ErrorCode::InvalidRole,
            "role",
            "The role must be \"admin\" or \"member\".",
        )
    })
}

fn last_admin() -> AppError {
    AppError::conflict(
        ErrorCode::LastAdminRequired,
        "An organisation needs at least one administrator: make someone else an administrator first.",
    )
}

fn encode_cursor(c: &MemberCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", c.sort_name, c.user_id))
}

fn decode_cursor(s: &str) -> Result<MemberCursor, AppError> {
    let bad = || {
        AppError::invalid(
            ErrorCode::InvalidRequest,
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

/// Records a change to a membership in the audit log.
async fn audit_member(
    conn: &mut Connection,
    org_id: &OrgId,
    user_id: &UserId,
    actor: &AuditActor,
    details: AuditDetails,
    now: Timestamp,
) -> Result<(), AppError> {
    let entry = AuditEntry {
        org_id: Some(org_id),
        at: now,
        actor: actor.clone(),
        target: Some(user_id.as_str()),
        details,
    };
    audit::record(conn, entry).await?;
    Ok(())
}

impl Members<'_> {
    /// The members list, for administrators. Without a query: a page of all members by name;
    /// `cursor` is the previous page's `next`. With one: the ranked search's single page
    /// (see `Contacts::search_org_members`) with its count; a cursor is refused there, as a
    /// search has no further pages.
    pub async fn list_members(
        &self,
        actor: &Actor,
        org: &OrgId,
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
                    ErrorCode::InvalidRequest,
                    "cursor",
                    "A search answers one page of its best matches: type more to narrow it. A cursor pages the list without a search.",
                ));
            }
            let found = self
                .contacts()
                .search_org_members(&org_id, query, limit)
                .await?;
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
        org: &OrgId,
        user_id: &UserId,
    ) -> Result<MemberView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        Ok(self.store.member(&org_id, user_id).await?.into())
    }

    /// Changes a member's role (`admin` or `member`); the last administrator cannot be
    /// demoted (409 `last_admin_required`). Setting the role a member has changes nothing.
    pub async fn set_member_role(
        &self,
        actor: &Actor,
        org: &OrgId,
        user_id: &UserId,
        role: &str,
    ) -> Result<MemberView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let role = parse_role(role)?;
        let by = actor.audit_actor();
        self.change_role(&org_id, user_id, role, &by).await?;
        Ok(self.store.member(&org_id, user_id).await?.into())
    }

    /// Changes the role in one unit of work: the organisation's lock, the member and the
    /// administrators counted, the domain's verdict, then the change, the revocation of a
    /// demoted administrator's invitations (their authority ends here) and the audit event.
    async fn change_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        actor: &AuditActor,
    ) -> Result<Option<ChangedMember>, AppError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        orgs::lock(&mut tx, org_id).await?;
        let before = memberships::of(&mut tx, org_id, user_id).await?;
        let admins = memberships::count_admins(&mut tx, org_id).await?;
        if !may_change_role(before.role, role, admins).map_err(|_| last_admin())? {
            return Ok(None);
        }
        memberships::set_role(&mut tx, org_id, user_id, role).await?;
        if before.role == Role::Admin {
            let reason = "inviter_demoted";
            invitations::revoke_invitations_of(&mut tx, org_id, user_id, actor, now, reason)
                .await?;
        }
        let details = AuditDetails::MemberRoleChanged(RoleChanged {
            email: before.email.clone(),
            from: before.role,
            name: before.name.clone(),
            to: role,
        });
        audit_member(&mut tx, org_id, user_id, actor, details, now).await?;
        tx.commit().await?;
        Ok(Some(before.into()))
    }

    /// Removes a member; never the last administrator. Their IT contact, if any, stays and
    /// shows as no longer a member (D3).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        org: &OrgId,
        user_id: &UserId,
    ) -> Result<ChangedMember, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let by = actor.audit_actor();
        self.drop_member(&org_id, user_id, &by).await
    }

    /// Removes the member in one unit of work (see [`Members::change_role`]); an IT contact
    /// picked from them stays (D3) and shows as no longer a member.
    async fn drop_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        actor: &AuditActor,
    ) -> Result<ChangedMember, AppError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        orgs::lock(&mut tx, org_id).await?;
        let before = memberships::of(&mut tx, org_id, user_id).await?;
        let admins = memberships::count_admins(&mut tx, org_id).await?;
        may_remove(before.role, admins).map_err(|_| last_admin())?;
        memberships::delete(&mut tx, org_id, user_id).await?;
        if before.role == Role::Admin {
            let reason = "inviter_removed";
            invitations::revoke_invitations_of(&mut tx, org_id, user_id, actor, now, reason)
                .await?;
        }
        let details = AuditDetails::MemberRemoved(MemberRemoved {
            email: before.email.clone(),
            name: before.name.clone(),
            role: before.role,
        });
        audit_member(&mut tx, org_id, user_id, actor, details, now).await?;
        tx.commit().await?;
        Ok(before.into())
    }

    /// `smartcore member set-role`: as [`Members::set_member_role`], by address, audited as `cli`.
    pub async fn set_role_by_email(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
    ) -> Result<Option<ChangedMember>, AppError> {
        let user = self.member_by_email(org, email).await?;
        self.change_role(&org.org_id(), &user, role, &AuditActor::Cli)
            .await
    }

    /// `smartcore member remove`: as [`Members::remove_member`], by address, audited as `cli`.
    pub async fn remove_by_email(
        &self,
        org: &OrgRecord,
        email: &str,
    ) -> Result<ChangedMember, AppError> {
        let user = self.member_by_email(org, email).await?;
        self.drop_member(&org.org_id(), &user, &AuditActor::Cli)
            .await
    }

    async fn member_by_email(&self, org: &OrgRecord, email: &str) -> Result<UserId, AppError> {
        let user = self.accounts().user_by_email(email).await?;
        let not_member = || {
            AppError::invalid(
                ErrorCode::MemberNotFound,
                "email",
                format!("{} is not a member of {}.", user.email, org.name),
            )
        };
        match self.store.role_in(&org.org_id(), &user.user_id()).await? {
            Some(_) => Ok(user.user_id()),
            None => Err(not_member()),
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
