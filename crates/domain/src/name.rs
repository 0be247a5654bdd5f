//! Names people type: an IT contact's optional name and a user's display name (SPEC D5).

use std::fmt;

pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("A name cannot be longer than 100 characters.")]
    TooLong,
    #[error("A name cannot contain line breaks or control characters.")]
    ControlCharacter,
    #[error("Enter a name.")]
    Empty,
}

fn parse_name(input: &str) -> Result<Option<String>, NameError> {
    let trimmed = input.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// The optional name of an IT contact. Any text is allowed (it is only ever shown escaped);
/// a blank name means "no name".
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContactName(String);

impl ContactName {
    /// `Ok(None)` for blank input: the contact simply has no name.
    pub fn parse_optional(input: &str) -> Result<Option<Self>, NameError> {
        Ok(parse_name(input)?.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's display name: required.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        parse_name(input)?.map(Self).ok_or(NameError::Empty)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}
text_impls!(ContactName);
text_impls!(PersonName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_treats_blank_as_no_name() {
        assert_eq!(
            ContactName::parse_optional("  Ada  ")
                .unwrap()
                .unwrap()
                .as_str(),
            "Ada"
        );
        assert_eq!(ContactName::parse_optional("   ").unwrap(), None);
        assert_eq!(PersonName::parse(" ").err(), Some(NameError::Empty));
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(ContactName::parse_optional(&"é".repeat(100)).is_ok());
        assert_eq!(
            ContactName::parse_optional(&"é".repeat(101)).err(),
            Some(NameError::TooLong)
        );
    }

    #[test]
    fn refuses_control_characters_but_keeps_markup_as_text() {
        assert_eq!(
            ContactName::parse_optional("Ada\r\nBcc: x").err(),
            Some(NameError::ControlCharacter)
        );
        assert_eq!(
            ContactName::parse_optional("Ada\u{7f}").err(),
            Some(NameError::ControlCharacter)
        );
        let markup = ContactName::parse_optional("<script>alert(1)</script>")
            .unwrap()
            .unwrap();
        assert_eq!(markup.as_str(), "<script>alert(1)</script>");
    }
}
