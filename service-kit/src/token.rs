//! The sign-in token the services accept: a JWT (RFC 7519) signed with Ed25519 (`EdDSA`, RFC
//! 8037) by the user service, checked by each service against the public keys the user service
//! publishes (`GET /users/keys`). The claims and the checks live here so that what is signed
//! and what is accepted cannot drift apart; keys and signing stay in the user service.

use chrono::{DateTime, Duration, Utc};
use ed25519_compact::PublicKey;
use jwt_compact::alg::Ed25519;
use jwt_compact::{AlgorithmExt, Claims, TimeOptions, UntrustedToken, ValidationError};
use serde::{Deserialize, Serialize};

use crate::Problem;

/// `iss`: the service that signs.
pub const ISSUER: &str = "user-service";
/// `aud`: the services that accept the token, this app's.
pub const AUDIENCE: &str = "microservices-on-spin";
/// `alg` in the header: Ed25519 signatures (RFC 8037), the only one accepted.
pub const ALGORITHM: &str = "EdDSA";
/// How far apart the signer's and a checker's clocks may be: applied to `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 30;

/// The claims beyond the times (`iat`, `nbf`, `exp`, which `jwt-compact` keeps).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string: RFC 7519's `sub` is one.
    pub sub: String,
    /// The user's name when the token was signed.
    pub name: String,
}

impl Identity {
    pub fn of(user_id: i64, name: &str) -> Self {
        Self {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_string(),
            name: name.to_owned(),
        }
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: i64,
    pub name: String,
}

/// Why a token is refused. The client hears `invalid_token` and this reason; nothing about
/// the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    NotAToken,
    NotEdDsa,
    NoKeyId,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    NoUser,
}

impl Rejected {
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::NotAToken => "The token is not a JWT.",
            Rejected::NotEdDsa => "The token is not signed with EdDSA.",
            Rejected::NoKeyId => "The token names no key (kid).",
            Rejected::UnknownKey => {
                "The token is signed with a key the user service does not publish."
            }
            Rejected::BadSignature => "The token's signature does not match its contents.",
            Rejected::Expired => "The token has expired; sign in again.",
            Rejected::NotYetValid => "The token is not valid yet.",
            Rejected::WrongIssuer => "The token was not issued by the user service.",
            Rejected::WrongAudience => "The token is not meant for this app.",
            Rejected::NoUser => "The token names no user.",
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (RFC 6750; the scheme in any case).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `401` for a request that needs a token and brought none (RFC 6750's challenge).
pub fn missing(realm: &str) -> Problem {
    Problem::new(
        401,
        "unauthenticated",
        "Unauthenticated",
        "Send a sign-in token (POST /users/tokens) as `Authorization: Bearer <token>`.",
    )
    .with_header("www-authenticate", format!(r#"Bearer realm="{realm}""#))
}

/// The `401` for a token that is not a valid one, saying why.
pub fn invalid(realm: &str, rejected: Rejected) -> Problem {
    Problem::new(401, "invalid-token", "Invalid token", rejected.reason()).with_header(
        "www-authenticate",
        format!(
            r#"Bearer realm="{realm}", error="invalid_token", error_description="{}""#,
            rejected.reason()
        ),
    )
}

/// The key id (`kid`) an EdDSA token names, to find the key that checks it.
pub fn key_id(token: &str) -> Result<String, Rejected> {
    let untrusted = UntrustedToken::new(token).map_err(|_| Rejected::NotAToken)?;
    if untrusted.algorithm() != ALGORITHM {
        return Err(Rejected::NotEdDsa);
    }
    untrusted.header().key_id.clone().ok_or(Rejected::NoKeyId)
}

/// Checks `token`'s signature with `key`, then its times against `now` (with the leeway) and
/// its issuer and audience.
pub fn verify(token: &str, key: &PublicKey, now: DateTime<Utc>) -> Result<Verified, Rejected> {
    let untrusted = UntrustedToken::new(token).map_err(|_| Rejected::NotAToken)?;
    let token = Ed25519
        .validator::<Identity>(key)
        .validate(&untrusted)
        .map_err(|error| match error {
            ValidationError::AlgorithmMismatch { .. } => Rejected::NotEdDsa,
            ValidationError::InvalidSignature => Rejected::BadSignature,
            _ => Rejected::NotAToken,
        })?;
    let claims = token.claims();
    check_times(claims, now)?;
    let identity = &claims.custom;
    if identity.iss != ISSUER {
        return Err(Rejected::WrongIssuer);
    }
    if identity.aud != AUDIENCE {
        return Err(Rejected::WrongAudience);
    }
    let user_id = identity
        .sub
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(Rejected::NoUser)?;
    Ok(Verified {
        user_id,
        name: identity.name.clone(),
    })
}

/// `exp` must be there and not past; `nbf`, when there, and `iat` not in the future.
fn check_times(claims: &Claims<Identity>, now: DateTime<Utc>) -> Result<(), Rejected> {
    let options = time_options(now);
    claims
        .validate_expiration(&options)
        .map_err(|_| Rejected::Expired)?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&options)
            .map_err(|_| Rejected::NotYetValid)?;
    }
    if claims
        .issued_at
        .is_some_and(|issued| issued - options.leeway > now)
    {
        return Err(Rejected::NotYetValid);
    }
    Ok(())
}

/// `now` as the clock, with the leeway: components read the time once per request.
pub fn time_options(now: DateTime<Utc>) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || now)
}

