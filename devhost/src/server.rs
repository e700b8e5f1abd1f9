//! The HTTP front door: accepts connections, hands each request to the app, and logs one line
//! per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::app::{App, Response};

pub async fn serve(app: Arc<App>, listener: TcpListener) -> Result<()> {
    loop {
        let (stream, client_addr) = listener.accept().await?;
        // Small JSON requests and answers: send each segment at once.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(answer(&app, request, client_addr).await) }
            });
            if let Err(error) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%client_addr, "connection ended: {error}");
            }
        });
    }
}

/// Paths Spin answers itself, before any route (crates/trigger-http/src/server.rs).
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

async fn answer(
    app: &Arc<App>,
    request: hyper::Request<hyper::body::Incoming>,
    client_addr: SocketAddr,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        return match well_known {
            "health" => plain(StatusCode::OK, "OK"),
            _ => plain(StatusCode::NOT_FOUND, ""),
        };
    }
    match app.handle_external(request, client_addr).await {
        Ok(Some((component, response))) => {
            log_request(
                &component,
                &method,
                &path,
                response.status(),
                started,
                false,
            );
            response
        }
        Ok(None) => {
            log_request("-", &method, &path, StatusCode::NOT_FOUND, started, false);
            // Spin's 404 for an unrouted path has an empty body.
            plain(StatusCode::NOT_FOUND, "")
        }
        Err(error) => {
            tracing::error!(%method, path, "request failed: {error:#}");
            log_request(
                "-",
                &method,
                &path,
                StatusCode::INTERNAL_SERVER_ERROR,
                started,
                false,
            );
            plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// One line per request: who served it, what it was, how it ended, how long it took.
pub fn log_request(
    component: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
    started: Instant,
    chained: bool,
) {
    let micros = started.elapsed().as_micros();
    let via = if chained { " (chained)" } else { "" };
    tracing::info!(
        "{component}: {method} {path} -> {} in {micros}µs{via}",
        status.as_u16()
    );
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never: Infallible| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::builder().status(status);
    if !text.is_empty() {
        response = response.header("content-type", "text/plain");
    }
    response.body(body).expect("a static response is valid")
}
