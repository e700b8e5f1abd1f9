//! The web page's component over HTTP, on the run's host: every file the page loads is served
//! with its type, `cache-control`, an `ETag` and `304` for a copy the browser has; a
//! `Content-Security-Policy` without `unsafe-inline`, and no inline script or style to need
//! one; no database and no outbound host; and it serves alone, as the services do without it.

use e2e::client::{Client, Reply};
use e2e::host::{AppSpec, RunningApp};
use e2e::workspace;

/// Every file the page loads (the page, what it links, and every module its scripts import),
/// each with the answer to its GET.
fn page_files(client: &Client) -> Vec<(String, Reply)> {
    let mut files: Vec<(String, Reply)> = Vec::new();
    let mut pending = vec!["/".to_owned()];
    while let Some(file) = pending.pop() {
        let reply = client.get(&file);
        for reference in references(&reply.text()) {
            let known = files.iter().any(|(seen, _)| *seen == reference);
            if !known && reference != file && !pending.contains(&reference) {
                pending.push(reference);
            }
        }
        files.push((file, reply));
    }
    files
}

/// The `src="/…"`, `href="/…"` and `from "./…"` of an HTML, CSS or JS file, as absolute paths.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["src=\"/", "href=\"/", "from \"./"] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            found.push(format!("/{name}"));
        }
    }
    found
}

#[test]
fn every_file_of_the_page_comes_with_its_type_caching_and_an_etag_and_304_when_unchanged() {
    let app = RunningApp::start_default();
    let files = page_files(&app.client);
    let paths: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
    for expected in [
        "/style.css",
        "/app.js",
        "/favicon.svg",
        "/api.js",
        "/status.js",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    for (file, reply) in &files {
        assert_eq!(reply.status, 200, "{file}");
        let expected_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            _ => "text/html; charset=utf-8",
        };
        assert_eq!(reply.header("content-type"), Some(expected_type), "{file}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{file}");
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{file}"
        );
        assert!(
            reply.service_version().starts_with("web-component/"),
            "{file}"
        );
        let etag = reply
            .header("etag")
            .unwrap_or_else(|| panic!("{file}: no ETag"));
        let again = app.client.get_with(file, &[("if-none-match", etag)]);
        assert_eq!((again.status, again.body.len()), (304, 0), "{file}");
        assert_eq!(again.header("etag"), Some(etag), "{file}");
        let other = app
            .client
            .get_with(file, &[("if-none-match", "\"not-this-one\"")]);
        assert_eq!(other.status, 200, "{file}");
    }
    let etags: std::collections::BTreeSet<&str> = files
        .iter()
        .map(|(_, reply)| reply.header("etag").unwrap())
        .collect();
    assert_eq!(
        etags.len(),
        files.len(),
        "each file's content has its own ETag"
    );
}

#[test]
fn the_policy_allows_no_inline_script_and_the_page_has_none() {
    let app = RunningApp::start_default();
    let page = app.client.get("/");
    let policy = page.header("content-security-policy").expect("a policy");
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{directive} not in {policy}");
    }
    for (file, reply) in page_files(&app.client) {
        let text = reply.text();
        if file == "/" {
            // Every script has a src; no element has a handler or a style attribute.
            assert_eq!(
                text.matches("<script").count(),
                text.matches("<script type=\"module\" src=").count()
            );
            for attribute in [" onclick=", " onload=", " onerror=", " style="] {
                assert!(!text.contains(attribute), "{attribute} in the page");
            }
        }
        if file.ends_with(".js") {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{file} uses {sink}");
            }
        }
    }
}

#[test]
fn an_unknown_file_is_a_404_and_a_write_a_405_as_problems() {
    let app = RunningApp::start_default();
    let missing = app.client.get("/no-such-file.js");
    assert_eq!(
        missing.problem(404)["detail"],
        "The page has no file /no-such-file.js."
    );
    let write = app
        .client
        .send("POST", "/", Some("application/json"), b"{}");
    write.problem(405);
    assert_eq!(write.header("allow"), Some("GET, HEAD"));
    let head = app.client.send("HEAD", "/app.js", None, b"");
    assert_eq!((head.status, head.body.len()), (200, 0));
}

#[test]
fn the_web_component_is_granted_no_database_and_no_outbound_host() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(workspace().join("spin.toml")).unwrap()).unwrap();
    let web = manifest["component"]["web-component"].as_table().unwrap();
    for grant in [
        "sqlite_databases",
        "allowed_outbound_hosts",
        "key_value_stores",
        "files",
        "variables",
    ] {
        assert!(!web.contains_key(grant), "web-component is granted {grant}");
    }
}

#[test]
fn the_page_serves_alone_and_the_services_serve_without_it() {
    let page = RunningApp::start(AppSpec {
        component_ids: vec!["web-component".to_owned()],
        ..AppSpec::default()
    });
    assert_eq!(page.client.get("/").status, 200);
    assert_eq!(page.client.get("/users/health").status, 404);
    let services = RunningApp::start(AppSpec {
        component_ids: vec!["user-component".to_owned(), "board-component".to_owned()],
        ..AppSpec::default()
    });
    assert_eq!(services.client.get("/users/health").status, 200);
    assert_eq!(services.client.get("/boards/health").status, 200);
    let nothing = services.client.get("/");
    assert_eq!((nothing.status, nothing.body.len()), (404, 0));
}

/// Spin routes a path to its most specific route: `/...` (the page) takes only what neither
/// service's routes match, including paths that merely start with a service's name.
#[test]
fn the_services_keep_their_routes_beside_the_pages_catch_all() {
    let app = RunningApp::start_default();
    for (path, component) in [
        ("/users", "user-component/"),
        ("/users/health", "user-component/"),
        ("/boards", "board-component/"),
        ("/boards/health", "board-component/"),
        ("/", "web-component/"),
        ("/usersx", "web-component/"),
        ("/boardsx/1", "web-component/"),
        ("/style.css", "web-component/"),
    ] {
        let reply = app.client.get(path);
        assert!(
            reply.service_version().starts_with(component),
            "{path} answered by {:?}",
            reply.service_version()
        );
    }
}
