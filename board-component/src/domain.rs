//! The board service's vocabulary. Each type's only constructor is `parse` (or `new` for
//! numbers that arrive as JSON), so holding one means holding a valid value.

pub use service_kit::body::Invalid;

/// A post title: trimmed, 1 to 200 characters, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let title = raw.trim();
        if title.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if title.chars().count() > Self::MAX_CHARS {
            return Err(Invalid("must be at most 200 characters"));
        }
        if title.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post body: 1 to 20,000 characters, kept exactly as written (line breaks and tabs
/// included), but not blank and without other control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(String);

impl Content {
    const MAX_CHARS: usize = 20_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid("must be at most 20000 characters"));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid(
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A positive integer id: of a post here, or of a user in the user service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(i64);

impl Id {
    const MESSAGE: Invalid = Invalid("must be a positive integer");

    /// From a JSON number.
    pub fn new(value: i64) -> Result<Self, Invalid> {
        if value > 0 {
            Ok(Self(value))
        } else {
            Err(Self::MESSAGE)
        }
    }

    /// From a path segment or a query parameter.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        service_kit::id::positive(raw)
            .map(Self)
            .ok_or(Self::MESSAGE)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// How many posts one page of `GET /boards` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    pub const DEFAULT: Limit = Limit(20);
    const MAX: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match service_kit::id::positive(raw) {
            Some(limit) if limit as u64 <= Self::MAX as u64 => Ok(Self(limit as usize)),
            _ => Err(Invalid("must be an integer from 1 to 100")),
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// Where the next page starts: the id of the last post on the previous page. Clients treat it
/// as opaque; keyset pagination keeps pages stable while new posts arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Id);

impl Cursor {
    pub fn after(id: Id) -> Self {
        Self(id)
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Id::parse(raw)
            .map(Self)
            .map_err(|_| Invalid("is not a cursor this service issued"))
    }

    pub fn last_id(self) -> Id {
        self.0
    }

    pub fn encode(self) -> String {
        self.0.get().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed_and_1_to_200_characters() {
        assert_eq!(Title::parse("  Hello ").unwrap().as_str(), "Hello");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"ü".repeat(200)).is_ok());
        assert!(Title::parse(&"ü".repeat(201)).is_err());
    }

    #[test]
    fn a_title_with_a_line_break_is_rejected() {
        assert!(Title::parse("two\nlines").is_err());
    }

    #[test]
    fn content_keeps_line_breaks_and_is_1_to_20000_characters() {
        assert_eq!(Content::parse(" a\n\tb ").unwrap().as_str(), " a\n\tb ");
        assert!(Content::parse(" \n ").is_err());
        assert!(Content::parse(&"x".repeat(20_000)).is_ok());
        assert!(Content::parse(&"x".repeat(20_001)).is_err());
    }

    #[test]
    fn content_with_other_control_characters_is_rejected() {
        assert!(Content::parse("bell\u{7}").is_err());
        assert!(Content::parse("nul\u{0}").is_err());
    }

    #[test]
    fn ids_are_positive() {
        assert_eq!(Id::new(3).unwrap().get(), 3);
        assert!(Id::new(0).is_err());
        assert!(Id::new(-4).is_err());
        assert!(Id::parse("x").is_err());
    }

    #[test]
    fn a_limit_is_1_to_100() {
        assert_eq!(Limit::parse("1").unwrap().get(), 1);
        assert_eq!(Limit::parse("100").unwrap().get(), 100);
        for raw in ["0", "101", "-1", "ten", ""] {
            assert!(Limit::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor::after(Id::new(41).unwrap());
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::parse("abc").is_err());
        assert!(Cursor::parse("0").is_err());
    }
}
