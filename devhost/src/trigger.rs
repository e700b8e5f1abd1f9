//! Serving: how a request reaches a component, as Spin's trigger-http does it. A request from
//! the network is routed and gets a server span; a chained one is served in process; both get
//! Spin's headers, a fresh instance, and one log line.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use bytes::Bytes;
use hyper::body::Body;
use hyper::Method;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::KeyValue;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::WasiHttpView;

use crate::app::{App, Response, ServedComponent};
use crate::outbound_http::ChainTarget;
use crate::routes::RouteMatch;
use crate::telemetry;

impl App {
    /// Serves a request from outside: route it, open the server span, run the component.
    /// `None` when no route matches.
    pub async fn handle_external<B>(
        self: &Arc<Self>,
        request: hyper::Request<B>,
        client_addr: SocketAddr,
    ) -> Result<Option<Response>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<ErrorCode>,
    {
        let Some(route) = self.router().route(request.uri().path()) else {
            let origin = Origin::Network(client_addr);
            log_request(
                "-",
                request.method(),
                request.uri().path(),
                404,
                Instant::now(),
                origin,
            );
            return Ok(None);
        };
        let Some(component) = self.component(&route.component) else {
            tracing::error!(component = route.component, "routed to a missing component");
            bail!("routed to a missing component `{}`", route.component);
        };
        let server = telemetry::start(
            &telemetry::parent_of(request.headers()),
            SpanKind::Server,
            || {
                let method = request.method().to_string();
                let name = format!("{method} {}", route.raw_route);
                let attributes = vec![
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("url.path", request.uri().path().to_owned()),
                    KeyValue::new("http.route", route.raw_route.clone()),
                    KeyValue::new("network.peer.address", client_addr.ip().to_string()),
                ];
                (name, attributes)
            },
        );
        let response = self
            .serve(
                &component,
                &route,
                request,
                Origin::Network(client_addr),
                &server,
            )
            .await;
        let outcome = match &response {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(format!("{error:#}")),
        };
        telemetry::finish(&server, outcome);
        response.map(Some)
    }

    /// Serves a service-chaining request in process, as Spin does for `*.spin.internal`.
    async fn handle_chained(
        self: &Arc<Self>,
        component_id: &str,
        mut request: hyper::Request<HyperOutgoingBody>,
    ) -> Result<Response, ErrorCode> {
        let Some(component) = self.component(component_id) else {
            tracing::warn!(
                component_id,
                "service chaining to a component that is not running"
            );
            return Err(ErrorCode::DestinationNotFound);
        };
        // Spin drops a chaining Host header, so the callee sees `localhost` in its full URL.
        request.headers_mut().remove(hyper::header::HOST);
        let route = RouteMatch::chained(component_id, request.uri().path());
        // As in Spin, a chained call has no server span: the caller's client span is its parent.
        let parent = telemetry::parent_of(request.headers());
        self.serve(&component, &route, request, Origin::Chained, &parent)
            .await
            .map_err(|error| ErrorCode::InternalError(Some(error.to_string())))
    }

    /// Where every request ends up, whatever its origin: Spin's headers, the span of the
    /// component's execution, the run, and one log line.
    async fn serve<B>(
        self: &Arc<Self>,
        component: &ServedComponent,
        route: &RouteMatch,
        mut request: hyper::Request<B>,
        origin: Origin,
        parent: &opentelemetry::Context,
    ) -> Result<Response>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<ErrorCode>,
    {
        let started = Instant::now();
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        add_spin_headers(&mut request, route, &origin.client_addr());
        let execution = telemetry::start(parent, SpanKind::Internal, || {
            (
                format!("execute_wasm_component {}", component.id),
                Vec::new(),
            )
        });
        let response = self.invoke(component, request, execution).await;
        match &response {
            Ok(response) => log_request(
                &component.id,
                &method,
                &path,
                response.status().as_u16(),
                started,
                origin,
            ),
            Err(error) => {
                tracing::error!(component = component.id, %method, path, "request failed: {error:#}");
                log_request(&component.id, &method, &path, 500, started, origin);
            }
        }
        response
    }

