//! The user service's vocabulary. Each type's only constructor is `parse`, so holding one
//! means holding a valid value; handlers never re-check.

use serde_json::{Map, Value};
use service_kit::body::Fields;
use service_kit::rules::{self, Invalid};
use service_kit::Problem;

/// Trimmed and lower-cased, so that `Ann@X.org ` and `ann@x.org` are the same account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// RFC 5321 caps a path at 256 octets including the angle brackets.
    const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(Invalid::at_most_bytes(Self::MAX_LEN));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "must not contain spaces or control characters",
            ));
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(email))
            }
            _ => Err(Invalid::new("must look like name@example.org")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::one_line(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user says about themselves, public: the next version's field (feature `next`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    const MAX_CHARS: usize = 160;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::one_line(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Deliberately not `Debug` or `Display`: it must never reach a log.
pub struct Password(String);

impl Password {
    const MIN_CHARS: usize = 8;
    const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Invalid::at_least_chars(Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(Invalid::at_most_chars(Self::MAX_CHARS));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A user's id, as SQLite issues it and as a path or query gives it back.
pub type UserId = rules::Id;

/// How many changes one page of the change feed holds: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeLimit(i64);

impl ChangeLimit {
    pub const DEFAULT: Self = Self(100);
    const MAX: i64 = 1000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::bounded(raw, Self::MAX).map(Self)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Where a read of the change feed starts: after this `seq` (0 for the beginning).
pub fn parse_seq(raw: &str) -> Result<i64, Invalid> {
    if raw == "0" {
        return Ok(0);
    }
    rules::positive(raw).ok_or(Invalid::new("must be a non-negative integer"))
}

/// The `ids` of `GET /users?ids=1,2,3`: distinct, at most [`IdList::MAX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdList(Vec<UserId>);

impl IdList {
    pub const MAX: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut ids = raw
            .split(',')
            .map(|part| UserId::parse(part.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Invalid::new("must be a comma-separated list of positive integers"))?;
        ids.sort();
        ids.dedup();
        if ids.len() > Self::MAX {
            return Err(Invalid::at_most_listed(Self::MAX, "ids"));
        }
        Ok(Self(ids))
    }

    pub fn iter(&self) -> impl Iterator<Item = UserId> + '_ {
        self.0.iter().copied()
    }
}

/// A sign-up as the client sent it, every field valid.
pub struct SignUp {
    pub email: Email,
    pub name: UserName,
    pub password: Password,
    /// Optional, and known only to the next version: the release refuses it as unknown.
    pub bio: Option<Bio>,
}

impl SignUp {
    /// Every field is checked, and every problem reported at once.
    pub fn parse(object: Map<String, Value>) -> Result<Self, Problem> {
        let known: &[&str] = if cfg!(feature = "next") {
            &["email", "name", "password", "bio"]
        } else {
            &["email", "name", "password"]
        };
        let mut fields = Fields::new(object, known);
        let email = fields.string("email", Email::parse);
        let name = fields.string("name", UserName::parse);
        let password = fields.string("password", Password::parse);
        let bio = if cfg!(feature = "next") {
            fields.optional_string("bio", Bio::parse)
        } else {
            None
        };
        let (Some(email), Some(name), Some(password)) = (email, name, password) else {
            return Err(fields.into_problem());
        };
        fields.finish()?;
        Ok(Self {
            email,
            name,
            password,
            bio,
        })
    }
}

/// A sign-in as the client sent it. The password follows sign-up's rules: one that breaks them
/// cannot belong to any account, and saying so tells nothing about which emails have one.
pub struct SignIn {
    pub email: Email,
    pub password: Password,
}

impl SignIn {
    pub fn parse(object: Map<String, Value>) -> Result<Self, Problem> {
        let mut fields = Fields::new(object, &["email", "password"]);
        let email = fields.string("email", Email::parse);
        let password = fields.string("password", Password::parse);
        let (Some(email), Some(password)) = (email, password) else {
            return Err(fields.into_problem());
        };
        fields.finish()?;
        Ok(Self { email, password })
    }
}

/// The body of a rename: the new name, and in the next version a new bio if one is given.
pub struct Rename {
    pub name: UserName,
    pub bio: Option<Bio>,
}

impl Rename {
    pub fn parse(object: Map<String, Value>) -> Result<Self, Problem> {
        let known: &[&str] = if cfg!(feature = "next") {
            &["name", "bio"]
        } else {
            &["name"]
        };
        let mut fields = Fields::new(object, known);
        let name = fields.string("name", UserName::parse);
        let bio = if cfg!(feature = "next") {
            fields.optional_string("bio", Bio::parse)
        } else {
            None
        };
        let Some(name) = name else {
            return Err(fields.into_problem());
        };
        fields.finish()?;
        Ok(Self { name, bio })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ann@Example.ORG ").unwrap().as_str(),
            "ann@example.org"
        );
    }

    #[test]
    fn an_email_without_a_single_at_sign_and_both_parts_is_rejected() {
        for raw in [
            "",
            "   ",
            "ann",
            "@x.org",
            "ann@",
            "a@b@c",
            "a b@c.org",
            "a\u{0}@c.org",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn an_email_longer_than_254_bytes_is_rejected() {
        let long = format!("{}@x.org", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
        let fits = format!("{}@x.org", "a".repeat(248));
        assert!(Email::parse(&fits).is_ok());
    }

    #[test]
    fn a_name_is_1_to_50_characters_counted_as_characters_not_bytes() {
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse("   ").is_err());
        assert_eq!(UserName::parse(" Ann ").unwrap().as_str(), "Ann");
        assert!(UserName::parse(&"é".repeat(50)).is_ok());
        assert!(UserName::parse(&"é".repeat(51)).is_err());
    }

    #[test]
    fn a_name_with_control_characters_is_rejected() {
        assert!(UserName::parse("Ann\u{7}").is_err());
        assert!(UserName::parse("An\nn").is_err());
    }

    #[test]
    fn a_password_is_8_to_128_characters() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(128)).is_ok());
        assert!(Password::parse(&"p".repeat(129)).is_err());
    }

    #[test]
    fn an_id_list_is_deduplicated_and_capped_at_100() {
        let ids: Vec<i64> = IdList::parse("3, 1,3")
            .unwrap()
            .iter()
            .map(UserId::get)
            .collect();
        assert_eq!(ids, [1, 3]);
        let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
        assert!(IdList::parse(&hundred.join(",")).is_ok());
        let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
        assert!(IdList::parse(&too_many.join(",")).is_err());
    }

    #[test]
    fn a_change_limit_is_1_to_1000_and_a_seq_is_non_negative() {
        assert!(ChangeLimit::parse("1").is_ok() && ChangeLimit::parse("1000").is_ok());
        for raw in ["0", "1001", "-1", "x", ""] {
            assert!(ChangeLimit::parse(raw).is_err(), "{raw:?}");
        }
        assert_eq!(parse_seq("0").unwrap(), 0);
        assert_eq!(parse_seq("17").unwrap(), 17);
        for raw in ["-1", "x", "", "1.5"] {
            assert!(parse_seq(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn an_id_list_with_an_empty_or_bad_entry_is_rejected() {
        for raw in ["", "1,,2", "1,x", "0"] {
            assert!(IdList::parse(raw).is_err(), "{raw:?}");
        }
    }

    fn sign_up_body(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_valid_sign_up_body_parses_into_validated_fields() {
        let body = sign_up_body(r#"{"email":" A@B.org","name":"Ann","password":"12345678"}"#);
        let sign_up = SignUp::parse(body).ok().unwrap();
        assert_eq!(sign_up.email.as_str(), "a@b.org");
        assert_eq!(sign_up.name.as_str(), "Ann");
    }

    #[test]
    fn an_invalid_sign_up_body_is_a_422_listing_each_field() {
        let body = sign_up_body(r#"{"email":"x","password":"1","extra":1}"#);
        let problem = SignUp::parse(body).err().unwrap();
        assert_eq!(problem.status, 422);
        let errors = problem.errors.unwrap();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["email", "extra", "name", "password"]
        );
    }
}
