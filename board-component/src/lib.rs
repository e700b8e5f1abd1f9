//! The board service: posts with a title, content and author. It owns the `boards` database;
//! everything it knows about users comes from the user service's HTTP API, and it keeps a
//! replica of its authors' names so that reads never wait for the user service.

mod auth;
mod domain;
mod error;
mod handlers;
mod replica;
mod routes;
mod store;
mod users;
mod views;

use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, OutgoingResponse, Request, ResponseOutparam};
use spin_sdk::http_component;

/// Answers first; then, if a read found the author replica's feed due, pulls it, so no client
/// waits for the user service.
#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let response = match Request::try_from_incoming_request(incoming).await {
        Ok(request) => routes::handle(&request),
        Err(error) => {
            error::report("unreadable request", format!("{error:?}"));
            let problem = service_kit::Problem::bad_request("The request body could not be read.");
            spin_sdk::http::Response::from(problem)
        }
    };
    let response = service_kit::respond::with_version(response, &service_kit::service_version!());
    let body = response.body().to_vec();
    match OutgoingResponse::try_from(response) {
        Ok(outgoing) => {
            if let Err(error) = out.set_with_body(outgoing, body).await {
                error::report("sending the response failed", format!("{error:?}"));
            }
        }
        Err(error) => error::report("building the response failed", format!("{error:?}")),
    }
    replica::pull_if_due();
}
