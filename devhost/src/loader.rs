//! Turning a component's `.wasm` into something wasmtime can instantiate. A `wasm32-wasip1`
//! module is made a component with the WASI preview1 *reactor* adapter, as Spin does at load
//! time (crates/componentize); a component is taken as it is.

use std::path::Path;

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Reads, adapts if needed, and compiles `path`.
pub fn compile(engine: &Engine, path: &Path) -> Result<Component> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let component =
        componentize(&bytes).with_context(|| format!("cannot adapt {}", path.display()))?;
    Component::new(engine, &component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", path.display()))
}

/// The component form of `bytes`.
pub fn componentize(bytes: &[u8]) -> Result<Vec<u8>> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok(bytes.to_vec());
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
}
