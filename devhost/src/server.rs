//! The HTTP front door: accepts connections and hands each request to the app; on the
//! shutdown signal it stops accepting and lets the requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::{App, Response};

/// How long requests in flight may take to finish once shutdown starts. Kubernetes waits 30 s
/// before it kills a pod; this leaves room for the exit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// After a failed `accept` (say, out of file descriptors), a pause before the next, so the
/// loop does not spin while the cause lasts.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Serves until `shutdown` completes, then drains. `Ok` whether or not every request finished
/// within `DRAIN_TIMEOUT`; the log says which.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, client_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("accept failed, serving on: {error}");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small JSON requests and answers: send each segment at once.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(answer(&app, request, client_addr).await) }
        });
        let connection = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%client_addr, "connection ended: {error}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; waiting for requests in flight");
    match tokio::time::timeout(DRAIN_TIMEOUT, connections.shutdown()).await {
        Ok(()) => tracing::info!("every request finished"),
        Err(_) => tracing::warn!(
            "requests still running after {}s are cut off",
            DRAIN_TIMEOUT.as_secs()
        ),
    }
    Ok(())
}

/// Resolves on SIGTERM (what Kubernetes and the gateway swap send) or SIGINT (Ctrl-C). The
/// handlers are installed now, so a signal that comes before serving starts is not lost.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Paths Spin answers itself, before any route (crates/trigger-http/src/server.rs).
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

async fn answer(
    app: &Arc<App>,
    request: hyper::Request<hyper::body::Incoming>,
    client_addr: SocketAddr,
) -> Response {
    if let Some(well_known) = request.uri().path().strip_prefix(WELL_KNOWN_PREFIX) {
        return match well_known {
            "health" => plain(StatusCode::OK, "OK"),
            _ => plain(StatusCode::NOT_FOUND, ""),
        };
    }
    match app.handle_external(request, client_addr).await {
        Ok(Some(response)) => response,
        // Spin's 404 for an unrouted path has an empty body.
        Ok(None) => plain(StatusCode::NOT_FOUND, ""),
        // The app has logged why, with the request's facts.
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
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
