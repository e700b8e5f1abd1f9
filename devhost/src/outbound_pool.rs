//! Kept-alive connections for components' plain-HTTP calls, as Spin keeps them: Spin's
//! `wasi:http` client pools connections per host unless the runtime config turns
//! `connection_pooling` off (crates/factor-outbound-http/src/wasi.rs, `HttpClients`). So a
//! component's next call to a host reuses an idle connection, and what the server (or a gateway)
//! sees, and what can go wrong when it closes one as a request is sent on it, is what Spin
//! gives. HTTPS calls go through wasmtime's default handler, a connection each.

use std::collections::HashMap;
use std::error::Error as _;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error};
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::hyper_response_error;
use wasmtime_wasi_http::p2::types::{IncomingResponse, OutgoingRequestConfig};

type PooledClient = Client<HttpConnector, HyperOutgoingBody>;

/// The app's pools, one per connect timeout a component asks for (a connector's timeout is
/// set when it is made; components ask for one or two).
#[derive(Default)]
pub struct Connections {
    clients: Mutex<HashMap<Duration, PooledClient>>,
}

impl Connections {
    fn client(&self, connect_timeout: Duration) -> PooledClient {
        let mut clients = self.clients.lock().expect("pool lock is never poisoned");
        let client = clients.entry(connect_timeout).or_insert_with(|| {
            let mut connector = HttpConnector::new();
            connector.set_connect_timeout(Some(connect_timeout));
            connector.set_nodelay(true);
            Client::builder(TokioExecutor::new()).build(connector)
        });
        client.clone()
    }

    /// Sends a plain-HTTP request on an idle connection to its host, or a new one. The first
    /// byte must come within the request's `first_byte_timeout`, connecting included, as in
    /// Spin.
    pub async fn send(
        &self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> Result<IncomingResponse, ErrorCode> {
        let client = self.client(config.connect_timeout);
        let response = tokio::time::timeout(config.first_byte_timeout, client.request(request))
            .await
            .map_err(|_| ErrorCode::ConnectionReadTimeout)?
            .map_err(request_error)?;
        Ok(IncomingResponse {
            resp: response.map(|body| body.map_err(hyper_response_error).boxed_unsync()),
            worker: None,
            between_bytes_timeout: config.between_bytes_timeout,
        })
    }
}

/// The `wasi:http` error for a request that got no response, as wasmtime's own handler names
/// them: a connection that could not be made is refused (or timed out); anything after, such
/// as a connection closed before a whole response head, is a protocol error.
fn request_error(error: Error) -> ErrorCode {
    if error.is_connect() {
        let timed_out = std::iter::successors(error.source(), |&cause| cause.source())
            .filter_map(|cause| cause.downcast_ref::<io::Error>())
            .any(|cause| cause.kind() == io::ErrorKind::TimedOut);
        return if timed_out {
            ErrorCode::ConnectionTimeout
        } else {
            ErrorCode::ConnectionRefused
        };
    }
    tracing::debug!("outbound request failed: {error:?}");
    ErrorCode::HttpProtocolError
}
