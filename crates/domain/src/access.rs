//! Who may do what (R1, R2, R10).
//!
//! Access to an organisation comes from a membership and nothing else: being an IT contact grants
//! nothing (R2), and the staff flag opens the operations team's pages, not organisations' settings.

use serde::{Deserialize, Serialize};

/// A member's role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

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
