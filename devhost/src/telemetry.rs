//! Traces, as Spin makes them: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces-only form) is
//! set, a span per request, one per component execution and one per outbound call, exported
//! over OTLP/HTTP, with W3C `traceparent` read from requests and written into outbound ones
//! (crates/telemetry/src/env.rs, traces.rs, propagation.rs). Unset, nothing is exported and no
//! header is touched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::{global, Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The variables that turn export on, as in Spin; `OTEL_SDK_DISABLED` turns it off again.
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The name spans carry when `OTEL_SERVICE_NAME` does not say otherwise (Spin's is `spin`).
const DEFAULT_SERVICE_NAME: &str = "devhost";

/// Set once the exporter runs. Until then every function here returns at once, so a request
/// pays for no span, attribute or header when nothing is exported.
static EXPORTING: AtomicBool = AtomicBool::new(false);

fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// How long the exporter may take to send what is still queued when devhost stops.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporter, kept to flush it at shutdown.
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Sends what is still queued; spans of the last requests would be lost otherwise.
    pub fn shutdown(self) {
        if let Err(error) = self.0.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!("trace export did not finish: {error}");
        }
    }
}

/// Starts the OTLP/HTTP exporter when the environment asks for one. The endpoint, headers,
/// timeout and batching come from the standard `OTEL_*` variables.
pub fn init() -> Result<Option<Exporter>> {
    if !export_requested(|key| std::env::var(key).ok()) {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .with_span_processor(processor)
        .build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());
    EXPORTING.store(true, Ordering::Relaxed);
    Ok(Some(Exporter(provider)))
}

fn export_requested(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |key: &str| var(key).is_some_and(|value| !value.is_empty());
    ENDPOINT_VARIABLES.iter().any(|key| set(key)) && !set("OTEL_SDK_DISABLED")
}

/// The trace a request continues: its `traceparent`, if it has one.
pub fn parent_of(headers: &http::HeaderMap) -> Context {
    if !exporting() {
        return Context::new();
    }
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// Writes the trace context `of` into outgoing headers, so the callee joins the trace.
pub fn propagate(of: &Context, headers: &mut http::HeaderMap) {
    if !exporting() {
        return;
    }
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(of, &mut HeaderInjector(headers));
    });
}

/// A span named and placed as Spin places it, started now under `parent`; `describe` gives its
/// name and attributes, and runs only when spans are exported. Without export: `parent` itself.
pub fn start(
    parent: &Context,
    kind: SpanKind,
    describe: impl FnOnce() -> (String, Vec<KeyValue>),
) -> Context {
    if !exporting() {
        return parent.clone();
    }
    let (name, attributes) = describe();
    let tracer = global::tracer("devhost");
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    parent.with_span(span)
}

/// Records how the call or request ended on the span of `context` and ends it: the response
/// status, or why there was none.
pub fn finish(context: &Context, outcome: Result<u16, String>) {
    if !exporting() {
        return;
    }
    let span = context.span();
    match outcome {
        Ok(status) => span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        )),
        Err(error) => span.set_attribute(KeyValue::new("error.type", error)),
    }
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn export_follows_spins_variables() {
        assert!(!export_requested(env(&[])));
        assert!(!export_requested(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            ""
        )])));
        assert!(export_requested(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318"
        )])));
        assert!(export_requested(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces"
        )])));
        assert!(!export_requested(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])));
    }
}
