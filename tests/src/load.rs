//! Steady load for the tests: one client sending JSON writes back to back.

use serde_json::Value;

use crate::client::{Client, Reply};

/// Sends `request(n)` for n = 1, 2, ... while `keep_going()` holds, handing each outcome (a
/// reply, or the transport error when the host is gone) to `record` with the request's path.
pub fn send_while(
    client: &Client,
    keep_going: impl Fn() -> bool,
    request: impl Fn(usize) -> (&'static str, Value),
    mut record: impl FnMut(&'static str, Result<Reply, String>),
) {
    let mut n = 0;
    while keep_going() {
        n += 1;
        let (path, body) = request(n);
        let body = body.to_string();
        record(
            path,
            client.try_send("POST", path, Some("application/json"), body.as_bytes()),
        );
    }
}
