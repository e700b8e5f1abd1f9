//! Success responses: JSON bodies, `Location` for created resources, the version header that
//! lets a client see which build of a component answered (useful when swapping one), and how a
//! response reaches the host.

use futures::SinkExt;
use serde::Serialize;
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, OutgoingResponse, Request, Response, ResponseOutparam};

use crate::Problem;

/// Response header naming the component and build that produced a response.
pub const VERSION_HEADER: &str = "x-service-version";

pub fn json(status: u16, value: &impl Serialize) -> Response {
    json_body(status, to_json(value))
}

/// A response type's JSON, e.g. for a read model to keep.
pub fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("response types always serialise")
}

/// `{"<name>":[<item>,...]}` from items already serialised: the list a read model answers.
pub fn json_list(name: &str, items: &[Vec<u8>]) -> Vec<u8> {
    let mut body = format!("{{\"{name}\":[").into_bytes();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    body
}

/// A JSON body already serialised, e.g. one a read model kept.
pub fn json_body(status: u16, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .build()
}

/// The answer of a health check that passed.
pub fn healthy() -> Response {
    json(200, &serde_json::json!({ "status": "ok" }))
}

pub fn created(location: &str, value: &impl Serialize) -> Response {
    let mut response = json(201, value);
    response.set_header("location", location);
    response
}

/// Stamps `response` with `version`, e.g. `user-component/0.1.0+local`.
fn with_version(mut response: Response, version: &str) -> Response {
    response.set_header(VERSION_HEADER, version);
    response
}

/// The largest body written before the response is handed to the host: one chunk of
/// wasi-http's outgoing body (1 MiB by default, in Spin and devhost alike), which its channel
/// holds until the server reads it. A larger one would wait for a reader that is not there yet.
const WRITTEN_FIRST_AT_MOST: usize = 1024 * 1024;

/// Serves one request: reads it, answers it with `handle`, stamps `version`, and sends the
/// response with its body written first. spin-sdk's own way (`set_with_body`) hands the head
/// to the host before it writes the body, so Spin's server may send them in two TCP segments;
/// Spin sets no `TCP_NODELAY`, so on a kept-alive connection the second then waits for the
/// client's delayed ACK (Nagle), about 40 ms, whenever the body comes a moment late. Measured on
/// Spin 4.0.2 behind a key-value read: 44 ms a request at one connection, 0.3 ms with the body
/// first.
pub async fn serve(
    incoming: IncomingRequest,
    out: ResponseOutparam,
    version: &str,
    handle: impl FnOnce(&Request) -> Response,
) {
    let response = match Request::try_from_incoming_request(incoming).await {
        Ok(request) => handle(&request),
        Err(error) => {
            eprintln!("unreadable request: {error:?}");
            Problem::bad_request("The request body could not be read.").into()
        }
    };
    let mut response = with_version(response, version);
    let body = response.body().to_vec();
    // The whole length up front: no chunked framing, so the response is one write.
    response.set_header("content-length", body.len().to_string());
    let outgoing = match OutgoingResponse::try_from(response) {
        Ok(outgoing) => outgoing,
        Err(error) => return eprintln!("building the response failed: {error:?}"),
    };
    let mut sink = outgoing.take_body();
    let sent = if body.len() <= WRITTEN_FIRST_AT_MOST {
        let sent = sink.send(body).await;
        // Dropping the sink finishes the body: the host has the whole response at once.
        drop(sink);
        out.set(outgoing);
        sent
    } else {
        out.set(outgoing);
        sink.send(body).await
    };
    if let Err(error) = sent {
        eprintln!("sending the response failed: {error:?}");
    }
}

/// `name/version+build`; the build id defaults to `local`.
pub fn version_string(name: &str, version: &str, build_id: Option<&str>) -> String {
    format!("{name}/{version}+{}", build_id.unwrap_or("local"))
}

/// The calling crate's version string. A macro so that `SERVICE_BUILD_ID` is read when *that*
/// component compiles: two builds of the same source can then be told apart on the wire.
#[macro_export]
macro_rules! service_version {
    () => {
        $crate::respond::version_string(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            option_env!("SERVICE_BUILD_ID"),
        )
    };
}
