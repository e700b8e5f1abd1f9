//! Who a write speaks for: the sign-in token the user service signed, checked here against the
//! public keys board keeps in its own database, so a write calls nobody and posting goes on
//! while the user service is down. A key board does not know (the user service rotated) makes
//! board fetch `GET /users/keys`: of all its instances that meet one, one fetches per
//! `author_sync_interval` (the feed's), never one per request.

use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_compact::PublicKey;
use service_kit::db::Database;
use service_kit::token::{self, Rejected, Verified};
use spin_sdk::http::Request;

use crate::error::{report, BoardError};
use crate::store::keys::{self, KeyRefresh};
use crate::users::Unavailable;
use crate::{replica, users};

/// After a fetch that failed, the next may start this much later.
const RETRY_SECONDS: f64 = 1.0;
/// The longest one fetch may take: a try cut short by a lost connection (under the call
/// timeout), then one whose connect, first byte and the gaps in its small answer take up to the
/// call timeout each, then board's writes. A claim this old that never finished was abandoned.
const LONGEST_FETCH: Duration = Duration::from_secs(6);
/// How long a request waits for a fetch another instance has in flight before it answers `503`
/// with `Retry-After`: as long as a slow user service's fetch takes (each phase near its
/// timeout), and under the 5 s a gateway gives board's answer.
const FETCH_WAIT: Duration = Duration::from_millis(4000);
const POLL: Duration = Duration::from_millis(20);

/// The user a request's `Authorization: Bearer` token was signed for.
pub fn authenticate(request: &Request, db: &impl Database) -> Result<Verified, BoardError> {
    let token = request
        .header("authorization")
        .and_then(|value| value.as_str())
        .and_then(token::bearer)
        .ok_or(BoardError::Unauthenticated)?;
    let kid = token::key_id(token).map_err(BoardError::InvalidToken)?;
    let key = match known_key(db, &kid)? {
        Some(key) => key,
        None => key_after_refresh(db, &kid)?,
    };
    token::verify(token, &key, token::now()).map_err(BoardError::InvalidToken)
}

/// Key `kid`, once board has asked the user service for its keys: this instance asks if it
/// wins the claim; otherwise it waits, up to [`FETCH_WAIT`], for a fetch another instance has
/// in flight (as every instance does at first use or right after a rotation), so a valid token
/// is not refused while its key is on the way. Only a fetch that got the keys and did not list
/// `kid` makes it not a key of the user service's: a fetch still going, abandoned or failed is
/// a `503`, which the client may retry.
fn key_after_refresh(db: &impl Database, kid: &str) -> Result<PublicKey, BoardError> {
    let abandoned_after = LONGEST_FETCH.as_secs_f64();
    if keys::claim_key_refresh(db, replica::interval_seconds(), abandoned_after)? {
        let listed = fetch_keys(db)?;
        let x = listed.iter().find(|(listed, _)| listed == kid);
        return x
            .and_then(|(_, x)| decode_key(kid, x))
            .ok_or(BoardError::InvalidToken(Rejected::UnknownKey));
    }
    let deadline = Instant::now() + FETCH_WAIT;
    loop {
        let (x, refresh) = keys::key_and_refresh(db, kid, abandoned_after)?;
        if let Some(key) = x.and_then(|x| decode_key(kid, &x)) {
            return Ok(key);
        }
        match refresh {
            KeyRefresh::InFlight if Instant::now() < deadline => std::thread::sleep(POLL),
            KeyRefresh::Fetched => return Err(BoardError::InvalidToken(Rejected::UnknownKey)),
            KeyRefresh::InFlight | KeyRefresh::Abandoned | KeyRefresh::Failed => {
                return Err(BoardError::UserServiceDown(Unavailable::KeysNotFetched))
            }
        }
    }
}

fn known_key(db: &impl Database, kid: &str) -> Result<Option<PublicKey>, BoardError> {
    Ok(keys::signing_key(db, kid)?.and_then(|x| decode_key(kid, &x)))
}

/// The Ed25519 key of a listed `x`; one that is not is logged, and verifies nothing.
fn decode_key(kid: &str, x: &str) -> Option<PublicKey> {
    let key = Base64UrlUnpadded::decode_vec(x)
        .ok()
        .and_then(|bytes| PublicKey::from_slice(&bytes).ok());
    if key.is_none() {
        report(
            "signing keys",
            format!("the key {kid} the user service listed is not an Ed25519 key"),
        );
    }
    key
}

/// Fetches and stores the keys, for the claim this instance won, and returns them ((kid, x)
/// pairs). A fetch that fails is a `503`, and the next may start a second later.
fn fetch_keys(db: &impl Database) -> Result<Vec<(String, String)>, BoardError> {
    let listed = match users::signing_keys() {
        Ok(keys) => keys,
        Err(unavailable) => {
            keys::finish_key_refresh(db, true, RETRY_SECONDS)?;
            return Err(BoardError::UserServiceDown(unavailable));
        }
    };
    keys::replace_signing_keys(db, &listed)?;
    keys::finish_key_refresh(db, false, RETRY_SECONDS)?;
    // Kids are public; the line shows how often board asks.
    let kids: Vec<&str> = listed.iter().map(|(kid, _)| kid.as_str()).collect();
    eprintln!("signing keys fetched: {kids:?}");
    Ok(listed)
}
