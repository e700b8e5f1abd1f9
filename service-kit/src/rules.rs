//! What the services' value types share: the refusal a rule gives (`Invalid`, worded for the
//! client and built from the limit it enforces, so a limit is written once) and the checks more
//! than one type makes.

use std::borrow::Cow;
use std::fmt::Display;

/// Why a value was refused, worded for the client: it ends up in problem+json `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(Cow<'static, str>);

impl Invalid {
    pub const fn new(reason: &'static str) -> Self {
        Self(Cow::Borrowed(reason))
    }

    pub fn at_most_chars(max: usize) -> Self {
        Self(format!("must be at most {max} characters").into())
    }

    pub fn at_least_chars(min: usize) -> Self {
        Self(format!("must be at least {min} characters").into())
    }

    pub fn at_most_bytes(max: usize) -> Self {
        Self(format!("must be at most {max} bytes").into())
    }

    pub fn at_most_listed(max: usize, items: &str) -> Self {
        Self(format!("must list at most {max} {items}").into())
    }

    pub fn integer_from(min: i64, max: i64) -> Self {
        Self(format!("must be an integer from {min} to {max}").into())
    }
}

impl Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub const NOT_POSITIVE: Invalid = Invalid::new("must be a positive integer");

/// A positive decimal integer that fits SQLite's 64-bit rowid: digits only, so `+1`, ` 1`
/// and `1.0` are not ids.
pub fn positive(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// A positive integer id, as both services issue them (SQLite rowids) and as clients send them
/// back: in a path or query (`parse`) or a JSON number (`new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(i64);

impl Id {
    /// From a JSON number.
    pub fn new(value: i64) -> Result<Self, Invalid> {
        if value > 0 {
            Ok(Self(value))
        } else {
            Err(NOT_POSITIVE)
        }
    }

    /// From a path segment or a query parameter.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        positive(raw).map(Self).ok_or(NOT_POSITIVE)
    }

    /// An id SQLite (or another service) issued: positive by its definition.
    pub fn issued(id: i64) -> Self {
        Self(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A positive integer no greater than `max`, as a query parameter gives it.
pub fn bounded(raw: &str, max: i64) -> Result<i64, Invalid> {
    positive(raw)
        .filter(|value| *value <= max)
        .ok_or_else(|| Invalid::integer_from(1, max))
}

/// A name-like text: trimmed, not empty, at most `max_chars` characters, on one line.
pub fn one_line(raw: &str, max_chars: usize) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(Invalid::at_most_chars(max_chars));
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid::new("must not contain control characters"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_integers_in_range_are_ids() {
        assert_eq!(positive("42"), Some(42));
        assert_eq!(positive("007"), Some(7));
        for raw in [
            "0",
            "-1",
            "+1",
            "1.5",
            "abc",
            "",
            " 1",
            "9223372036854775808",
        ] {
            assert_eq!(positive(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn ids_are_positive_from_a_path_or_a_json_number() {
        assert_eq!(Id::new(3).unwrap().get(), 3);
        assert!(Id::new(0).is_err() && Id::new(-4).is_err());
        assert_eq!(Id::parse("41").unwrap(), Id::new(41).unwrap());
        assert_eq!(Id::parse("x"), Err(NOT_POSITIVE));
    }

    #[test]
    fn a_limit_builds_its_own_message() {
        assert_eq!(bounded("100", 100), Ok(100));
        assert_eq!(
            bounded("101", 100).unwrap_err().to_string(),
            "must be an integer from 1 to 100"
        );
        assert_eq!(
            one_line(&"x".repeat(51), 50).unwrap_err().to_string(),
            "must be at most 50 characters"
        );
    }

    #[test]
    fn one_line_text_is_trimmed_non_empty_and_without_control_characters() {
        assert_eq!(one_line("  Ann ", 50).unwrap(), "Ann");
        assert!(one_line("   ", 50).is_err());
        assert!(one_line("a\nb", 50).is_err());
        assert_eq!(one_line(&"é".repeat(50), 50).unwrap().chars().count(), 50);
    }
}
