//! RFC 9457 problem details: the one shape every error of both services takes on the wire.

use std::collections::BTreeMap;

use serde::Serialize;
use spin_sdk::http::Response;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// How long a client should wait before retrying a `503`, in seconds: the one figure both
/// services give, whether their database or the user service could not answer.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Field name to the messages that explain what is wrong with it.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Names the problem type; served as the relative URI `/problems/{slug}`.
    #[serde(rename = "type", serialize_with = "type_uri")]
    pub slug: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
    #[serde(skip)]
    pub headers: Vec<(&'static str, String)>,
}

fn type_uri<S: serde::Serializer>(slug: &&'static str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("/problems/{slug}"))
}

impl Problem {
    pub fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            slug,
            title,
            status,
            detail: detail.into(),
            errors: None,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "bad-request", "Bad request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    pub fn validation(errors: FieldErrors) -> Self {
        let mut problem = Self::new(
            422,
            "validation",
            "Invalid fields",
            "One or more fields are invalid; see `errors`.",
        );
        problem.errors = Some(errors);
        problem
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        Self::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("This resource supports {allow}."),
        )
        .with_header("allow", allow)
    }

    /// A dependency (our own database, another service) cannot answer right now.
    /// The service cannot answer now, through no fault of the client's; `Retry-After` says
    /// when to try again.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, "unavailable", "Service unavailable", detail)
            .with_header("retry-after", RETRY_AFTER_SECONDS)
    }

    /// A fault of ours, not the client's. The detail says nothing about internals.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal",
            "Internal error",
            "The service failed to handle the request.",
        )
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<Problem> for Response {
    fn from(problem: Problem) -> Self {
        let body = serde_json::to_vec(&problem).expect("a problem always serialises");
        let mut builder = Response::builder();
        builder
            .status(problem.status)
            .header("content-type", CONTENT_TYPE);
        for (name, value) in &problem.headers {
            builder.header(*name, value.as_str());
        }
        builder.body(body).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: &Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn a_problem_is_served_as_problem_json_with_its_status() {
        let response = Response::from(Problem::not_found("no user 7"));
        assert_eq!(*response.status(), 404);
        assert_eq!(
            response.header("content-type").and_then(|v| v.as_str()),
            Some(CONTENT_TYPE)
        );
        let body = body_of(&response);
        assert_eq!(body["type"], "/problems/not-found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["detail"], "no user 7");
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn validation_problems_list_messages_per_field() {
        let mut errors = FieldErrors::new();
        errors.insert("email".into(), vec!["must contain @".into()]);
        let body = body_of(&Problem::validation(errors).into());
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"]["email"][0], "must contain @");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let response = Response::from(Problem::method_not_allowed(&["GET", "POST"]));
        assert_eq!(*response.status(), 405);
        assert_eq!(
            response.header("allow").and_then(|v| v.as_str()),
            Some("GET, POST")
        );
    }
}
