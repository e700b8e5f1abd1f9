//! devhost as a library: the pieces `main.rs` wires together, also used by the tests (the
//! world check compiles components exactly as the host does). One capability per module.

pub mod app;
mod bindings;
mod component_output;
pub mod loader;
pub mod manifest;
pub mod outbound_http;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod sqlite;
mod state;
pub mod swap;
pub mod variables;
pub mod world;

/// The engine every component runs on.
pub fn engine() -> anyhow::Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    Ok(wasmtime::Engine::new(&config)?)
}
