//! What the user service's responses look like on the wire.

use base64ct::{Base64UrlUnpadded, Encoding};
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
    #[serde(skip_serializing_if = "Option::is_none")]
    bio: Option<&'a str>,
}

impl<'a> From<&'a User> for Account<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id.get(),
            email: &user.email,
            name: &user.name,
            created_at: &user.created_at,
            bio: user.bio.as_deref(),
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
    /// The next version's, public; left out where there is none, as the release leaves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    bio: Option<&'a str>,
}

impl<'a> From<&'a User> for PublicUser<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id.get(),
            name: &user.name,
            created_at: &user.created_at,
            bio: user.bio.as_deref(),
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
    #[serde(skip_serializing_if = "Option::is_none")]
    bio: Option<&'a str>,
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
                    bio: change.bio.as_deref(),
                })
                .collect(),
        }
    }
}

/// A sign-in's answer (the shape of RFC 6749's token response).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken<'a> {
    pub access_token: &'a str,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// The public keys that verify the service's tokens: a JWK Set (RFC 7517), Ed25519 keys as RFC
/// 8037 writes them.
#[derive(Serialize)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

#[derive(Serialize)]
struct PublicKey {
    kty: &'static str,
    crv: &'static str,
    /// The key itself, base64url without padding.
    x: String,
    kid: String,
    #[serde(rename = "use")]
    usage: &'static str,
    alg: &'static str,
}

impl KeySet {
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> Self {
        let keys = keys
            .into_iter()
            .map(|(kid, public_key)| PublicKey {
                kty: "OKP",
                crv: "Ed25519",
                x: Base64UrlUnpadded::encode_string(&public_key),
                kid,
                usage: "sig",
                alg: service_kit::token::ALGORITHM,
            })
            .collect();
        Self { keys }
    }
}
