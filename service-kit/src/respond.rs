//! Success responses: JSON bodies, `Location` for created resources, and the version header
//! that lets a client see which build of a component answered (useful when swapping one).

use serde::Serialize;
use spin_sdk::http::Response;

/// Response header naming the component and build that produced a response.
pub const VERSION_HEADER: &str = "x-service-version";

pub fn json(status: u16, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("response types always serialise");
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
pub fn with_version(mut response: Response, version: &str) -> Response {
    response.set_header(VERSION_HEADER, version);
    response
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
