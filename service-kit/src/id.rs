//! Ids as they appear in paths and query strings.

/// A positive decimal integer that fits SQLite's 64-bit rowid: digits only, so `+1`, ` 1`
/// and `1.0` are not ids.
pub fn positive(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
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
}
