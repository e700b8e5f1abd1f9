//! The running app: its components, compiled once and pre-instantiated, the router in front
//! of them, and the per-request instantiation that serves each request with a fresh instance.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hyper::body::Body;
use hyper::Method;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::KeyValue;
use tokio::sync::oneshot;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::WasiHttpView;

use crate::component_output::ComponentOutput;
use crate::manifest::{Manifest, Route};
use crate::outbound_http::{self, AllowedHosts, ChainTarget, Outbound};
use crate::outbound_pool::Connections;
use crate::routes::{RouteMatch, Router};
use crate::runtime_config::RuntimeConfig;
use crate::sqlite::{Databases, SqliteGrant, SqliteState};
use crate::state::{self, RequestState};
use crate::variables::{self, AppVariables, ComponentVariables};
use crate::{loader, telemetry};

/// What to run: the `spin up` options devhost shares with Spin.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    /// Empty means every component.
    pub component_ids: Vec<String>,
}

/// A component ready to serve: compiled, linked, and with its grants resolved.
#[derive(Clone)]
pub struct ServedComponent {
    pub id: String,
    pub source: PathBuf,
    pre: ProxyPre<RequestState>,
    /// Where its stdout and stderr go; made once, shared by every request.
    output: ComponentOutput,
    pub sqlite: SqliteGrant,
    variables: ComponentVariables,
    allowed_hosts: Arc<AllowedHosts>,
}

pub struct App {
    engine: Engine,
    linker: Linker<RequestState>,
    router: Router,
    /// Each slot can be replaced while requests still run on the previous one (see `swap`).
    components: BTreeMap<String, RwLock<Arc<ServedComponent>>>,
    databases: Arc<Databases>,
    /// Kept-alive connections for every component's plain-HTTP calls, as Spin has per app.
    connections: Arc<Connections>,
}

/// A response ready for hyper.
pub type Response = hyper::Response<HyperOutgoingBody>;

/// What the app is made of, read before anything is compiled: the manifest, where it lives,
/// the databases and the application variables.
struct Config {
    manifest: Manifest,
    manifest_dir: PathBuf,
    databases: Arc<Databases>,
    variables: AppVariables,
}

impl Config {
    fn read(options: &AppOptions) -> Result<Self> {
        let manifest = Manifest::load(&options.manifest)?;
        let manifest_dir = options
            .manifest
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let cwd = std::env::current_dir()?;
        let databases = Arc::new(Databases::resolve(&runtime_config, &manifest_dir, &cwd)?);
        let variables = AppVariables::resolve(&manifest.variables, variables::environment(&cwd))?;
        Ok(Self {
            manifest,
            manifest_dir,
            databases,
            variables,
        })
    }

    /// Compiles one component and resolves its grants.
    fn serve(
        &self,
        engine: &Engine,
        linker: &Linker<RequestState>,
        id: &str,
    ) -> Result<ServedComponent> {
        let declared = &self.manifest.component[id];
        self.databases.prepare_files(&declared.sqlite_databases)?;
        let source = declared.source_path(&self.manifest_dir);
        Ok(ServedComponent {
            id: id.to_owned(),
            pre: prepare(engine, linker, &source).with_context(|| format!("component `{id}`"))?,
            source,
            output: ComponentOutput::new(id),
            sqlite: SqliteGrant::new(self.databases.clone(), &declared.sqlite_databases),
            variables: self.variables.for_component(&declared.variables)?,
            allowed_hosts: Arc::new(AllowedHosts::parse(
                &declared.allowed_outbound_hosts,
                &self.variables,
            )?),
        })
    }

