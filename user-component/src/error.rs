//! Everything that can go wrong in a user request, what the client is told, and what the log
//! keeps: the one place each is decided.

use service_kit::token::{self, Rejected};
use service_kit::{db, Problem};

use crate::domain::UserId;

pub enum UserError {
    Request(Problem),
    EmailTaken,
    NotFound(UserId),
    /// No valid credentials: none, malformed, unknown email or wrong password, alike.
    Unauthenticated,
    /// Valid credentials of another account.
    Forbidden,
    /// A sign-in with an unknown email or a wrong password, alike.
    SignInRefused,
    /// Too many failed sign-ins for this email lately: try again after this many seconds.
    SignInsThrottled(i64),
    /// A Bearer token that is not a valid one of ours.
    InvalidToken(Rejected),
    Database(db::Error),
    Hashing(argon2::password_hash::Error),
}

impl From<Problem> for UserError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl From<db::Error> for UserError {
    fn from(error: db::Error) -> Self {
        Self::Database(error)
    }
}

impl UserError {
    /// The cause of a failure of ours, for the log; a client's mistake is not logged.
    pub fn cause(&self) -> Option<String> {
        match self {
            UserError::Database(error) => Some(format!("database error: {error:?}")),
            UserError::Hashing(error) => Some(format!("password hashing failed: {error}")),
            _ => None,
        }
    }
}

impl From<UserError> for Problem {
    fn from(error: UserError) -> Self {
        match error {
            UserError::Request(problem) => problem,
            UserError::EmailTaken => Problem::new(
                409,
                "email-taken",
                "Email taken",
                "An account with this email already exists.",
            ),
            UserError::NotFound(id) => {
                Problem::not_found(format!("There is no user {}.", id.get()))
            }
            UserError::Unauthenticated => Problem::new(
                401,
                "unauthenticated",
                "Unauthenticated",
                "Send the account's sign-in token (Bearer), or its email and password as HTTP \
                 Basic credentials.",
            )
            .with_header(
                "www-authenticate",
                r#"Basic realm="users", charset="UTF-8", Bearer realm="users""#,
            ),
            UserError::SignInRefused => Problem::new(
                401,
                "sign-in-refused",
                "Sign-in refused",
                "The email or the password is wrong.",
            )
            .with_header("www-authenticate", r#"Bearer realm="users""#),
            UserError::SignInsThrottled(seconds) => Problem::new(
                429,
                "too-many-sign-ins",
                "Too many sign-ins",
                "Too many failed sign-ins for this email lately; try again later.",
            )
            .with_header("retry-after", seconds.to_string()),
            UserError::InvalidToken(rejected) => token::invalid("users", rejected),
            UserError::Forbidden => Problem::new(
                403,
                "forbidden",
                "Forbidden",
                "These credentials belong to another account.",
            ),
            UserError::Database(error) => db::unavailable(&error),
            UserError::Hashing(_) => Problem::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(error: UserError) -> Problem {
        Problem::from(error)
    }

    #[test]
    fn a_taken_email_is_a_409_conflict() {
        let problem = problem(UserError::EmailTaken);
        assert_eq!((problem.status, problem.slug), (409, "email-taken"));
    }

    #[test]
    fn an_unknown_user_is_a_404_naming_the_id() {
        let problem = problem(UserError::NotFound(UserId::parse("7").unwrap()));
        assert_eq!(problem.status, 404);
        assert!(problem.detail.contains('7'));
    }

    #[test]
    fn a_database_failure_is_a_503_to_retry_logged_with_its_cause_not_told() {
        let error = UserError::Database(db::Error::Io("disk I/O error in users".into()));
        assert!(error.cause().unwrap().contains("disk I/O"));
        let problem = problem(error);
        assert_eq!(problem.status, 503);
        assert!(problem
            .headers
            .iter()
            .any(|(name, _)| *name == "retry-after"));
        assert!(!problem.detail.contains("disk I/O"));
    }

    #[test]
    fn a_hashing_failure_is_ours_not_the_clients_and_its_cause_is_kept() {
        let error = UserError::Hashing(argon2::password_hash::Error::SaltInvalid(
            argon2::password_hash::errors::InvalidValue::TooShort,
        ));
        assert!(error.cause().is_some());
        assert_eq!(problem(error).status, 500);
        assert!(UserError::EmailTaken.cause().is_none());
    }
}
