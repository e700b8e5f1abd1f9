//! The HTTP edge of the user service: which handler serves which method and path, and how a
//! failure becomes a response and a log line. Handlers live in `handlers`, rules in `domain`,
//! SQL in `store`.

use service_kit::resource::{resource, Resource};
use service_kit::Problem;
use spin_sdk::http::{Method, Request, Response};

use crate::error::UserError;
use crate::handlers;

pub fn handle(request: &Request) -> Response {
    route(request).unwrap_or_else(|error| {
        if let Some(cause) = error.cause() {
            eprintln!("{:?} {}: {cause}", request.method(), request.path());
        }
        Problem::from(error).into()
    })
}

fn route(request: &Request) -> Result<Response, UserError> {
    match (resource(request.path(), "/users"), request.method()) {
        (Resource::Collection, Method::Get) => handlers::list_users(request),
        (Resource::Collection, Method::Post) => handlers::sign_up(request),
        (Resource::Collection, _) => Err(Problem::method_not_allowed(&["GET", "POST"]).into()),
        (Resource::Health, Method::Get) => handlers::health(),
        (Resource::Item("changes"), Method::Get) => handlers::read_changes(request),
        (Resource::Item("keys"), Method::Get) => handlers::keys(),
        (Resource::Health | Resource::Item("changes" | "keys"), _) => {
            Err(Problem::method_not_allowed(&["GET"]).into())
        }
        (Resource::Item("tokens"), Method::Post) => handlers::sign_in(request),
        (Resource::Item("tokens"), _) => Err(Problem::method_not_allowed(&["POST"]).into()),
        (Resource::Item(id), Method::Get) => handlers::read_user(id),
        (Resource::Item(id), Method::Patch) => handlers::rename_user(request, id),
        (Resource::Item(_), _) => Err(Problem::method_not_allowed(&["GET", "PATCH"]).into()),
        (Resource::Unknown, _) => Err(Problem::not_found("No such resource.").into()),
    }
}
