//! Reading a JSON object out of a request body, with the checks every write endpoint shares:
//! size (`413`), media type (`415`), syntax (`400`), then field by field (`422`).

use std::fmt::Display;

use serde_json::{Map, Value};
use spin_sdk::http::Request;

use crate::problem::{FieldErrors, Problem};

/// Bodies above this are refused before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body as a JSON object, or the problem that explains why it is not one.
pub fn json_object(request: &Request) -> Result<Map<String, Value>, Problem> {
    let body = request.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            "body-too-large",
            "Body too large",
            format!("Request bodies are limited to {MAX_BODY_BYTES} bytes."),
        ));
    }
    let content_type = request.header("content-type").and_then(|v| v.as_str());
    if !content_type.is_some_and(is_json) {
        return Err(Problem::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "Send the body as `Content-Type: application/json`.",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Problem::bad_request("The body must be a JSON object.")),
        Err(error) => Err(Problem::bad_request(format!(
            "The body is not valid JSON: {error}."
        ))),
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Takes fields out of a JSON object one by one, collecting every error so that a client
/// learns about all of its mistakes in one round trip.
pub struct Fields {
    object: Map<String, Value>,
    errors: FieldErrors,
}

impl Fields {
    /// `known` are the fields this endpoint accepts; any other field is an error, so a
    /// misspelt optional field is not silently ignored.
    pub fn new(object: Map<String, Value>, known: &[&str]) -> Self {
        let mut errors = FieldErrors::new();
        for name in object.keys().filter(|name| !known.contains(&name.as_str())) {
            errors.insert(name.clone(), vec!["is not a known field".to_owned()]);
        }
        Self { object, errors }
    }

    /// A required string field, handed to `parse`.
    pub fn string<T, E: Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match self.object.get(name) {
            Some(Value::String(text)) => {
                let parsed = parse(text);
                self.record(name, parsed)
            }
            Some(_) => self.reject(name, "must be a string"),
            None => self.reject(name, "is required"),
        }
    }

    /// An optional string field, handed to `parse` when it is there; `null` is the same as
    /// leaving it out. An invalid value is recorded like any other: check [`Fields::finish`].
    pub fn optional_string<T, E: Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(_) => self.string(name, parse),
        }
    }

    /// A required integer field, handed to `parse`.
    pub fn integer<T, E: Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(i64) -> Result<T, E>,
    ) -> Option<T> {
        match self.object.get(name) {
            Some(Value::Number(number)) => match number.as_i64() {
                Some(value) => {
                    let parsed = parse(value);
                    self.record(name, parsed)
                }
                None => self.reject(name, "must be an integer in the signed 64-bit range"),
            },
            Some(_) => self.reject(name, "must be an integer"),
            None => self.reject(name, "is required"),
        }
    }

    /// `Ok` when every field was present and valid and no unknown field was sent.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_problem())
        }
    }

    /// The collected errors as a `422`.
    pub fn into_problem(self) -> Problem {
        Problem::validation(self.errors)
    }

    fn record<T, E: Display>(&mut self, name: &str, parsed: Result<T, E>) -> Option<T> {
        parsed
            .map_err(|error| self.add(name, error.to_string()))
            .ok()
    }

    fn reject<T>(&mut self, name: &str, message: &str) -> Option<T> {
        self.add(name, message.to_owned());
        None
    }

    fn add(&mut self, name: &str, message: String) {
        self.errors
            .entry(name.to_owned())
            .or_default()
            .push(message);
    }
}

#[cfg(test)]
mod tests {
    use spin_sdk::http::Method;

    use super::*;

    fn request(content_type: Option<&str>, body: &[u8]) -> Request {
        let mut builder = Request::builder();
        builder.method(Method::Post).uri("/x").body(body.to_vec());
        if let Some(content_type) = content_type {
            builder.header("content-type", content_type);
        }
        builder.build()
    }

    fn status_of(result: Result<Map<String, Value>, Problem>) -> u16 {
        result.map(|_| 200).unwrap_or_else(|problem| problem.status)
    }

