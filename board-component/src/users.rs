//! The board service's only source of truth about users: the user service's HTTP API (the
//! public keys its tokens are checked with, a batch look-up, and the change feed its replica
//! follows).
//!
//! Calls go through `wasi:http/outgoing-handler` directly rather than `spin_sdk::http::send`
//! because only the former takes request options, and a short timeout is what keeps board
//! answering when the user service hangs. Spin honours `connect-timeout` and
//! `first-byte-timeout` (crates/factor-outbound-http/src/wasi.rs).

use std::collections::HashMap;
use std::fmt::{self, Display, Formatter};
use std::time::{Duration, Instant};

use serde::Deserialize;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use wasi::io::streams::StreamError;

use crate::domain::UserId;

/// The Spin variable holding the user service's base URL.
const URL_VARIABLE: &str = "user_service_url";
/// Each phase of a call (connecting, waiting for the first byte, between later bytes) is
/// bounded by this; a hung user service costs a board request at most about twice this.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(1000);
/// The user service's answers are small; anything larger is not an answer we understand.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What board may show about a post's author.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Author {
    pub id: i64,
    pub name: String,
}

/// Why the user service gave no answer board can use; for the log, not the client.
#[derive(Debug)]
pub enum Unavailable {
    /// `user_service_url` cannot be read.
    Variable(spin_sdk::variables::Error),
    /// `user_service_url` is not a URL board can call: what is wrong with it.
    BadUrl(&'static str),
    /// The host would not take the request: the part it refused.
    Request(&'static str),
    /// The call failed: a refused or dropped connection, a timeout.
    Call(ErrorCode),
    /// The host lost the response.
    Lost,
    /// The user service answered, with a status other than 200.
    Status(u16),
    /// The answer's body broke off: the host's description.
    Body(String),
    TooLarge,
    /// The answer is not the JSON board expects.
    Unreadable(serde_json::Error),
    /// The fetch of the keys another instance claimed failed, was abandoned, or was still going
    /// when the request had waited long enough.
    KeysNotFetched,
}

impl Display for Unavailable {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variable(error) => write!(f, "variable {URL_VARIABLE}: {error}"),
            Self::BadUrl(what) => write!(f, "{URL_VARIABLE} {what}"),
            Self::Request(part) => write!(f, "building the request: {part}"),
            Self::Call(code) => write!(f, "calling the user service: {code:?}"),
            Self::Lost => f.write_str("the response was lost"),
            Self::Status(status) => write!(f, "user service answered {status}"),
            Self::Body(reason) => write!(f, "reading the answer: {reason}"),
            Self::TooLarge => f.write_str("the answer is too large"),
            Self::Unreadable(error) => write!(f, "unreadable answer: {error}"),
            Self::KeysNotFetched => f.write_str("the user service's keys could not be fetched"),
        }
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Variable(error) => Some(error),
            Self::Unreadable(error) => Some(error),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct UserList {
    users: Vec<Author>,
}

/// A JWK Set (RFC 7517), as much of it as board reads.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    crv: String,
    x: String,
}

/// The most changes one read of the feed asks for (the user service's own maximum).
pub const FEED_PAGE: usize = 1000;

/// One change in the user service's feed: a user's name as of that change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub user_id: i64,
    pub name: String,
}

/// A page of the feed and where the next one starts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedPage {
    pub changes: Vec<Change>,
    pub last_seq: i64,
}

/// The changes after `after`, oldest first, at most [`FEED_PAGE`].
pub fn changes(after: i64) -> Result<FeedPage, Unavailable> {
    let (status, body) = get(&format!("/users/changes?after={after}&limit={FEED_PAGE}"))?;
    if status != 200 {
        return Err(Unavailable::Status(status));
    }
    decode(&body)
}

/// The user service's public signing keys: (kid, x) of each Ed25519 key it lists.
pub fn signing_keys() -> Result<Vec<(String, String)>, Unavailable> {
    let (status, body) = get("/users/keys")?;
    if status != 200 {
        return Err(Unavailable::Status(status));
    }
    let set: KeySet = decode(&body)?;
    Ok(set
        .keys
        .into_iter()
        .filter(|key| key.kty == "OKP" && key.crv == "Ed25519")
        .map(|key| (key.kid, key.x))
        .collect())
}

/// The authors among `ids` that exist, in one call, keyed by id.
pub fn find_many(ids: &[UserId]) -> Result<HashMap<i64, Author>, Unavailable> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list: Vec<String> = ids.iter().map(|id| id.get().to_string()).collect();
    let (status, body) = get(&format!("/users?ids={}", list.join(",")))?;
    if status != 200 {
        return Err(Unavailable::Status(status));
    }
    let list: UserList = decode(&body)?;
    Ok(list.users.into_iter().map(|user| (user.id, user)).collect())
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Unavailable> {
    serde_json::from_slice(body).map_err(Unavailable::Unreadable)
}