    /// Spin's start-up checks, every problem reported at once: labels nobody defined and, when
    /// only some components run, chaining to one that does not.
    fn check(&self, selected: &[&str], partial: bool) -> Result<()> {
        let mut problems = Vec::new();
        for id in selected {
            let declared = &self.manifest.component[*id];
            problems.extend(
                self.databases
                    .undefined_labels(id, &declared.sqlite_databases),
            );
            if partial {
                problems.extend(outbound_http::unselected_chaining(
                    id,
                    &declared.allowed_outbound_hosts,
                    selected,
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        bail!("the app cannot start:\n- {}", problems.join("\n- "))
    }

    /// The routes of the selected components.
    fn router(&self, selected: &[&str]) -> Result<Router> {
        let routes = self
            .manifest
            .trigger
            .http
            .iter()
            .filter(|trigger| selected.contains(&trigger.component.as_str()))
            .map(|trigger| match &trigger.route {
                Route::Path(path) => (trigger.component.as_str(), Some(path.as_str())),
                Route::Private { .. } => (trigger.component.as_str(), None),
            });
        Router::build(routes)
    }
}

impl App {
    pub fn load(engine: Engine, options: &AppOptions) -> Result<Arc<Self>> {
        let config = Config::read(options)?;
        let selected = select(&config.manifest, &options.component_ids)?;
        config.check(&selected, !options.component_ids.is_empty())?;
        let linker = state::linker(&engine)?;
        let mut components = BTreeMap::new();
        for id in &selected {
            let served = config.serve(&engine, &linker, id)?;
            components.insert(id.to_string(), RwLock::new(Arc::new(served)));
        }
        Ok(Arc::new(Self {
            router: config.router(&selected)?,
            engine,
            linker,
            components,
            databases: config.databases,
            connections: Arc::default(),
        }))
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn databases(&self) -> &Databases {
        &self.databases
    }

    /// The component now serving `id`.
    pub fn component(&self, id: &str) -> Option<Arc<ServedComponent>> {
        let slot = self.components.get(id)?;
        Some(slot.read().expect("slot lock is never poisoned").clone())
    }

    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }

    /// Compiles the component's current `.wasm`, instantiates it once to prove it starts, and
    /// only then serves new requests with it. Requests already running keep the instance they
    /// started on; a build that fails any step is refused and the previous one keeps serving.
    pub async fn reload(self: &Arc<Self>, id: &str) -> Result<()> {
        let slot = self
            .components
            .get(id)
            .with_context(|| format!("no component `{id}`"))?;
        let current = self.component(id).expect("every slot holds a component");
        let (engine, linker, source) = (
            self.engine.clone(),
            self.linker.clone(),
            current.source.clone(),
        );
        let pre = tokio::task::spawn_blocking(move || prepare(&engine, &linker, &source)).await??;
        let next = Arc::new(ServedComponent {
            pre,
            ..current.as_ref().clone()
        });
        let mut trial = Store::new(
            &self.engine,
            self.request_state(&next, opentelemetry::Context::new()),
        );
        next.pre
            .instantiate_async(&mut trial)
            .await
            .map_err(anyhow::Error::from)
            .context("the new build does not instantiate")?;
        *slot.write().expect("slot lock is never poisoned") = next;
        Ok(())
    }

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
        let Some(route) = self.router.route(request.uri().path()) else {
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
            &self.engine,
            self.request_state(component, execution.clone()),
        );
        let (sender, receiver) = oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let pre = component.pre.clone();
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

impl App {
    /// A fresh store state for one request to `component`, with exactly its grants.
    fn request_state(
        self: &Arc<Self>,
        component: &ServedComponent,
        trace: opentelemetry::Context,
    ) -> RequestState {
        let wasi = WasiCtx::builder()
            .stdout(component.output.clone())
            .stderr(component.output.clone())
            .build();
        let chain: Weak<dyn ChainTarget> = Arc::downgrade(self) as Weak<dyn ChainTarget>;
        RequestState::new(
            wasi,
            SqliteState::new(component.sqlite.clone()),
            component.variables.clone(),
            Outbound::new(
                component.allowed_hosts.clone(),
                self.connections.clone(),
                chain,
                trace,
            ),
        )
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

/// Which components run: all, or those named by `--component-id`.
fn select<'a>(manifest: &'a Manifest, ids: &'a [String]) -> Result<Vec<&'a str>> {
    if ids.is_empty() {
        return Ok(manifest.component.keys().map(String::as_str).collect());
    }
    for id in ids {
        if !manifest.component.contains_key(id) {
            bail!("--component-id {id}: no such component in the manifest");
        }
    }
    Ok(ids.iter().map(String::as_str).collect())
}

/// Compile and pre-instantiate: the work done once per component, not once per request.
fn prepare(
    engine: &Engine,
    linker: &Linker<RequestState>,
    source: &Path,
) -> Result<ProxyPre<RequestState>> {
    let component = loader::compile(engine, source)?;
    let pre = linker.instantiate_pre(&component)?;
    Ok(ProxyPre::new(pre)?)
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
