//! The loaded app: its components, compiled once and pre-instantiated with their grants, the
//! router in front of them, and the in-place reload of one component. Serving a request is
//! `trigger`'s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};

use anyhow::{bail, Context, Result};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::component_output::ComponentOutput;
use crate::key_value::{KeyValueGrant, KeyValueState, KeyValueStores};
use crate::loader;
use crate::manifest::{Manifest, Route};
use crate::outbound_http::{self, AllowedHosts, ChainTarget, Outbound};
use crate::outbound_pool::Connections;
use crate::routes::Router;
use crate::runtime_config::RuntimeConfig;
use crate::sqlite::{Databases, SqliteGrant, SqliteState};
use crate::state::{self, RequestState};
use crate::variables::{self, AppVariables, ComponentVariables};

/// What to run: the `spin up` options devhost shares with Spin.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    /// Empty means every component.
    pub component_ids: Vec<String>,
    /// Where the app is served: the origin of its components' self requests.
    pub listen: SocketAddr,
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
    key_value: KeyValueGrant,
    variables: ComponentVariables,
    allowed_hosts: Arc<AllowedHosts>,
}

impl ServedComponent {
    /// Compiled and linked: what each request instantiates.
    pub(crate) fn pre(&self) -> &ProxyPre<RequestState> {
        &self.pre
    }
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
    /// Where the app is served, for self requests.
    listen: SocketAddr,
}

/// A response ready for hyper.
pub type Response = hyper::Response<HyperOutgoingBody>;

/// What the app is made of, read before anything is compiled: the manifest, where it lives,
/// the databases and the application variables.
struct Config {
    manifest: Manifest,
    manifest_dir: PathBuf,
    databases: Arc<Databases>,
    key_value: Arc<KeyValueStores>,
    variables: AppVariables,
    /// The variables' declared defaults, which Spin checks templated settings against.
    defaults: AppVariables,
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
        let config_dir = match options.runtime_config.as_deref().and_then(Path::parent) {
            Some(dir) => cwd.join(dir),
            None => cwd.clone(),
        };
        let key_value = Arc::new(KeyValueStores::resolve(
            &runtime_config,
            &config_dir,
            &manifest_dir,
        ));
        let variables = AppVariables::resolve(&manifest.variables, variables::environment(&cwd))?;
        let defaults = AppVariables::defaults(&manifest.variables);
        Ok(Self {
            manifest,
            manifest_dir,
            databases,
            key_value,
            variables,
            defaults,
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
        self.key_value.prepare_files(&declared.key_value_stores)?;
        let source = declared.source_path(&self.manifest_dir);
        Ok(ServedComponent {
            id: id.to_owned(),
            pre: prepare(engine, linker, &source).with_context(|| format!("component `{id}`"))?,
            source,
            output: ComponentOutput::new(id),
            sqlite: SqliteGrant::new(self.databases.clone(), &declared.sqlite_databases),
            key_value: KeyValueGrant::new(self.key_value.clone(), &declared.key_value_stores),
            variables: self.variables.for_component(&declared.variables)?,
            allowed_hosts: Arc::new(AllowedHosts::parse(
                &declared.allowed_outbound_hosts,
                &self.variables,
                &self.defaults,
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
            problems.extend(
                self.key_value
                    .undefined_labels(id, &declared.key_value_stores),
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
            listen: options.listen,
        }))
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
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
}

impl App {
    /// A fresh store state for one request to `component`, with exactly its grants.
    pub(crate) fn request_state(
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
            KeyValueState::new(component.key_value.clone()),
            component.variables.clone(),
            Outbound::new(
                component.allowed_hosts.clone(),
                self.listen,
                self.connections.clone(),
                chain,
                trace,
            ),
        )
    }
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
