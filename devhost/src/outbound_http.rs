//! Outbound HTTP for components (`wasi:http/outgoing-handler`): `allowed_outbound_hosts`
//! enforced as Spin does (crates/factor-outbound-networking), service chaining, where
//! `http://<component-id>.spin.internal/...` is served in process by that component
//! (crates/trigger-http/src/outbound_http.rs), and self requests, where a URL with no host, or
//! the host `self.alt`, goes to the address the app itself is served on
//! (crates/factor-outbound-http/src/wasi.rs, `is_self_request`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use anyhow::{bail, Context, Result};
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig,
};
use wasmtime_wasi_http::p2::{default_send_request_handler, HttpResult, WasiHttpHooks};

use crate::outbound_pool::Connections;
use crate::telemetry;
use crate::variables::AppVariables;

/// The host suffix that marks a service-chaining request.
pub const CHAINING_SUFFIX: &str = ".spin.internal";

/// One entry of `allowed_outbound_hosts`, after its templates are expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    /// `None` is `*`.
    scheme: Option<String>,
    host: HostPattern,
    /// `None` is `*`.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `self` or `self.alt`: the app itself, by a request with no host (or `self.alt`).
    ToSelf,
    /// `*.example.org`: any subdomain.
    Subdomains(String),
    Exact(String),
}

/// The hosts one component may call.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    rules: Vec<HostRule>,
    /// Why a templated entry does not parse with the variables' values. Spin checks such an
    /// entry only when a request is made, logs why it is malformed, and denies every request
    /// of the component (factor-outbound-networking, `prepare`); so does devhost.
    invalid: Option<String>,
}

impl AllowedHosts {
    /// As Spin loads them: a malformed entry stops the app, and so does a templated one that is
    /// malformed with the variables' defaults. One malformed only with the values the app runs
    /// with denies the component every request instead.
    pub fn parse(
        entries: &[String],
        variables: &AppVariables,
        defaults: &AppVariables,
    ) -> Result<Self> {
        let mut hosts = Self::default();
        for entry in entries {
            let context = || format!("allowed_outbound_hosts entry `{entry}`");
            if !entry.contains("{{") {
                hosts.rules.push(parse_rule(entry).with_context(context)?);
                continue;
            }
            if let Ok(with_defaults) = defaults.expand(entry) {
                parse_rule(&with_defaults).with_context(|| {
                    format!(
                        "{}, with the variables' defaults `{with_defaults}`",
                        context()
                    )
                })?;
            }
            let expanded = variables.expand(entry)?;
            match parse_rule(&expanded) {
                Ok(rule) => hosts.rules.push(rule),
                Err(error) => {
                    hosts.invalid = Some(format!("{} is `{expanded}`: {error:#}", context()));
                }
            }
        }
        Ok(hosts)
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else { return false };
        let scheme = uri.scheme_str().unwrap_or("http");
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.invalid.is_none()
            && self.rules.iter().any(|rule| {
                rule.scheme.as_deref().is_none_or(|s| s == scheme)
                    && rule.port.is_none_or(|p| p == port)
                    && match &rule.host {
                        HostPattern::Any => true,
                        HostPattern::Subdomains(domain) => host
                            .strip_suffix(domain.as_str())
                            .is_some_and(|sub| !sub.is_empty()),
                        HostPattern::Exact(exact) => host.eq_ignore_ascii_case(exact),
                        // A self request is checked by `allows_self`, never by its host.
                        HostPattern::ToSelf => false,
                    }
            })
    }

    /// Whether self requests are allowed: an entry for `self` (or `*`) over HTTP or HTTPS,
    /// whatever its port, as Spin's `check_relative_url(["http", "https"])`.
    pub fn allows_self(&self) -> bool {
        self.invalid.is_none()
            && self.rules.iter().any(|rule| {
                rule.scheme
                    .as_deref()
                    .is_none_or(|scheme| matches!(scheme, "http" | "https"))
                    && matches!(rule.host, HostPattern::Any | HostPattern::ToSelf)
            })
    }
}

