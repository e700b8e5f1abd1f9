//! Everything that can go wrong in a board request, what the client is told, and what the log
//! keeps: the one place each is decided. Failures that do not fail a request (a read-repair or
//! a feed pull that could not finish) are logged through `report` as well.

use std::fmt::Display;

use service_kit::token::{self, Rejected};
use service_kit::{db, Problem};

use crate::domain::{PostId, UserId};
use crate::users::Unavailable;

pub enum BoardError {
    Request(Problem),
    /// No Bearer token.
    Unauthenticated,
    InvalidToken(Rejected),
    /// A valid token of one user, for a post whose `userId` names another.
    NotTheAuthor(UserId),
    /// The user service could not list its keys, for a token whose key board does not know.
    UserServiceDown(Unavailable),
    NotFound(PostId),
    Database(db::Error),
}

impl From<Problem> for BoardError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl From<db::Error> for BoardError {
    fn from(error: db::Error) -> Self {
        Self::Database(error)
    }
}

impl BoardError {
    /// The cause of a failure of ours or of the user service, for the log; a client's mistake
    /// is not logged.
    pub fn cause(&self) -> Option<String> {
        match self {
            BoardError::UserServiceDown(reason) => {
                Some(format!("user service unavailable: {reason}"))
            }
            BoardError::Database(error) => Some(format!("database error: {error:?}")),
            _ => None,
        }
    }
}

/// One line in the component's log: what was being done, and why it failed.
pub fn report(context: impl Display, cause: impl Display) {
    eprintln!("{context}: {cause}");
}

impl From<BoardError> for Problem {
    fn from(error: BoardError) -> Self {
        match error {
            BoardError::Request(problem) => problem,
            BoardError::Unauthenticated => token::missing("boards"),
            BoardError::InvalidToken(rejected) => token::invalid("boards", rejected),
            BoardError::NotTheAuthor(id) => Problem::new(
                403,
                "forbidden",
                "Forbidden",
                format!(
                    "The token is not user {}'s: a post's userId must be the signed-in user's.",
                    id.get()
                ),
            ),
            // The operator's mistake, not the user service's: say which setting.
            BoardError::UserServiceDown(Unavailable::BadUrl(_) | Unavailable::Variable(_)) => {
                Problem::unavailable(
                    "Board's `user_service_url` is not a URL board can call (an http:// or \
                     https:// URL, or http://self.alt); nothing was written.",
                )
            }
            BoardError::UserServiceDown(_) => Problem::unavailable(
                "The user service cannot list the key this token is signed with right now; \
                 nothing was written.",
            ),
            BoardError::NotFound(id) => {
                Problem::not_found(format!("There is no post {}.", id.get()))
            }
            BoardError::Database(error) => db::unavailable(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use wasi::http::types::ErrorCode;

    use super::*;

    #[test]
    fn a_missing_or_invalid_token_is_a_401_with_a_bearer_challenge() {
        for (error, error_code) in [
            (BoardError::Unauthenticated, false),
            (BoardError::InvalidToken(Rejected::Expired), true),
        ] {
            let problem = Problem::from(error);
            assert_eq!(problem.status, 401);
            let (_, challenge) = problem
                .headers
                .iter()
                .find(|(name, _)| *name == "www-authenticate")
                .unwrap();
            assert!(
                challenge.starts_with(r#"Bearer realm="boards""#),
                "{challenge}"
            );
            assert_eq!(challenge.contains(r#"error="invalid_token""#), error_code);
        }
    }

    #[test]
    fn another_users_token_is_a_403_naming_the_user_id() {
        let problem = Problem::from(BoardError::NotTheAuthor(UserId::new(9).unwrap()));
        assert_eq!(problem.status, 403);
        assert!(problem.detail.contains("user 9"));
    }

    #[test]
    fn an_unreachable_user_service_is_a_503_with_retry_after_and_a_logged_cause() {
        let error = BoardError::UserServiceDown(Unavailable::Call(ErrorCode::ConnectionRefused));
        assert!(error.cause().unwrap().contains("ConnectionRefused"));
        let problem = Problem::from(error);
        assert_eq!(problem.status, 503);
        let retry = problem
            .headers
            .iter()
            .find(|(name, _)| *name == "retry-after");
        assert_eq!(
            retry.map(|(_, value)| value.as_str()),
            Some(service_kit::problem::RETRY_AFTER_SECONDS)
        );
    }

    #[test]
    fn a_user_service_url_board_cannot_call_is_a_503_naming_the_variable() {
        let problem = Problem::from(BoardError::UserServiceDown(Unavailable::BadUrl(
            "must start with http:// or https://",
        )));
        assert_eq!(problem.status, 503);
        assert!(
            problem.detail.contains("user_service_url"),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn a_missing_post_is_a_404_and_not_logged() {
        let error = BoardError::NotFound(PostId::new(3).unwrap());
        assert!(error.cause().is_none());
        assert_eq!(Problem::from(error).status, 404);
    }
}
