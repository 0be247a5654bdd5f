//! Names people type: an IT contact's optional name and a user's display name (SPEC D5).

use std::fmt;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("A name cannot be longer than 100 characters.")]
    TooLong,
    #[error("A name cannot contain line breaks or control characters.")]
    ControlCharacter,
    #[error("Enter a name.")]
    Empty,
    /// An invisible formatting character (Unicode general category Cf, e.g. U+202E, which
    /// reverses the text after it, U+200B or U+FEFF) or a line or paragraph separator (Zl, Zp:
    /// U+2028, U+2029).
    #[error(
        "A name cannot contain invisible formatting characters or line separators (found U+{0:04X})."
    )]
    InvisibleCharacter(u32),
    /// Only blank-looking letters (U+3164 HANGUL FILLER, U+2800 BRAILLE PATTERN BLANK…): a
    /// name that shows as nothing.
    #[error(
        "A name must contain visible characters, not only blank-looking ones (found U+{0:04X})."
    )]
    NothingVisible(u32),
}

/// Zero-width non-joiner and joiner (both Cf) are part of correct spelling in Persian and
/// Indic scripts and of emoji sequences, so they are the two formatting characters allowed.
const ALLOWED_FORMAT: [char; 2] = ['\u{200C}', '\u{200D}'];

/// The first character a name must not contain: general categories Cf (format), Zl (line
/// separator) and Zp (paragraph separator), except [`ALLOWED_FORMAT`]. They are invisible, or
/// reorder or break what is shown around them (in a page, an e-mail or a log line).
fn invisible_character(text: &str) -> Option<char> {
    text.chars().find(|c| {
        matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        ) && !ALLOWED_FORMAT.contains(c)
    })
}

/// Letters and symbols that show as nothing (they are not formatting characters, so
/// [`invisible_character`] lets them through): the Hangul fillers, the halfwidth one, and the
/// blank Braille pattern. A name made only of these (and spaces) looks empty.
const BLANK_LOOKING: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Checks text that is shown as a label (a name, a token's name): no control characters, no
/// invisible formatting characters or separators (except ZWNJ and ZWJ), and not made only of
/// blank-looking characters. Blank text passes (the caller decides whether it is required).
pub fn check_label(text: &str) -> Result<(), NameError> {
    if text.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    if let Some(c) = invisible_character(text) {
        return Err(NameError::InvisibleCharacter(u32::from(c)));
    }
    if let Some(blank) = text.chars().find(|c| BLANK_LOOKING.contains(c))
        && text
            .chars()
            .all(|c| c.is_whitespace() || BLANK_LOOKING.contains(&c) || ALLOWED_FORMAT.contains(&c))
    {
        return Err(NameError::NothingVisible(u32::from(blank)));
    }
    Ok(())
}

fn parse_name(input: &str) -> Result<Option<String>, NameError> {
    let trimmed = input.trim();
    check_label(trimmed)?;
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// The optional name of an IT contact. Any visible text is allowed (it is only ever shown
/// escaped); control characters, invisible formatting characters and line separators are
/// refused; a blank name means "no name".
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
    fn names_of_blank_looking_letters_only_are_refused() {
        for blank in [
            "\u{3164}",
            "\u{2800}\u{2800}",
            " \u{3164} \u{FFA0} ",
            "\u{115F}\u{1160}",
        ] {
            assert!(
                matches!(
                    ContactName::parse_optional(blank),
                    Err(NameError::NothingVisible(_))
                ),
                "{blank:?}"
            );
            assert!(PersonName::parse(blank).is_err(), "{blank:?}");
        }
        // Beside visible text they are letters like any other.
        assert!(
            ContactName::parse_optional("Ada \u{3164}")
                .unwrap()
                .is_some()
        );
        assert!(check_label("CI \u{202E}token").is_err());
    }

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

    #[test]
    fn refuses_invisible_formatting_and_separator_characters() {
        for (text, code) in [
            ("Ada\u{202E}ecalevol", 0x202E), // right-to-left override (Cf)
            ("Ada\u{200B}Lovelace", 0x200B), // zero-width space (Cf)
            ("Ada\u{2028}Lovelace", 0x2028), // line separator (Zl)
            ("Ada\u{2029}Lovelace", 0x2029), // paragraph separator (Zp)
            ("\u{FEFF}Ada", 0xFEFF),         // byte order mark (Cf)
            ("Ada\u{2066}x", 0x2066),        // left-to-right isolate (Cf)
            ("Ada\u{AD}", 0xAD),             // soft hyphen (Cf)
        ] {
            assert_eq!(
                ContactName::parse_optional(text).err(),
                Some(NameError::InvisibleCharacter(code)),
                "{text:?}"
            );
            assert_eq!(
                PersonName::parse(text).err(),
                Some(NameError::InvisibleCharacter(code))
            );
        }
        let message = NameError::InvisibleCharacter(0x202E).to_string();
        assert!(message.contains("U+202E"), "{message}");
    }

    #[test]
    fn keeps_joiners_and_ordinary_spaces() {
        // Persian spelling needs the zero-width non-joiner; emoji sequences use the joiner.
        assert!(
            PersonName::parse("\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}").is_ok()
        );
        assert!(PersonName::parse("Ada \u{1F469}\u{200D}\u{1F4BB}").is_ok());
        // A no-break space (Zs) is an ordinary space in a name.
        assert!(PersonName::parse("Ada\u{A0}Lovelace").is_ok());
        assert!(PersonName::parse("Zoë Ångström-Łukasz 李").is_ok());
    }
}
