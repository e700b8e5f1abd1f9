//! HTTP routing as Spin does it (crates/routes): `routefinder` patterns, where an exact route
//! beats a wildcard and a longer prefix beats a shorter one; `/x/...` is a trailing wildcard
//! that also matches `/x`; `:name` captures a segment; private routes are not routed at all.
//! Also the `spin-*` request headers that tell a component how it was reached.

use anyhow::{anyhow, Result};

/// One `[[trigger.http]]` entry that is reachable from outside.
#[derive(Debug, Clone)]
struct RouteHandler {
    component: String,
    /// The route as written in the manifest, e.g. `/users/...`.
    raw_route: String,
}

pub struct Router {
    inner: routefinder::Router<RouteHandler>,
}

/// The outcome of routing one path: which component, and what Spin tells it about the match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    /// `spin-matched-route`: the route normalised against the base, which is always `/` here.
    pub matched_route: String,
    /// `spin-raw-component-route`: the route as written in the manifest.
    pub raw_route: String,
    /// The part of the path after a trailing wildcard's prefix: `spin-path-info`.
    pub path_info: String,
    /// `:name` captures, sent as `spin-path-match-<name>`.
    pub captures: Vec<(String, String)>,
}

impl Router {
    /// `routes` are `(component, route)` pairs in manifest order; `None` is a private route.
    /// A later duplicate of the same route replaces an earlier one, as in Spin.
    pub fn build<'a>(routes: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Result<Self> {
        let mut unique: Vec<RouteHandler> = Vec::new();
        for (component, route) in routes {
            let Some(route) = route else { continue };
            let handler = RouteHandler {
                component: component.to_owned(),
                raw_route: route.to_owned(),
            };
            match unique.iter_mut().find(|h| h.raw_route == route) {
                Some(existing) => {
                    tracing::warn!(route, replaced = %existing.component, by = component, "duplicate route");
                    *existing = handler;
                }
                None => unique.push(handler),
            }
        }
        let mut inner = routefinder::Router::new();
        for handler in unique {
            let pattern = pattern_of(&handler.raw_route);
            inner.add(pattern.as_str(), handler.clone()).map_err(|e| {
                anyhow!(
                    "route {} of component {}: {e}",
                    handler.raw_route,
                    handler.component
                )
            })?;
        }
        Ok(Self { inner })
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let found = self.inner.best_match(path)?;
        let handler = found.handler();
        let captures = found.captures();
        let path_info = match captures.wildcard() {
            None => String::new(),
            // Spin keeps a trailing slash in the path info; routefinder does not report it.
            Some(rest) => match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            },
        };
        Some(RouteMatch {
            component: handler.component.clone(),
            matched_route: sanitize(&handler.raw_route),
            raw_route: handler.raw_route.clone(),
            path_info,
            captures: captures
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        })
    }

    /// Every routed pattern and its component, for the start-up banner.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.inner
            .iter()
            .map(|(_, handler)| (handler.raw_route.clone(), handler.component.clone()))
            .collect()
    }
}

impl RouteMatch {
    /// A service-chaining request to `component`: Spin routes it as if to `/...`, so the whole
    /// path is the path info.
    pub fn chained(component: &str, path: &str) -> Self {
        Self {
            component: component.to_owned(),
            matched_route: "/...".to_owned(),
            raw_route: "/...".to_owned(),
            path_info: path.to_owned(),
            captures: Vec::new(),
        }
    }

    /// The raw route without its trailing wildcard: `spin-component-route`.
    pub fn component_route(&self) -> &str {
        self.raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
    }

    /// The headers Spin adds to every request it hands a component.
    pub fn spin_headers(&self, full_url: &str, client_addr: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("spin-path-info".to_owned(), self.path_info.clone()),
            ("spin-full-url".to_owned(), full_url.to_owned()),
            ("spin-matched-route".to_owned(), self.matched_route.clone()),
            ("spin-base-path".to_owned(), "/".to_owned()),
            (
                "spin-raw-component-route".to_owned(),
                self.raw_route.clone(),
            ),
            (
                "spin-component-route".to_owned(),
                self.component_route().to_owned(),
            ),
            ("spin-client-addr".to_owned(), client_addr.to_owned()),
        ];
        for (name, value) in &self.captures {
            headers.push((
                format!("spin-path-match-{}", name.to_ascii_lowercase()),
                value.clone(),
            ));
        }
        headers
    }
}

