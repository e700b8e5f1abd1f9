//! The files of `static/`, embedded at build time, answered by path with their content type,
//! caching and ETag (their SHA-256), and `304 Not Modified` for a copy the browser already has.

use rust_embed::RustEmbed;
use service_kit::Problem;
use spin_sdk::http::{Method, Response};

use crate::policy;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

/// The answer to `method path`, given the request's `If-None-Match`.
pub fn answer(method: &Method, path: &str, if_none_match: Option<&str>) -> Response {
    if !matches!(method, Method::Get | Method::Head) {
        return Problem::method_not_allowed(&["GET", "HEAD"]).into();
    }
    let Some((name, file)) = find(path) else {
        return Problem::not_found(format!("The page has no file {path}.")).into();
    };
    let etag = etag(&file.metadata.sha256_hash());
    let mut response = if matches(if_none_match, &etag) {
        Response::builder().status(304).build()
    } else {
        let body = match method {
            Method::Head => Vec::new(),
            _ => file.data.into_owned(),
        };
        Response::builder()
            .status(200)
            .header("content-type", content_type(name))
            .body(body)
            .build()
    };
    response.set_header("etag", etag);
    response.set_header("cache-control", policy::CACHE_CONTROL);
    for (header, value) in policy::HEADERS {
        response.set_header(header, value);
    }
    response
}

/// The file a path names: `/` is the page itself.
fn find(path: &str) -> Option<(&str, rust_embed::EmbeddedFile)> {
    let name = match path.strip_prefix('/')? {
        "" => "index.html",
        name => name,
    };
    Some((name, Static::get(name)?))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// A strong ETag: the first 16 bytes of the file's SHA-256, in hex.
fn etag(sha256: &[u8; 32]) -> String {
    let hex: String = sha256[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` (`*`, or a list of tags, weak or strong) names `etag` (RFC 9110
/// 13.1.2: weak comparison).
fn matches(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(header) = if_none_match else {
        return false;
    };
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.header(name).and_then(|value| value.as_str())
    }

    #[test]
    fn the_root_is_the_page_and_each_file_has_its_type() {
        let page = answer(&Method::Get, "/", None);
        assert_eq!(*page.status(), 200);
        assert_eq!(
            header(&page, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(String::from_utf8_lossy(page.body()).contains("<main"));
        let script = answer(&Method::Get, "/app.js", None);
        assert_eq!(
            header(&script, "content-type"),
            Some("text/javascript; charset=utf-8")
        );
    }

    #[test]
    fn a_copy_the_browser_has_is_not_sent_again() {
        let first = answer(&Method::Get, "/style.css", None);
        let etag = header(&first, "etag").unwrap().to_owned();
        assert_eq!(header(&first, "cache-control"), Some("no-cache"));
        for if_none_match in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let again = answer(&Method::Get, "/style.css", Some(&if_none_match));
            assert_eq!(*again.status(), 304, "{if_none_match}");
            assert!(again.body().is_empty());
            assert_eq!(header(&again, "etag"), Some(etag.as_str()));
        }
        let changed = answer(&Method::Get, "/style.css", Some("\"0123\""));
        assert_eq!(*changed.status(), 200);
    }

    #[test]
    fn head_has_the_headers_and_no_body() {
        let head = answer(&Method::Head, "/app.js", None);
        assert_eq!(*head.status(), 200);
        assert!(head.body().is_empty());
        assert!(header(&head, "etag").is_some());
    }

    #[test]
    fn an_unknown_file_is_404_and_a_write_is_405() {
        for path in [
            "/nowhere",
            "/static/app.js",
            "/../Cargo.toml",
            "/index.html/",
        ] {
            assert_eq!(*answer(&Method::Get, path, None).status(), 404, "{path}");
        }
        let post = answer(&Method::Post, "/", None);
        assert_eq!(*post.status(), 405);
        assert_eq!(header(&post, "allow"), Some("GET, HEAD"));
    }

    #[test]
    fn every_answer_carries_the_policy() {
        for response in [
            answer(&Method::Get, "/", None),
            answer(&Method::Get, "/app.js", Some("*")),
        ] {
            assert_eq!(
                header(&response, "content-security-policy"),
                Some(policy::CONTENT_SECURITY_POLICY)
            );
            assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        }
    }
}