/// The current time from the host's clock (WASI's wall clock in a component).
pub fn now() -> DateTime<Utc> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_compact::{KeyPair, Seed};
    use jwt_compact::Header;

    fn pair(byte: u8) -> KeyPair {
        KeyPair::from_seed(Seed::new([byte; 32]))
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn signed(pair: &KeyPair, identity: Identity, issued: i64) -> String {
        let claims = Claims::new(identity)
            .set_duration_and_issuance(&time_options(at(issued)), Duration::seconds(900));
        Ed25519
            .token(&Header::empty().with_key_id("k1"), &claims, &pair.sk)
            .unwrap()
    }

    #[test]
    fn a_token_verifies_from_its_issue_to_its_expiry_within_the_leeway() {
        let keys = pair(9);
        let token = signed(&keys, Identity::of(7, "Ann"), 1_000);
        assert_eq!(key_id(&token), Ok("k1".to_owned()));
        let ann = Verified {
            user_id: 7,
            name: "Ann".to_owned(),
        };
        for now in [1_000 - LEEWAY_SECONDS, 1_000, 1_900 + LEEWAY_SECONDS] {
            assert_eq!(
                verify(&token, &keys.pk, at(now)),
                Ok(ann.clone()),
                "at {now}"
            );
        }
        assert_eq!(
            verify(&token, &keys.pk, at(1_901 + LEEWAY_SECONDS)),
            Err(Rejected::Expired)
        );
        assert_eq!(
            verify(&token, &keys.pk, at(999 - LEEWAY_SECONDS)),
            Err(Rejected::NotYetValid)
        );
    }

    #[test]
    fn another_key_issuer_audience_or_subject_is_refused() {
        let keys = pair(9);
        let ok = Identity::of(7, "Ann");
        let token = signed(&keys, ok.clone(), 1_000);
        assert_eq!(
            verify(&token, &pair(8).pk, at(1_000)),
            Err(Rejected::BadSignature)
        );
        let cases = [
            (
                Identity {
                    iss: "someone".into(),
                    ..ok.clone()
                },
                Rejected::WrongIssuer,
            ),
            (
                Identity {
                    aud: "another".into(),
                    ..ok.clone()
                },
                Rejected::WrongAudience,
            ),
            (
                Identity {
                    sub: "0".into(),
                    ..ok.clone()
                },
                Rejected::NoUser,
            ),
            (
                Identity {
                    sub: "ann".into(),
                    ..ok
                },
                Rejected::NoUser,
            ),
        ];
        for (identity, rejected) in cases {
            let token = signed(&keys, identity, 1_000);
            assert_eq!(verify(&token, &keys.pk, at(1_000)), Err(rejected));
        }
    }

    #[test]
    fn only_an_eddsa_jwt_with_a_key_id_names_a_key() {
        assert_eq!(key_id("garbage"), Err(Rejected::NotAToken));
        // {"alg":"none","kid":"k1"} . {} . (no signature)
        assert_eq!(
            key_id("eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.e30."),
            Err(Rejected::NotEdDsa)
        );
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
