//! Query-string parameters, percent-decoded (clients encode `,` as `%2C`).

use spin_sdk::http::Request;

/// The first value of `name` in the request's query string, if present.
pub fn param(request: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(request.query().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
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
}
