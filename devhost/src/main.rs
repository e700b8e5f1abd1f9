//! devhost: runs this app's `spin.toml` on wasmtime with the Spin semantics the app relies on,
//! for tests and for machines without Spin. Its flags are `spin up`'s.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::net::TcpListener;

use devhost::app::{App, AppOptions};
use devhost::runtime_config::Location;
use devhost::{server, telemetry, watch};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Run this Spin app on wasmtime, the way `spin up` would."
)]
struct Cli {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Where the SQLite labels live (Spin does not look for this file on its own either).
    #[arg(long, env = "RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// The address to serve on.
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Run only these components (repeatable), as `spin up --component-id`.
    #[arg(long = "component-id")]
    component_ids: Vec<String>,
    /// Where compiled components are cached between runs (default: the user's cache folder).
    #[arg(long, env = "DEVHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every component afresh, without the on-disk cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Swap a component in place when its `.wasm` changes (devhost only; Spin has no such flag).
    #[arg(long)]
    watch: bool,
    /// devhost's own log: lines for people, or one JSON object per event for a log collector.
    #[arg(long, env = "DEVHOST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let exporter = telemetry::init().context("cannot start the trace exporter")?;
    let shutdown = server::shutdown_signal().context("cannot install signal handlers")?;
    // Bound first: the address it got is the origin of the components' self requests.
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let options = AppOptions {
        manifest: cli.manifest,
        runtime_config: cli.runtime_config_file,
        component_ids: cli.component_ids,
        listen: listener.local_addr()?,
    };
    let cache_dir = if cli.no_cache {
        None
    } else {
        cli.cache_dir.or_else(default_cache_dir)
    };
    let engine = devhost::engine(cache_dir.as_deref())?;
    let app = App::load(engine, &options)?;
    print_banner(&app, options.listen);
    if cli.watch {
        println!("Watching component sources; a new build is swapped in place");
        tokio::spawn(watch::watch(app.clone()));
    }
    server::serve(app, listener, shutdown).await?;
    if let Some(exporter) = exporter {
        exporter.shutdown();
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => subscriber
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => subscriber.json().flatten_event(true).init(),
    }
}

/// `$XDG_CACHE_HOME/devhost`, or `~/.cache/devhost`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("devhost"))
}

/// What `spin up` prints, plus where each database file is.
fn print_banner(app: &App, addr: SocketAddr) {
    println!("Serving http://{addr}");
    println!("Available Routes:");
    for (route, component) in app.router().describe() {
        println!("  {component}: http://{addr}{route}");
    }
    println!("Databases:");
    for id in app.component_ids() {
        let Some(component) = app.component(id) else {
            continue;
        };
        for label in component.sqlite.labels() {
            let place = app
                .databases()
                .location(label)
                .map_or_else(|| "undefined".to_owned(), Location::to_string);
            println!("  {id}: {label} -> {place}");
        }
    }
}