    #[test]
    fn a_json_object_is_accepted_with_or_without_a_charset() {
        assert_eq!(
            status_of(json_object(&request(Some("application/json"), b"{}"))),
            200
        );
        let with_charset = request(Some("Application/JSON; charset=utf-8"), b"{\"a\":1}");
        assert_eq!(status_of(json_object(&with_charset)), 200);
    }

    #[test]
    fn a_body_over_the_limit_is_too_large() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            status_of(json_object(&request(Some("application/json"), &body))),
            413
        );
    }

    #[test]
    fn a_body_at_the_limit_is_read() {
        let mut body = vec![b' '; MAX_BODY_BYTES - 2];
        body.extend_from_slice(b"{}");
        assert_eq!(
            status_of(json_object(&request(Some("application/json"), &body))),
            200
        );
    }

    #[test]
    fn a_missing_or_other_media_type_is_unsupported() {
        assert_eq!(status_of(json_object(&request(None, b"{}"))), 415);
        assert_eq!(
            status_of(json_object(&request(Some("text/plain"), b"{}"))),
            415
        );
        assert_eq!(
            status_of(json_object(&request(Some("application/jsonx"), b"{}"))),
            415
        );
    }

    #[test]
    fn malformed_json_and_non_objects_are_bad_requests() {
        for body in [
            &b"{"[..],
            b"",
            b"[1]",
            b"\"text\"",
            b"null",
            b"{\"a\":\xff}",
        ] {
            assert_eq!(
                status_of(json_object(&request(Some("application/json"), body))),
                400,
                "{body:?}"
            );
        }
    }

    fn fields(json: &str, known: &[&str]) -> Fields {
        let Value::Object(object) = serde_json::from_str(json).unwrap() else {
            panic!("test bodies are objects")
        };
        Fields::new(object, known)
    }

    fn non_empty(text: &str) -> Result<String, &'static str> {
        if text.is_empty() {
            Err("must not be empty")
        } else {
            Ok(text.to_owned())
        }
    }

    #[test]
    fn every_field_error_is_reported_at_once() {
        let mut f = fields(r#"{"a": 5, "b": "", "extra": true}"#, &["a", "b", "c"]);
        assert_eq!(f.string("a", non_empty), None);
        assert_eq!(f.string("b", non_empty), None);
        assert_eq!(f.integer("c", Ok::<i64, &str>), None);
        let problem = f.finish().unwrap_err();
        let errors = problem.errors.unwrap();
        assert_eq!(errors["a"], ["must be a string"]);
        assert_eq!(errors["b"], ["must not be empty"]);
        assert_eq!(errors["c"], ["is required"]);
        assert_eq!(errors["extra"], ["is not a known field"]);
    }

    #[test]
    fn integers_outside_i64_and_fractions_are_rejected() {
        let mut f = fields(
            r#"{"a": 1e3, "b": 99999999999999999999, "c": 7}"#,
            &["a", "b", "c"],
        );
        assert_eq!(f.integer("a", Ok::<i64, &str>), None);
        assert_eq!(f.integer("b", Ok::<i64, &str>), None);
        assert_eq!(f.integer("c", Ok::<i64, &str>), Some(7));
        assert_eq!(f.finish().unwrap_err().errors.unwrap().len(), 2);
    }

    #[test]
    fn an_optional_field_left_out_or_null_is_none_and_a_bad_one_is_still_an_error() {
        let mut f = fields(r#"{"b": null, "c": "", "d": "x"}"#, &["a", "b", "c", "d"]);
        assert_eq!(f.optional_string("a", non_empty), None);
        assert_eq!(f.optional_string("b", non_empty), None);
        assert_eq!(f.optional_string("c", non_empty), None);
        assert_eq!(f.optional_string("d", non_empty), Some("x".to_owned()));
        let errors = f.finish().unwrap_err().errors.unwrap();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn valid_fields_finish_cleanly() {
        let mut f = fields(r#"{"a": "x"}"#, &["a"]);
        assert_eq!(f.string("a", non_empty), Some("x".to_owned()));
        assert!(f.finish().is_ok());
    }
}
