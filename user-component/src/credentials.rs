//! HTTP Basic credentials (RFC 7617): the email and password of the account a request acts for.
//! Deliberately neither `Debug` nor `Display`: the password must never reach a log.

use base64ct::{Base64, Encoding};

use crate::domain::Email;

pub struct Credentials {
    pub email: Email,
    password: String,
}

impl Credentials {
    /// The credentials in an `Authorization` header value; `None` when there are none, or
    /// they are not Basic, not base64, not UTF-8, or the user part is not an email.
    pub fn from_header(value: Option<&str>) -> Option<Self> {
        let (scheme, encoded) = value?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(Base64::decode_vec(encoded.trim()).ok()?).ok()?;
        let (email, password) = decoded.split_once(':')?;
        Some(Self {
            email: Email::parse(email).ok()?,
            password: password.to_owned(),
        })
    }

    pub fn password(&self) -> &[u8] {
        self.password.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_and_password: &str) -> String {
        format!(
            "Basic {}",
            Base64::encode_string(user_and_password.as_bytes())
        )
    }

    #[test]
    fn basic_credentials_give_the_email_and_the_password_with_its_colons() {
        let header = basic("Ann@Example.org:pass:word");
        let credentials = Credentials::from_header(Some(&header)).unwrap();
        assert_eq!(credentials.email.as_str(), "ann@example.org");
        assert_eq!(credentials.password(), b"pass:word");
    }

    #[test]
    fn anything_else_is_no_credentials() {
        for header in [
            None,
            Some("Bearer abc".to_owned()),
            Some("Basic !!!".to_owned()),
            Some(basic("no-colon")),
            Some(basic("not-an-email:password")),
            Some("Basic".to_owned()),
        ] {
            assert!(
                Credentials::from_header(header.as_deref()).is_none(),
                "{header:?}"
            );
        }
    }
}
