//! The board service: posts with a title, content and author. It owns the `boards` database;
//! everything it knows about users comes from the user service's HTTP API, and it keeps a
//! replica of its authors' names so that reads never wait for the user service.

mod auth;
mod domain;
mod error;
mod handlers;
mod model;
mod replica;
mod routes;
mod store;
mod users;
mod views;

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// Answers first; then, if a read found the author replica's feed due, pulls it, so no client
/// waits for the user service.
#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let version = service_kit::service_version!();
    service_kit::respond::serve(incoming, out, &version, routes::handle).await;
    replica::pull_if_due();
}
