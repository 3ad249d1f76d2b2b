//! The rules for display names and room names. The relay enforces them; the app checks them first so the
//! user sees the problem before anything is sent. Both return the value to use (trimmed) or a typed error
//! whose message tells the user what to change.

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// The longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;

/// Why a display name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty; type a name others will recognise")]
    Empty,
    #[error("the name is {0} characters long; use at most {MAX_NAME_CHARS}")]
    TooLong(usize),
    #[error("the name contains an invisible or control character (U+{0:04X}); remove it")]
    ForbiddenChar(u32),
}

/// Why a room name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the room name is empty")]
    Empty,
    #[error("the room name is {0} characters long; use at most {MAX_ROOM_CHARS}")]
    TooLong(usize),
    #[error("the room name may hold only letters, digits, '-', '_' and '.'; {0:?} is not allowed")]
    ForbiddenChar(char),
}

/// Characters that change how text around them is shown without being visible themselves: zero-width
/// characters and bidirectional overrides, which could make one name look like another.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// Checks a display name and returns it trimmed of surrounding whitespace.
///
/// Rules: after trimming, 1 to [`MAX_NAME_CHARS`] characters, none of them a control character or an
/// invisible formatting character. Any script, emoji and inner spaces are fine.
pub fn validate_name(raw: &str) -> Result<String, NameError> {
    let name = raw.trim();
    if let Some(c) = name
        .chars()
        .find(|&c| c.is_control() || is_invisible_format(c))
    {
        return Err(NameError::ForbiddenChar(c as u32));
    }
    let len = name.chars().count();
    if len == 0 {
        return Err(NameError::Empty);
    }
    if len > MAX_NAME_CHARS {
        return Err(NameError::TooLong(len));
    }
    Ok(name.to_owned())
}

/// Checks a room name, which also appears in links (`/room/<name>`).
///
/// Rules: 1 to [`MAX_ROOM_CHARS`] characters, each a letter or digit (any script), `-`, `_` or `.`.
/// Nothing is trimmed: a room name with spaces is refused rather than silently changed.
pub fn validate_room(raw: &str) -> Result<String, RoomError> {
    if let Some(c) = raw
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(RoomError::ForbiddenChar(c));
    }
    let len = raw.chars().count();
    if len == 0 {
        return Err(RoomError::Empty);
    }
    if len > MAX_ROOM_CHARS {
        return Err(RoomError::TooLong(len));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_name(input: &str, expected: Result<&str, NameError>) {
        assert_eq!(
            validate_name(input),
            expected.map(str::to_owned),
            "input {input:?}"
        );
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        check_name("Ada", Ok("Ada"));
        check_name("  Grace Hopper ", Ok("Grace Hopper"));
        check_name("Zoë 🦀", Ok("Zoë 🦀"));
        check_name("李小龍", Ok("李小龍"));
        check_name("", Err(NameError::Empty));
        check_name("   ", Err(NameError::Empty));
        check_name(&"x".repeat(32), Ok(&"x".repeat(32)));
        check_name(&"x".repeat(33), Err(NameError::TooLong(33)));
        check_name(&"é".repeat(33), Err(NameError::TooLong(33)));
        check_name("a\u{0007}b", Err(NameError::ForbiddenChar(7)));
        check_name("evil\u{202E}gnp", Err(NameError::ForbiddenChar(0x202E)));
        check_name("zero\u{200B}width", Err(NameError::ForbiddenChar(0x200B)));
        check_name("new\nline", Err(NameError::ForbiddenChar(10)));
    }

    #[test]
    fn room_names_allow_only_link_safe_characters() {
        assert_eq!(validate_room("lobby").as_deref(), Ok("lobby"));
        assert_eq!(validate_room("team-42_a.b").as_deref(), Ok("team-42_a.b"));
        assert_eq!(validate_room("café").as_deref(), Ok("café"));
        assert_eq!(validate_room(""), Err(RoomError::Empty));
        assert_eq!(validate_room("a/b"), Err(RoomError::ForbiddenChar('/')));
        assert_eq!(validate_room(" lobby"), Err(RoomError::ForbiddenChar(' ')));
        assert_eq!(validate_room("a?b"), Err(RoomError::ForbiddenChar('?')));
        assert_eq!(validate_room(&"r".repeat(65)), Err(RoomError::TooLong(65)));
    }

    #[test]
    fn error_messages_tell_the_user_what_to_do() {
        assert_eq!(
            NameError::TooLong(40).to_string(),
            "the name is 40 characters long; use at most 32"
        );
        assert!(NameError::ForbiddenChar(0x202E)
            .to_string()
            .contains("U+202E"));
    }
}