fn get(path_and_query: &str) -> Result<(u16, Vec<u8>), Unavailable> {
    let base = spin_sdk::variables::get(URL_VARIABLE).map_err(Unavailable::Variable)?;
    let target = Target::parse(&base)?;
    let response = send_retrying_once(&target, path_and_query)?;
    let status = response.status();
    let body = read_body(&response)?;
    Ok((status, body))
}

/// The parts of `user_service_url` a request needs.
#[derive(Debug)]
struct Target {
    scheme: Scheme,
    authority: String,
    base_path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, Unavailable> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(Unavailable::BadUrl("must start with http:// or https://"));
        };
        let (authority, base_path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(Unavailable::BadUrl("has no host"));
        }
        Ok(Self {
            scheme,
            authority: authority.to_owned(),
            base_path: base_path.trim_end_matches('/').to_owned(),
        })
    }
}

/// Why a call got no response.
enum Failed {
    /// The connection failed, or closed before the answer began: the user service's process
    /// may have died with the request (a replica replaced, a crash).
    Connection(ErrorCode),
    Otherwise(Unavailable),
}

impl From<Failed> for Unavailable {
    fn from(failed: Failed) -> Self {
        match failed {
            Failed::Connection(code) => Unavailable::Call(code),
            Failed::Otherwise(unavailable) => unavailable,
        }
    }
}

/// Every call is a GET, which changes nothing, so one that lost its connection is sent once
/// more, on another connection (and through a gateway, likely to another replica), if the
/// first try left time in the call's budget. A timeout is not tried again: that would double
/// what a hung user service costs.
fn send_retrying_once(
    target: &Target,
    path_and_query: &str,
) -> Result<IncomingResponse, Unavailable> {
    let started = Instant::now();
    match send(target, path_and_query) {
        Err(Failed::Connection(_)) if started.elapsed() < CALL_TIMEOUT => {
            Ok(send(target, path_and_query)?)
        }
        sent => Ok(sent?),
    }
}

fn send(target: &Target, path_and_query: &str) -> Result<IncomingResponse, Failed> {
    let failed = |part| Failed::Otherwise(Unavailable::Request(part));
    let headers = Fields::from_list(&[("accept".to_owned(), b"application/json".to_vec())])
        .map_err(|_| failed("headers"))?;
    let request = OutgoingRequest::new(headers);
    request
        .set_method(&Method::Get)
        .map_err(|_| failed("method"))?;
    request
        .set_scheme(Some(&target.scheme))
        .map_err(|_| failed("scheme"))?;
    request
        .set_authority(Some(&target.authority))
        .map_err(|_| failed("authority"))?;
    let path = format!("{}{path_and_query}", target.base_path);
    request
        .set_path_with_query(Some(&path))
        .map_err(|_| failed("path"))?;
    let body = request.body().map_err(|_| failed("body"))?;

    let timeout = Some(CALL_TIMEOUT.as_nanos() as u64);
    let options = RequestOptions::new();
    // A host may not support a given timeout; the call still happens, just less bounded.
    let _ = options.set_connect_timeout(timeout);
    let _ = options.set_first_byte_timeout(timeout);
    let _ = options.set_between_bytes_timeout(timeout);

    let pending = outgoing_handler::handle(request, Some(options)).map_err(failed_with)?;
    OutgoingBody::finish(body, None).map_err(failed_with)?;
    // The handler serves one request at a time, so blocking here holds nothing else up.
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(failed_with(code)),
        _ => Err(Failed::Otherwise(Unavailable::Lost)),
    }
}

fn failed_with(code: ErrorCode) -> Failed {
    match code {
        // Both hosts report a connection closed before a whole response head as a protocol
        // error (hyper's incomplete message).
        ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::HttpProtocolError => Failed::Connection(code),
        other => Failed::Otherwise(Unavailable::Call(other)),
    }
}

fn read_body(response: &IncomingResponse) -> Result<Vec<u8>, Unavailable> {
    let body = response.consume().map_err(|_| Unavailable::Lost)?;
    let stream = body.stream().map_err(|_| Unavailable::Lost)?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(Unavailable::Body(e.to_debug_string()))
            }
        }
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(Unavailable::TooLarge);
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chaining_url_is_split_into_scheme_and_host() {
        let target = Target::parse("http://user-component.spin.internal").unwrap();
        assert!(matches!(target.scheme, Scheme::Http));
        assert_eq!(target.authority, "user-component.spin.internal");
        assert_eq!(target.base_path, "");
    }

    #[test]
    fn a_url_with_a_port_and_a_base_path_keeps_both() {
        let target = Target::parse("https://users.example.org:8443/api/").unwrap();
        assert!(matches!(target.scheme, Scheme::Https));
        assert_eq!(target.authority, "users.example.org:8443");
        assert_eq!(target.base_path, "/api");
    }

    #[test]
    fn a_url_without_a_known_scheme_or_host_is_refused() {
        assert!(Target::parse("user-component.spin.internal").is_err());
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("http://").is_err());
    }
}
