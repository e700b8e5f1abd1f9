//! The user service: sign-up, sign-in (tokens other services check themselves), look-up and
//! renames of users, and the change feed of their public facts. It owns the `users` database
//! and nothing else; other services learn about users only through this HTTP API.

mod credentials;
mod domain;
mod error;
mod handlers;
mod model;
mod password;
mod routes;
mod signing;
mod store;
mod throttle;
mod views;

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let version = service_kit::service_version!();
    service_kit::respond::serve(incoming, out, &version, routes::handle).await;
}