/// Whether `uri` is a self request in Spin's terms: no host, or the host `self.alt` (for
/// clients that insist on one).
fn is_self_request(uri: &http::Uri) -> bool {
    uri.authority()
        .is_none_or(|authority| matches!(authority.host(), "" | "self.alt"))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `scheme://host[:port]`, where scheme, host and port may be `*` and host may be `*.domain`.
fn parse_rule(entry: &str) -> Result<HostRule> {
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!("expected scheme://host[:port]");
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        bail!("must not have a path");
    }
    let (host, port) = match rest.rsplit_once(':') {
        // `[::1]` has colons of its own; only a suffix after the bracket is a port.
        Some((host, port)) if !port.ends_with(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
    let port = match port {
        Some("*") => None,
        Some(port) => Some(port.parse().with_context(|| format!("bad port `{port}`"))?),
        None => match &scheme {
            Some(scheme) => Some(
                default_port(scheme)
                    .with_context(|| format!("`{scheme}` needs an explicit port"))?,
            ),
            None => None,
        },
    };
    let host = match host {
        "" => bail!("has no host"),
        "*" => HostPattern::Any,
        "self" | "self.alt" => HostPattern::ToSelf,
        host => match host.strip_prefix("*.") {
            Some(domain) => HostPattern::Subdomains(format!(".{}", domain.to_ascii_lowercase())),
            None => HostPattern::Exact(host.to_ascii_lowercase()),
        },
    };
    Ok(HostRule { scheme, host, port })
}

/// The component a chaining host names: `user-component.spin.internal` names `user-component`.
pub fn chaining_target(host: &str) -> Option<&str> {
    host.strip_suffix(CHAINING_SUFFIX)
        .filter(|id| !id.is_empty() && !id.contains('.'))
}

/// Spin's start-up rule when only some components run (`--component-id`): a selected
/// component may not list a chaining host for an unselected one, nor `*.spin.internal`. One
/// problem per offending entry. Templated entries are not checked, as in Spin; that is why
/// board finds user through the `user_service_url` variable.
pub fn unselected_chaining(
    component: &str,
    raw_entries: &[String],
    selected: &[&str],
) -> Vec<String> {
    raw_entries
        .iter()
        .filter(|entry| !entry.contains("{{"))
        .filter_map(|entry| {
            let host = entry
                .split_once("://")
                .map_or(entry.as_str(), |(_, rest)| rest);
            let host = host.split([':', '/']).next().unwrap_or_default();
            if host == "*.spin.internal" {
                return Some(format!("Selected component '{component}' cannot use wildcard service chaining: allowed_outbound_hosts = [\"{entry}\"]"));
            }
            let target = chaining_target(host)?;
            (!selected.contains(&target)).then(|| format!("Selected component '{component}' cannot use service chaining to unselected component: allowed_outbound_hosts = [\"{entry}\"]"))
        })
        .collect()
}

/// What serves a chained request: the app, seen from here only through this trait (as Spin's
/// outbound HTTP reaches its trigger through an interceptor).
pub trait ChainTarget: Send + Sync {
    /// Serves `request` with component `component_id`, in process.
    fn serve_chained(
        self: Arc<Self>,
        component_id: String,
        request: hyper::Request<HyperOutgoingBody>,
    ) -> Pin<Box<dyn Future<Output = Result<ChainedResponse, ErrorCode>> + Send>>;
}

pub type ChainedResponse = hyper::Response<HyperOutgoingBody>;

/// The `wasi:http` hooks of one request's store: the policy of the calling component, a way
/// back into the app for chained calls, and the trace the calls belong to.
pub struct Outbound {
    allowed: Arc<AllowedHosts>,
    /// Where the app is served: the origin of a self request, as Spin's listen address.
    self_origin: SocketAddr,
    /// The app's kept-alive connections for plain HTTP.
    connections: Arc<Connections>,
    /// Weak: a store must not keep the app alive.
    chain: Weak<dyn ChainTarget>,
    /// The span of the calling component's execution: each call is a child of it.
    trace: opentelemetry::Context,
}

impl Outbound {
    pub fn new(
        allowed: Arc<AllowedHosts>,
        self_origin: SocketAddr,
        connections: Arc<Connections>,
        chain: Weak<dyn ChainTarget>,
        trace: opentelemetry::Context,
    ) -> Self {
        Self {
            allowed,
            self_origin,
            connections,
            chain,
            trace,
        }
    }
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        mut request: hyper::Request<HyperOutgoingBody>,
        mut config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let allowed = if is_self_request(request.uri()) {
            // As in Spin: sent over the network to the app's own listener, so it is routed
            // and served like any request from outside.
            let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let Ok(uri) = format!("http://{}{path}", self.self_origin).parse() else {
                return Ok(HostFutureIncomingResponse::ready(Ok(Err(
                    ErrorCode::HttpRequestUriInvalid,
                ))));
            };
            *request.uri_mut() = uri;
            request.headers_mut().remove(hyper::header::HOST);
            config.use_tls = false;
            self.allowed.allows_self()
        } else {
            self.allowed.allows(request.uri())
        };
        if let Some(reason) = &self.allowed.invalid {
            tracing::error!(uri = %request.uri(), "outbound request denied: {reason}");
        }
        if !allowed {
            tracing::warn!(uri = %request.uri(), "outbound request denied by allowed_outbound_hosts");
            return Ok(HostFutureIncomingResponse::ready(Ok(Err(
                ErrorCode::HttpRequestDenied,
            ))));
        }
        let call = telemetry::start(&self.trace, SpanKind::Client, || {
            let method = request.method().to_string();
            let attributes = vec![
                KeyValue::new("http.request.method", method.clone()),
                KeyValue::new("url.full", request.uri().to_string()),
            ];
            (method, attributes)
        });
        telemetry::propagate(&call, request.headers_mut());
        let chained_to = request
            .uri()
            .host()
            .and_then(chaining_target)
            .map(str::to_owned)
            .zip(self.chain.upgrade());
        let connections = self.connections.clone();
        let handle = wasmtime_wasi::runtime::spawn(async move {
            let response = match chained_to {
                Some((target, chain)) => {
                    let between_bytes_timeout = config.between_bytes_timeout;
                    chain
                        .serve_chained(target, request)
                        .await
                        .map(|resp| IncomingResponse {
                            resp,
                            worker: None,
                            between_bytes_timeout,
                        })
                }
                None if !config.use_tls => connections.send(request, config).await,
                None => default_send_request_handler(request, config).await,
            };
            let outcome = match &response {
                Ok(incoming) => Ok(incoming.resp.status().as_u16()),
                Err(code) => Err(format!("{code:?}")),
            };
            telemetry::finish(&call, outcome);
            Ok(response)
        });
        Ok(HostFutureIncomingResponse::pending(handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        AllowedHosts::parse(&entries, &AppVariables::default(), &AppVariables::default()).unwrap()
    }

    fn allows(hosts: &AllowedHosts, uri: &str) -> bool {
        hosts.allows(&uri.parse().unwrap())
    }

    /// The manifest's `user_service_url`, declared with `default`.
    fn declared(default: &str) -> std::collections::BTreeMap<String, crate::manifest::Variable> {
        std::collections::BTreeMap::from([(
            "user_service_url".to_owned(),
            crate::manifest::Variable {
                default: Some(default.into()),
                required: false,
                secret: false,
            },
        )])
    }

    #[test]
    fn only_listed_hosts_are_allowed() {
        let allowed = hosts(&["http://user-component.spin.internal"]);
        assert!(allows(
            &allowed,
            "http://user-component.spin.internal/users/1"
        ));
        assert!(!allows(
            &allowed,
            "http://board-component.spin.internal/boards"
        ));
        assert!(!allows(
            &allowed,
            "https://user-component.spin.internal/users/1"
        ));
        assert!(!allows(&allowed, "http://example.org/"));
        assert!(!allows(&AllowedHosts::default(), "http://example.org/"));
    }

    #[test]
    fn ports_default_by_scheme_and_must_match() {
        let allowed = hosts(&["http://127.0.0.1:3001"]);
        assert!(allows(&allowed, "http://127.0.0.1:3001/users"));
        assert!(!allows(&allowed, "http://127.0.0.1:3002/users"));
        assert!(!allows(&allowed, "http://127.0.0.1/users"));
        assert!(allows(&hosts(&["https://x.org"]), "https://x.org:443/"));
    }

    #[test]
    fn wildcards_cover_schemes_hosts_ports_and_subdomains() {
        let allowed = hosts(&["*://*.example.org:*"]);
        assert!(allows(&allowed, "https://api.example.org:8443/"));
        assert!(!allows(&allowed, "https://example.org/"));
        assert!(allows(&hosts(&["http://*:*"]), "http://anything:1/"));
    }

    #[test]
    fn templates_are_expanded_from_application_variables() {
        let variables =
            AppVariables::resolve(&declared("http://127.0.0.1:3001"), |_| None).unwrap();
        let entries = ["{{ user_service_url }}".to_owned()];
        let allowed = AllowedHosts::parse(&entries, &variables, &variables).unwrap();
        assert!(allows(&allowed, "http://127.0.0.1:3001/users?ids=1"));
    }

    #[test]
    fn a_templated_entry_is_checked_with_its_default_at_start_and_its_value_at_each_call() {
        let chaining = declared("http://user-component.spin.internal");
        let defaults = AppVariables::defaults(&chaining);
        let set_to = |value: &str| {
            let value = value.to_owned();
            AppVariables::resolve(&chaining, move |_| Some(value.clone())).unwrap()
        };
        let entries = [
            "{{ user_service_url }}".to_owned(),
            "http://x.org".to_owned(),
        ];
        let allowed = AllowedHosts::parse(&entries, &set_to("self"), &defaults).unwrap();
        assert!(
            !allows(&allowed, "http://x.org/"),
            "a malformed value denies all"
        );
        assert!(!allowed.allows_self());
        let malformed_default = AppVariables::defaults(&declared("self"));
        let good = set_to("http://self.alt");
        assert!(AllowedHosts::parse(&entries, &good, &malformed_default).is_err());
    }

    #[test]
    fn malformed_entries_are_refused() {
        for entry in [
            "example.org",
            "http://",
            "http://x.org/path",
            "http://x:port",
            "ftp://x",
        ] {
            let entries = vec![entry.to_owned()];
            let none = AppVariables::default();
            assert!(
                AllowedHosts::parse(&entries, &none, &none).is_err(),
                "{entry}"
            );
        }
    }

    #[test]
    fn self_requests_need_an_entry_for_self_and_match_no_host_of_their_own() {
        for entry in ["http://self", "https://self.alt", "*://*:*"] {
            assert!(hosts(&[entry]).allows_self(), "{entry}");
        }
        let chaining = hosts(&["http://user-component.spin.internal"]);
        assert!(!chaining.allows_self());
        assert!(!allows(&hosts(&["http://self"]), "http://self/users"));
        for uri in ["/users/keys", "http://self.alt/users/keys"] {
            assert!(is_self_request(&uri.parse().unwrap()), "{uri}");
        }
        assert!(!is_self_request(&"http://self/users/keys".parse().unwrap()));
    }

    #[test]
    fn chaining_hosts_name_a_component() {
        assert_eq!(
            chaining_target("user-component.spin.internal"),
            Some("user-component")
        );
        assert_eq!(chaining_target("a.b.spin.internal"), None);
        assert_eq!(chaining_target("example.org"), None);
    }

    #[test]
    fn selected_components_may_not_chain_to_unselected_ones() {
        let direct = vec!["http://user-component.spin.internal".to_owned()];
        assert_eq!(unselected_chaining("board", &direct, &["board"]).len(), 1);
        assert!(unselected_chaining("board", &direct, &["board", "user-component"]).is_empty());
        let wildcard = vec!["http://*.spin.internal".to_owned()];
        assert_eq!(
            unselected_chaining("board", &wildcard, &["board", "user-component"]).len(),
            1
        );
        let templated = vec!["{{ user_service_url }}".to_owned()];
        assert!(unselected_chaining("board", &templated, &["board"]).is_empty());
        let both = vec![direct[0].clone(), wildcard[0].clone()];
        assert_eq!(unselected_chaining("board", &both, &["board"]).len(), 2);
    }
}
