//! The board service: posts with a title, content and author. It owns the `boards` database;
//! everything it knows about users comes from the user service's HTTP API.

mod domain;
mod routes;
mod store;
mod users;

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> Response {
    let response = routes::handle(&request);
    service_kit::respond::with_version(response, &service_kit::service_version!())
}
