//! What one request's `Store` holds: WASI, wasi-http, and the Spin capabilities granted to the
//! component that serves it, each in its own state. A fresh state per request, as in Spin:
//! nothing leaks between requests but the files on disk. This is the one module that knows every
//! capability: it links each interface to the field that implements it.

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::{WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::fermyon::spin::{key_value, sqlite, variables};
use crate::key_value::KeyValueState;
use crate::outbound_http::Outbound;
use crate::sqlite::SqliteState;
use crate::variables::ComponentVariables;

pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    sqlite: SqliteState,
    key_value: KeyValueState,
    variables: ComponentVariables,
    outbound: Outbound,
}

impl RequestState {
    pub fn new(
        wasi: WasiCtx,
        sqlite: SqliteState,
        key_value: KeyValueState,
        variables: ComponentVariables,
        outbound: Outbound,
    ) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            sqlite,
            key_value,
            variables,
            outbound,
        }
    }
}

/// WASI, wasi-http, and each Spin interface on the state that implements it.
pub fn linker(engine: &Engine) -> Result<Linker<RequestState>> {
    let mut linker = Linker::<RequestState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    sqlite::add_to_linker::<_, HasSelf<SqliteState>>(&mut linker, |state| &mut state.sqlite)?;
    key_value::add_to_linker::<_, HasSelf<KeyValueState>>(&mut linker, |state| {
        &mut state.key_value
    })?;
    variables::add_to_linker::<_, HasSelf<ComponentVariables>>(&mut linker, |state| {
        &mut state.variables
    })?;
    Ok(linker)
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
