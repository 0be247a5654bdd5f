//! The in-memory identity side: organisations (created on first use), their contacts and the
//! idempotency store. Pure data, no I/O: the HTTP layer and the in-process handle share it.

use std::collections::HashMap;

use time::{OffsetDateTime, macros::format_description};

use crate::model::{Faults, ItContact, MAX_CONTACTS_PER_ORG, Stats};

const ID_PREFIX: &str = "it_contact_";

/// Why a contact could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    /// Missing or malformed address.
    InvalidEmail,
    /// The address is already a contact of the organisation (case-insensitive).
    AlreadyExists,
    /// The organisation already has [`MAX_CONTACTS_PER_ORG`] contacts (or the limit set).
    LimitReached,
    /// Switched on with [`crate::Fault::RejectEmail`].
    Rejected(String),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::InvalidEmail => f.write_str("email must be a valid email address"),
            CreateError::AlreadyExists => {
                f.write_str("The email address is already an IT contact of the organization.")
            }
            CreateError::LimitReached => {
                f.write_str("The organization has reached its maximum number of IT contacts.")
            }
            CreateError::Rejected(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CreateError {}

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub seq: u64,
    pub contact: ItContact,
}

/// Sort direction of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Desc,
    Asc,
}

pub(crate) struct Page {
    pub data: Vec<ItContact>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Default)]
pub(crate) struct State {
    pub orgs: HashMap<String, Vec<Stored>>,
    pub idempotency: HashMap<String, ItContact>,
    pub next_seq: u64,
    pub faults: Faults,
    pub stats: Stats,
}

fn now() -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The sequence number an id was minted with (ids sort like creation order).
pub(crate) fn seq_of(id: &str) -> Option<u64> {
    id.strip_prefix(ID_PREFIX)?.parse().ok()
}

impl State {
    pub fn create(&mut self, org: &str, email: &str) -> Result<ItContact, CreateError> {
        let email = email.trim();
        if !valid_email(email) {
            return Err(CreateError::InvalidEmail);
        }
        if let Some(message) = self.faults.reject_emails.get(&email.to_lowercase()) {
            return Err(CreateError::Rejected(message.clone()));
        }
        let limit = self.faults.contact_limit.unwrap_or(MAX_CONTACTS_PER_ORG);
        let contacts = self.orgs.entry(org.to_owned()).or_default();
        if contacts
            .iter()
            .any(|c| c.contact.email.eq_ignore_ascii_case(email))
        {
            return Err(CreateError::AlreadyExists);
        }
        if contacts.len() >= limit {
            return Err(CreateError::LimitReached);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let at = now();
        let contact = ItContact {
            object: "it_contact".to_owned(),
            id: format!("{ID_PREFIX}{seq:020}"),
            email: email.to_owned(),
            created_at: at.clone(),
            updated_at: at,
        };
        contacts.push(Stored {
            seq,
            contact: contact.clone(),
        });
        Ok(contact)
    }

    pub fn delete(&mut self, org: &str, id: &str) -> bool {
        match self.orgs.get_mut(org) {
            Some(contacts) => {
                let before = contacts.len();
                contacts.retain(|c| c.contact.id != id);
                contacts.len() != before
            }
            None => false,
        }
    }

    /// All of the organisation's contacts, newest first.
    pub fn contacts(&self, org: &str) -> Vec<ItContact> {
        let mut all: Vec<&Stored> = self
            .orgs
            .get(org)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        all.sort_by_key(|s| std::cmp::Reverse(s.seq));
        all.into_iter().map(|s| s.contact.clone()).collect()
    }

    pub fn contacts_now(&self) -> u64 {
        self.orgs.values().map(|c| c.len() as u64).sum()
    }

    /// One page, WorkOS style: `after` continues in the list's direction, `before` goes back.
    /// Cursors are ids; a deleted id still works because ids carry their position.
    pub fn page(
        &self,
        org: &str,
        limit: usize,
        order: Order,
        before: Option<u64>,
        after: Option<u64>,
    ) -> Page {
        let mut all: Vec<&Stored> = self
            .orgs
            .get(org)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| match order {
            Order::Desc => b.seq.cmp(&a.seq),
            Order::Asc => a.seq.cmp(&b.seq),
        });
        // "Comes later in this order than the cursor".
        let later = |seq: u64, cursor: u64| match order {
            Order::Desc => seq < cursor,
            Order::Asc => seq > cursor,
        };
        let (start, end) = if let Some(cursor) = after {
            let start = all
                .iter()
                .position(|s| later(s.seq, cursor))
                .unwrap_or(all.len());
            (start, (start + limit).min(all.len()))
        } else if let Some(cursor) = before {
            let end = all
                .iter()
                .position(|s| !later(cursor, s.seq))
                .unwrap_or(all.len());
            (end.saturating_sub(limit), end)
        } else {
            (0, limit.min(all.len()))
        };
        let data: Vec<ItContact> = all[start..end].iter().map(|s| s.contact.clone()).collect();
        Page {
            before: if start > 0 {
                data.first().map(|c| c.id.clone())
            } else {
                None
            },
            after: if end < all.len() {
                data.last().map(|c| c.id.clone())
            } else {
                None
            },
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize) -> State {
        let mut state = State::default();
        for i in 0..n {
            state
                .create("org", &format!("c{i}@example.com"))
                .expect("create");
        }
        state
    }

    #[test]
    fn pages_forward_and_back_newest_first() {
        let state = filled(5);
        let first = state.page("org", 2, Order::Desc, None, None);
        let emails = |p: &Page| p.data.iter().map(|c| c.email.clone()).collect::<Vec<_>>();
        assert_eq!(emails(&first), ["c4@example.com", "c3@example.com"]);
        assert_eq!(first.before, None);
        let cursor = seq_of(first.after.as_deref().expect("more")).expect("seq");
        let second = state.page("org", 2, Order::Desc, None, Some(cursor));
        assert_eq!(emails(&second), ["c2@example.com", "c1@example.com"]);
        let back = seq_of(second.before.as_deref().expect("previous")).expect("seq");
        let again = state.page("org", 2, Order::Desc, Some(back), None);
        assert_eq!(emails(&again), emails(&first));
        let last = state.page(
            "org",
            2,
            Order::Desc,
            None,
            seq_of(second.after.as_deref().expect("more")),
        );
        assert_eq!(emails(&last), ["c0@example.com"]);
        assert_eq!(last.after, None);
    }

    #[test]
    fn duplicates_limit_and_rejections() {
        let mut state = filled(MAX_CONTACTS_PER_ORG);
        assert_eq!(
            state.create("org", "C1@EXAMPLE.com"),
            Err(CreateError::AlreadyExists)
        );
        assert_eq!(
            state.create("org", "new@example.com"),
            Err(CreateError::LimitReached)
        );
        assert!(state.create("other", "c1@example.com").is_ok());
        assert_eq!(
            state.create("other", "not-an-address"),
            Err(CreateError::InvalidEmail)
        );
        state.faults.apply(crate::Fault::RejectEmail {
            email: "Bad@Example.com".into(),
            message: Some("no".into()),
        });
        assert_eq!(
            state.create("other", "bad@example.com"),
            Err(CreateError::Rejected("no".into()))
        );
    }
}
