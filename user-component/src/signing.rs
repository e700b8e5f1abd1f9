//! The user service's signing keys and the tokens it signs with them. Nothing to configure: the
//! first sign-in makes a key (its 32 random bytes from WASI's random source) and keeps it in
//! this service's own database, the only place the private half ever is. Rotation is by age: a
//! key signs for `signing_key_lifetime`; the first sign-in after that makes a new one, and the
//! old one stays published, so it still verifies, until the last token it signed has expired.

use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::{DateTime, Duration, Utc};
use ed25519_compact::{KeyPair, PublicKey, SecretKey, Seed};
use jwt_compact::alg::Ed25519;
use jwt_compact::{AlgorithmExt, Claims, Header};
use service_kit::db::{Database, Error};
use service_kit::token::{self, Identity, Rejected, Verified};
use sha2::{Digest, Sha256};

use crate::store;

/// The Spin variables that set the lifetimes, in seconds.
const TOKEN_LIFETIME_VARIABLE: &str = "token_lifetime";
const KEY_LIFETIME_VARIABLE: &str = "signing_key_lifetime";
const DEFAULT_TOKEN_LIFETIME_SECONDS: i64 = 15 * 60;
const DEFAULT_KEY_LIFETIME_SECONDS: i64 = 30 * 24 * 60 * 60;

/// How long tokens and keys live, read once per request.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub token_seconds: i64,
    pub key_seconds: i64,
}

impl Lifetimes {
    pub fn from_variables() -> Self {
        Self {
            token_seconds: seconds(TOKEN_LIFETIME_VARIABLE, DEFAULT_TOKEN_LIFETIME_SECONDS),
            key_seconds: seconds(KEY_LIFETIME_VARIABLE, DEFAULT_KEY_LIFETIME_SECONDS),
        }
    }

    /// Keys retired after this moment may still have signed a token that has not expired.
    fn retired_keys_verify_after(self, now: i64) -> i64 {
        now - self.token_seconds - token::LEEWAY_SECONDS
    }
}

/// A positive whole number of seconds, or the default; a value that is not one is logged.
fn seconds(variable: &str, default: i64) -> i64 {
    let Ok(raw) = spin_sdk::variables::get(variable) else {
        return default;
    };
    match raw.trim().parse::<i64>() {
        Ok(value) if value > 0 => value,
        _ => {
            eprintln!(
                "variable {variable} is {raw:?}, not a positive number of seconds: using {default}"
            );
            default
        }
    }
}

/// A signed token and how many seconds it is valid for.
pub struct Issued {
    pub token: String,
    pub expires_in: i64,
}

/// Signs a token for `user_id` named `name`, with the current key (made first if there is none
/// that may still sign).
pub fn issue(
    db: &impl Database,
    user_id: i64,
    name: &str,
    now: DateTime<Utc>,
    lifetimes: Lifetimes,
) -> Result<Issued, Error> {
    let (kid, secret) = current_key(db, now.timestamp(), lifetimes)?;
    let claims = Claims::new(Identity::of(user_id, name)).set_duration_and_issuance(
        &token::time_options(now),
        Duration::seconds(lifetimes.token_seconds),
    );
    let token = Ed25519
        .token(&Header::empty().with_key_id(kid), &claims, &secret)
        .map_err(|error| Error::Io(format!("signing a token: {error}")))?;
    Ok(Issued {
        token,
        expires_in: lifetimes.token_seconds,
    })
}

fn current_key(
    db: &impl Database,
    now: i64,
    lifetimes: Lifetimes,
) -> Result<(String, SecretKey), Error> {
    let signs_after = now - lifetimes.key_seconds;
    if let Some(key) = signing_key(db, signs_after)? {
        return Ok(key);
    }
    let pair = KeyPair::from_seed(Seed::generate());
    store::add_signing_key(
        db,
        &key_id(&pair.pk),
        pair.sk.seed().as_ref(),
        pair.pk.as_ref(),
        now,
        signs_after,
    )?;
    // Another instance may have made one at the same moment: whichever landed first signs.
    signing_key(db, signs_after)?
        .ok_or_else(|| Error::Io("the signing key just stored is not there".to_owned()))
}

fn signing_key(db: &impl Database, signs_after: i64) -> Result<Option<(String, SecretKey)>, Error> {
    let Some((kid, seed)) = store::signing_key(db, signs_after)? else {
        return Ok(None);
    };
    let seed =
        Seed::from_slice(&seed).map_err(|_| Error::Io(format!("signing key {kid} is damaged")))?;
    Ok(Some((kid, KeyPair::from_seed(seed).sk)))
}

/// The key id: the key's RFC 7638 thumbprint (SHA-256 of its JWK's required members, in that
/// order, without spaces), so it names that key and no other.
fn key_id(public: &PublicKey) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        Base64UrlUnpadded::encode_string(public.as_ref())
    );
    Base64UrlUnpadded::encode_string(&Sha256::digest(jwk.as_bytes()))
}

/// Every public key a token that has not expired may have been signed with, newest first.
pub fn published(
    db: &impl Database,
    now: i64,
    lifetimes: Lifetimes,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    store::published_keys(db, lifetimes.retired_keys_verify_after(now))
}

/// Checks a token of this service's own with the keys it publishes.
pub fn verify(
    db: &impl Database,
    token: &str,
    now: DateTime<Utc>,
    lifetimes: Lifetimes,
) -> Result<Result<Verified, Rejected>, Error> {
    let kid = match token::key_id(token) {
        Ok(kid) => kid,
        Err(rejected) => return Ok(Err(rejected)),
    };
    let key = store::published_key(
        db,
        &kid,
        lifetimes.retired_keys_verify_after(now.timestamp()),
    )?
    .and_then(|bytes| PublicKey::from_slice(&bytes).ok());
    Ok(match key {
        Some(key) => token::verify(token, &key, now),
        None => Err(Rejected::UnknownKey),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 8037, appendix A.3: the thumbprint of its example Ed25519 public key.
        let x =
            Base64UrlUnpadded::decode_vec("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let public = PublicKey::from_slice(&x).unwrap();
        assert_eq!(
            key_id(&public),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