/// A leading slash and no trailing one, as Spin normalises routes against its base `/`.
fn sanitize(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    match absolute.strip_suffix('/') {
        Some(stripped) => stripped.to_owned(),
        None => absolute,
    }
}

/// The `routefinder` pattern for a manifest route: `/x/...` becomes `/x/*`.
fn pattern_of(route: &str) -> String {
    let route = sanitize(route);
    match route.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/*"),
        None => route,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_router() -> Router {
        Router::build([
            ("user-component", Some("/users")),
            ("user-component", Some("/users/...")),
            ("board-component", Some("/boards")),
            ("board-component", Some("/boards/...")),
        ])
        .unwrap()
    }

    #[test]
    fn each_service_gets_its_own_paths() {
        let router = app_router();
        assert_eq!(router.route("/users").unwrap().component, "user-component");
        assert_eq!(
            router.route("/users/7").unwrap().component,
            "user-component"
        );
        assert_eq!(
            router.route("/boards/7").unwrap().component,
            "board-component"
        );
        assert!(router.route("/").is_none());
        assert!(router.route("/usersx").is_none());
    }

    #[test]
    fn the_exact_route_beats_the_wildcard_for_its_own_path() {
        let matched = app_router().route("/users").unwrap();
        assert_eq!(matched.matched_route, "/users");
        assert_eq!(matched.path_info, "");
        assert_eq!(matched.component_route(), "/users");
    }

    #[test]
    fn a_wildcard_gives_the_rest_of_the_path_as_path_info() {
        let matched = app_router().route("/users/7/x/").unwrap();
        assert_eq!(matched.matched_route, "/users/...");
        assert_eq!(matched.path_info, "/7/x/");
        assert_eq!(matched.component_route(), "/users");
    }

    #[test]
    fn a_trailing_slash_is_kept_in_the_path_info() {
        let router = Router::build([("a", Some("/a/..."))]).unwrap();
        assert_eq!(router.route("/a/").unwrap().path_info, "/");
        // With an exact route beside it, `/users/` is the exact route, as in routefinder.
        assert_eq!(
            app_router().route("/users/").unwrap().matched_route,
            "/users"
        );
    }

    #[test]
    fn a_wildcard_alone_also_matches_its_prefix() {
        let router = Router::build([("a", Some("/a/..."))]).unwrap();
        let matched = router.route("/a").unwrap();
        assert_eq!(matched.path_info, "");
    }

    #[test]
    fn the_longest_prefix_wins() {
        let router =
            Router::build([("outer", Some("/a/...")), ("inner", Some("/a/b/..."))]).unwrap();
        assert_eq!(router.route("/a/b/c").unwrap().component, "inner");
        assert_eq!(router.route("/a/c").unwrap().component, "outer");
    }

    #[test]
    fn named_segments_become_path_match_headers() {
        let router = Router::build([("a", Some("/users/:id"))]).unwrap();
        let matched = router.route("/users/42").unwrap();
        let headers = matched.spin_headers("http://h/users/42", "127.0.0.1:1");
        assert!(headers.contains(&("spin-path-match-id".to_owned(), "42".to_owned())));
    }

    #[test]
    fn private_routes_are_not_reachable() {
        let router = Router::build([("a", None), ("b", Some("/b"))]).unwrap();
        assert!(router.route("/a").is_none());
        assert_eq!(router.describe().len(), 1);
    }

    #[test]
    fn a_later_duplicate_route_replaces_the_earlier() {
        let router = Router::build([("a", Some("/x")), ("b", Some("/x"))]).unwrap();
        assert_eq!(router.route("/x").unwrap().component, "b");
    }

    #[test]
    fn spin_headers_describe_the_match() {
        let matched = app_router().route("/boards/3").unwrap();
        let headers = matched.spin_headers("http://localhost:3000/boards/3?x=1", "127.0.0.1:5");
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("spin-full-url"),
            Some("http://localhost:3000/boards/3?x=1")
        );
        assert_eq!(get("spin-path-info"), Some("/3"));
        assert_eq!(get("spin-matched-route"), Some("/boards/..."));
        assert_eq!(get("spin-component-route"), Some("/boards"));
        assert_eq!(get("spin-raw-component-route"), Some("/boards/..."));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:5"));
    }
}
