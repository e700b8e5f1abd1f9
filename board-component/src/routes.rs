//! The HTTP edge of the board service: which handler serves which method and path, and how a
//! failure becomes a response and a log line. Handlers live in `handlers`, rules in `domain`,
//! SQL in `store`, calls to the user service in `users`.

use service_kit::resource::{resource, Resource};
use service_kit::Problem;
use spin_sdk::http::{Method, Request, Response};

use crate::error::{report, BoardError};
use crate::handlers;

pub fn handle(request: &Request) -> Response {
    route(request).unwrap_or_else(|error| {
        if let Some(cause) = error.cause() {
            report(format!("{:?} {}", request.method(), request.path()), cause);
        }
        Response::from(Problem::from(error))
    })
}

fn route(request: &Request) -> Result<Response, BoardError> {
    match (resource(request.path(), "/boards"), request.method()) {
        (Resource::Collection, Method::Get) => handlers::list_posts(request),
        (Resource::Collection, Method::Post) => handlers::write_post(request),
        (Resource::Collection, _) => Err(Problem::method_not_allowed(&["GET", "POST"]).into()),
        (Resource::Health, Method::Get) => handlers::health(),
        (Resource::Item(id), Method::Get) => handlers::read_post(id),
        (Resource::Health | Resource::Item(_), _) => {
            Err(Problem::method_not_allowed(&["GET"]).into())
        }
        (Resource::Unknown, _) => Err(Problem::not_found("No such resource.").into()),
    }
}