    /// Runs one request on a fresh instance of `component`.
    async fn invoke<B>(
        self: &Arc<Self>,
        component: &ServedComponent,
        request: hyper::Request<B>,
        execution: opentelemetry::Context,
    ) -> Result<Response>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<ErrorCode>,
    {
        let mut store = Store::new(
            self.engine(),
            self.request_state(component, execution.clone()),
        );
        let (sender, receiver) = oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let pre = component.pre().clone();
        // The guest runs in its own task: it may keep streaming the body after the head is sent.
        // Its span ends with it, after any work it does once the response is sent.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            let ran = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await;
            execution.span().end();
            ran
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => bail!("component answered with an error: {code:?}"),
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("component never set a response"),
                Ok(Err(trap)) => Err(anyhow::Error::from(trap).context("component trapped")),
                Err(join) => Err(join.into()),
            },
        }
    }
}

impl ChainTarget for App {
    fn serve_chained(
        self: Arc<Self>,
        component_id: String,
        request: hyper::Request<HyperOutgoingBody>,
    ) -> Pin<Box<dyn Future<Output = Result<Response, ErrorCode>> + Send>> {
        Box::pin(async move { self.handle_chained(&component_id, request).await })
    }
}

/// Whether a request came over the network, and from where, or from another component.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Network(SocketAddr),
    Chained,
}

impl Origin {
    /// What the component is told in `spin-client-addr`; Spin says `0.0.0.0:0` when chained.
    fn client_addr(self) -> String {
        match self {
            Origin::Network(addr) => addr.to_string(),
            Origin::Chained => "0.0.0.0:0".to_owned(),
        }
    }
}

/// One line per request, its facts as fields: who served it, what it was, how it ended, how
/// long it took.
fn log_request(
    component: &str,
    method: &Method,
    path: &str,
    status: u16,
    started: Instant,
    origin: Origin,
) {
    tracing::info!(
        component,
        %method,
        path,
        status,
        micros = started.elapsed().as_micros() as u64,
        chained = matches!(origin, Origin::Chained),
        "request"
    );
}

/// Spin replaces the request's headers with the client's headers plus its own `spin-*` ones.
fn add_spin_headers<B>(request: &mut hyper::Request<B>, route: &RouteMatch, client_addr: &str) {
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let scheme = request.uri().scheme_str().unwrap_or("http");
    let full_url = format!("{scheme}://{host}{path_and_query}");
    for (name, value) in route.spin_headers(&full_url, client_addr) {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            request.headers_mut().insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Router;

    fn request(uri: &str, host: Option<&str>) -> hyper::Request<()> {
        let mut builder = hyper::Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(hyper::header::HOST, host);
        }
        builder
            .header("spin-path-info", "/forged")
            .body(())
            .unwrap()
    }

    fn header<'a>(request: &'a hyper::Request<()>, name: &str) -> Option<&'a str> {
        request.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn a_routed_request_is_told_its_match_and_its_full_url_from_the_host_header() {
        let router = Router::build([("board-component", Some("/boards/..."))]).unwrap();
        let mut request = request("/boards/3?x=1", Some("example.org:3000"));
        let route = router.route(request.uri().path()).unwrap();
        let client = Origin::Network("10.0.0.7:4321".parse().unwrap()).client_addr();
        add_spin_headers(&mut request, &route, &client);
        assert_eq!(
            header(&request, "spin-full-url"),
            Some("http://example.org:3000/boards/3?x=1")
        );
        assert_eq!(
            header(&request, "spin-path-info"),
            Some("/3"),
            "a client's spin-* header is replaced"
        );
        assert_eq!(header(&request, "spin-client-addr"), Some("10.0.0.7:4321"));
    }

    #[test]
    fn a_chained_request_gets_the_whole_path_localhost_and_no_client_address() {
        let mut request = request("/users/keys", None);
        let route = RouteMatch::chained("user-component", request.uri().path());
        add_spin_headers(&mut request, &route, &Origin::Chained.client_addr());
        assert_eq!(header(&request, "spin-path-info"), Some("/users/keys"));
        assert_eq!(header(&request, "spin-matched-route"), Some("/..."));
        assert_eq!(
            header(&request, "spin-full-url"),
            Some("http://localhost/users/keys")
        );
        assert_eq!(header(&request, "spin-client-addr"), Some("0.0.0.0:0"));
    }
}
