//! Query-string parameters, percent-decoded (clients encode `,` as `%2C`).

use spin_sdk::http::Request;

use crate::problem::Problem;
use crate::rules::Invalid;

/// The first value of `name` in the request's query string, if present.
pub fn param(request: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(request.query().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// An optional parameter read with `parse`; a present but invalid one is the client's mistake
/// (`400` naming the parameter).
pub fn parsed<T>(
    request: &Request,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, Problem> {
    param(request, name)
        .map(|raw| {
            parse(&raw).map_err(|invalid| Problem::bad_request(format!("`{name}` {invalid}.")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_percent_decoded_and_the_first_one_wins() {
        let request = Request::get("/users?ids=1%2C2&ids=3&x=").build();
        assert_eq!(param(&request, "ids").as_deref(), Some("1,2"));
        assert_eq!(param(&request, "x").as_deref(), Some(""));
        assert_eq!(param(&request, "missing"), None);
    }

    #[test]
    fn a_parsed_parameter_is_absent_valid_or_a_400_naming_it() {
        let number = |raw: &str| {
            raw.parse::<u8>()
                .map_err(|_| Invalid::new("must be a number"))
        };
        let request = Request::get("/x?n=7&bad=x").build();
        assert_eq!(parsed(&request, "n", number).ok(), Some(Some(7)));
        assert_eq!(parsed(&request, "missing", number).ok(), Some(None));
        let problem = parsed(&request, "bad", number).err().unwrap();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.detail, "`bad` must be a number.");
    }
}
