//! What the user service's responses look like on the wire.

use serde::Serialize;

use crate::store::{Change, User};

/// The account as its owner sees it right after sign-up.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account<'a> {
    id: i64,
    email: &'a str,
    name: &'a str,
    created_at: &'a str,
}

impl<'a> From<&'a User> for Account<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id.get(),
            email: &user.email,
            name: &user.name,
            created_at: &user.created_at,
        }
    }
}

/// What anyone may learn about a user: no email, never a password hash.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicUser<'a> {
    id: i64,
    name: &'a str,
    created_at: &'a str,
}

impl<'a> From<&'a User> for PublicUser<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id.get(),
            name: &user.name,
            created_at: &user.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct UserList<'a> {
    pub users: Vec<PublicUser<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeView<'a> {
    seq: i64,
    user_id: i64,
    name: &'a str,
    changed_at: &'a str,
}

/// A page of the change feed; `lastSeq` is where the next read starts (`after`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePage<'a> {
    changes: Vec<ChangeView<'a>>,
    last_seq: i64,
}

impl<'a> ChangePage<'a> {
    /// The page of `changes` read after `after`.
    pub fn new(changes: &'a [Change], after: i64) -> Self {
        Self {
            last_seq: changes.last().map_or(after, |change| change.seq),
            changes: changes
                .iter()
                .map(|change| ChangeView {
                    seq: change.seq,
                    user_id: change.user_id.get(),
                    name: &change.name,
                    changed_at: &change.changed_at,
                })
                .collect(),
        }
    }
}
