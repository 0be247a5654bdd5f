//! Who may do what (R1, R2, R10).
//!
//! Access to an organisation comes from a membership and nothing else: being an IT contact grants
//! nothing (R2), and the staff flag opens the operations team's pages, not organisations' settings.

crate::column_text! {
    /// A member's role in an organisation (`memberships.role`, `invitations.role`).
    pub enum Role {
        Admin => "admin",
        Member => "member",
    }
}

impl Role {
    /// A role as a person typed it (the CLI, an import): case and spaces ignored, and
    /// "administrator" accepted. Columns are read with [`FromStr`](std::str::FromStr).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" | "administrator" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// What a user may do in one organisation, derived from their membership alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not a member: the organisation does not exist as far as this user can tell.
    Outsider,
    Member,
    Admin,
}

/// Why access was refused. An outsider learns nothing about the organisation (404); a member
/// learns only that they lack permission (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("not found")]
    NotFound,
    #[error("administrator permissions are needed")]
    Forbidden,
}

impl Access {
    pub fn from_membership(role: Option<Role>) -> Self {
        match role {
            None => Access::Outsider,
            Some(Role::Member) => Access::Member,
            Some(Role::Admin) => Access::Admin,
        }
    }

    /// Managing IT contacts, domains and SSO, reading the audit log: administrators only.
    pub fn require_admin(self) -> Result<(), Denied> {
        match self {
            Access::Admin => Ok(()),
            Access::Member => Err(Denied::Forbidden),
            Access::Outsider => Err(Denied::NotFound),
        }
    }
}

/// Why a role change or removal was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipRefused {
    /// The organisation would be left without an administrator.
    LastAdmin,
}

/// What changing a member from `current` to `wanted` does, with `admins` administrators in
/// the organisation (counted under its lock): nothing when the role is the same
/// (`Ok(false)`), a change (`Ok(true)`), or a refusal when it would demote the last
/// administrator.
pub fn may_change_role(
    current: Role,
    wanted: Role,
    admins: u32,
) -> Result<bool, MembershipRefused> {
    if current == wanted {
        return Ok(false);
    }
    keeps_an_administrator(current, admins)?;
    Ok(true)
}

/// Whether a member with `role` may leave (be removed), with `admins` administrators.
pub fn may_remove(role: Role, admins: u32) -> Result<(), MembershipRefused> {
    keeps_an_administrator(role, admins)
}

/// An organisation always keeps at least one administrator.
fn keeps_an_administrator(leaving: Role, admins: u32) -> Result<(), MembershipRefused> {
    if leaving == Role::Admin && admins <= 1 {
        return Err(MembershipRefused::LastAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_administrator_can_be_neither_demoted_nor_removed() {
        assert_eq!(
            may_change_role(Role::Admin, Role::Member, 1),
            Err(MembershipRefused::LastAdmin)
        );
        assert_eq!(may_change_role(Role::Admin, Role::Member, 2), Ok(true));
        assert_eq!(may_change_role(Role::Admin, Role::Admin, 1), Ok(false));
        assert_eq!(may_change_role(Role::Member, Role::Admin, 1), Ok(true));
        assert_eq!(may_change_role(Role::Member, Role::Member, 0), Ok(false));
        assert_eq!(
            may_remove(Role::Admin, 1),
            Err(MembershipRefused::LastAdmin)
        );
        assert_eq!(may_remove(Role::Admin, 2), Ok(()));
        assert_eq!(may_remove(Role::Member, 1), Ok(()));
    }

    #[test]
    fn only_administrators_manage_settings() {
        assert_eq!(
            Access::from_membership(Some(Role::Admin)).require_admin(),
            Ok(())
        );
        assert_eq!(
            Access::from_membership(Some(Role::Member)).require_admin(),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            Access::from_membership(None).require_admin(),
            Err(Denied::NotFound)
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Admin, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse(" Admin "), Some(Role::Admin));
        assert_eq!(Role::parse("owner"), None);
    }
}
