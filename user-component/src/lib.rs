//! The user service: sign-up, sign-in (tokens other services check themselves), look-up and
//! renames of users, and the change feed of their public facts. It owns the `users` database
//! and nothing else; other services learn about users only through this HTTP API.

mod credentials;
mod domain;
mod error;
mod handlers;
mod password;
mod routes;
mod signing;
mod store;
mod throttle;
mod views;

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> Response {
    let response = routes::handle(&request);
    service_kit::respond::with_version(response, &service_kit::service_version!())
}
