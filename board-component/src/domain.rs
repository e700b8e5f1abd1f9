//! The board service's vocabulary. Each type's only constructor is `parse` (or `new` for
//! numbers that arrive as JSON), so holding one means holding a valid value.

use serde_json::{Map, Value};
use service_kit::body::Fields;
use service_kit::rules::{self, Id, Invalid};
use service_kit::Problem;

/// A post title: trimmed, 1 to 200 characters, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::one_line(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post's summary: the next version's optional field (feature `next`), trimmed, 1 to 300
/// characters, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary(String);

impl Summary {
    const MAX_CHARS: usize = 300;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::one_line(raw, Self::MAX_CHARS).map(Self)
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
            return Err(Invalid::new("must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::at_most_chars(Self::MAX_CHARS));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid::new(
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An id type of its own over [`Id`], so that a post's id cannot stand where a user's is meant.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Id);

        impl $name {
            /// From a JSON number.
            pub fn new(value: i64) -> Result<Self, Invalid> {
                Id::new(value).map(Self)
            }

            /// From a path segment or a query parameter.
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                Id::parse(raw).map(Self)
            }

            /// An id a database (this service's, or the user service's) issued.
            pub fn issued(id: i64) -> Self {
                Self(Id::issued(id))
            }

            pub fn get(self) -> i64 {
                self.0.get()
            }
        }
    };
}

id_type!(
    /// A post's id, issued by board's own database.
    PostId
);
id_type!(
    /// A user's id, issued by the user service (a post's `userId`).
    UserId
);

/// How many posts one page of `GET /boards` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    pub const DEFAULT: Limit = Limit(20);
    const MAX: i64 = 100;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::bounded(raw, Self::MAX).map(|limit| Self(limit as usize))
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// Where the next page starts: the id of the last post on the previous page. Clients treat it
/// as opaque; keyset pagination keeps pages stable while new posts arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(PostId);

impl Cursor {
    pub fn after(id: PostId) -> Self {
        Self(id)
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        PostId::parse(raw)
            .map(Self)
            .map_err(|_| Invalid::new("is not a cursor this service issued"))
    }

    pub fn last_id(self) -> PostId {
        self.0
    }

    pub fn encode(self) -> String {
        self.0.get().to_string()
    }
}

/// A post as the client sent it, every field valid.
pub struct NewPost {
    pub user_id: UserId,
    pub title: Title,
    pub content: Content,
    /// Optional, and known only to the next version: the release refuses it as unknown.
    pub summary: Option<Summary>,
}

impl NewPost {
    /// Every field is checked, and every problem reported at once.
    pub fn parse(object: Map<String, Value>) -> Result<Self, Problem> {
        let known: &[&str] = if cfg!(feature = "next") {
            &["userId", "title", "content", "summary"]
        } else {
            &["userId", "title", "content"]
        };
        let mut fields = Fields::new(object, known);
        let user_id = fields.integer("userId", UserId::new);
        let title = fields.string("title", Title::parse);
        let content = fields.string("content", Content::parse);
        let summary = if cfg!(feature = "next") {
            fields.optional_string("summary", Summary::parse)
        } else {
            None
        };
        let (Some(user_id), Some(title), Some(content)) = (user_id, title, content) else {
            return Err(fields.into_problem());
        };
        fields.finish()?;
        Ok(Self {
            user_id,
            title,
            content,
            summary,
        })
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
    fn a_limit_is_1_to_100() {
        assert_eq!(Limit::parse("1").unwrap().get(), 1);
        assert_eq!(Limit::parse("100").unwrap().get(), 100);
        for raw in ["0", "101", "-1", "ten", ""] {
            assert!(Limit::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor::after(PostId::new(41).unwrap());
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::parse("abc").is_err());
        assert!(Cursor::parse("0").is_err());
    }

    fn new_post(json: &str) -> Result<NewPost, Problem> {
        NewPost::parse(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_valid_post_body_parses_into_validated_fields() {
        let post = new_post(r#"{"userId":4,"title":" Hi ","content":"x"}"#)
            .ok()
            .unwrap();
        assert_eq!((post.user_id.get(), post.title.as_str()), (4, "Hi"));
    }

    #[test]
    fn a_user_id_that_is_not_a_positive_integer_is_a_422() {
        for user_id in ["0", "-2", "\"4\"", "4.5", "null"] {
            let body = format!(r#"{{"userId":{user_id},"title":"t","content":"c"}}"#);
            let problem = new_post(&body).err().unwrap();
            assert_eq!(problem.status, 422, "{user_id}");
            assert!(problem.errors.unwrap().contains_key("userId"), "{user_id}");
        }
    }

    #[test]
    fn limits_build_their_own_messages() {
        let long = "x".repeat(Content::MAX_CHARS + 1);
        assert_eq!(
            Content::parse(&long).unwrap_err().to_string(),
            format!("must be at most {} characters", Content::MAX_CHARS)
        );
        assert_eq!(
            Limit::parse("101").unwrap_err().to_string(),
            "must be an integer from 1 to 100"
        );
    }
}
